"""Writing ``tables/composition.{csv,md}`` and ``figures/composition.{png,pdf}`` (the logic
behind ``mmlego composition``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from mmlego.evaluate.cases import read_dataset_presence
from mmlego.evaluate.composition import composition_markdown, composition_table, read_weights
from mmlego.evaluate.composition_figure import composition_figure
from mmlego.evaluate.tables import load_metrics
from mmlego.utils.atomic import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


def weights_by_run(
    weights: Sequence[str | Path], long_paths: Mapping[Path, tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, float]]:
    """(dataset, run, split) → λ of each ``lambda.json``, matched to the run by its folder
    (``long_paths``: the folder of each run's predictions → (dataset, run, split))."""
    out = {}
    for path in weights:
        key = long_paths.get(Path(path).resolve().parent)
        if key is None:
            raise ValueError(
                f"{path}: no predictions.parquet of the given runs is in its folder; give the "
                "lambda.json beside the predictions of an adaptive merge or DAMC run"
            )
        out[key] = read_weights(path)
    return out


def write_composition(
    metrics: Sequence[str | Path],
    predictions: Sequence[str | Path],
    weights: Sequence[str | Path],
    stores: Mapping[str, Mapping[str, str | Path]],
    *,
    n_boot: int,
    seed: int,
    out_csv: str | Path,
    out_md: str | Path,
    out_png: str | Path,
    out_pdf: str | Path | None = None,
) -> None:
    """Score the composition table from the runs' metrics (``predictions[i]`` is the file
    ``metrics[i]`` was scored from) and write its CSV, Markdown and figure."""
    if len(predictions) != len(metrics):
        raise ValueError(
            f"{len(metrics)} metrics files but {len(predictions)} predictions files; "
            "give the predictions of every run and split, in the same order"
        )
    long = load_metrics(metrics)
    by_metrics = dict(zip(map(str, metrics), map(str, predictions), strict=True))
    long["predictions"] = long["path"].map(by_metrics)
    folders = {
        Path(p).resolve().parent: (ds, run, int(k))
        for p, ds, run, k in long[["predictions", "dataset", "run", "split"]].drop_duplicates()
        .itertuples(index=False)
    }  # fmt: skip
    presence = {ds: read_dataset_presence(files) for ds, files in stores.items()}
    table = composition_table(long, weights_by_run(weights, folders), n_boot, seed, presence)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_text_atomic(out_md, composition_markdown(table))
    composition_figure(table, long, out_png, out_pdf)
    log.info("composition table: %d rows over %d datasets -> %s", len(table),
             table["dataset"].nunique(), out_csv)  # fmt: skip
