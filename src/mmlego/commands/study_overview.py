"""``mmlego study-overview``: the report's study page (warnings, cohorts, QC, config, provenance)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``study-overview``."""
    parser = sub.add_parser("study-overview", help="the report's study overview page (HTML)")
    parser.add_argument("--config", required=True, help="config.resolved.yaml")
    parser.add_argument("--labels", nargs="*", default=[], help="labels.parquet of each dataset")
    parser.add_argument(
        "--stores", nargs="*", default=[], help="modality stores ({ds}/modalities/*.h5)"
    )
    parser.add_argument("--qc", nargs="*", default=[], help="QC files or directories")
    parser.add_argument("--out", required=True, help="HTML page to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write the page (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.config import load_yaml
    from mmlego.evaluate.overview import overview_html, weights_warning
    from mmlego.utils.atomic import write_text_atomic
    from mmlego.utils.logs import warn_loudly

    write_text_atomic(args.out, overview_html(args.config, args.labels, args.stores, args.qc))
    warning = weights_warning(load_yaml(args.config) or {})
    if warning:
        warn_loudly(log, warning)
    log.info("wrote %s", args.out)
