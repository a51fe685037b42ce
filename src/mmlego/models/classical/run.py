"""One classical job: fit a family's grid on a split, keep the validation choice, write it.

The job reads the same split files as every trained model and writes the same
``predictions.parquet`` (so the metrics and tables take it unchanged), plus
``selection.json``: the setting kept, the rule that chose it and the validation scores of
the whole grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from mmlego.data.transforms import SplitData
from mmlego.models.catalogue import get_builder, model_entry
from mmlego.models.classical.results import ClassicalFit
from mmlego.predictions import run_meta, write_predictions
from mmlego.utils.atomic import write_json_atomic


def fit_classical(
    data: SplitData, model: str, cfg: Mapping[str, Any], *, split: int, seed: int, threads: int = 1
) -> ClassicalFit:
    """Fit classical model ``model`` with its grid ``cfg["classical"][model]`` and the rule
    ``cfg["classical"]["select_on"]``; ``seed`` seeds the boosted trees' randomness."""
    entry = model_entry(model)
    if entry.made_by != "classical":
        raise ValueError(f"model {model!r} is not a classical model (it is {entry.made_by}-made)")
    grid = dict(cfg["classical"][model])
    if model == "gbm":
        grid["seed"] = seed
    # OpenMP and BLAS threads beyond the job's cores only wait for each other.
    with threadpool_limits(limits=max(1, threads)):
        return get_builder(model)(
            data, split=split, select_on=cfg["classical"]["select_on"], **grid
        )


def write_classical_outputs(
    out_dir: str | Path,
    fit: ClassicalFit,
    data: SplitData,
    *,
    run: str,
    dataset: str,
    provenance: dict[str, Any],
) -> None:
    """Write ``predictions.parquet`` (the contract of every run) and ``selection.json``."""
    out = Path(out_dir)
    selection = {"setting": fit.setting, "select_on": fit.select_on}
    meta = run_meta(data, run=run, dataset=dataset, provenance=provenance, selection=selection)
    write_predictions(out / "predictions.parquet", fit.frame, meta)
    write_json_atomic(out / "selection.json", fit.record(), provenance=provenance)
