"""Summarise the baselines of a finished study: mean ± std test metric over splits, per run.

Reads ``{output_dir}/{ds}/{run}/split{k}/metrics.json`` (evaluate stage) and the runs'
``predictions.parquet`` (to flag constant predictions) for every baseline run the config
applies, and writes results/benchmarks/baselines_demo.{json,md}.

Run after the workflow: ``.venv/bin/python benchmarks/baselines_demo.py [config.yaml]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mmlego.config import dataset_runs, load_config, parse_run
from mmlego.evaluate.predictions import read_predictions
from mmlego.utils.atomic import write_json_atomic, write_text_atomic

BASELINES = (
    "snn", "abmil", "perceiver", "perceiver_early", "late_concat", "late_bilinear", "ensemble",
    "multimodn", "mcat", "healnet",
)  # fmt: skip
METRIC = {"survival": "c_index", "binary": "auc", "multiclass": "auc_macro_ovr"}
OUT = Path("results/benchmarks")


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
        for run in dataset_runs(spec, models):
            scores, spreads, task = [], [], None
            for k in range(config["splits"]["repeats"]):
                folder = root / ds / run / f"split{k}"
                if not (folder / "metrics.json").exists():
                    continue
                metrics = json.loads((folder / "metrics.json").read_text())
                task = metrics["task"]
                scores.append(metrics["test"][METRIC[task]])
                spreads.append(spread(read_predictions(folder / "predictions.parquet").frame, task))
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
