"""``mmlego read-tables`` and ``mmlego manifest``: raw tables to labels, stores and bag manifests."""

from __future__ import annotations

import argparse

from mmlego.utils.config_arg import load_cfg, optional_float


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
    tables.add_argument(
        "--part", default=None, metavar="labels|MODALITY",
        help="only the labels, or only one modality's store and QC rows (a generic dataset, "
        "whose files the workflow reads one job each); default: everything in one read",
    )  # fmt: skip
    tables.add_argument(
        "--labels", default=None, help="the dataset's labels.parquet (with --part MODALITY)"
    )
    tables.set_defaults(func=run_tables)

    qc = sub.add_parser("table-qc", help="join the per-modality QC tables into qc/tables.csv")
    qc.add_argument("--part", action="append", default=[], help="a qc/tables_<mod>.csv; repeat")
    qc.add_argument("--out", required=True, help="qc/tables.csv to write")
    qc.set_defaults(func=run_table_qc)

    manifest = sub.add_parser("manifest", help="list a bag modality's slides or images per patient")
    manifest.add_argument("--dataset", required=True, help="dataset key in the config")
    manifest.add_argument("--cfg", required=True, help="the dataset's config section as JSON")
    manifest.add_argument("--modality", required=True, help="bag modality name")
    manifest.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    manifest.add_argument("--out", required=True, help="manifest CSV to write")
    manifest.add_argument("--out-skipped", required=True, help="QC CSV of skipped files")
    manifest.add_argument(
        "--type", required=True, choices=["wsi", "image"], help="what each file is opened as"
    )
    manifest.add_argument(
        "--fallback-mpp",
        type=optional_float,
        default=None,
        help="µm/px of slides with no mpp in the manifest or metadata ('none': no fallback)",
    )
    manifest.set_defaults(func=run_manifest)


def run_tables(args: argparse.Namespace) -> None:
    """Build labels and stores."""
    from mmlego.data.build import build_labels, build_modality_table, build_tables
    from mmlego.data.kinds import dataset_modalities
    from mmlego.utils.provenance import provenance

    ds = load_cfg(args.cfg)
    prov = provenance(ds, seed=args.seed, dataset=args.dataset)
    if args.part is None:
        build_tables(args.dataset, ds, args.out_dir, provenance=prov, seed=args.seed)
    elif args.part == "labels":
        build_labels(args.dataset, ds, args.out_dir, provenance=prov)
    elif args.part in (names := [m.name for m in dataset_modalities(ds)]):
        if args.labels is None:
            raise ValueError(f"--part {args.part}: give the dataset's labels.parquet as --labels")
        build_modality_table(
            args.dataset, ds, args.part, args.labels, args.out_dir, provenance=prov
        )
    else:
        raise KeyError(
            f"--part {args.part!r}: not 'labels' nor a modality of the config given "
            f"({', '.join(names) or 'none'})"
        )


def run_table_qc(args: argparse.Namespace) -> None:
    """Join the per-modality QC tables."""
    from mmlego.data.build import join_table_qc

    join_table_qc(args.part, args.out)


def run_manifest(args: argparse.Namespace) -> None:
    """Build one manifest."""
    from mmlego.data.build import build_manifest

    ds = load_cfg(args.cfg)
    build_manifest(
        args.dataset,
        ds,
        args.modality,
        args.labels,
        args.out,
        args.out_skipped,
        mod_type=args.type,
        fallback_mpp=args.fallback_mpp,
    )
