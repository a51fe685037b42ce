"""``tables/merge_ablation.{csv,md}``: LegoMerge's aggregation variants per dataset, over splits.

Reads the per-split ``{ds}/merge_ablation/split{k}.json`` (:mod:`mmlego.studies.merge_ablation`)
and gives, per dataset and (magnitude, phase, head), the mean ± sample std (ddof = 1) over the
splits of the primary metric on the val and test complete cases. The config's merge is marked
``default``; the Markdown bolds each dataset's best **validation** mean (test never chooses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mmlego.evaluate.tables import METRIC_NAMES, format_value
from mmlego.studies.merge_ablation import PHASE_LABELS

VARIANT = ["magnitude", "phase", "head"]
COLUMNS = [
    "dataset", "metric", *VARIANT, "default", "val_mean", "val_std", "test_mean", "test_std",
    "n_splits", "n_val", "n_test",
]  # fmt: skip


def read_ablation(paths: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows ``dataset, metric, split, set, magnitude, phase, head, value, default``,
    counts ``dataset, split, set, n``) of every split's file."""
    rows, counts = [], []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable merge-ablation JSON ({err})") from err
        for key in ("dataset", "split", "metric", "default", "n", "rows"):
            if key not in doc:
                raise KeyError(f"{path}: key '{key}' is missing; rerun its merge_ablation job")
        default = tuple(doc["default"][k] for k in VARIANT)
        for row in doc["rows"]:
            rows.append({
                "dataset": doc["dataset"], "metric": doc["metric"], "split": int(doc["split"]),
                **{k: row[k] for k in ("set", *VARIANT)},
                "value": float("nan") if row["value"] is None else float(row["value"]),
                "default": tuple(row[k] for k in VARIANT) == default,
            })  # fmt: skip
        counts += [
            {"dataset": doc["dataset"], "split": int(doc["split"]), "set": s, "n": n}
            for s, n in doc["n"].items()
        ]
    return pd.DataFrame(rows), pd.DataFrame(counts, columns=["dataset", "split", "set", "n"])


def ablation_table(rows: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, variant): val and test mean ± std over the splits (:data:`COLUMNS`)."""
    keys = ["dataset", "metric", *VARIANT, "default"]
    stats = (
        rows.groupby([*keys, "set"], sort=False)["value"]
        .agg(mean="mean", std=lambda v: v.std(ddof=1), n_splits="count")
        .unstack("set")
    )
    out = pd.DataFrame(
        {
            "val_mean": stats[("mean", "val")],
            "val_std": stats[("std", "val")],
            "test_mean": stats[("mean", "test")],
            "test_std": stats[("std", "test")],
            "n_splits": stats[("n_splits", "test")],
        }
    ).reset_index()
    n = counts.groupby(["dataset", "set"])["n"].agg(lambda v: _range(v)).unstack("set")
    out["n_val"] = out["dataset"].map(n["val"])
    out["n_test"] = out["dataset"].map(n["test"])
    return out[COLUMNS]


def _range(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}–{high}"


def ablation_markdown(table: pd.DataFrame) -> str:
    """Variants as rows, a "val / test" column per dataset; best val per dataset in bold."""
    datasets = list(dict.fromkeys(table["dataset"]))
    by_ds = {ds: table[table["dataset"] == ds].set_index(VARIANT) for ds in datasets}
    best = {
        ds: frame["val_mean"].idxmax() if frame["val_mean"].notna().any() else None
        for ds, frame in by_ds.items()
    }
    header = [f"{ds} ({METRIC_NAMES[by_ds[ds]['metric'].iloc[0]]}) val / test" for ds in datasets]
    counts = "; ".join(
        f"{ds} val {f['n_val'].iloc[0]}, test {f['n_test'].iloc[0]}" for ds, f in by_ds.items()
    )
    lines = [
        "LegoMerge of the same trained blocks, mean ± std over the splits, on the complete "
        f"cases (n per split: {counts}). Bold: the best validation mean per dataset; "
        "(default): the config's merge.",
        "",
        "| magnitude | phase | head | " + " | ".join(header) + " |",
        "| --- | --- | --- |" + " --- |" * len(datasets),
    ]
    first = by_ds[datasets[0]]
    for variant in first.index:
        cells = []
        for ds in datasets:
            r = by_ds[ds].loc[variant]
            val = format_value(r["val_mean"], r["val_std"])
            text = f"{val} / {format_value(r['test_mean'], r['test_std'])}"
            cells.append(f"**{text}**" if variant == best[ds] else text)
        magnitude, phase, head = variant
        mark = " (default)" if bool(first.loc[variant, "default"]) else ""
        lines.append(
            f"| {magnitude} | {PHASE_LABELS[phase]} | {head}{mark} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"
