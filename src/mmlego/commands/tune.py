"""``mmlego tune-shared``: the tuning stage a split's LegoBlocks share (their latent shape)."""

from __future__ import annotations

import argparse
import logging

from mmlego.commands.train import add_common_arguments, prepare_step, split_files

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mmlego tune-shared``."""
    parser = sub.add_parser(
        "tune-shared", help="tune the keys a split's LegoBlocks share, on validation"
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--runs", nargs="+", required=True, metavar="RUN",
        help="the split's LegoBlock runs, e.g. lego_block.slides lego_block.rna",
    )  # fmt: skip
    parser.set_defaults(func=run_tune_shared)


def run_tune_shared(args: argparse.Namespace) -> None:
    """Load the blocks' modalities of the split, run the shared study, write ``tuning.json``
    into ``--out-dir``. Every trial trains each block with its own train job's seed."""
    from mmlego.data.transforms import load_split
    from mmlego.layout import tuning
    from mmlego.models.catalogue import parse_run
    from mmlego.train.tuning import shared_job
    from mmlego.train.tuning.job import SHARED_RUN

    cfg, device, _, record = prepare_step(args, SHARED_RUN)
    if not cfg.get("tune"):
        raise ValueError(
            "tune-shared: the config has no tune settings (tune.trials is 0 for lego_block); "
            "the shared stage runs only for tuned LegoBlocks"
        )
    not_blocks = [run for run in args.runs if parse_run(run)[0] != SHARED_RUN]
    if not_blocks:
        raise ValueError(
            f"tune-shared: {not_blocks} are not LegoBlock runs (lego_block.<modality>)"
        )
    modalities = [parse_run(run)[1] for run in args.runs]
    data = load_split(split_files(args), args.split, modalities=modalities)
    summary = shared_job(
        data, runs=list(args.runs), dataset=args.dataset, split=args.split, cfg=cfg,
        out=tuning(args.out_dir), master_seed=args.seed, provenance=record, device=device,
    )  # fmt: skip
    log.info("shared stage split %d: chosen %s", args.split, summary["chosen"])
