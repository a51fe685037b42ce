"""``mmlego check-config`` and ``mmlego resolve-config``."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the config subcommands."""
    check = sub.add_parser("check-config", help="validate a config file against the schema")
    check.add_argument("config", help="YAML config file")
    check.set_defaults(func=run_check)

    resolve = sub.add_parser(
        "resolve-config",
        help="write a config with the schema's defaults filled in, plus provenance",
    )
    source = resolve.add_mutually_exclusive_group(required=True)
    source.add_argument("--configfile", help="YAML config file")
    source.add_argument("--cfg", help="the config as JSON (from a rule)")
    resolve.add_argument("--out", required=True, help="resolved YAML to write")
    resolve.set_defaults(func=run_resolve)


def run_check(args: argparse.Namespace) -> None:
    """Validate and report."""
    from mmlego.config import load_config

    load_config(args.config)
    log.info("%s is valid", args.config)


def run_resolve(args: argparse.Namespace) -> None:
    """Validate, fill defaults and write the resolved config with provenance."""
    import yaml

    from mmlego.config import check_config, fill_defaults, load_config
    from mmlego.config_paths import absolute_paths
    from mmlego.utils.atomic import write_text_atomic
    from mmlego.utils.provenance import provenance

    if args.cfg is not None:
        config = fill_defaults(load_cfg(args.cfg))
        check_config(config)
    else:
        config = load_config(args.configfile)
    # The paths as the rules use them (from the working directory) and, for the reader, absolute.
    record = provenance(
        config, seed=config["seed"], device=config["device"], paths=absolute_paths(config)
    )
    text = yaml.safe_dump({**config, "provenance": record}, sort_keys=False)
    write_text_atomic(args.out, text)
    log.info("wrote %s (config hash %s)", args.out, record["config_hash"][:12])
