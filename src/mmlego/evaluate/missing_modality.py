"""``tables/missing_modality.{csv,md}``: every run on all the test patients it can be scored on,
and LegoMerge with each modality removed.

Table 2 scores the complete cases only. This table scores each run's ``available`` scope of
``metrics.json`` (:mod:`mmlego.evaluate.cases`): a multimodal run on every test patient, a
unimodal run on the test patients who have its modality (never on the others, for whom its
output is a prior). LegoMerge's rows "without {modality}" come from the merge job's
``missing_modality.json`` of each split: the merge on every test patient with that modality
removed from all of them. A cell is the mean ± sample std (ddof = 1) over the splits of the
test primary metric; the complete-case value (Table 2's) is given beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from mmlego.evaluate.metric_names import PRIMARY_METRIC
from mmlego.evaluate.tables import METRIC_NAMES, DatasetInfo, format_value, summarise
from mmlego.models.catalogue import ENTRIES, parse_run, run_label

COLUMNS = [
    "dataset", "run", "row", "removed", "scored_on", "metric", "n_test", "mean", "std",
    "n_splits", "complete_mean", "complete_std",
]  # fmt: skip


def read_reports(paths: Iterable[str | Path]) -> pd.DataFrame:
    """``dataset, split, metric, removed, value`` from LegoMerge's ``missing_modality.json``s."""
    rows = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable missing_modality.json ({err})") from err
        for key in ("dataset", "split", "metric", "without"):
            if key not in doc:
                raise KeyError(f"{path}: key '{key}' is missing; rerun its merge job")
        for modality, value in doc["without"].items():
            rows.append(
                {
                    "dataset": doc["dataset"],
                    "split": int(doc["split"]),
                    "metric": doc["metric"],
                    "removed": modality,
                    "value": float("nan") if value is None else float(value),
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "split", "metric", "removed", "value"])


def _n_range(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}–{high}"


def _test_primary(summary: pd.DataFrame, ds: str, metric: str) -> pd.DataFrame:
    here = summary[
        (summary["dataset"] == ds) & (summary["set"] == "test") & (summary["metric"] == metric)
    ]
    return here.set_index("run")


def missing_modality_table(
    available: pd.DataFrame,
    complete: pd.DataFrame,
    reports: pd.DataFrame,
    infos: Mapping[str, DatasetInfo],
) -> pd.DataFrame:
    """The table's rows (:data:`COLUMNS`) from the two scopes' :func:`load_metrics` tables and
    :func:`read_reports`; runs in catalogue order, each merge's "without" rows after it."""
    order = {e.key: i for i, e in enumerate(ENTRIES)}
    rows = []
    for ds, info in infos.items():
        metric = PRIMARY_METRIC[info.task]
        scored = _test_primary(summarise(available), ds, metric)
        table2 = _test_primary(summarise(complete), ds, metric)
        counts = available[(available["dataset"] == ds) & (available["set"] == "test")]
        runs = sorted(scored.index, key=lambda r: (order[parse_run(r)[0]], r))
        for run in runs:
            modality = parse_run(run)[1]
            types = [t for m, t in info.modalities.items() if modality in (None, m)]
            rows.append(
                {
                    "dataset": ds,
                    "run": run,
                    "row": run_label(run, types),
                    "removed": "",
                    "scored_on": f"with {modality}" if modality else "every test patient",
                    "metric": metric,
                    "n_test": _n_range(counts.loc[counts["run"] == run, "n"]),
                    "mean": scored.at[run, "mean"],
                    "std": scored.at[run, "std"],
                    "n_splits": int(scored.at[run, "n_splits"]),
                    "complete_mean": table2.at[run, "mean"] if run in table2.index else None,
                    "complete_std": table2.at[run, "std"] if run in table2.index else None,
                }
            )
            if run != "lego_merge":
                continue
            merge = rows[-1]
            mine = reports[(reports["dataset"] == ds) & (reports["metric"] == metric)]
            for removed, part in mine.groupby("removed", sort=False):
                rows.append(
                    {
                        **merge,
                        "row": f"{merge['row']} without {removed}",
                        "removed": removed,
                        "mean": part["value"].mean(),
                        "std": part["value"].std(ddof=1),
                        "n_splits": int(part["value"].notna().sum()),
                        "complete_mean": None,
                        "complete_std": None,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def missing_modality_markdown(table: pd.DataFrame) -> str:
    """One Markdown table: per dataset and run, the metric on every patient it can be scored
    on, and on the complete cases (Table 2)."""
    lines = [
        "Test metric, mean ± std over the splits. *All*: every test patient for a multimodal "
        "run, the test patients who have its modality for a unimodal one; LegoMerge *without* "
        "a modality: that modality removed from every test patient. *Complete*: the test "
        "patients with every modality (Table 2).",
        "",
        "| dataset | model | scored on | n test | all | complete |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        complete = (
            "–"
            if r.complete_mean is None or pd.isna(r.complete_mean)
            else format_value(r.complete_mean, r.complete_std)
        )
        lines.append(
            f"| {r.dataset} ({METRIC_NAMES[r.metric]}) | {r.row} | {r.scored_on} | "
            f"{r.n_test or '–'} | {format_value(r.mean, r.std)} | {complete} |"
        )
    return "\n".join(lines) + "\n"
