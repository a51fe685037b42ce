"""Logging to the rule's log file (and stderr), with one format for every step."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(
    log_file: str | Path | None = None, *, level: int = logging.INFO
) -> logging.Logger:
    """Send log records to ``log_file`` (appending) and to stderr; return the package logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):
            # Closed, not just removed: `mmlego batch` moves the log from step to step.
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    # matplotlib's PDF backend subsets fonts through fontTools, which logs every glyph at INFO.
    logging.getLogger("fontTools").setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    return logging.getLogger("mmlego")


def warn_loudly(logger: logging.Logger, message: str) -> None:
    """A warning that cannot be missed in a log: framed by a banner."""
    banner = "!" * 78
    logger.warning("\n%s\n!! %s\n%s", banner, message, banner)
