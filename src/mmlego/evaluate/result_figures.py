"""Figures from the study's results: Fig. 2, Fig. 3, training curves and Kaplan–Meier curves.

Every figure reads saved files only: ``metrics_long.csv`` (the tables stage), the runs'
``predictions.parquet`` and, beside them, ``train_log.csv`` (absent for runs without training,
such as LegoMerge).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from mmlego.data.kinds import dataset_modalities
from mmlego.evaluate.metric_names import PRIMARY_METRIC
from mmlego.evaluate.plotting import COLORS, new_figure, save
from mmlego.evaluate.tables import METRIC_NAMES
from mmlego.models.catalogue import parse_run, run_label
from mmlego.predictions import Predictions, read_predictions


def _test_primary(long: pd.DataFrame, ds: str, task: str) -> pd.DataFrame:
    metric = PRIMARY_METRIC[task]
    return long[(long["dataset"] == ds) & (long["set"] == "test") & (long["metric"] == metric)]


def _panel_grid(n: int, width: float = 3.2, height: float = 2.8, max_cols: int = 4):
    cols = max(1, min(n, max_cols))
    rows = max(1, math.ceil(n / cols))
    fig, axes = new_figure(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False, constrained_layout=True
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n] if n else flat[:1]


def _bars(ax, long: pd.DataFrame, runs: Sequence[str], ds: str, task: str) -> None:
    """Mean ± std bars of the test metric with each split as a dot."""
    data = _test_primary(long, ds, task)
    for i, run in enumerate(runs):
        values = data.loc[data["run"] == run, "value"].dropna().to_numpy()
        if values.size == 0:
            continue
        ax.bar(
            i,
            values.mean(),
            yerr=values.std(ddof=1) if values.size > 1 else 0,
            color=COLORS[i % len(COLORS)],
            alpha=0.8,
            capsize=3,
        )
        ax.scatter(
            np.full(values.size, i) + np.linspace(-0.15, 0.15, values.size),
            values,
            s=8,
            color="k",
            zorder=3,
        )
    ax.set_xticks(range(len(runs)), [run_label(r) for r in runs], rotation=30, ha="right")
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_title(ds)
    ax.set_ylabel(f"test {METRIC_NAMES[PRIMARY_METRIC[task]]}")
    low = data["value"].min()
    ax.set_ylim(min(0.4, low - 0.05) if np.isfinite(low) else 0.4, 1.0)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


# Fig. 2's runs: the mean of the LegoBlocks' predictions, and the two ways to combine them.
FIG2_RUNS = ("lego_ensemble", "lego_merge", "lego_fuse")


def fig2_merge_vs_ensemble(long: pd.DataFrame, tasks: Mapping[str, str], kinds: Mapping[str, str]):
    """Fig. 2: LegoMerge and LegoFuse against ``lego_ensemble``, the ensemble of the same
    LegoBlocks (not the SNN/ABMIL ``ensemble`` baseline), on the MIMIC-like datasets.

    Falls back to every dataset when the study has no MIMIC dataset.
    """
    chosen = [ds for ds, kind in kinds.items() if kind == "mimic"] or list(tasks)
    fig, axes = _panel_grid(len(chosen))
    for ax, ds in zip(axes, chosen, strict=False):
        runs = [r for r in FIG2_RUNS if r in set(long["run"][long["dataset"] == ds])]
        if runs:
            _bars(ax, long, runs, ds, tasks[ds])
        else:
            _empty(ax, f"{ds}: no LegoBlock ensemble or Lego runs")
    fig.suptitle(
        "Fig. 2 — LegoMerge and LegoFuse against the ensemble of their LegoBlocks "
        "(test, complete cases, over splits)"
    )
    return fig


def fig3_blocks_vs_merge(long: pd.DataFrame, tasks: Mapping[str, str]):
    """Fig. 3: per dataset, each modality's LegoBlock against LegoMerge (and LegoFuse)."""
    fig, axes = _panel_grid(len(tasks))
    for ax, ds in zip(axes, tasks, strict=False):
        present = sorted(set(long["run"][long["dataset"] == ds]))
        runs = [r for r in present if parse_run(r)[0] == "lego_block"]
        runs += [r for r in ("lego_merge", "lego_fuse") if r in present]
        if runs:
            _bars(ax, long, runs, ds, tasks[ds])
        else:
            _empty(ax, f"{ds}: no LegoBlock runs")
    fig.suptitle(
        "Fig. 3 — LegoBlock per modality against LegoMerge (test, complete cases, over splits)"
    )
    return fig


