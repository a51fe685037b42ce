"""``mmlego tables`` and ``mmlego paper-comparison``: the result tables from metrics.json files."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``tables`` and ``paper-comparison``."""
    parser = sub.add_parser(
        "tables", help="result tables (CSV, Markdown, LaTeX) from metrics.json files"
    )
    parser.add_argument("--metrics", nargs="+", required=True, help="every run's metrics.json")
    parser.add_argument("--labels", nargs="+", required=True, help="labels.parquet of each dataset")
    parser.add_argument("--config-json", required=True, help="the study config as JSON")
    parser.add_argument("--out-dir", required=True, help="tables/ directory")
    parser.set_defaults(func=run)

    paper = sub.add_parser("paper-comparison", help="our Table 2 next to the paper's Table 2")
    paper.add_argument("--table2", required=True, help="tables/table2.csv")
    paper.add_argument(
        "--out", required=True, help="paper_comparison.csv (a .md is written beside it)"
    )
    paper.set_defaults(func=run_paper)


def run(args: argparse.Namespace) -> None:
    """Write every table (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.evaluate.table_files import write_tables

    write_tables(args.metrics, args.labels, json.loads(args.config_json), args.out_dir)


def run_paper(args: argparse.Namespace) -> None:
    """Compare our Table 2 with the paper's."""
    from mmlego.evaluate.table_files import write_paper_comparison

    write_paper_comparison(args.table2, args.out)
