"""``mmlego study-overview``: the report's study page (warnings, cohorts, QC, config, provenance)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``study-overview``."""
    parser = sub.add_parser("study-overview", help="the report's study overview page (HTML)")
    parser.add_argument("--resolved-config", required=True, help="config.resolved.yaml")
    parser.add_argument(
        "--labels", action="append", default=[], metavar="DATASET=LABELS",
        help="a dataset's labels.parquet; one per dataset",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="append", default=[], metavar="DATASET.MODALITY=STORE_H5",
        help="a modality store; one per modality of each dataset",
    )  # fmt: skip
    parser.add_argument(
        "--qc", action="append", default=[], metavar="DATASET=PATH",
        help="a QC file or folder of a dataset",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="HTML page to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write the page (imports kept here so that ``mmlego --help`` stays fast)."""
    from mmlego.commands.train import name_path_list, name_path_pairs
    from mmlego.config import load_yaml
    from mmlego.evaluate.overview import overview_html, weights_warning
    from mmlego.utils.atomic import write_text_atomic
    from mmlego.utils.logs import warn_loudly

    labels = name_path_pairs(args.labels, "--labels")
    stores: dict[str, dict[str, str]] = {}
    for key, path in name_path_pairs(args.store, "--store").items():
        ds, _, modality = key.partition(".")
        stores.setdefault(ds, {})[modality] = path
    html = overview_html(args.resolved_config, labels, stores, name_path_list(args.qc, "--qc"))
    write_text_atomic(args.out, html)
    warning = weights_warning(load_yaml(args.resolved_config) or {})
    if warning:
        warn_loudly(log, warning)
    log.info("wrote %s", args.out)
