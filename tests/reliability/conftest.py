"""The finished tiny study that the fault, caching and leakage tests copy and rerun."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import built_once
from tests.reliability.study import run, write_study


def _build(folder: Path) -> None:
    root = write_study(folder / "study")
    result = run(root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="session")
def base_study(tmp_path_factory) -> Path:
    """A tiny study run to the end once per session, for every xdist worker (uninterrupted);
    tests copy it, never change it."""
    return built_once(tmp_path_factory, "base-study", _build) / "study"


@pytest.fixture
def study_copy(base_study, tmp_path) -> Path:
    """A copy of the finished study (file times and snakemake's metadata kept)."""
    return Path(shutil.copytree(base_study, tmp_path / "study", symlinks=True))
