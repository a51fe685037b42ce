"""``mmlego ensemble``: average unimodal runs' predictions of one split (no training)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ensemble subcommand."""
    parser = sub.add_parser(
        "ensemble",
        help="mean of unimodal runs' probabilities or survival curves for one split",
    )
    parser.add_argument(
        "--members",
        nargs="+",
        required=True,
        help="predictions.parquet of each member run ({ds}/{run}/split{k}/predictions.parquet)",
    )
    parser.add_argument(
        "--stores",
        nargs="+",
        required=True,
        help="modality store ({ds}/modalities/{mod}.h5) of each member, in the same order",
    )
    parser.add_argument("--dataset", required=True, help="dataset key")
    parser.add_argument("--split", type=int, required=True, help="split index")
    parser.add_argument("--cfg", required=True, help="the config as JSON (for provenance)")
    parser.add_argument("--out", required=True, help="predictions.parquet to write")
    parser.set_defaults(func=run_ensemble)


def member_run(path: str | Path) -> str:
    """The run name of a ``{ds}/{run}/split{k}/predictions.parquet`` path."""
    return Path(path).parent.parent.name


def run_ensemble(args: argparse.Namespace) -> None:
    """Read the members, check they describe the same task and split, average, write."""
    from mmlego.data.store import read_presence
    from mmlego.models.baselines.ensemble import average_predictions
    from mmlego.predictions import read_predictions, write_predictions
    from mmlego.utils.provenance import provenance

    if len(args.stores) != len(args.members):
        raise ValueError(
            f"{len(args.members)} --members but {len(args.stores)} --stores; give one store per member"
        )
    members = {member_run(p): read_predictions(p) for p in args.members}
    present = {run: read_presence(s) for run, s in zip(members, args.stores, strict=True)}
    first_name, first = next(iter(members.items()))
    for preds in members.values():
        for key in ("task", "bins", "classes", "dataset"):
            if preds.meta.get(key) != first.meta.get(key):
                raise ValueError(
                    f"{preds.source}: metadata {key!r} = {preds.meta.get(key)!r} differs from "
                    f"member {first_name!r} ({first.meta.get(key)!r}); rerun the members on the same split"
                )
        splits = set(preds.frame["split"].astype(int))
        if splits != {args.split}:
            raise ValueError(
                f"{preds.source}: rows of split(s) {sorted(splits)}, expected {args.split}"
            )
    frame = average_predictions({n: p.frame for n, p in members.items()}, first.task, present)
    cfg = json.loads(args.cfg)
    meta = {
        "task": first.task,
        "bins": first.meta.get("bins"),
        "classes": first.meta.get("classes"),
        "run": "ensemble",
        "dataset": args.dataset,
        "members": list(members),
        "provenance": provenance(cfg, seed=cfg.get("seed", 0), device="cpu"),
    }
    write_predictions(args.out, frame, meta)
    log.info("ensemble of %s: %d rows -> %s", ", ".join(members), len(frame), args.out)
