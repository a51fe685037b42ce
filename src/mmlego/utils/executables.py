"""Make the rules' ``mmlego`` command findable from the Snakemake process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def ensure_mmlego_on_path() -> None:
    """Put this interpreter's bin folder on ``PATH`` when no ``mmlego`` is on it.

    ``.venv/bin/snakemake`` run without activating the venv imports the package, but its jobs'
    shells do not find the console script; the one installed beside the interpreter is the
    right one. Jobs inherit the process's ``PATH``, and a conda job's activation still puts its
    own environment first, so the conda route is unchanged.
    """
    if shutil.which("mmlego") is None:
        bin_dir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
