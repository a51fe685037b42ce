"""Sanitising identifiers from data before they become file names."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(identifier: object) -> str:
    """Map an id from data to a safe file-name component.

    Path separators, ``..`` and other characters outside ``[A-Za-z0-9._-]`` are replaced by
    ``_``; the result never starts with a dot, so it can never name a parent directory or a
    hidden file. Raises on an empty id, which could not name a file.
    """
    text = str(identifier).strip()
    if not text:
        raise ValueError("an empty id cannot be used as a file name")
    cleaned = _UNSAFE.sub("_", text).replace("..", "_")
    cleaned = cleaned.lstrip(".") or "_"
    return cleaned
