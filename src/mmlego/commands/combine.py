"""``mmlego merge``, ``merge_adaptive``, ``naive_mc``, ``damc`` and ``fuse``: combine one split's
trained LegoBlocks."""

from __future__ import annotations

import argparse
import logging

from mmlego.commands.train import (
    add_common_arguments,
    name_path_pairs,
    prepare_step,
    split_files,
)

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommands of the blocks-made models."""
    for name, func, help_text in (
        ("merge", run_merge, "merge a split's LegoBlocks (no training)"),
        (
            "merge_adaptive",
            run_merge_adaptive,
            "merge a split's LegoBlocks with per-modality weights chosen on validation",
        ),
        ("naive_mc", run_naive_mc, "average a split's LegoBlocks' shared parameters (NaiveMC)"),
        ("damc", run_damc, "NaiveMC with per-modality weights chosen on validation (DAMC)"),
        ("fuse", run_fuse, "fuse a split's LegoBlocks and fine-tune them on paired patients"),
    ):
        parser = sub.add_parser(name, help=help_text)
        add_common_arguments(parser)
        parser.add_argument(
            "--block", action="append", required=True, metavar="MODALITY=MODEL_PT",
            help="a trained block's checkpoint; repeat for every modality (at least 2)",
        )  # fmt: skip
        parser.set_defaults(func=func)


def _combine(
    args: argparse.Namespace, model: str, runner: str, *, seeded: bool = True, **options: object
) -> None:
    """Load the split and its blocks, then hand over to ``mmlego.train.combine.<runner>``
    with the step's seed (unless ``seeded`` is off: LegoMerge draws nothing) and ``options``."""
    from mmlego.data.transforms import load_split
    from mmlego.train import combine

    cfg, device, seed, record = prepare_step(args, model)
    if seeded:
        options["seed"] = seed
    data = load_split(split_files(args), args.split)
    getattr(combine, runner)(
        data, block_paths=name_path_pairs(args.block, "--block"), cfg=cfg, dataset=args.dataset,
        split=args.split, out_dir=args.out_dir, provenance=record, device=device,
        **options,
    )  # fmt: skip


def run_merge(args: argparse.Namespace) -> None:
    """Load the split and the blocks, merge, write outputs."""
    _combine(args, "lego_merge", "merge_run", seeded=False)


def run_merge_adaptive(args: argparse.Namespace) -> None:
    """Load the split and the blocks, choose λ on validation, merge, write outputs."""
    _combine(args, "lego_merge_adaptive", "adaptive_merge_run")


def run_naive_mc(args: argparse.Namespace) -> None:
    """Load the split and the blocks, average their shared parameters, write outputs."""
    _combine(args, "naive_mc", "compose_run", adaptive=False)


def run_damc(args: argparse.Namespace) -> None:
    """Load the split and the blocks, choose λ on validation, average, write outputs."""
    _combine(args, "damc", "compose_run", adaptive=True)


def run_fuse(args: argparse.Namespace) -> None:
    """Load the split and the blocks, fuse, fine-tune, write outputs."""
    _combine(args, "lego_fuse", "fuse_run")
