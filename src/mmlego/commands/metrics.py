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
    parser.add_argument(
        "--store", action="append", required=True, metavar="MODALITY=STORE_H5",
        help="a modality store of the dataset (its presence flags); repeat for every modality",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="metrics.json to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Score the predictions (complete cases, and every patient with the run's modalities) and
    write ``metrics.json`` with provenance."""
    # Heavy imports here, so that ``mmlego --help`` and the other steps stay fast.
    from mmlego.commands.train import name_path_pairs
    from mmlego.data.labels import read_labels
    from mmlego.evaluate.cases import read_dataset_presence
    from mmlego.evaluate.score import write_metrics
    from mmlego.predictions import read_split_sets

    labels, _ = read_labels(args.labels)
    sets = read_split_sets(args.splits, args.split)
    stores = name_path_pairs(args.store, "--store")
    payload = write_metrics(
        args.predictions,
        labels,
        sets,
        args.split,
        args.out,
        inputs=[args.predictions, args.labels, args.splits, *stores.values()],
        train_log=args.train_log,
        presence=read_dataset_presence(stores),
    )
    log.info(
        "%s split %s: val %s test %s", payload["run"], args.split, payload["val"], payload["test"]
    )
