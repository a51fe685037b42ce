"""What the benchmarks that run whole studies share (real_cohorts.py, adaptive_merge.py).

- ``export_cohort``: ``scripts/export_cohort.py`` as a module (the scripts folder is not a
  package, so the file is loaded by path), and ``COHORTS``, the package-shipped cohorts it
  writes as raw files;
- :func:`runs_of`, the runs of each dataset of a study, and :func:`run_study`, a study's
  snakemake run to given targets, timed.

The benchmarks run as scripts (``python benchmarks/x.py``), so this folder is on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mmlego.data.kinds import dataset_modalities
from mmlego.models.catalogue import dataset_runs

REPO = Path(__file__).resolve().parents[1]
# The package-shipped cohorts the benchmarks run through `kind: generic`.
COHORTS = ("gbsg2", "whas500")

_spec = importlib.util.spec_from_file_location(
    "export_cohort", REPO / "scripts" / "export_cohort.py"
)
export_cohort = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_cohort)


def runs_of(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """{dataset: its runs} of a study whose dataset sections name their task."""
    return {
        ds: dataset_runs(dataset_modalities(spec), config["models"], spec["task"])
        for ds, spec in config["datasets"].items()
    }


def run_study(config: Mapping[str, Any], path: Path, cores: int, targets: list[str]) -> float:
    """Write ``config`` to ``path`` and run its snakemake to ``targets``; wall seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    snakemake = Path(sys.executable).parent / "snakemake"
    command = [str(snakemake), "--snakefile", str(REPO / "Snakefile"), "--configfile", str(path)]
    command += ["--cores", str(cores), *targets]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start
