"""Shared fixtures: the repository root, the venv's executables, and config loading."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


def run_snakemake(
    *args: str, cwd: Path = REPO, timeout: int = 600, path: str | None = None
) -> subprocess.CompletedProcess:
    """Run the venv's snakemake with the venv first on PATH (so rules find ``mmlego``), or
    with exactly ``path`` as PATH when it is given."""
    if path is None:
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    exe = shutil.which("snakemake", path=str(BIN)) or "snakemake"
    return subprocess.run(
        [exe, "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), *args],
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