def training_curves(
    train_logs: Sequence[tuple[str, str, str | Path]],
    tasks: Mapping[str, str],
    types: Mapping[str, Sequence[str]] | None = None,
):
    """Validation metric per epoch of every trained run (one panel per dataset, a line per split).

    ``train_logs``: (dataset, run, train_log.csv) of every trained run and split; ``types``:
    each dataset's modality types, which name the fused runs in the legend.
    """
    types = types or {}
    fig, axes = _panel_grid(len(tasks), width=4.2, height=3.0, max_cols=2)
    by_ds: dict[str, list[tuple[str, pd.DataFrame]]] = {ds: [] for ds in tasks}
    for ds, run, path in train_logs:
        if ds in by_ds:
            by_ds[ds].append((run, pd.read_csv(path)))
    for ax, ds in zip(axes, tasks, strict=False):
        runs = sorted({run for run, _ in by_ds[ds]})
        if not runs:
            _empty(ax, f"{ds}: no training logs")
            continue
        for run, log in by_ds[ds]:
            i = runs.index(run)
            ax.plot(
                log["epoch"],
                log["val_metric"],
                color=COLORS[i % len(COLORS)],
                lw=1,
                alpha=0.6,
                ls="-" if i < len(COLORS) else "--",
            )
        for i, run in enumerate(runs):
            ax.plot(
                [],
                [],
                color=COLORS[i % len(COLORS)],
                ls="-" if i < len(COLORS) else "--",
                label=run_label(run, types.get(ds, ())),
            )
        ax.set_title(ds)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"val {METRIC_NAMES[PRIMARY_METRIC[tasks[ds]]]}")
        ax.legend(fontsize=6, ncol=2, frameon=False)
    fig.suptitle("Training curves: validation metric per epoch (one line per split)")
    return fig


def risk_groups(predictions: Sequence[Predictions]) -> pd.DataFrame:
    """Test patients of every split labelled high/low risk at the split's **validation** median."""
    parts = []
    for preds in predictions:
        frame = preds.frame
        cut = frame.loc[preds.subset("val"), "risk"].median()
        test = frame[preds.subset("test")].copy()
        test["group"] = np.where(test["risk"] > cut, "high risk", "low risk")
        parts.append(test[["patient_id", "split", "time", "event", "risk", "group"]])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def km_figure(
    groups_by_ds: Mapping[str, tuple[str, pd.DataFrame]],
    types: Mapping[str, Sequence[str]] | None = None,
):
    """Kaplan–Meier curves of the predicted risk groups on test, pooled over the splits."""
    types = types or {}
    fig, axes = _panel_grid(max(len(groups_by_ds), 1), width=3.6, height=3.0)
    if not groups_by_ds:
        _empty(axes[0], "no survival dataset in this study")
    for ax, (ds, (run, groups)) in zip(axes, groups_by_ds.items(), strict=False):
        for i, name in enumerate(("low risk", "high risk")):
            part = groups[groups["group"] == name]
            if part.empty:
                continue
            t, s = kaplan_meier_estimator(
                part["event"].astype(bool).to_numpy(), part["time"].to_numpy()
            )
            ax.step(
                np.concatenate([[0], t]),
                np.concatenate([[1], s]),
                where="post",
                color=COLORS[i],
                label=f"{name} (n={len(part)})",
            )
        title = f"{ds}: {run_label(run, types.get(ds, ()))}"
        if groups["group"].nunique() == 2 and groups["event"].any():
            _, p = compare_survival(
                Surv.from_arrays(groups["event"].astype(bool), groups["time"]), groups["group"]
            )
            title += f"\nlog-rank p = {p:.2g}"
        ax.set_title(title)
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_ylim(0, 1.02)
        ax.legend(frameon=False)
    fig.suptitle(
        "Kaplan–Meier curves of predicted risk groups (test, split at the val median risk)"
    )
    return fig


def km_run(runs: Sequence[str]) -> str | None:
    """The run whose risk groups are drawn: LegoMerge, else LegoFuse, else the first run."""
    for preferred in ("lego_merge", "lego_fuse"):
        if preferred in runs:
            return preferred
    return runs[0] if runs else None


def _pdf(png: str | Path) -> Path:
    return Path(png).with_suffix(".pdf")


def write_result_figures(
    metrics_long: str | Path,
    predictions: Sequence[str],
    train_logs: Sequence[tuple[str, str, str | Path]],
    config: Mapping,
    *,
    fig2: str | Path,
    fig3: str | Path,
    curves: str | Path,
    km: str | Path,
) -> None:
    """Draw every result figure to PNG and PDF (``train_logs`` as in :func:`training_curves`)."""
    tasks = {ds: spec["task"] for ds, spec in config["datasets"].items()}
    kinds = {ds: spec["kind"] for ds, spec in config["datasets"].items()}
    long = pd.read_csv(metrics_long)
    save(fig2_merge_vs_ensemble(long, tasks, kinds), fig2, _pdf(fig2))
    save(fig3_blocks_vs_merge(long, tasks), fig3, _pdf(fig3))
    types = {
        ds: [m.type for m in dataset_modalities(spec)] for ds, spec in config["datasets"].items()
    }
    save(training_curves(train_logs, tasks, types), curves, _pdf(curves))
    # Runs are told apart by what their predictions say they are, never by their paths.
    survival = [ds for ds, task in tasks.items() if task == "survival"]
    by_run: dict[tuple[str, str], list[Predictions]] = {}
    for path in predictions:
        preds = read_predictions(path)
        if preds.meta["dataset"] in survival:
            by_run.setdefault((preds.meta["dataset"], preds.meta["run"]), []).append(preds)
    groups = {}
    for ds in survival:
        chosen = km_run(sorted(run for d, run in by_run if d == ds))
        if chosen is not None:
            groups[ds] = (chosen, risk_groups(by_run[(ds, chosen)]))
    save(km_figure(groups, types), km, _pdf(km))
