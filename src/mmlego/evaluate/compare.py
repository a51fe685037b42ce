"""Paired comparison of LegoMerge/LegoFuse with the best baseline, and with the paper's Table 2.

**Paired comparison.** Per dataset, LegoMerge and LegoFuse are compared with two references:
the best baseline (``versus`` = ``baseline``: the deep, non-Lego runs) and the best classical
model (``versus`` = ``classical``: coxnet, logistic, gbm), each the run of its pool with the best
mean **validation** primary metric (test numbers never choose it). The difference ours − reference is
averaged over the splits; its 95% interval is a paired bootstrap: in every replicate the test
patients of each split are resampled with replacement, the same patients for both models, both
metrics are recomputed from the saved predictions, and the per-split differences are averaged.
Like Table 2, it is scored on the complete cases (test patients with every modality of the
dataset) when the presence flags are given.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from importlib import resources

import numpy as np
import pandas as pd

from mmlego.evaluate import fast_metrics
from mmlego.evaluate.cases import Presence, scored_mask
from mmlego.evaluate.metric_names import LOWER_IS_BETTER, PRIMARY_METRIC
from mmlego.evaluate.metrics import (
    binary_auc,
    harrell_c,
    macro_ovr_auc,
)
from mmlego.evaluate.tables import OURS, pick_on_validation
from mmlego.models.catalogue import ENTRIES
from mmlego.predictions import Predictions, read_predictions
from mmlego.utils.seeding import derive_seed

CLASSICAL = tuple(e.key for e in ENTRIES if e.group == "classical")


def primary_score(preds: Predictions, rows: np.ndarray) -> float:
    """The task's primary metric on rows ``rows`` (positions in the test frame)."""
    frame = preds.frame.iloc[rows]
    if preds.task == "survival":
        return harrell_c(
            frame["time"].to_numpy(), frame["event"].to_numpy(), frame["risk"].to_numpy()
        )
    probs = frame[preds.columns("prob")].to_numpy(float)
    if preds.task == "binary":
        return binary_auc(frame["label"].to_numpy(), probs[:, 1])
    return macro_ovr_auc(frame["label"].to_numpy(), probs)


def resample_scorer(preds: Predictions) -> Callable[[np.ndarray], float]:
    """``rows -> primary_score(preds, rows)`` for the thousands of bootstrap resamples: the
    columns are read once, and the metrics are :mod:`~mmlego.evaluate.fast_metrics`' (the same
    floats, without the libraries' per-call checks). An undefined value (one class, no
    comparable pair) is NaN; a class absent from a resample is left out of the macro mean, as
    ``macro_ovr_auc`` does."""
    frame = preds.frame
    if preds.task == "survival":
        time, event = frame["time"].to_numpy(), frame["event"].to_numpy()
        risk = frame["risk"].to_numpy()
        return lambda rows: fast_metrics.harrell_c(event[rows], time[rows], risk[rows])
    label = frame["label"].to_numpy()
    probs = frame[preds.columns("prob")].to_numpy(float)
    if preds.task == "binary":
        return lambda rows: fast_metrics.roc_auc(label[rows] == 1, probs[rows, 1])
    return lambda rows: fast_metrics.macro_ovr_auc(label[rows], probs[rows])


def _test_only(preds: Predictions, order: pd.Index | None = None) -> Predictions:
    frame = preds.frame[preds.subset("test")].set_index("patient_id")
    frame = frame.loc[order] if order is not None else frame.sort_index()
    return Predictions(
        frame.reset_index(), preds.task, preds.bins, preds.classes, preds.meta, preds.source
    )


