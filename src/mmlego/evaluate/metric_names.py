"""The metrics each task reports, its primary one, and which are lower-is-better.

Kept apart from :mod:`mmlego.evaluate.metrics` (which imports scikit-learn, scikit-survival and
SciPy) because the workflow reads these names when it parses: every snakemake start, and
twice per SLURM job, would otherwise pay about a CPU-second for libraries it never calls.
"""

from __future__ import annotations

PRIMARY_METRIC = {"survival": "c_index", "binary": "auc", "multiclass": "auc_macro_ovr"}
METRICS = {
    "survival": ("c_index", "c_index_uno", "ibs"),
    "binary": ("auc", "average_precision"),
    "multiclass": ("auc_macro_ovr",),
}
# Metrics where smaller is better; every other metric is higher-is-better.
LOWER_IS_BETTER = frozenset({"ibs"})
