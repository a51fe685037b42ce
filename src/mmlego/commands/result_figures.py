"""``mmlego figures``: Fig. 2, Fig. 3, training curves and Kaplan–Meier curves from saved results."""

from __future__ import annotations

import argparse
import json
import logging

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
    parser.add_argument("--curves", required=True, help="training curves PNG (PDF beside it)")
    parser.add_argument("--km", required=True, help="Kaplan–Meier PNG (PDF beside it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Draw every result figure (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.evaluate.result_figures import write_result_figures

    write_result_figures(
        args.metrics_long,
        args.predictions,
        json.loads(args.config_json),
        fig2=args.fig2,
        fig3=args.fig3,
        curves=args.curves,
        km=args.km,
    )
    log.info("wrote figures %s, %s, %s, %s", args.fig2, args.fig3, args.curves, args.km)
