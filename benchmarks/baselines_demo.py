"""Summarise the baselines of a finished study: mean ± std test metric over splits, per run.

Reads each baseline run's ``{output_dir}/{ds}/{run}/split{k}/predictions.parquet`` and
scores its test rows with the evaluation stage's metric functions (Harrell's c-index, AUC,
macro one-vs-rest AUC), so it needs only the training and ensemble jobs; it also flags
constant predictions. Writes results/benchmarks/baselines_demo.{json,md}.

Run after the workflow: ``.venv/bin/python benchmarks/baselines_demo.py [config.yaml]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mmlego.config import load_config
from mmlego.data.kinds import dataset_modalities
from mmlego.evaluate.metrics import binary_auc, harrell_c, macro_ovr_auc
from mmlego.models.catalogue import dataset_runs, parse_run
from mmlego.predictions import Predictions, read_predictions
from mmlego.utils.atomic import write_json_atomic, write_text_atomic

BASELINES = (
    "snn", "abmil", "perceiver", "perceiver_early", "late_concat", "late_bilinear", "ensemble",
    "multimodn", "mcat", "healnet",
)  # fmt: skip
METRIC = {"survival": "c_index", "binary": "auc", "multiclass": "auc_macro_ovr"}
OUT = Path("results/benchmarks")


def test_score(preds: Predictions) -> float:
    """The task's headline metric on the test rows."""
    test = preds.frame[preds.subset("test")]
    if preds.task == "survival":
        return harrell_c(test["time"], test["event"], test["risk"])
    probs = test[preds.columns("prob")].to_numpy(float)
    if preds.task == "binary":
        return binary_auc(test["label"].to_numpy(), probs[:, 1])
    return macro_ovr_auc(test["label"].to_numpy(), probs)


def spread(frame, task: str) -> float:
    """Standard deviation of the prediction a metric ranks by (0 = a constant model)."""
    column = "risk" if task == "survival" else "prob_1"
    if task == "multiclass":
        return float(frame[[c for c in frame.columns if c.startswith("prob_")]].std().max())
    return float(frame[column].std())


def main(config_path: str = "config/config.yaml") -> None:
    config = load_config(config_path)
    root = Path(config["output_dir"])
    models = [m for m in config["models"] if m in BASELINES]
    summary: dict[str, dict] = {}
    for ds, spec in config["datasets"].items():
        for run in dataset_runs(dataset_modalities(spec), models):
            scores, spreads, task = [], [], None
            for k in range(config["splits"]["repeats"]):
                path = root / ds / run / f"split{k}" / "predictions.parquet"
                if not path.exists():
                    continue
                preds = read_predictions(path)
                task = preds.task
                scores.append(test_score(preds))
                spreads.append(spread(preds.frame, task))
            if scores:
                values = np.array([np.nan if s is None else s for s in scores], float)
                summary.setdefault(ds, {})[run] = {
                    "model": parse_run(run)[0],
                    "metric": METRIC[task],
                    "splits": len(scores),
                    "mean": float(np.nanmean(values)),
                    "std": float(np.nanstd(values)),
                    "per_split": scores,
                    "min_prediction_std": float(min(spreads)),
                }
    write_json_atomic(OUT / "baselines_demo.json", summary)
    lines = ["| dataset | run | metric | splits | test mean ± std | min prediction std |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for ds, runs in summary.items():
        for run, r in runs.items():
            lines.append(
                f"| {ds} | {run} | {r['metric']} | {r['splits']} | {r['mean']:.3f} ± {r['std']:.3f} "
                f"| {r['min_prediction_std']:.2e} |"
            )
    write_text_atomic(OUT / "baselines_demo.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
