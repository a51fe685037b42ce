"""``mmlego interference-toy``: Fig. 4 and 5 and their energy numbers."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``interference-toy``."""
    parser = sub.add_parser("interference-toy", help="toy signal-interference figures (Fig. 4, 5)")
    parser.add_argument("--seed", type=int, required=True, help="seed of the random signals")
    parser.add_argument("--out-fig4", required=True, help="Fig. 4 PNG (a PDF is written beside it)")
    parser.add_argument("--out-fig5", required=True, help="Fig. 5 PNG (a PDF is written beside it)")
    parser.add_argument("--out-json", required=True, help="energy retained per aggregation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Draw both figures (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.evaluate.toy_figures import write_toy_figures

    numbers = write_toy_figures(args.seed, args.out_fig4, args.out_fig5, args.out_json)
    log.info("energy retained: %s", numbers)
