"""``mmlego latent-interference``: energy and phase coherence of the trained blocks' latents."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

PER_DATASET = ("model", "labels", "splits", "transforms")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``latent-interference``."""
    parser = sub.add_parser(
        "latent-interference", help="interference on the learned latents of LegoMerge's blocks"
    )
    for name in PER_DATASET:
        parser.add_argument(
            f"--{name}", action="append", required=True, metavar="DATASET=PATH",
            help=f"a dataset's split {name} file (the merge's model.pt for --model); one per dataset",
        )  # fmt: skip
    parser.add_argument(
        "--store", action="append", required=True, metavar="DATASET.MODALITY=STORE_H5",
        help="a modality store of a dataset; repeat for every modality of every dataset",
    )  # fmt: skip
    parser.add_argument("--split", type=int, required=True, help="split index k")
    parser.add_argument("--out-csv", required=True, help="table to write")
    parser.add_argument("--out-png", required=True, help="figure PNG (PDF beside it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Compute and draw (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.commands.train import name_path_pairs
    from mmlego.data.transforms import SplitFiles
    from mmlego.evaluate.latent_interference import write_latent_interference

    given = {name: name_path_pairs(getattr(args, name), f"--{name}") for name in PER_DATASET}
    stores: dict[str, dict[str, str]] = {ds: {} for ds in given["model"]}
    for key, path in name_path_pairs(args.store, "--store").items():
        ds, _, modality = key.partition(".")
        if ds not in stores or not modality:
            raise ValueError(f"--store {key}: expected DATASET.MODALITY of a dataset given --model")
        stores[ds][modality] = path
    files = {
        ds: SplitFiles(
            given["labels"][ds], given["splits"][ds], given["transforms"][ds], stores[ds]
        )
        for ds in given["model"]
    }
    table = write_latent_interference(given["model"], files, args.split, args.out_csv, args.out_png)
    log.info("latent interference:\n%s", table.to_string(index=False))
