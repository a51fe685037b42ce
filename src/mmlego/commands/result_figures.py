"""``mmlego result-figures``: Fig. 2, Fig. 3, training curves and Kaplan–Meier curves."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``result-figures``."""
    parser = sub.add_parser(
        "result-figures", help="result figures (Fig. 2, 3, training curves, KM)"
    )
    parser.add_argument("--metrics-long", required=True, help="tables/metrics_long.csv")
    parser.add_argument(
        "--predictions", nargs="+", required=True, help="every run's predictions.parquet"
    )
    parser.add_argument(
        "--train-log", nargs=3, action="append", default=[],
        metavar=("DATASET", "RUN", "TRAIN_LOG"), help="a trained run's train_log.csv of one split",
    )  # fmt: skip
    parser.add_argument("--cfg", required=True, help="the datasets section as JSON")
    parser.add_argument("--out-fig2", required=True, help="Fig. 2 PNG (PDF beside it)")
    parser.add_argument("--out-fig3", required=True, help="Fig. 3 PNG (PDF beside it)")
    parser.add_argument("--out-curves", required=True, help="training curves PNG (PDF beside it)")
    parser.add_argument("--out-km", required=True, help="Kaplan–Meier PNG (PDF beside it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Draw every result figure (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.evaluate.result_figures import write_result_figures

    write_result_figures(
        args.metrics_long,
        args.predictions,
        [tuple(entry) for entry in args.train_log],
        load_cfg(args.cfg),
        fig2=args.out_fig2,
        fig3=args.out_fig3,
        curves=args.out_curves,
        km=args.out_km,
    )
    log.info(
        "wrote figures %s, %s, %s, %s", args.out_fig2, args.out_fig3, args.out_curves, args.out_km
    )
