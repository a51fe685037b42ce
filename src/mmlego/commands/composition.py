"""``mmlego composition``: the composition table and figure (LegoMerge, adaptive LegoMerge,
NaiveMC, DAMC, LegoFuse, the LegoBlock ensemble and the best block)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``composition``."""
    parser = sub.add_parser(
        "composition", help="tables/composition.{csv,md} and figures/composition.png"
    )
    parser.add_argument("--metrics", nargs="+", required=True, help="the runs' metrics.json")
    parser.add_argument(
        "--predictions", nargs="+", required=True,
        help="the predictions.parquet each metrics.json was scored from, in the same order",
    )  # fmt: skip
    parser.add_argument(
        "--weights", nargs="*", default=[],
        help="the lambda.json of every adaptive merge and DAMC run and split (beside its predictions)",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="append", default=[], metavar="DATASET.MODALITY=STORE_H5",
        help="a modality store (its presence flags choose the complete cases); one per modality",
    )  # fmt: skip
    parser.add_argument("--bootstrap", type=int, required=True, help="paired bootstrap resamples")
    parser.add_argument("--seed", type=int, required=True, help="the study's master seed")
    parser.add_argument("--out-csv", required=True, help="composition.csv to write")
    parser.add_argument("--out-md", required=True, help="composition.md to write")
    parser.add_argument("--out-png", required=True, help="composition.png to write")
    parser.add_argument("--out-pdf", default=None, help="composition.pdf to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write the table and the figure (imports here keep ``mmlego --help`` fast)."""
    from mmlego.commands.tables import dataset_stores
    from mmlego.evaluate.composition_files import write_composition

    stores = dataset_stores(args.store)
    write_composition(
        args.metrics, args.predictions, args.weights, stores, n_boot=args.bootstrap,
        seed=args.seed, out_csv=args.out_csv, out_md=args.out_md, out_png=args.out_png,
        out_pdf=args.out_pdf,
    )  # fmt: skip
