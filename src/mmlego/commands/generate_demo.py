"""``mmlego generate-demo <source>``: the demo study's synthetic raw data, one source per call."""

from __future__ import annotations

import argparse
import json
import logging
import time

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``generate-demo`` with one sub-subcommand per source."""
    parser = sub.add_parser(
        "generate-demo", help="write the demo study's synthetic raw data in the real formats"
    )
    sources = parser.add_subparsers(dest="source", metavar="<source>", required=True)
    tcga = sources.add_parser("tcga", help="slides + MCAT/PORPOISE all_clean table")
    _common(tcga)
    tcga.add_argument("--out-dir", required=True, help="folder for slides/ and the table")
    tcga.add_argument("--workers", type=int, default=1, help="processes writing slides")
    tcga.set_defaults(func=run_tcga)
    mimic = sources.add_parser("mimic", help="MIMIC-III v1.4-like CSV tables")
    _common(mimic)
    mimic.add_argument("--out-dir", required=True, help="folder for the CSV tables")
    mimic.set_defaults(func=run_mimic)
    isic = sources.add_parser("isic", help="SIIM-ISIC 2020-like JPEGs + train.csv")
    _common(isic)
    isic.add_argument("--out-dir", required=True, help="folder for train/ and train.csv")
    isic.add_argument("--workers", type=int, default=1, help="processes drawing images")
    isic.set_defaults(func=run_isic)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo", required=True, help="the config's demo section as JSON (sizes of the data)"
    )
    parser.add_argument("--seed", type=int, required=True, help="the study's master seed")
    parser.add_argument("--truth", required=True, help="parquet sidecar of the true factors")


def _demo(args: argparse.Namespace) -> dict:
    demo = json.loads(args.demo)
    if not isinstance(demo, dict):
        raise ValueError("--demo must be a JSON object (the config's demo section)")
    return demo


def run_tcga(args: argparse.Namespace) -> None:
    """Write the TCGA-like cohort and its truth."""
    from mmlego.data.synthetic.io import write_truth
    from mmlego.data.synthetic.tcga import generate_tcga

    demo = _demo(args)
    params = {
        "patients": demo["tcga_patients"],
        "slide_size": demo["slide_size"],
        "genes": demo["genes"],
    }
    start = time.perf_counter()
    cohort = generate_tcga(args.out_dir, seed=args.seed, workers=args.workers, **params)
    write_truth(cohort.truth, args.truth, source="tcga", params=params, seed=args.seed)
    log.info("TCGA-like data in %s (%.1f s)", args.out_dir, time.perf_counter() - start)


def run_mimic(args: argparse.Namespace) -> None:
    """Write the MIMIC-III-like database and its truth."""
    from mmlego.data.synthetic.io import write_truth
    from mmlego.data.synthetic.mimic import generate_mimic

    demo = _demo(args)
    params = {
        "stays": demo["mimic_stays"],
        "chart_hours": demo["mimic_chart_hours"],
        "extra_items": demo["mimic_extra_items"],
    }
    start = time.perf_counter()
    cohort = generate_mimic(args.out_dir, seed=args.seed, **params)
    write_truth(cohort.truth, args.truth, source="mimic", params=params, seed=args.seed)
    log.info("MIMIC-like data in %s (%.1f s)", args.out_dir, time.perf_counter() - start)


def run_isic(args: argparse.Namespace) -> None:
    """Write the ISIC-like challenge and its truth."""
    from mmlego.data.synthetic.io import write_truth
    from mmlego.data.synthetic.isic import generate_isic

    demo = _demo(args)
    params = {
        "patients": demo["isic_patients"],
        "image_size": demo["image_size"],
        "melanoma_rate": demo["isic_melanoma_rate"],
    }
    start = time.perf_counter()
    challenge = generate_isic(args.out_dir, seed=args.seed, workers=args.workers, **params)
    write_truth(challenge.truth, args.truth, source="isic", params=params, seed=args.seed)
    log.info("ISIC-like data in %s (%.1f s)", args.out_dir, time.perf_counter() - start)
