"""Fig. 6 and its table: LegoMerge against the ensemble as the blocks' patients stop overlapping.

Reads the study's ``metrics.json`` files only (``{ds}/unpaired/overlap{tag}/{run}/split{k}/``);
the overlap of each comes from the provenance its predictions carry, not from the path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmlego.evaluate.metric_names import PRIMARY_METRIC
from mmlego.evaluate.plotting import COLORS, new_figure, save
from mmlego.evaluate.tables import METRIC_NAMES
from mmlego.models.catalogue import parse_run, run_label
from mmlego.utils.atomic import atomic_path

COLUMNS = [
    "dataset", "task", "overlap", "realized_overlap", "set_size", "shared", "split", "run", "model",
    "set", "metric", "value",
]  # fmt: skip


def metric_rows(path: str | Path) -> list[dict]:
    """The tidy rows of one study ``metrics.json`` (one per set and metric)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    study = (doc.get("provenance", {}).get("predictions_provenance") or {}).get("unpaired")
    if not study:
        raise ValueError(
            f"{path}: its predictions carry no 'unpaired' provenance; it is not an output of "
            "the unpaired study (rerun the unpaired_train rule)"
        )
    base = {
        "dataset": doc["dataset"],
        "task": doc["task"],
        "overlap": float(study["overlap"]),
        "realized_overlap": float(study["realized_overlap"]),
        "set_size": int(study["set_size"]),
        "shared": int(study["shared"]),
        "split": int(doc["split"]),
        "run": doc["run"],
        "model": run_label(doc["run"]),
    }
    return [
        {**base, "set": set_name, "metric": metric, "value": value}
        for set_name in ("val", "test")
        for metric, value in doc[set_name].items()
    ]


def unpaired_table(metrics_files: Sequence[str | Path]) -> pd.DataFrame:
    """Every metric of every study run, overlap and split (``COLUMNS``), sorted."""
    rows = [row for path in metrics_files for row in metric_rows(path)]
    if not rows:
        raise ValueError("no metrics.json given; the unpaired study has no outputs yet")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["value"] = pd.to_numeric(frame["value"])
    keys = ["dataset", "overlap", "run", "split", "set", "metric"]
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        first = frame.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"two metrics files give the same result {first}; pass each file once")
    return frame.sort_values(keys, ignore_index=True)


def task_of(frame: pd.DataFrame) -> str:
    """The one task of the table's runs."""
    tasks = sorted(frame["task"].unique())
    if len(tasks) != 1:
        raise ValueError(f"the unpaired study's metrics mix tasks {tasks}; use one dataset")
    return tasks[0]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof = 1) over splits of the test primary metric, per run and overlap."""
    metric = PRIMARY_METRIC[task_of(frame)]
    test = frame[(frame["set"] == "test") & (frame["metric"] == metric)]
    grouped = test.groupby(["run", "overlap"])["value"]
    out = grouped.agg(mean="mean", std=lambda v: v.std(ddof=1), n_splits="count").reset_index()
    return out.sort_values(["run", "overlap"], ignore_index=True)


def fig6(frame: pd.DataFrame):
    """Fig. 6: test metric (mean ± std over splits) against the overlap, merge vs ensemble.

    The blocks' means are drawn thin and dashed for reference; dots are the single splits.
    """
    metric = PRIMARY_METRIC[task_of(frame)]
    stats = summary(frame)
    test = frame[(frame["set"] == "test") & (frame["metric"] == metric)]
    fig, ax = new_figure(figsize=(4.6, 3.4), constrained_layout=True)
    blocks = sorted(r for r in stats["run"].unique() if parse_run(r)[0] == "lego_block")
    styles = {"lego_merge": (COLORS[0], "o", "-", 2.0), "ensemble": (COLORS[1], "s", "-", 2.0)}
    for i, run in enumerate(blocks):
        styles[run] = (COLORS[2 + i % (len(COLORS) - 2)], None, "--", 1.0)
    offsets = {"lego_merge": -0.008, "ensemble": 0.008}
    for run in [*blocks, "lego_merge", "ensemble"]:
        part = stats[stats["run"] == run]
        if part.empty:
            continue
        color, marker, line, width = styles[run]
        if not marker:
            ax.plot(part["overlap"], part["mean"], color=color, ls=line, lw=width,
                    label=f"{run_label(run)}, mean")  # fmt: skip
            continue
        x = part["overlap"].to_numpy() + offsets[run]
        ax.errorbar(
            x, part["mean"], yerr=part["std"].fillna(0.0), color=color, marker=marker, ls=line,
            lw=width, capsize=3, label=run_label(run), zorder=3,
        )  # fmt: skip
        dots = test[test["run"] == run]
        ax.scatter(
            dots["overlap"] + offsets[run], dots["value"], s=7, color=color, alpha=0.45, zorder=2
        )
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel(
        "symmetric difference of the blocks' training patients\n(0 = same patients, 1 = disjoint)"
    )
    ax.set_ylabel(f"paired test {METRIC_NAMES[metric]}")
    overlaps = sorted(stats["overlap"].unique())
    ax.set_xticks(overlaps, [f"{o:g}" for o in overlaps])
    sizes = sorted(frame["set_size"].unique())
    size_text = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
    datasets = ", ".join(sorted(frame["dataset"].unique()))
    ax.set_title(
        f"Fig. 6 — unpaired training ({datasets}, {size_text} patients per block, "
        f"{int(stats['n_splits'].max())} splits)"
    )
    low = np.nanmin(test["value"].to_numpy()) if len(test) else 0.5
    ax.set_ylim(min(0.45, low - 0.03), 1.0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    return fig


def write_unpaired_outputs(
    metrics_files: Sequence[str | Path], csv: str | Path, png: str | Path
) -> pd.DataFrame:
    """Write the tidy table (CSV) and Fig. 6 (PNG and the PDF beside it); returns the summary."""
    frame = unpaired_table(metrics_files)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    save(fig6(frame), png, Path(png).with_suffix(".pdf"))
    return summary(frame)
