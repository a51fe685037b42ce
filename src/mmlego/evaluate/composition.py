"""``tables/composition.{csv,md}``: the ways to compose a split's LegoBlocks, side by side.

Per dataset, on the test patients with every modality (the complete cases, as Table 2): LegoMerge
(equal weights), the adaptive LegoMerge, NaiveMC, DAMC, LegoFuse, the LegoBlock ensemble and the
best single LegoBlock (the block of best mean **validation** metric; test never chooses it).
Each row gives the mean ± sample std (ddof = 1) of the test metric over the splits, the λ chosen
per split (adaptive merge and DAMC, from their ``lambda.json``) and the paired difference
against LegoMerge: the mean over splits of (model − LegoMerge), with the 95% interval of the
paired bootstrap of :mod:`mmlego.evaluate.compare` (the same test patients resampled for both).
A model not in the study has no row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego.evaluate.cases import Presence
from mmlego.evaluate.metric_names import PRIMARY_METRIC
from mmlego.evaluate.tables import METRIC_NAMES, format_value, pick_on_validation
from mmlego.models.catalogue import model_entry, parse_run

REFERENCE = "lego_merge"
# The composed models, in display order; the best block comes last.
COMPOSED = ("lego_merge", "lego_merge_adaptive", "naive_mc", "damc", "lego_fuse", "lego_ensemble")
WEIGHTED = ("lego_merge_adaptive", "damc")  # their jobs write lambda.json
BLOCK = "lego_block"
BEST_BLOCK = "best_block"
COLUMNS = [
    "dataset", "metric", "model", "label", "run", "selected_from", "n_splits", "n_test",
    "mean", "std", "lambda", "equal_weight_splits", "mean_difference", "ci_low", "ci_high",
    "splits_won",
]  # fmt: skip


def composition_runs(runs: Iterable[str]) -> list[str]:
    """The runs of a dataset the table compares: the composed models and every LegoBlock;
    [] unless LegoMerge and at least one other composed model are among ``runs``."""
    runs = list(runs)
    models = {parse_run(run)[0] for run in runs}
    if REFERENCE not in models or not models & set(COMPOSED[1:]):
        return []
    return [run for run in runs if parse_run(run)[0] in (*COMPOSED, BLOCK)]


def read_weights(path: str | Path) -> dict[str, float]:
    """The chosen λ (modality → weight) of a ``lambda.json``."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(m): float(v) for m, v in doc["lambda"].items()}
    except (OSError, json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
        raise ValueError(
            f"{path}: not a readable lambda.json with a 'lambda' mapping ({err}); rerun its job"
        ) from err


def is_equal(weights: Mapping[str, float]) -> bool:
    """Whether λ is the equal-weight point (LegoMerge, NaiveMC)."""
    return all(math.isclose(v, 1 / len(weights), abs_tol=1e-9) for v in weights.values())


def weights_text(weights: Mapping[str, float]) -> str:
    """``cnv 0.2 · rna 0.8``; ``equal`` for equal weights."""
    if is_equal(weights):
        return "equal"
    return " · ".join(f"{m} {round(v, 3):g}" for m, v in weights.items())


def composition_table(
    long: pd.DataFrame,
    weights: Mapping[tuple[str, str, int], Mapping[str, float]],
    n_boot: int,
    seed: int,
    presence: Mapping[str, Presence] | None = None,
) -> pd.DataFrame:
    """The table (:data:`COLUMNS`), one row per (dataset, model).

    ``long``: :func:`mmlego.evaluate.tables.load_metrics` of the runs' metrics (complete
    cases) with a ``predictions`` column; ``weights``: (dataset, run, split) → chosen λ of the
    weighted runs; ``presence``: per dataset its modalities' presence flags (the bootstrap
    resamples the complete test cases)."""
    # Imported here: the workflow imports this module when it parses (composition_runs), and
    # compare imports scikit-learn, scikit-survival and SciPy.
    from mmlego.evaluate.compare import paired_row

    presence = presence or {}
    rows = []
    for ds in dict.fromkeys(long["dataset"]):
        here = long[long["dataset"] == ds]
        metric = PRIMARY_METRIC[here["task"].iloc[0]]
        here = here[here["metric"] == metric]
        if not composition_runs(here["run"].unique()):
            continue
        val = here[here["set"] == "val"].groupby("run")["value"].mean().to_dict()
        test = here[here["set"] == "test"].pivot_table(index="split", columns="run", values="value")
        n_test = here[here["set"] == "test"].groupby("split")["n"].first().dropna()
        paths = here.drop_duplicates(["run", "split"]).set_index(["run", "split"])["predictions"]
        blocks = sorted(r for r in test.columns if parse_run(r)[0] == BLOCK)
        chosen = [(m, m, "") for m in COMPOSED if m in test.columns]
        if blocks:
            best = pick_on_validation(blocks, val, metric)
            chosen.append((BEST_BLOCK, best, ", ".join(blocks) if len(blocks) > 1 else ""))
        for model, run, selected_from in chosen:
            values = test[run].dropna()
            row: dict[str, Any] = {
                "dataset": ds, "metric": metric, "model": model, "run": run,
                "label": f"best LegoBlock ({run})" if model == BEST_BLOCK else model_entry(model).name,
                "selected_from": selected_from, "n_splits": len(values),
                "n_test": _range(n_test), "mean": values.mean(),
                "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                "lambda": "", "equal_weight_splits": math.nan, "mean_difference": math.nan,
                "ci_low": math.nan, "ci_high": math.nan, "splits_won": math.nan,
            }  # fmt: skip
            if model in WEIGHTED:
                row.update(_lambda_columns(weights, ds, run, values.index))
            if run != REFERENCE and REFERENCE in test.columns:
                paired = paired_row(test, paths, ds, metric, run, "composition", REFERENCE,
                                    n_boot, seed, presence.get(ds))  # fmt: skip
                row.update({k: paired[k] for k in ("mean_difference", "ci_low", "ci_high",
                                                   "splits_won")})  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _lambda_columns(
    weights: Mapping[tuple[str, str, int], Mapping[str, float]], ds: str, run: str,
    splits: Iterable[int],
) -> dict[str, Any]:  # fmt: skip
    per_split = {}
    for k in splits:
        if (ds, run, int(k)) not in weights:
            raise ValueError(
                f"no lambda.json given for {ds} {run} split {k}; pass --weights with the "
                f"lambda.json beside its predictions.parquet"
            )
        per_split[str(int(k))] = dict(weights[(ds, run, int(k))])
    return {
        "lambda": json.dumps(per_split, sort_keys=False),
        "equal_weight_splits": sum(is_equal(w) for w in per_split.values()),
    }


def _range(values: pd.Series) -> str:
    if values.empty:
        return ""
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}–{high}"


