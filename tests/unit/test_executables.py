"""``ensure_mmlego_on_path``: the console script beside the interpreter, only when missing."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from mmlego.utils.executables import ensure_mmlego_on_path


def test_adds_the_interpreters_bin_folder_when_mmlego_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    ensure_mmlego_on_path()
    first, rest = os.environ["PATH"].split(os.pathsep, 1)
    assert first == str(Path(sys.executable).parent) and rest == str(tmp_path)


def test_leaves_path_alone_when_an_mmlego_is_on_it(monkeypatch, tmp_path):
    script = tmp_path / "mmlego"
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    ensure_mmlego_on_path()
    assert os.environ["PATH"] == str(tmp_path)
