"""Write envs/*.yaml, the conda environments of the rules, from requirements.lock.

Every environment pins, at the lock's versions, the packages the ``mmlego`` command needs at
run time: mmlego's own dependencies and everything they require, without the orchestrator
(snakemake and its plugins) and the development tools. The CLI imports every step module when
it starts, so each group needs the whole runtime set; the groups differ in what a cluster
gives them (GPU or not). The package itself is installed by envs/install-mmlego.sh, which
snakemake runs after creating each environment (`<env>.post-deploy.sh`).

    python scripts/write_conda_envs.py          # rewrite envs/*.yaml
    python scripts/write_conda_envs.py --check  # exit 1 if a file is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
# The orchestrator runs outside the rules' environments.
NOT_IN_RULES = {"snakemake", "snakemake-executor-plugin-slurm"}
# Installed with python and pip by conda itself.
BOOTSTRAP = {"pip", "setuptools", "wheel"}
GROUPS = {
    "data": ("tables, MIMIC extraction, splits and the resolved config", False),
    "encode": ("tissue segmentation and patch encoding (slides, images)", True),
    "train": ("LegoBlocks, baselines, LegoMerge and LegoFuse", True),
    "evaluate": ("metrics, tables, figures and the report", False),
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path) -> dict[str, str]:
    """Normalised package name -> pinned line of requirements.lock."""
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pins[_norm(line.split("==")[0])] = line
    return pins


def runtime_closure(root: str = "mmlego") -> set[str]:
    """Normalised names of the installed packages that ``root`` needs at run time."""
    seen: set[str] = set()
    todo = [
        Requirement(r)
        for r in metadata.requires(root) or []
        if _norm(Requirement(r).name) not in NOT_IN_RULES
    ]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if (
            name in seen
            or name in BOOTSTRAP
            or (req.marker and not req.marker.evaluate({"extra": ""}))
        ):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
    return seen


def render(group: str, pins: list[str]) -> str:
    """The YAML text of one group's environment."""
    purpose, gpu = GROUPS[group]
    gpu_note = (
        "# GPU clusters: after creating it, replace torch with the CUDA build of torch==2.13.0\n"
        "# (README, 'Running on a cluster'); every other pin stays.\n"
        if gpu
        else "# CPU only: these rules never use a GPU.\n"
    )
    body = "\n".join(f"      - {pin}" for pin in pins)
    return (
        f"# Conda environment of the {group} rules: {purpose}.\n"
        "# Written by scripts/write_conda_envs.py from requirements.lock; do not edit by hand.\n"
        f"{gpu_note}"
        f"name: mmlego-{group}\n"
        "channels: [conda-forge]\n"
        "dependencies:\n"
        "  - python=3.11\n"
        "  - pip\n"
        "  - pip:\n"
        f"{body}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    pins = lock_pins(REPO / "requirements.lock")
    needed = runtime_closure()
    unpinned = sorted(needed - pins.keys())
    if unpinned:
        print(f"requirements.lock does not pin {unpinned}; pin them first", file=sys.stderr)
        return 1
    lines = sorted((pins[name] for name in needed), key=str.lower)
    stale = []
    for group in GROUPS:
        path = REPO / "envs" / f"{group}.yaml"
        text = render(group, lines)
        if not path.exists() or path.read_text() != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"out of date: {stale}; run python scripts/write_conda_envs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
