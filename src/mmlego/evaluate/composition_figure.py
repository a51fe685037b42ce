"""``figures/composition.png``: each composition of the blocks against LegoMerge, per dataset.

One panel per dataset of the composition table (:mod:`mmlego.evaluate.composition`): per model,
the paired difference of its test metric from LegoMerge's (mean over the splits) with the 95%
bootstrap interval as a bar, and each split's difference as a dot; the line at 0 is LegoMerge.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mmlego.evaluate.composition import REFERENCE
from mmlego.evaluate.plotting import COLORS, new_figure, save
from mmlego.evaluate.tables import METRIC_NAMES


def composition_figure(
    table: pd.DataFrame, long: pd.DataFrame, png: str | Path, pdf: str | Path | None = None
) -> None:
    """Draw the figure from the table and the per-split test metrics ``long`` (complete cases)."""
    datasets = list(dict.fromkeys(table["dataset"])) or [""]
    rows = max(len(table[table["dataset"] == ds]) - 1 for ds in datasets) if len(table) else 1
    fig, axes = new_figure(
        1, len(datasets), figsize=(3.6 * len(datasets), 0.45 * max(rows, 2) + 1.2),
        squeeze=False, constrained_layout=True,
    )  # fmt: skip
    for ax, ds in zip(axes[0], datasets, strict=True):
        here = table[(table["dataset"] == ds) & (table["model"] != REFERENCE)]
        if here.empty:
            ax.text(0.5, 0.5, "no composition besides LegoMerge", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_axis_off()
            continue
        metric = here["metric"].iloc[0]
        test = long[(long["dataset"] == ds) & (long["set"] == "test") & (long["metric"] == metric)]
        split_values = test.pivot_table(index="split", columns="run", values="value")
        reference = table[(table["dataset"] == ds) & (table["model"] == REFERENCE)]
        for y, (_, r) in enumerate(here.iloc[::-1].iterrows()):
            color = COLORS[y % len(COLORS)]
            diffs = (split_values[r["run"]] - split_values[REFERENCE]).dropna().to_numpy()
            ax.scatter(diffs, np.full(diffs.size, y), s=10, color="k", zorder=3)
            if not math.isnan(r["ci_low"]):
                ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=color, lw=4, alpha=0.5)
            ax.scatter([r["mean_difference"]], [y], marker="D", s=28, color=color, zorder=4)
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
        ax.set_yticks(range(len(here)), list(here["label"].iloc[::-1]))
        ref = "" if reference.empty else f" (LegoMerge {reference['mean'].iloc[0]:.3f})"
        ax.set_title(f"{ds}{ref}")
        ax.set_xlabel(f"test {METRIC_NAMES[metric]} − LegoMerge")
    save(fig, png, pdf)
