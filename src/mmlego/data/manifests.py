"""Manifests of bag modalities (slides, images): one row per item, ``patient_id, item_id, path[, mpp]``.

The features stage reads a manifest to know which files to encode and which patient each
belongs to; ``item_id`` is the file stem passed through :func:`mmlego.utils.ids.safe_id`, so
it can name per-item output files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmlego.data.ids import ids_column, rows_in_labels
from mmlego.data.readers import data_rows, listing, read_table, require_columns
from mmlego.utils.atomic import atomic_path
from mmlego.utils.ids import safe_id

COLUMNS = ("patient_id", "item_id", "path")


def finalise_manifest(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Add ``item_id``, check files exist and item ids are unique; sort by patient, item."""
    frame = frame.copy()
    if frame.empty:
        raise ValueError(f"{source}: no slides or images found; check the path in your config")
    paths = frame["path"].astype(str)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: file(s) do not exist: {listing(missing)}")
    frame["item_id"] = [safe_id(Path(p).stem) for p in paths]
    dupes = frame["item_id"][frame["item_id"].duplicated(keep=False)]
    if len(dupes):
        raise ValueError(
            f"{source}: several files share the item id(s) {listing(sorted(set(dupes)))}; "
            "file stems must be unique within a modality"
        )
    cols = [*COLUMNS, "mpp"] if "mpp" in frame.columns else list(COLUMNS)
    return frame[cols].sort_values(["patient_id", "item_id"]).reset_index(drop=True)


def read_user_manifest(
    path: str | Path,
    *,
    id_column: str,
    patient_ids: Sequence[str],
    labels_source: str | None = None,
    extra_ids: str = "error",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A user's manifest (``id_column``, ``path``, optional ``mpp``) checked against the labels.

    Relative file paths are taken relative to the manifest's folder. Returns the manifest of
    the labelled patients and the ``item, reason`` rows of the files left out (ids outside
    the labels with ``extra_ids: drop``; with ``error`` they raise).
    """
    path = Path(path)
    source = f"manifest {path}"
    frame = read_table(path, what="manifest", text_columns=[id_column, "path"])
    require_columns(frame, [id_column, "path"], source=source)
    ids = ids_column(frame, id_column, source=source)
    keep = rows_in_labels(
        ids, patient_ids, source=source, labels_source=labels_source, extra_ids=extra_ids
    )
    files = [p if Path(p).is_absolute() else str(path.parent / p) for p in frame["path"]]
    out = pd.DataFrame({"patient_id": ids.to_numpy(), "path": files})
    if "mpp" in frame.columns:
        mpp = pd.to_numeric(frame["mpp"], errors="coerce")
        bad = mpp.notna() & (mpp <= 0)
        if bad.any():
            raise ValueError(f"{source}: mpp must be positive; {data_rows(frame.index[bad])}")
        out["mpp"] = mpp.to_numpy()
    skipped = pd.DataFrame(
        {
            "item": out.loc[~keep, "path"],
            "reason": [f"patient {pid} has no label row (extra_ids: drop)" for pid in ids[~keep]],
        },
        columns=["item", "reason"],
    )
    return finalise_manifest(out.loc[keep], source=source), skipped.reset_index(drop=True)


def write_manifest(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a manifest CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest`; raise naming the file and bad rows.

    Ids are strings; ``item_id`` values must be unique safe file names (they name the feature
    and QC files, so ``/`` or ``..`` could write outside the folder); a missing ``mpp``
    column becomes all-NaN (the slide's metadata or the fallback applies).
    """
    path = Path(path)
    source = f"manifest {path}"
    # Ids are text as written: no missing-value words in them ("NA" is an id).
    frame = pd.read_csv(
        path,
        dtype={"patient_id": str, "item_id": str, "path": str},
        keep_default_na=False,
        na_values={"mpp": [""]},
    )
    require_columns(frame, COLUMNS, source=source)
    dupes = frame["item_id"][frame["item_id"].duplicated()]
    if len(dupes):
        raise ValueError(f"{source}: item_id values must be unique; repeated: {listing(dupes)}")
    unsafe = [i for i, item in enumerate(frame["item_id"]) if not item or item != safe_id(item)]
    if unsafe:
        raise ValueError(
            f"{source}: item_id values must be safe file names (mmlego.utils.ids.safe_id); "
            f"unsafe at {data_rows(unsafe)}: {listing(repr(frame['item_id'][i]) for i in unsafe)}; "
            "regenerate the manifest"
        )
    if "mpp" not in frame.columns:
        frame["mpp"] = np.nan
    return frame
