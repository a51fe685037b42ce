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
    parser.add_argument("--out", required=True, help="metrics.json to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Score the predictions and write ``metrics.json`` with provenance."""
    # Heavy imports here, so that ``mmlego --help`` and the other steps stay fast.
    from mmlego.data.labels import read_labels
    from mmlego.evaluate.predictions import read_predictions, read_split_sets
    from mmlego.evaluate.score import nan_to_null, score_predictions, train_seconds
    from mmlego.utils.atomic import write_json_atomic
    from mmlego.utils.provenance import provenance

    preds = read_predictions(args.predictions)
    labels, _ = read_labels(args.labels)
    sets = read_split_sets(args.splits, args.split)
    payload = score_predictions(preds, labels, sets, args.split)
    payload["train_seconds"] = train_seconds(args.predictions)
    source = preds.meta.get("provenance") or {}
    record = provenance(
        None,
        seed=source.get("seed"),
        device=source.get("device"),
        predictions_provenance=source,
        inputs=[args.predictions, args.labels, args.splits],
    )
    # Scoring has no config of its own: the study's config hash is the one the predictions carry.
    record["config_hash"] = source.get("config_hash")
    write_json_atomic(args.out, nan_to_null(payload), provenance=record)
    log.info(
        "%s split %s: val %s test %s", payload["run"], args.split, payload["val"], payload["test"]
    )
