"""``mmlego batch``: run several steps in one process, paying Python's start-up once.

Each ``STEP_JSON`` is one step's ``mmlego`` argument list as a JSON list, exactly what its
own call would take (``["--log", "split0.log", "train", "--split", "0", ...]``). The steps
run one after the other, each with its own log, seed and outputs as its own call would
give: the seeds and torch settings are set by each step (``prepare_step``), and the warning
registry is reset so that a step logs the warnings a fresh process would.

The first step that fails stops the batch: it leaves none of its outputs (each step writes
its outputs together or not at all), the steps after it do not run and their logs say so,
and the batch exits non-zero. The outputs of the steps before it stay written, but a
Snakemake job removes every output of a failed job, so the whole batch reruns.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import warnings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mmlego batch``."""
    parser = sub.add_parser(
        "batch", help="run several steps in one process, each as its own mmlego call would"
    )
    parser.add_argument(
        "steps", nargs="+", metavar="STEP_JSON",
        help='one step\'s mmlego arguments as a JSON list, e.g. \'["--log", "a.log", "train", ...]\'',
    )  # fmt: skip
    parser.set_defaults(func=run_batch)


def parse_step(parser: argparse.ArgumentParser, text: str, index: int) -> argparse.Namespace:
    """Step ``index`` (from 1) of the batch: its JSON argument list, parsed by ``parser``."""
    where = f"batch step {index}"
    try:
        argv = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not JSON ({err}): {text[:200]!r}") from None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"{where} must be a JSON list of strings, got {text[:200]!r}")
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        # argparse has printed the usage error on stderr.
        raise ValueError(f"{where} has arguments mmlego does not accept: {argv}") from None
    if args.command in (None, "batch"):
        raise ValueError(f"{where} must name one step other than batch, got {argv}")
    return args


def describe(args: argparse.Namespace) -> str:
    """A step as the messages name it: its subcommand and, where it has them, run and split."""
    parts = [args.command]
    for key in ("dataset", "run", "split"):
        if getattr(args, key, None) is not None:
            parts.append(f"{key} {getattr(args, key)}")
    return ", ".join(parts)


def note_not_run(step: argparse.Namespace, failed: str) -> None:
    """Say in ``step``'s log that it did not run because an earlier step failed."""
    from mmlego.utils.logs import setup_logging

    setup_logging(step.log).error("%s not run: %s failed first", describe(step), failed)


def run_batch(args: argparse.Namespace) -> None:
    """Check every step's arguments, then run the steps in order; stop at the first failure."""
    from mmlego.cli import build_parser, run_parsed
    from mmlego.utils.logs import setup_logging

    parser = build_parser()
    steps = [parse_step(parser, text, i) for i, text in enumerate(args.steps, start=1)]
    try:
        for i, step in enumerate(steps, start=1):
            # A fresh warning registry per step: "once" warnings show in every step's log.
            with warnings.catch_warnings():
                code = run_parsed(step)
            # The step's model and data go before the next one loads its own.
            gc.collect()
            if code:
                failed = f"batch step {i} of {len(steps)} ({describe(step)})"
                for later in steps[i:]:
                    note_not_run(later, failed)
                where = f", see {step.log}" if step.log else ""
                raise RuntimeError(
                    f"{failed} failed{where}; {len(steps) - i} later step(s) not run"
                )
    finally:
        setup_logging(args.log)
    log.info("ran %d steps", len(steps))
