"""``mmlego generate-demo <source>``: the demo study's synthetic raw data, one source per call."""

from __future__ import annotations

import argparse
import logging
import time

from mmlego.demo.sources import SOURCES
from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``generate-demo`` with one sub-subcommand per source."""
    parser = sub.add_parser(
        "generate-demo", help="write the demo study's synthetic raw data in the real formats"
    )
    sources = parser.add_subparsers(dest="source", metavar="<source>", required=True)
    for name, help_text, out_help in (
        ("tcga", "slides + MCAT/PORPOISE all_clean table", "folder for slides/ and the table"),
        ("mimic", "MIMIC-III v1.4-like CSV tables", "folder for the CSV tables"),
        ("isic", "SIIM-ISIC 2020-like JPEGs + train.csv", "folder for train/ and train.csv"),
    ):
        source = sources.add_parser(name, help=help_text)
        _common(source)
        source.add_argument("--out-dir", required=True, help=out_help)
        if SOURCES[name][2]:
            source.add_argument("--workers", type=int, default=1, help="worker processes")
        source.set_defaults(func=run_source)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cfg", required=True, help="the config's demo section as JSON (sizes of the data)"
    )
    parser.add_argument("--seed", type=int, required=True, help="the study's master seed")
    parser.add_argument("--out-truth", required=True, help="parquet sidecar of the true factors")


def _demo(args: argparse.Namespace) -> dict:
    demo = load_cfg(args.cfg)
    if not isinstance(demo, dict):
        raise ValueError("--cfg must be a JSON object (the config's demo section)")
    return demo


def run_source(args: argparse.Namespace) -> None:
    """Write one source's synthetic raw data and its truth sidecar."""
    import importlib

    from mmlego.demo.io import write_truth

    (module, function), keys, parallel = SOURCES[args.source]
    generate = getattr(importlib.import_module(module), function)
    demo = _demo(args)
    params = {param: demo[key] for param, key in keys.items()}
    extra = {"workers": args.workers} if parallel else {}
    start = time.perf_counter()
    result = generate(args.out_dir, seed=args.seed, **params, **extra)
    write_truth(result.truth, args.out_truth, source=args.source, params=params, seed=args.seed)
    log.info("%s-like data in %s (%.1f s)", args.source, args.out_dir, time.perf_counter() - start)