def bootstrap_difference(
    pairs: list[tuple[Predictions, Predictions]], n_boot: int, seed: int
) -> tuple[float, float]:
    """95% percentile interval of mean-over-splits (ours − baseline) under a paired bootstrap."""
    if n_boot == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    diffs = np.full((n_boot, len(pairs)), np.nan)
    # A resample with a single class or no comparable pair scores NaN; nanmean skips it.
    for j, (ours, base) in enumerate(pairs):
        n = len(ours.frame)
        score_ours, score_base = resample_scorer(ours), resample_scorer(base)
        for b in range(n_boot):
            rows = rng.integers(0, n, size=n)
            diffs[b, j] = score_ours(rows) - score_base(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_replicate = np.nanmean(diffs, axis=1)
    per_replicate = per_replicate[np.isfinite(per_replicate)]
    if per_replicate.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(per_replicate, [2.5, 97.5])
    return float(low), float(high)


def reference_pools(runs: set[str], models: Mapping[str, str]) -> dict[str, list[str]]:
    """The runs each reference is chosen from: ``baseline`` (deep, non-Lego) and ``classical``
    (``models`` maps a run to its model key)."""
    pools: dict[str, list[str]] = {"baseline": [], "classical": []}
    for run in sorted(runs):
        model = models[run]
        if model not in OURS:
            pools["classical" if model in CLASSICAL else "baseline"].append(run)
    return {versus: pool for versus, pool in pools.items() if pool}


def complete_test(preds: Predictions, presence: Presence | None) -> Predictions:
    """The test rows of ``preds`` (sorted by patient), only the complete cases when
    ``presence`` (the dataset's flags, :mod:`mmlego.evaluate.cases`) is given."""
    test = _test_only(preds)
    if presence is None:
        return test
    keep = scored_mask(test.frame["patient_id"], presence, preds.meta["run"], "complete")
    return _test_only(test, pd.Index(test.frame.loc[keep, "patient_id"]))


def paired_comparison(
    long: pd.DataFrame,
    n_boot: int,
    seed: int,
    tasks: Mapping[str, str],
    presence: Mapping[str, Presence] | None = None,
) -> pd.DataFrame:
    """One row per (dataset, Lego model, reference): the reference run (chosen on val), the
    mean difference and its bootstrap CI.

    ``presence``: per dataset, its modalities' presence flags (then the bootstrap resamples
    the complete cases, the patients ``long`` was scored on)."""
    presence = presence or {}
    rows = []
    for ds, task in tasks.items():
        metric = PRIMARY_METRIC[task]
        here = long[(long["dataset"] == ds) & (long["metric"] == metric)]
        models = here.drop_duplicates("run").set_index("run")["model"].to_dict()
        pools = reference_pools(set(models), models)
        if not pools:
            continue
        val = here[here["set"] == "val"].groupby("run")["value"].mean().to_dict()
        chosen = {versus: pick_on_validation(pool, val, metric) for versus, pool in pools.items()}
        test = here[here["set"] == "test"].pivot_table(index="split", columns="run", values="value")
        paths = here.drop_duplicates(["run", "split"]).set_index(["run", "split"])["predictions"]
        for ours in ("lego_merge", "lego_fuse"):
            if ours not in test.columns:
                continue
            for versus, base in chosen.items():
                rows.append(
                    paired_row(
                        test,
                        paths,
                        ds,
                        metric,
                        ours,
                        versus,
                        base,
                        n_boot,
                        seed,
                        presence.get(ds),
                    )
                )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


PAIRED_COLUMNS = [
    "dataset",
    "metric",
    "model",
    "versus",
    "baseline",
    "n_splits",
    "mean_model",
    "mean_baseline",
    "mean_difference",
    "ci_low",
    "ci_high",
    "splits_won",
]


def paired_row(
    test: pd.DataFrame,
    paths: pd.Series,
    ds: str,
    metric: str,
    ours: str,
    versus: str,
    base: str,
    n_boot: int,
    seed: int,
    presence: Presence | None,
) -> dict:
    """The paired comparison of run ``ours`` with reference run ``base`` on dataset ``ds``."""
    both = test[[ours, base]].dropna()
    diff = both[ours] - both[base]
    pairs = []
    for k in both.index:
        mine = complete_test(read_predictions(paths[(ours, k)]), presence)
        theirs = read_predictions(paths[(base, k)])
        pairs.append((mine, _test_only(theirs, pd.Index(mine.frame["patient_id"]))))
    low, high = bootstrap_difference(pairs, n_boot, derive_seed(seed, ds, ours, base))
    sign = -1 if metric in LOWER_IS_BETTER else 1
    return {
        "dataset": ds,
        "metric": metric,
        "model": ours,
        "versus": versus,
        "baseline": base,
        "n_splits": len(both),
        "mean_model": both[ours].mean(),
        "mean_baseline": both[base].mean(),
        "mean_difference": diff.mean(),
        "ci_low": low,
        "ci_high": high,
        "splits_won": int((sign * diff > 0).sum()),
    }


def paired_markdown(frame: pd.DataFrame) -> str:
    """The paired comparison as a Markdown table."""
    lines = [
        "| dataset | model | versus | best reference (val) | model | reference | difference [95% CI] | splits won |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in frame.itertuples():
        lines.append(
            f"| {r.dataset} | {r.model} | {r.versus} | {r.baseline} | {r.mean_model:.3f} | {r.mean_baseline:.3f} | "
            f"{r.mean_difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.splits_won}/{r.n_splits} |"
        )
    return "\n".join(lines) + "\n"


def paired_latex(frame: pd.DataFrame) -> str:
    """The paired comparison as a booktabs ``tabular`` fragment."""
    from mmlego.evaluate.tables import tex_escape

    lines = [
        r"\begin{tabular}{llllcccc}",
        r"\toprule",
        r"Dataset & Model & Versus & Best reference (val) & Model & Reference & Difference [95\% CI] & Splits won \\",
        r"\midrule",
    ]
    for r in frame.itertuples():
        lines.append(
            f"{tex_escape(r.dataset)} & {tex_escape(r.model)} & {tex_escape(r.versus)} & "
            f"{tex_escape(r.baseline)} & "
            f"{r.mean_model:.3f} & {r.mean_baseline:.3f} & "
            f"${r.mean_difference:+.3f}$ [${r.ci_low:+.3f}$, ${r.ci_high:+.3f}$] & {r.splits_won}/{r.n_splits} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def paper_table2() -> tuple[pd.DataFrame, str]:
    """The paper's Table 2 means (rows × datasets) and the source line of the data file."""
    text = (
        resources.files("mmlego.resources").joinpath("paper_table2.csv").read_text(encoding="utf-8")
    )
    source = text.splitlines()[0].lstrip("# ").strip()
    frame = pd.read_csv(
        resources.files("mmlego.resources").joinpath("paper_table2.csv"), comment="#"
    )
    return frame.set_index("row"), source


def compare_with_paper(body: pd.DataFrame) -> pd.DataFrame:
    """Our Table 2 cells next to the paper's, for the datasets and rows both have."""
    paper, _ = paper_table2()
    rows = []
    for r in body.itertuples():
        if r.dataset not in paper.columns or r.row not in paper.index:
            continue
        ours = float(r.mean)
        theirs = float(paper.at[r.row, r.dataset])
        rows.append(
            {
                "row": r.row,
                "dataset": r.dataset,
                "ours_mean": ours,
                "ours_std": float(r.std),
                "paper_mean": theirs,
                "difference": ours - theirs,
            }
        )
    return pd.DataFrame(
        rows, columns=["row", "dataset", "ours_mean", "ours_std", "paper_mean", "difference"]
    )
