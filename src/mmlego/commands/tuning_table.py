"""``mmlego tuning-table``: ``tables/tuning.{csv,md}`` from the study's ``tuning.json`` files."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mmlego tuning-table``."""
    parser = sub.add_parser(
        "tuning-table", help="the parameters tuning chose, per dataset, run and split"
    )
    parser.add_argument(
        "--tuning", action="append", required=True, metavar="DATASET=TUNING_JSON",
        help="a tuning.json of a dataset's tuned run or shared stage; repeat for each",
    )  # fmt: skip
    parser.add_argument("--out-dir", required=True, help="tables/ directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write tuning.csv and tuning.md into ``--out-dir``."""
    from mmlego.evaluate.tuning_table import write_tuning_table

    files = []
    for item in args.tuning:
        dataset, sep, path = item.partition("=")
        if not sep or not dataset or not path:
            raise ValueError(
                f"--tuning {item}: write it DATASET=PATH, e.g. tcga=tcga/x/tuning.json"
            )
        files.append((dataset, path))
    write_tuning_table(files, args.out_dir)
