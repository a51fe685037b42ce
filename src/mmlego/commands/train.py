"""``mmlego train``: fit one run (a LegoBlock or a baseline) on one split."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from mmlego.utils.config_arg import load_cfg

if TYPE_CHECKING:
    import torch

    from mmlego.data.transforms import SplitFiles

log = logging.getLogger(__name__)


def name_path_list(pairs: list[str], option: str) -> list[tuple[str, str]]:
    """``name=path`` values of the command-line ``option`` → [(name, path)], in order."""
    parsed = []
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{option} expects name=path, got {pair!r}")
        parsed.append((name, path))
    return parsed


def name_path_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``name=path`` values of the command-line ``option`` → {name: path}, one per name."""
    parsed = name_path_list(pairs, option)
    names = [name for name, _ in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{option} names {repeated} more than once; give each once")
    return dict(parsed)


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """The files one split is loaded from (``mmlego.data.transforms.SplitFiles``)."""
    parser.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    parser.add_argument("--splits", required=True, help="the dataset's splits.json")
    parser.add_argument("--transforms", required=True, help="the split's transforms JSON")
    parser.add_argument(
        "--store", action="append", required=True, metavar="MODALITY=STORE_H5",
        help="a modality store; repeat for every modality",
    )  # fmt: skip


def split_files(args: argparse.Namespace) -> SplitFiles:
    """The split's files from the parsed arguments."""
    from mmlego.data.transforms import SplitFiles

    return SplitFiles(
        args.labels, args.splits, args.transforms, name_path_pairs(args.store, "--store")
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments every model step takes (train, merge, fuse, unpaired-train)."""
    add_split_arguments(parser)
    parser.add_argument("--dataset", required=True, help="dataset key (for provenance and seeds)")
    parser.add_argument("--split", type=int, required=True, help="split index k")
    parser.add_argument(
        "--out-dir", required=True, help="folder for model.pt, predictions.parquet, ..."
    )
    parser.add_argument("--cfg", required=True, help="the model's config sections as JSON")
    parser.add_argument("--seed", type=int, default=0, help="the study's master seed")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def prepare_step(args: argparse.Namespace, run: str) -> tuple[dict, torch.device, int, dict]:
    """Parse the config, fix threads and seeds, pick the device; returns (cfg, device, seed, provenance)."""
    # Imported here, not at module level: every ``mmlego`` call builds every parser, and most
    # steps never need torch (about a second per job).
    import torch

    from mmlego.utils.allocator import keep_freed_memory
    from mmlego.utils.device import select_device
    from mmlego.utils.provenance import provenance
    from mmlego.utils.seeding import derive_seed, seed_everything

    cfg = load_cfg(args.cfg)
    keep_freed_memory()
    torch.set_num_threads(max(1, args.threads))
    seed = derive_seed(args.seed, args.dataset, args.split, run)
    seed_everything(seed)
    device = select_device(args.device)
    record = provenance(
        cfg, seed=seed, device=str(device), run=run, dataset=args.dataset, split=args.split
    )
    return cfg, device, seed, record


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mmlego train``."""
    parser = sub.add_parser("train", help="train one run (model.modality) on one split")
    add_common_arguments(parser)
    parser.add_argument("--run", required=True, help="run name, e.g. lego_block.slides or healnet")
    parser.add_argument(
        "--shared-tuning", default=None, metavar="TUNING_JSON",
        help="a tuned LegoBlock's shared stage (its split's lego_block/split{k}/tuning.json)",
    )  # fmt: skip
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> None:
    """Load the split, train (or, with ``tune`` in the config, tune) the run's model, write
    its outputs."""
    from mmlego.data.transforms import load_split
    from mmlego.models.catalogue import parse_run
    from mmlego.train.run import train_run

    cfg, device, seed, record = prepare_step(args, args.run)
    _, modality = parse_run(args.run)
    # A unimodal run reads only its own store (a tabular block never loads the slides' bags).
    data = load_split(split_files(args), args.split, modalities=[modality] if modality else None)
    step = dict(
        run=args.run, dataset=args.dataset, split=args.split, cfg=cfg, out_dir=args.out_dir,
        provenance=record, device=device, seed=seed,
    )  # fmt: skip
    if not cfg.get("tune"):
        # train_or_tune would call train_run too; importing Optuna costs every job ~0.15 s.
        train_run(data, **step)
    else:
        from mmlego.train.tuning import train_or_tune

        train_or_tune(data, **step, shared_tuning=args.shared_tuning)
    log.info("wrote %s", args.out_dir)
