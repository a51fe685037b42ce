"""``mmlego latent-interference``: energy and phase coherence of the trained blocks' latents."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``latent-interference``."""
    parser = sub.add_parser(
        "latent-interference", help="interference on the learned latents of LegoMerge's blocks"
    )
    parser.add_argument(
        "--models", nargs="+", required=True, help="{ds}/lego_merge/split{k}/model.pt per dataset"
    )
    parser.add_argument("--dataset-dirs", nargs="+", required=True, help="the datasets' folders")
    parser.add_argument("--split", type=int, default=0, help="split index k")
    parser.add_argument("--csv", required=True, help="table to write")
    parser.add_argument("--png", required=True, help="figure PNG (PDF beside it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Compute and draw (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.evaluate.latent_interference import write_latent_interference

    table = write_latent_interference(
        args.models, args.dataset_dirs, args.split, args.csv, args.png
    )
    log.info("latent interference:\n%s", table.to_string(index=False))
