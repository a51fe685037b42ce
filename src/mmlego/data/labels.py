"""``labels.parquet``: one row per patient with the task's target, checked on write and read.

Columns: ``patient_id`` (string) plus ``time`` (float, > 0) and ``event`` (int 0/1) for
survival, or ``label`` (int 0..K-1) for binary and multiclass tasks; optional ``group``
(string): samples sharing a group (ISIC images of one patient, MIMIC stays of one subject) are
always kept in one set of a split. The parquet's key-value
metadata ``mmlego`` holds JSON with ``task``, ``classes`` (class names, classification only) and
``provenance``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmlego.utils.atomic import atomic_path

TASKS = ("survival", "binary", "multiclass")


def _rows(frame: pd.DataFrame, bad: pd.Series, limit: int = 10) -> str:
    ids = frame.loc[bad, "patient_id"].astype(str).tolist()
    more = f" (and {len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def check_labels(frame: pd.DataFrame, task: str, *, source: str = "labels") -> pd.DataFrame:
    """Validate and normalise a label table; raise naming the file and the offending patients."""
    if task not in TASKS:
        raise ValueError(f"{source}: unknown task {task!r}; choose one of {TASKS}")
    needed = ["patient_id", "time", "event"] if task == "survival" else ["patient_id", "label"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; a {task} label table needs {needed}"
        )
    if "group" in frame.columns:
        needed.append("group")
    frame = frame[needed].copy()
    frame["patient_id"] = frame["patient_id"].astype(str)
    if "group" in frame.columns:
        bad = frame["group"].isna()
        if bad.any():
            raise ValueError(f"{source}: empty group for patients {_rows(frame, bad)}")
        frame["group"] = frame["group"].astype(str)
    dupes = frame["patient_id"].duplicated(keep=False)
    if dupes.any():
        raise ValueError(
            f"{source}: duplicate patient ids: {_rows(frame, dupes)}; keep one row per patient"
        )
    if task == "survival":
        time = pd.to_numeric(frame["time"], errors="coerce")
        bad = ~np.isfinite(time) | (time <= 0)
        if bad.any():
            raise ValueError(
                f"{source}: survival time is missing, non-numeric, zero or negative for patients "
                f"{_rows(frame, bad)}; fix or drop these rows"
            )
        event = pd.to_numeric(frame["event"], errors="coerce")
        bad = ~event.isin([0, 1])
        if bad.any():
            raise ValueError(
                f"{source}: event must be 0 (censored) or 1 (event); other values for patients {_rows(frame, bad)}"
            )
        frame["time"] = time.astype("float64")
        frame["event"] = event.astype("int64")
    else:
        label = pd.to_numeric(frame["label"], errors="coerce")
        bad = label.isna() | (label < 0) | (label != np.round(label))
        if bad.any():
            raise ValueError(
                f"{source}: label is missing or not a non-negative integer for patients {_rows(frame, bad)}"
            )
        frame["label"] = label.astype("int64")
    return frame.reset_index(drop=True)


def write_labels(
    path: str | Path,
    frame: pd.DataFrame,
    task: str,
    *,
    provenance: dict[str, Any],
    classes: list[str] | None = None,
) -> None:
    """Check ``frame`` and write it atomically with the task, classes and provenance."""
    frame = check_labels(frame, task, source=str(path))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"task": task, "classes": classes, "provenance": provenance}
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"mmlego": json.dumps(meta, default=str).encode()}
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_labels(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The label table and its metadata (``task``, ``classes``, ``provenance``)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(
            f"{path}: not a readable labels parquet ({err}); delete it and rerun"
        ) from err
    meta = json.loads((table.schema.metadata or {}).get(b"mmlego", b"{}"))
    frame = table.to_pandas()
    return check_labels(frame, meta.get("task", "survival"), source=str(path)), meta
