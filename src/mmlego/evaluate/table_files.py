"""Writing the evaluation stage's table files (the logic behind ``mmlego tables``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego.data.kinds import dataset_modalities
from mmlego.data.labels import read_labels
from mmlego.evaluate.cases import read_dataset_presence
from mmlego.evaluate.compare import (
    compare_with_paper,
    paired_comparison,
    paired_latex,
    paired_markdown,
    paper_table2,
)
from mmlego.evaluate.missing_modality import (
    missing_modality_markdown,
    missing_modality_table,
    read_reports,
)
from mmlego.evaluate.paper_setup import differences_markdown, setup_differences
from mmlego.evaluate.tables import (
    DatasetInfo,
    ResultTable,
    build_table,
    complete_test_n,
    load_metrics,
    primary_columns,
    secondary_columns,
    summarise,
    to_html,
    to_latex,
    to_markdown,
)
from mmlego.utils.atomic import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


def dataset_infos(config: dict, labels: Mapping[str, str | Path]) -> dict[str, DatasetInfo]:
    """Task, patient count and modalities of each dataset (``labels``: dataset → its labels)."""
    counts = {ds: len(read_labels(path)[0]) for ds, path in labels.items()}
    infos = {}
    for ds, spec in config["datasets"].items():
        if ds not in counts:
            raise KeyError(f"no labels.parquet given for dataset '{ds}'")
        mods = {m.name: m.type for m in dataset_modalities(spec)}
        infos[ds] = DatasetInfo(ds, spec["task"], counts[ds], mods)
    return infos


def _write_table(table: ResultTable, stem: Path, caption: str) -> None:
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        table.body.to_csv(tmp, index=False)
    write_text_atomic(stem.with_suffix(".md"), to_markdown(table))
    write_text_atomic(stem.with_suffix(".tex"), to_latex(table, caption))


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_tables(
    metrics: Sequence[str],
    predictions: Sequence[str],
    labels: Mapping[str, str | Path],
    config: dict,
    *,
    seed: int,
    out_dir: str | Path,
    stores: Mapping[str, Mapping[str, str | Path]] | None = None,
    missing_modality: Sequence[str | Path] = (),
) -> None:
    """Read every metrics.json and write the tables (CSV, Markdown, LaTeX, HTML) to ``out_dir``.

    ``predictions[i]`` is the predictions file ``metrics[i]`` was scored from (the paired
    comparison resamples them, on the complete cases that ``stores``, per dataset its
    modality stores, define). ``missing_modality``: LegoMerge's ``missing_modality.json`` of
    every dataset and split, for ``missing_modality.{csv,md}``.
    """
    if len(predictions) != len(metrics):
        raise ValueError(
            f"{len(metrics)} metrics files but {len(predictions)} predictions files; "
            "give the predictions of every run and split, in the same order"
        )
    out = Path(out_dir)
    infos = dataset_infos(config, labels)
    long = load_metrics(metrics)
    for ds, info in infos.items():
        info.complete_test_n = complete_test_n(long, ds)
    long["predictions"] = long["path"].map(dict(zip(map(str, metrics), predictions, strict=True)))
    summary = summarise(long)
    _write_frame(long.drop(columns=["path", "predictions"]), out / "metrics_long.csv")
    main = build_table(summary, infos, primary_columns(infos), splits=config.get("splits"))
    _write_table(
        main, out / "table2", "Test performance, mean ± std over the splits (Table 2 layout)"
    )
    _write_table(
        build_table(summary, infos, secondary_columns(infos), splits=config.get("splits")),
        out / "secondary",
        "Secondary metrics, mean ± std over the splits",
    )
    presence = {ds: read_dataset_presence(files) for ds, files in (stores or {}).items()}
    paired = paired_comparison(
        long, config["evaluate"]["bootstrap"], seed, {d: i.task for d, i in infos.items()},
        presence,
    )  # fmt: skip
    _write_frame(paired, out / "paired.csv")
    write_text_atomic(out / "paired.md", paired_markdown(paired))
    write_text_atomic(out / "paired.tex", paired_latex(paired))
    write_text_atomic(out / "table2.html", to_html(main))
    missing = missing_modality_table(
        load_metrics(metrics, scope="available"), long, read_reports(missing_modality), infos
    )
    _write_frame(missing, out / "missing_modality.csv")
    write_text_atomic(out / "missing_modality.md", missing_modality_markdown(missing))
    log.info("wrote tables for %d datasets, %d runs to %s", len(infos), long["run"].nunique(), out)


def write_paper_comparison(
    table2: str | Path, out_csv: str | Path, out_md: str | Path, config: Mapping[str, Any]
) -> None:
    """Compare table2.csv with the paper's numbers (CSV, and Markdown with the setup
    differences of ``config`` listed under the table)."""
    frame = compare_with_paper(pd.read_csv(table2))
    if frame.empty:
        log.warning("no dataset or row of %s is in the paper's Table 2", table2)
    _, source = paper_table2()
    _write_frame(frame, Path(out_csv))
    notes = differences_markdown(setup_differences(config))
    write_text_atomic(out_md, paper_markdown(frame, source) + notes)


def paper_markdown(frame: pd.DataFrame, source: str) -> str:
    """Ours (mean ± std) / the paper's mean, per row and dataset."""
    if frame.empty:
        # No dataset or row of this study is in the paper: a sentence, not an empty table.
        return f"No dataset or model of this study is in the paper's Table 2. Paper: {source}\n"
    cells = frame.assign(
        text=[
            f"{r.ours_mean:.3f} ± {r.ours_std:.3f} / {r.paper_mean:.3f} ({r.difference:+.3f})"
            for r in frame.itertuples()
        ]
    )
    pivot = cells.pivot(index="row", columns="dataset", values="text").fillna("–")
    pivot = pivot.reindex(list(dict.fromkeys(frame["row"])))
    lines = [
        "| model | " + " | ".join(pivot.columns) + " |",
        "| --- |" + " --- |" * len(pivot.columns),
    ]
    lines += [
        f"| {row} | " + " | ".join(vals) + " |"
        for row, vals in zip(pivot.index, pivot.values.tolist(), strict=True)
    ]
    return f"Ours (mean ± std) / paper (difference). Paper: {source}\n\n" + "\n".join(lines) + "\n"
