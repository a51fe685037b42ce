"""Shared fixtures: the repository root, the venv's executables, config loading, a folder
built once per session for every xdist worker, and the slowest tests scheduled first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


RATE = ("--max-jobs-per-timespan", "100/1s")


def run_snakemake(
    *args: str, cwd: Path = REPO, timeout: int = 600, path: str | None = None
) -> subprocess.CompletedProcess:
    """Run the venv's snakemake with the venv first on PATH (so rules find ``mmlego``), or
    with exactly ``path`` as PATH when it is given. The job-rate limiter's timespan goes back
    to snakemake's 1 s: the local profile's 5 s would add up to 5 s to the exit of each of the
    suite's hundreds of small runs, which never wait for cores long enough to gain from it."""
    if path is None:
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    exe = shutil.which("snakemake", path=str(BIN)) or "snakemake"
    return subprocess.run(
        [exe, "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), *RATE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def demo_study(out: Path) -> dict:
    """The shipped demo config with its output folder, and so the raw files its generator
    writes there, moved to ``out``."""
    text = (REPO / "config" / "config.yaml").read_text()
    return yaml.safe_load(text.replace("../results/demo", str(out)))


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` that ``build(folder)`` fills, built once per test session and shared
    by every xdist worker (the pattern pytest-xdist documents): it lives in the session's
    base temp folder, the parent of each worker's, and the first worker to ask builds it
    under a file lock while the others wait, then reuse it. Callers must not change it. A
    failed build fails every worker with its message, without building again."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base temp is a subfolder of the session's; alone, it is ours.
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / f"built-once-{name}"
    done, failed = root / f"built-once-{name}.done", root / f"built-once-{name}.failed"
    with FileLock(str(root / f"built-once-{name}.lock")):
        if failed.exists():
            pytest.fail(f"building {name} failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            folder.mkdir()
            try:
                build(folder)
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}"[-6000:])
                raise
            done.touch()
    return folder


# The slowest test files, slowest first (their tests' --durations under `pytest -n 2`, in
# seconds). Under `--dist loadfile --no-loadscope-reorder` (pyproject) xdist hands each worker
# the next whole file, in this order, as it frees up: these start first and the short files
# fill in around them, where a long test collected last would run alone at the end and set
# the wall time. A file keeps its tests on one worker, so its module fixtures are built once.
# The first file on the shared tiny study (tests/reliability) builds it for both workers; its
# other files come after other slow ones, so that no worker waits for that build.
SLOWEST_FIRST = (
    "tests/e2e/test_slurm.py",  # 102-157
    "tests/reliability/test_tuning_workflow.py",  # 58, after the shared study's 49
    "tests/e2e/test_add_modality.py",  # 66 + 60
    "tests/e2e/test_lego_workflow.py",  # 55
    "tests/e2e/test_study_outputs.py",  # 44 + 38
    "tests/e2e/test_features_workflow.py",  # 40
    "tests/e2e/test_classical_workflow.py",  # 37
    "tests/reliability/test_faults.py",
)


def _slow_rank(item: pytest.Item) -> int:
    """The item's file's place in SLOWEST_FIRST; then any other ``slow`` test; then the rest."""
    path = item.nodeid.split("::")[0]
    if path in SLOWEST_FIRST:
        return SLOWEST_FIRST.index(path)
    return len(SLOWEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slowest files first (a stable sort: each file's own order is kept); last, after
    pytest's own reordering by fixture scope."""
    items.sort(key=_slow_rank)
