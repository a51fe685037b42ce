"""``mmlego ensemble``: average unimodal runs' predictions of one split (no training); the
step of ``ensemble`` and ``lego_ensemble``."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ensemble subcommand."""
    parser = sub.add_parser(
        "ensemble",
        help="mean of unimodal runs' probabilities or survival curves for one split",
    )
    parser.add_argument(
        "--member", action="append", required=True, metavar="RUN=PREDICTIONS",
        help="a member run's predictions.parquet; repeat for every member",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="append", required=True, metavar="RUN=STORE_H5",
        help="the modality store of a member run (its presence flags); one per member",
    )  # fmt: skip
    parser.add_argument(
        "--survival-mean", choices=("survival", "hazards"), default="survival",
        help="what a survival task averages: the members' survival curves or their hazards",
    )  # fmt: skip
    parser.add_argument(
        "--run", required=True, help="the averaged model's run name (ensemble, lego_ensemble)"
    )
    parser.add_argument("--dataset", required=True, help="dataset key")
    parser.add_argument("--split", type=int, required=True, help="split index")
    parser.add_argument("--cfg", required=True, help="the model's config keys as JSON")
    parser.add_argument("--seed", type=int, required=True, help="the study's master seed")
    parser.add_argument("--out", required=True, help="predictions.parquet to write")
    parser.set_defaults(func=run_ensemble)


def run_ensemble(args: argparse.Namespace) -> None:
    """Read the members, check they describe the same task and split, average, write."""
    from mmlego.commands.train import name_path_pairs
    from mmlego.data.store import read_presence
    from mmlego.models.baselines.ensemble import average_predictions
    from mmlego.predictions import read_predictions, write_predictions
    from mmlego.utils.provenance import provenance

    paths = name_path_pairs(args.member, "--member")
    stores = name_path_pairs(args.store, "--store")
    if set(stores) != set(paths):
        raise ValueError(
            f"--member runs {sorted(paths)} and --store runs {sorted(stores)} differ; "
            "give one store per member"
        )
    members = {run: read_predictions(path) for run, path in paths.items()}
    present = {run: read_presence(stores[run]) for run in members}
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
    frame = average_predictions(
        {n: p.frame for n, p in members.items()}, first.task, present, args.survival_mean
    )
    meta = {
        "task": first.task,
        "bins": first.meta.get("bins"),
        "classes": first.meta.get("classes"),
        "run": args.run,
        "dataset": args.dataset,
        "members": list(members),
        "provenance": provenance(load_cfg(args.cfg), seed=args.seed, device="cpu"),
    }
    write_predictions(args.out, frame, meta)
    log.info("%s of %s: %d rows -> %s", args.run, ", ".join(members), len(frame), args.out)
