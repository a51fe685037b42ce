"""``scripts/export_cohort.py`` as a module, for the benchmarks that run its cohorts.

The scripts folder is not a package, so the file is loaded by path; the benchmarks run as
scripts (``python benchmarks/x.py``), so this folder is on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The package-shipped cohorts the benchmarks run through `kind: generic`.
COHORTS = ("gbsg2", "whas500")

_spec = importlib.util.spec_from_file_location(
    "export_cohort", REPO / "scripts" / "export_cohort.py"
)
export_cohort = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_cohort)
