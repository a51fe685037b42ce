"""What the workflow imports when it parses: none of the heavy libraries its steps use.

snakemake runs the Snakefile's and the rule files' imports at every start: each dry run, each
run, and twice in every SLURM job (the job's snakemake and the jobstep's). torch alone costs
about 1.5 CPU-seconds of that, scikit-learn with scikit-survival and SciPy about one more.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

HEAVY = ("torch", "sklearn", "sksurv", "scipy", "matplotlib", "openslide", "PIL")


def workflow_imports() -> list[str]:
    """The ``mmlego`` modules that the Snakefile and the rule files import."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    found = set()
    for path in files:
        found |= set(re.findall(r"^\s*from (mmlego[\w.]*) import", path.read_text(), re.M))
        found |= set(re.findall(r"^\s*import (mmlego[\w.]*)", path.read_text(), re.M))
    return sorted(found)


def test_the_workflow_parses_without_torch_or_the_metric_libraries():
    modules = workflow_imports()
    # The rule files' own lookups: the feature stage, the composition table, the config.
    assert {"mmlego.preprocess.rules", "mmlego.evaluate.composition", "mmlego.config"} <= set(
        modules
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]", result.stdout
