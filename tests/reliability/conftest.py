"""The finished tiny study that the fault, caching and leakage tests copy and rerun."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.study import run, write_study


@pytest.fixture(scope="session")
def base_study(tmp_path_factory) -> Path:
    """A tiny study run to the end once (uninterrupted); tests copy it, never change it."""
    root = write_study(tmp_path_factory.mktemp("base") / "study")
    result = run(root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


@pytest.fixture
def study_copy(base_study, tmp_path) -> Path:
    """A copy of the finished study (file times and snakemake's metadata kept)."""
    return Path(shutil.copytree(base_study, tmp_path / "study", symlinks=True))
