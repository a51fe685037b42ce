"""``mmlego merge-ablation`` (one split's LegoMerge variants) and ``mmlego merge-ablation-table``."""

from __future__ import annotations

import argparse
import logging

from mmlego.commands.train import add_split_arguments, name_path_pairs, prepare_step, split_files

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``merge-ablation`` and ``merge-ablation-table``."""
    parser = sub.add_parser(
        "merge-ablation", help="every LegoMerge aggregation variant of one split's blocks"
    )
    add_split_arguments(parser)
    parser.add_argument("--dataset", required=True, help="dataset key")
    parser.add_argument("--split", type=int, required=True, help="split index k")
    parser.add_argument(
        "--block", action="append", required=True, metavar="MODALITY=MODEL_PT",
        help="a trained block's checkpoint; repeat for every modality (at least 2)",
    )  # fmt: skip
    parser.add_argument("--cfg", required=True, help='{"merge": {...}} as JSON')
    parser.add_argument("--seed", type=int, default=0, help="the study's master seed")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda (the merge runs on cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", required=True, help="merge_ablation/split{k}.json to write")
    parser.set_defaults(func=run_split)

    table = sub.add_parser("merge-ablation-table", help="tables/merge_ablation.{csv,md}")
    table.add_argument("--ablation", nargs="+", required=True, help="every split's JSON")
    table.add_argument("--out-csv", required=True, help="merge_ablation.csv to write")
    table.add_argument("--out-md", required=True, help="merge_ablation.md to write")
    table.set_defaults(func=run_table)


def run_split(args: argparse.Namespace) -> None:
    """Load the split and its blocks, score every variant, write the JSON."""
    from mmlego.data.transforms import load_split
    from mmlego.studies.merge_ablation import merge_ablation_run

    cfg, _, _, record = prepare_step(args, "merge_ablation")
    data = load_split(split_files(args), args.split)
    payload = merge_ablation_run(
        data, block_paths=name_path_pairs(args.block, "--block"), cfg=cfg, dataset=args.dataset,
        split=args.split, out=args.out, provenance=record,
    )  # fmt: skip
    log.info("%s split %d: %d variant rows -> %s", args.dataset, args.split,
             len(payload["rows"]), args.out)  # fmt: skip


def run_table(args: argparse.Namespace) -> None:
    """Gather the splits' JSONs into the CSV and Markdown tables."""
    from mmlego.evaluate.merge_ablation import ablation_markdown, ablation_table, read_ablation
    from mmlego.utils.atomic import atomic_path, write_text_atomic

    table = ablation_table(*read_ablation(args.ablation))
    with atomic_path(args.out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_text_atomic(args.out_md, ablation_markdown(table))
