"""``mmlego figures``: Fig. 2, Fig. 3, training curves and Kaplan–Meier curves from saved results."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from mmlego.evaluate.plotting import save
from mmlego.evaluate.result_figures import (
    fig2_merge_vs_ensemble,
    fig3_blocks_vs_merge,
    km_figure,
    km_run,
    risk_groups,
    training_curves,
)

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``figures``."""
    parser = sub.add_parser("figures", help="result figures (Fig. 2, 3, training curves, KM)")
    parser.add_argument("--metrics-long", required=True, help="tables/metrics_long.csv")
    parser.add_argument(
        "--predictions", nargs="+", required=True, help="every run's predictions.parquet"
    )
    parser.add_argument("--config-json", required=True, help="the study config as JSON")
    parser.add_argument("--fig2", required=True, help="Fig. 2 PNG (PDF beside it)")
    parser.add_argument("--fig3", required=True, help="Fig. 3 PNG (PDF beside it)")
    parser.add_argument("--curves", required=True, help="training curves PNG")
    parser.add_argument("--km", required=True, help="Kaplan–Meier PNG")
    parser.set_defaults(func=run)


def _pdf(png: str) -> str:
    return str(Path(png).with_suffix(".pdf"))


def run(args: argparse.Namespace) -> None:
    """Draw every result figure."""
    config = json.loads(args.config_json)
    tasks = {ds: spec["task"] for ds, spec in config["datasets"].items()}
    kinds = {ds: spec["kind"] for ds, spec in config["datasets"].items()}
    long = pd.read_csv(args.metrics_long)
    save(fig2_merge_vs_ensemble(long, tasks, kinds), args.fig2, _pdf(args.fig2))
    save(fig3_blocks_vs_merge(long, tasks), args.fig3, _pdf(args.fig3))
    save(training_curves(args.predictions, tasks), args.curves, _pdf(args.curves))
    groups = {}
    for ds, task in tasks.items():
        if task != "survival":
            continue
        files = [p for p in args.predictions if Path(p).parts[-4] == ds]
        chosen = km_run(sorted({Path(p).parts[-3] for p in files}))
        if chosen is not None:
            groups[ds] = (chosen, risk_groups([p for p in files if Path(p).parts[-3] == chosen]))
    save(km_figure(groups), args.km, _pdf(args.km))
    log.info("wrote figures %s, %s, %s, %s", args.fig2, args.fig3, args.curves, args.km)
