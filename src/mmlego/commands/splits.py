"""``mmlego splits`` and ``mmlego transforms``: patient-level splits and train-only fitting."""

from __future__ import annotations

import argparse

from mmlego.utils.config_arg import load_cfg


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the split subcommands."""
    splits = sub.add_parser("splits", help="draw repeated patient-level train/val/test splits")
    splits.add_argument("--dataset", required=True, help="dataset key in the config")
    splits.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    splits.add_argument("--cfg", required=True, help="the config's splits section as JSON")
    splits.add_argument("--seed", type=int, required=True, help="master seed")
    splits.add_argument("--out", required=True, help="splits.json to write")
    splits.set_defaults(func=run_splits)

    transforms = sub.add_parser(
        "transforms", help="fit each given split's transforms on its train patients only"
    )
    transforms.add_argument("--dataset", required=True, help="dataset key in the config")
    transforms.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    transforms.add_argument("--splits", required=True, help="the dataset's splits.json")
    transforms.add_argument(
        "--store", action="append", default=[], metavar="MODALITY=STORE_H5",
        help="the store of a vector or series modality; repeat for each",
    )  # fmt: skip
    transforms.add_argument(
        "--split", type=int, nargs="+", required=True, help="split index k (or several)"
    )
    transforms.add_argument(
        "--cfg", required=True,
        help='JSON {"splits": the config section, "modalities": {name: vector|series|bag}, '
        '"survival_bins": discrete time bins}',
    )  # fmt: skip
    transforms.add_argument(
        "--out", nargs="+", required=True, help="transforms JSON to write, one per --split"
    )
    transforms.set_defaults(func=run_transforms)

    join = sub.add_parser(
        "join-transforms", help="join one split's per-modality transforms into one file"
    )
    join.add_argument("--dataset", required=True, help="dataset key in the config")
    join.add_argument(
        "--part", action="append", required=True, metavar="MODALITY_JSON",
        help="a transforms/split{k}/{mod}.json, in the dataset's modality order; repeat",
    )  # fmt: skip
    join.add_argument("--out", required=True, help="transforms/split{k}.json to write")
    join.set_defaults(func=run_join_transforms)


def run_splits(args: argparse.Namespace) -> None:
    """Draw and write the splits."""
    from mmlego.data.splits import write_splits
    from mmlego.utils.provenance import provenance

    cfg = load_cfg(args.cfg)
    prov = provenance(cfg, seed=args.seed, dataset=args.dataset)
    write_splits(
        args.labels, args.out, dataset=args.dataset, cfg=cfg, seed=args.seed, provenance=prov
    )


def run_transforms(args: argparse.Namespace) -> None:
    """Fit and write the transforms of each split (several per process: start-up dominates)."""
    from mmlego.commands.train import name_path_pairs
    from mmlego.data.transforms import fit_transforms, write_transforms
    from mmlego.utils.provenance import provenance

    if len(args.split) != len(args.out):
        raise ValueError(
            f"{len(args.split)} --split values but {len(args.out)} --out paths; "
            "give one output path per split"
        )
    cfg = load_cfg(args.cfg)
    stores = name_path_pairs(args.store, "--store")
    for k, out in zip(args.split, args.out, strict=True):
        fitted = fit_transforms(
            args.labels,
            args.splits,
            stores,
            k,
            modalities=cfg["modalities"],
            survival_bins=cfg["survival_bins"],
            max_missing=float(cfg["splits"]["max_missing"]),
        )
        prov = provenance(cfg, dataset=args.dataset, split=k)
        write_transforms(out, fitted, dataset=args.dataset, provenance=prov)


def run_join_transforms(args: argparse.Namespace) -> None:
    """Join a split's modality transforms files."""
    # Not mmlego.data.transforms: joining JSON files needs neither numpy nor pandas.
    from mmlego.data.transform_files import join_transforms, write_transforms
    from mmlego.utils.provenance import provenance

    joined = join_transforms(args.part)
    prov = provenance({"parts": args.part}, dataset=args.dataset, split=joined["split"])
    write_transforms(args.out, joined, dataset=args.dataset, provenance=prov)
