"""``mmlego tables`` and ``mmlego paper-comparison``: the result tables from metrics.json files."""

from __future__ import annotations

import argparse

from mmlego.utils.config_arg import load_cfg


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``tables`` and ``paper-comparison``."""
    parser = sub.add_parser(
        "tables", help="result tables (CSV, Markdown, LaTeX) from metrics.json files"
    )
    parser.add_argument("--metrics", nargs="+", required=True, help="every run's metrics.json")
    parser.add_argument(
        "--predictions", nargs="+", required=True,
        help="the predictions.parquet each metrics.json was scored from, in the same order",
    )  # fmt: skip
    parser.add_argument(
        "--labels", action="append", required=True, metavar="DATASET=LABELS",
        help="a dataset's labels.parquet; one per dataset",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="append", required=True, metavar="DATASET.MODALITY=STORE_H5",
        help="a modality store (its presence flags choose the complete cases); one per modality",
    )  # fmt: skip
    parser.add_argument(
        "--missing-modality", action="append", default=[],
        help="a missing_modality.json of LegoMerge; repeat for every dataset and split",
    )  # fmt: skip
    parser.add_argument("--cfg", required=True, help="the datasets and evaluate sections as JSON")
    parser.add_argument("--seed", type=int, required=True, help="the study's master seed")
    parser.add_argument("--out-dir", required=True, help="tables/ directory")
    parser.set_defaults(func=run)

    paper = sub.add_parser("paper-comparison", help="our Table 2 next to the paper's Table 2")
    paper.add_argument("--table2", required=True, help="tables/table2.csv")
    paper.add_argument("--out-csv", required=True, help="paper_comparison.csv to write")
    paper.add_argument("--out-md", required=True, help="paper_comparison.md to write")
    paper.add_argument(
        "--cfg", required=True,
        help="the lego, encoder, tune, train and splits sections as JSON (the setup differences)",
    )  # fmt: skip
    paper.set_defaults(func=run_paper)


def dataset_stores(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``--store DATASET.MODALITY=PATH`` arguments as {dataset: {modality: path}}."""
    from mmlego.commands.train import name_path_pairs

    stores: dict[str, dict[str, str]] = {}
    for name, path in name_path_pairs(pairs, "--store").items():
        ds, dot, modality = name.partition(".")
        if not dot:
            raise ValueError(f"--store {name}={path}: name it DATASET.MODALITY")
        stores.setdefault(ds, {})[modality] = path
    return stores


def run(args: argparse.Namespace) -> None:
    """Write every table (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.commands.train import name_path_pairs
    from mmlego.evaluate.table_files import write_tables

    stores = dataset_stores(args.store)
    write_tables(
        args.metrics, args.predictions, name_path_pairs(args.labels, "--labels"),
        load_cfg(args.cfg), seed=args.seed, out_dir=args.out_dir, stores=stores,
        missing_modality=args.missing_modality,
    )  # fmt: skip


def run_paper(args: argparse.Namespace) -> None:
    """Compare our Table 2 with the paper's."""
    from mmlego.evaluate.table_files import write_paper_comparison

    write_paper_comparison(args.table2, args.out_csv, args.out_md, load_cfg(args.cfg))
