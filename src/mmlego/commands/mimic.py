"""``mmlego mimic-extract`` (shared, per database) and ``mmlego mimic-dataset`` (per dataset)."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the MIMIC subcommands."""
    ext = sub.add_parser(
        "mimic-extract",
        help="stream the MIMIC-III v1.4 tables into cohort, static and vitals stores, and QC",
    )
    ext.add_argument("--mimic-dir", required=True, help="folder of the v1.4 CSV tables")
    ext.add_argument("--cfg", required=True, help="the dataset's config section as JSON")
    ext.add_argument("--out-dir", required=True, help="folder of the shared extraction")
    ext.add_argument("--threads", type=int, default=1, help="CSV parsing threads")
    ext.set_defaults(func=run_extract)

    cohort = sub.add_parser(
        "mimic-cohort",
        help="the cohort alone (stays, diagnoses, static store) from the four small tables",
    )
    cohort.add_argument("--mimic-dir", required=True, help="folder of the v1.4 CSV tables")
    cohort.add_argument("--cfg", required=True, help="the cohort settings as JSON")
    cohort.add_argument("--out-dir", required=True, help="folder of the cohort")
    cohort.set_defaults(func=run_cohort)

    ds = sub.add_parser(
        "mimic-dataset", help="labels, stores and QC of one MIMIC dataset from an extraction"
    )
    ds.add_argument(
        "--extract-dir", required=True,
        help="folder written by mimic-extract (with --part labels: or by mimic-cohort)",
    )  # fmt: skip
    ds.add_argument("--dataset", required=True, help="dataset key (for the log)")
    ds.add_argument("--cfg", required=True, help="the dataset's config section as JSON")
    ds.add_argument("--out-dir", required=True, help="the dataset's output folder")
    ds.add_argument(
        "--part", choices=["labels", "vitals"], default=None,
        help="labels: the labels and static store; vitals: the vitals store and QC tables; "
        "default: everything",
    )  # fmt: skip
    ds.set_defaults(func=run_dataset)


def run_extract(args: argparse.Namespace) -> None:
    """Run the shared extraction."""
    import pyarrow as pa

    from mmlego.data.mimic.extract import extract, extraction_settings
    from mmlego.utils.provenance import provenance

    cfg = load_cfg(args.cfg)
    pa.set_cpu_count(max(1, args.threads))
    settings = {**extraction_settings(cfg), "chunk_rows": cfg["chunk_rows"]}
    record = provenance({"mimic_dir": args.mimic_dir, **settings})
    extract(args.mimic_dir, args.out_dir, settings=settings, provenance=record)


def run_cohort(args: argparse.Namespace) -> None:
    """Write the cohort alone."""
    from mmlego.data.mimic.extract import cohort_settings, extract_cohort
    from mmlego.utils.provenance import provenance

    settings = cohort_settings(load_cfg(args.cfg))
    record = provenance({"mimic_dir": args.mimic_dir, **settings})
    stays = extract_cohort(args.mimic_dir, args.out_dir, settings=settings, provenance=record)
    log.info("cohort: %d stays", stays)


def run_dataset(args: argparse.Namespace) -> None:
    """Write one dataset's labels, stores and QC (or one part of them)."""
    from mmlego.data.mimic.extract import build_dataset, build_labels_static, build_vitals
    from mmlego.utils.provenance import provenance

    cfg = load_cfg(args.cfg)
    record = provenance(cfg)
    if args.part == "vitals":
        build_vitals(args.extract_dir, args.out_dir, provenance=record)
        log.info("%s: vitals store written", args.dataset)
        return
    build = build_labels_static if args.part == "labels" else build_dataset
    labels = build(args.extract_dir, args.out_dir, cfg, provenance=record)
    log.info("%s: %d patients labelled", args.dataset, len(labels))
