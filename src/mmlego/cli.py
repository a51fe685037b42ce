"""``mmlego``: one subcommand per pipeline step; every Snakemake rule calls one of them.

Subcommands live in :mod:`mmlego.commands`, one module each, and are discovered here, so a
new step only adds a module. Each module defines ``add_parser(subparsers)`` which registers
its parser and sets ``func`` to the callable that runs the step with the parsed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from mmlego import __version__
from mmlego.utils.atomic import STORAGE_ERRNOS
from mmlego.utils.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered subcommand."""
    import mmlego.commands as commands

    parser = argparse.ArgumentParser(
        prog="mmlego",
        description=(
            "MM-Lego study workflow steps (called by the Snakemake rules). A step's --cfg is "
            "its config fragment as inline JSON, or @path of a JSON file holding it."
        ),
    )
    parser.add_argument("--version", action="version", version=f"mmlego {__version__}")
    parser.add_argument(
        "--log", default=None, help="append log records to this file (the rule's log)"
    )
    sub = parser.add_subparsers(dest="command", metavar="<step>")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"mmlego.commands.{info.name}")
        module.add_parser(sub)
    return parser


def expected_failure(err: Exception) -> bool:
    """Whether ``err`` is a failure the user fixes (bad input, full or read-only disk)."""
    if isinstance(err, ValueError | KeyError | FileNotFoundError | PermissionError | RuntimeError):
        return True
    return isinstance(err, OSError) and err.errno in STORAGE_ERRNOS


def run_parsed(args: argparse.Namespace) -> int:
    """Run one parsed step with its log (``--log``); returns the exit code.

    ``mmlego batch`` calls it once per step, so a step's log and failure message are those
    its own ``mmlego`` call would give.
    """
    log = setup_logging(args.log)
    try:
        args.func(args)
    except Exception as err:
        if expected_failure(err):
            # Bad input or a full/read-only disk: one clear line, no traceback to parse.
            log.error("%s failed: %s", args.command, err)
            log.debug("traceback", exc_info=True)
        else:
            # A bug: keep the traceback, and put it in the rule's log too.
            log.exception("%s failed with an unexpected error", args.command)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return run_parsed(args)
    finally:
        logging.shutdown()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
