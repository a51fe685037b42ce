"""``mmlego metrics``: one run's ``metrics.json`` for one split, from its saved predictions."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``metrics``."""
    parser = sub.add_parser("metrics", help="val and test metrics of one run and split")
    parser.add_argument("--predictions", required=True, help="predictions.parquet of the run")
    parser.add_argument("--labels", required=True, help="labels.parquet of the dataset")
    parser.add_argument("--splits", required=True, help="splits.json of the dataset")
    parser.add_argument("--split", type=int, required=True, help="split index k")
    parser.add_argument(
        "--train-log", default=None, help="the run's train_log.csv (runs that train)"
    )
    parser.add_argument("--out", required=True, help="metrics.json to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Score the predictions and write ``metrics.json`` with provenance."""
    # Heavy imports here, so that ``mmlego --help`` and the other steps stay fast.
    from mmlego.data.labels import read_labels
    from mmlego.evaluate.score import write_metrics
    from mmlego.predictions import read_split_sets

    labels, _ = read_labels(args.labels)
    sets = read_split_sets(args.splits, args.split)
    payload = write_metrics(
        args.predictions,
        labels,
        sets,
        args.split,
        args.out,
        inputs=[args.predictions, args.labels, args.splits],
        train_log=args.train_log,
    )
    log.info(
        "%s split %s: val %s test %s", payload["run"], args.split, payload["val"], payload["test"]
    )
