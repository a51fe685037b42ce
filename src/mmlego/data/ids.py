"""Patient ids as text, exactly as written, and the match of a modality file to the labels.

An id is the text of its cell with surrounding whitespace stripped: ``0001``, ``1`` and
``1.0`` are three different patients. Ids are compared as text everywhere, so a modality
file whose ids equal the labels' only after a number conversion (``1`` here, ``0001`` in
the labels) is an error that names both forms, never a silent match or mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from mmlego.data.readers import data_rows, listing, require_columns

EXTRA_IDS = ("error", "drop")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def ids_column(frame: pd.DataFrame, column: str, *, source: str) -> pd.Series:
    """The id column as stripped text; raise naming the data rows with an empty id."""
    require_columns(frame, [column], source=source)
    raw = frame[column]
    ids = raw.astype(str).str.strip().astype(object)
    empty = (raw.isna() | (ids == "")).to_numpy()
    if empty.any():
        raise ValueError(
            f"{source}: empty id in column {column!r} at {data_rows(np.flatnonzero(empty))}"
        )
    return ids


def check_unique(ids: pd.Series, *, source: str, column: str) -> None:
    """Raise naming the duplicated ids of a one-row-per-patient file."""
    dupes = ids[ids.duplicated(keep=False)]
    if len(dupes):
        raise ValueError(
            f"{source}: duplicate ids in column {column!r}: {listing(sorted(set(dupes)))}; "
            "this file must have one row per patient"
        )


def retyped(text: str) -> str:
    """The id a number-parsing reader would make of ``text``: ``0001`` and ``1.0`` give ``1``.

    Text that is not a number is returned unchanged. The conversion is exact (decimal), so
    long numeric ids never collide by rounding.
    """
    if not _NUMBER.fullmatch(text):
        return text
    value = Decimal(text)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _retype_pairs(unknown: Iterable[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """(id here, id in the labels) pairs that are equal only after :func:`retyped`."""
    by_number: dict[str, list[str]] = {}
    for pid in known:
        by_number.setdefault(retyped(pid), []).append(pid)
    return [(pid, match) for pid in unknown for match in by_number.get(retyped(pid), [])]


def rows_in_labels(
    ids: pd.Series,
    labelled: Sequence[str],
    *,
    source: str,
    labels_source: str | None = None,
    extra_ids: str = "error",
) -> np.ndarray:
    """Mask of the rows whose id is a labelled patient's; ids outside the labels raise or drop.

    ``extra_ids`` is the dataset's policy for ids that are not in the labels: ``error``
    raises naming them, ``drop`` leaves their rows out (the caller counts them in QC). An id
    that matches a labelled id only after retyping raises under either policy: it is almost
    always the same patient written two ways.
    """
    if extra_ids not in EXTRA_IDS:
        raise ValueError(f"{source}: extra_ids must be one of {EXTRA_IDS}, got {extra_ids!r}")
    known = set(labelled)
    keep = ids.isin(known).to_numpy()
    unknown = sorted(set(ids[~keep]))
    pairs = _retype_pairs(unknown, known)
    where = f"the labels ({labels_source})" if labels_source else "the labels"
    if pairs:
        shown = listing(f"{here!r} is {there!r} in {where}" for here, there in pairs)
        raise ValueError(
            f"{source}: id(s) match the labels only after converting them to numbers: {shown}. "
            "Ids are compared as text, exactly as written: write each id the same way in "
            "every file"
        )
    if unknown and extra_ids == "error":
        raise ValueError(
            f"{source}: id(s) not in {where}: {listing(unknown)}; add them "
            "to the label file, remove them from this file, or set extra_ids: drop for this "
            "dataset to leave them out"
        )
    return keep