def _difference(r: pd.Series) -> str:
    if math.isnan(r["mean_difference"]):
        return "reference" if r["model"] == REFERENCE else "–"
    ci = "" if math.isnan(r["ci_low"]) else f" [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
    return f"{r['mean_difference']:+.3f}{ci}"


def composition_markdown(table: pd.DataFrame) -> str:
    """Per dataset, a table of the models and a table of the λ chosen per split."""
    if table.empty:
        return "No dataset of this study has LegoMerge and another composition of its blocks.\n"
    lines = [
        "Test metric on the complete cases (test patients with every modality), mean ± std over "
        "the splits; difference: the model − LegoMerge, mean over the splits, with the 95% "
        "interval of a paired bootstrap of the test patients; won: the splits where the model "
        "beats LegoMerge. The best LegoBlock is chosen on validation.",
    ]
    for ds, here in table.groupby("dataset", sort=False):
        metric = METRIC_NAMES[here["metric"].iloc[0]]
        n = here["n_test"].iloc[0]
        lines += [
            "",
            f"**{ds}** ({metric}; test n per split {n or '–'})",
            "",
            "| model | run | test mean ± std | difference vs LegoMerge [95% CI] | won |",
            "| --- | --- | --- | --- | --- |",
        ]
        for _, r in here.iterrows():
            won = "" if math.isnan(r["splits_won"]) else f"{int(r['splits_won'])}/{r['n_splits']}"
            lines.append(
                f"| {r['label']} | {r['run']} | {format_value(r['mean'], r['std'])} | "
                f"{_difference(r)} | {won} |"
            )
        weighted = here[here["lambda"] != ""]
        if not weighted.empty:
            splits = list(json.loads(weighted["lambda"].iloc[0]))
            lines += [
                "",
                "| λ chosen on validation | " + " | ".join(f"split {k}" for k in splits) + " |",
                "| --- |" + " --- |" * len(splits),
            ]
            for _, r in weighted.iterrows():
                lam = json.loads(r["lambda"])
                cells = [weights_text(lam[k]) if k in lam else "–" for k in splits]
                lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
