"""``mmlego read-tables`` and ``mmlego manifest``: raw tables to labels, stores and bag manifests."""

from __future__ import annotations

import argparse

from mmlego.utils.config_arg import load_cfg


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the table subcommands."""
    tables = sub.add_parser(
        "read-tables",
        help="read a dataset's raw tables: labels.parquet, vector/series stores, QC of exclusions",
    )
    tables.add_argument("--dataset", required=True, help="dataset key in the config")
    tables.add_argument("--cfg", required=True, help="the dataset's config section as JSON")
    tables.add_argument("--seed", type=int, required=True, help="master seed (ISIC downsampling)")
    tables.add_argument("--out-dir", required=True, help="the dataset's output folder")
    tables.set_defaults(func=run_tables)

    manifest = sub.add_parser("manifest", help="list a bag modality's slides or images per patient")
    manifest.add_argument("--dataset", required=True, help="dataset key in the config")
    manifest.add_argument("--cfg", required=True, help="the dataset's config section as JSON")
    manifest.add_argument("--modality", required=True, help="bag modality name")
    manifest.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    manifest.add_argument("--out", required=True, help="manifest CSV to write")
    manifest.add_argument("--out-skipped", required=True, help="QC CSV of skipped files")
    manifest.set_defaults(func=run_manifest)


def run_tables(args: argparse.Namespace) -> None:
    """Build labels and stores."""
    from mmlego.data.build import build_tables
    from mmlego.utils.provenance import provenance

    ds = load_cfg(args.cfg)
    prov = provenance(ds, seed=args.seed, dataset=args.dataset)
    build_tables(args.dataset, ds, args.out_dir, provenance=prov, seed=args.seed)


def run_manifest(args: argparse.Namespace) -> None:
    """Build one manifest."""
    from mmlego.data.build import build_manifest

    ds = load_cfg(args.cfg)
    build_manifest(args.dataset, ds, args.modality, args.labels, args.out, args.out_skipped)
