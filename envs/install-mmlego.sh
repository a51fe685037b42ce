#!/usr/bin/env bash
# Snakemake runs this inside each new conda environment (envs/<group>.post-deploy.sh links
# here), from its working directory: install the mmlego package itself, without dependencies
# (the environment file pins them all). Editable, like the venv: the rules run the current source.
set -euo pipefail
if ! grep -qs '^name = "mmlego"' pyproject.toml; then
	echo "install-mmlego: run snakemake from the mmlego repository root (no pyproject.toml of mmlego in $PWD)" >&2
	exit 1
fi
python -m pip install --no-deps --editable .
