"""The ``--cfg`` argument of every step: a config fragment as inline JSON, or ``@path`` of a
JSON file holding it; and ``optional_float``, the type of the numeric arguments a rule may
pass as ``none``.

The rules pass ``@path``: each fragment is written once, at DAG-build time, to a file named
by the hash of its content (``fragment_file``), so a failing job's command stays one short
line, identical fragments share one file, and the path (a rule's plain ``cfg`` param) changes
exactly when the fragment does, which is what snakemake's params rerun trigger compares.
Inline JSON stays accepted for calling a step by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from mmlego.utils.atomic import write_text_atomic

# 16 hex digits (64 bits) of sha256: a collision among a study's few hundred fragments is
# out of reach, and the path stays short in a printed command.
HASH_CHARS = 16


def fragment_text(value: Any) -> str:
    """The canonical JSON of a fragment (sorted keys): equal fragments give equal text."""
    return json.dumps(value, sort_keys=True)


def fragment_file(folder: str | Path, value: Any) -> str:
    """Write ``value`` to ``folder/<sha256 prefix>.json`` unless that file exists; its path.

    The file is written atomically, so a reader never sees half of it; an existing file with
    the name holds the same text (the name is the hash of the text), so it is left as it is
    and its time stamp does not move.
    """
    text = fragment_text(value)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]
    path = Path(folder) / f"{digest}.json"
    if not path.exists():
        try:
            write_text_atomic(path, text + "\n")
        except FileNotFoundError:
            # Another snakemake planning the same study wrote it first (its clean-up of
            # temporaries took ours); the file it renamed into place holds the same text.
            if not path.exists():
                raise
    return str(path)


def load_cfg(arg: str) -> Any:
    """The fragment an ``--cfg`` argument stands for: ``@path`` is read from that JSON file,
    anything else is parsed as inline JSON."""
    if arg.startswith("@"):
        path = Path(arg[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"--cfg file {path} does not exist; the workflow writes it when it plans the "
                "jobs: run snakemake again (or pass the JSON inline)"
            ) from None
        where = f"--cfg file {path}"
    else:
        text, where = arg, "--cfg"
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{where} is not valid JSON ({err}); give a JSON object, or @path of a JSON file"
        ) from None


def optional_float(text: str) -> float | None:
    """A float, or None for an empty string / 'nan' / 'none' (manifest cells left blank)."""
    if text.strip().lower() in ("", "nan", "none", "null"):
        return None
    value = float(text)
    return value if math.isfinite(value) else None
