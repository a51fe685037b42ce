"""One-row-per-patient tables to a vector modality (numeric values plus raw categories)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmlego.data.readers import listing
from mmlego.data.store import ModalityData


def split_columns(
    frame: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns: strings and forced columns are categorical."""
    forced = set(categorical)
    numeric, cats = [], []
    for col in columns:
        series = frame[col]
        is_number = pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        (numeric if is_number and col not in forced else cats).append(col)
    return numeric, cats


def vector_modality(
    name: str,
    type_: str,
    ids: Sequence[str],
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    present: pd.Series | None = None,
    source: str = "table",
    attrs: dict | None = None,
) -> ModalityData:
    """Build a vector modality over ``ids`` (the labels' order) from ``frame`` indexed by id.

    Patients without a row are kept with ``present = False`` and NaN values. ``present``
    (indexed by id) can mark rows that exist but carry no data for this modality.
    """
    index = pd.Index(ids, dtype=object)
    rows = frame.reindex(index)
    has_row = pd.Series(index.isin(frame.index), index=index)
    if present is not None:
        has_row &= present.reindex(index, fill_value=False).astype(bool)
    values = np.empty((len(index), len(numeric)), dtype=np.float32)
    for j, col in enumerate(numeric):
        column = pd.to_numeric(rows[col], errors="coerce")
        bad = column.isna() & rows[col].notna()
        if bad.any():
            raise ValueError(
                f"{source}: column {col!r} is numeric but has non-numeric values for "
                f"{listing(column.index[bad])}; fix them or list the column as categorical"
            )
        values[:, j] = column.to_numpy(dtype=np.float64)
    cats = None
    if categorical:
        cats = np.empty((len(index), len(categorical)), dtype=object)
        for j, col in enumerate(categorical):
            column = rows[col]
            cats[:, j] = np.where(column.isna(), "", column.astype(str).str.strip())
        cats = cats.astype(str)
    return ModalityData(
        name=name,
        kind="vector",
        type=type_,
        ids=np.asarray(index, dtype=object),
        present=has_row.to_numpy(),
        values=values,
        feature_names=list(numeric),
        categorical=cats,
        categorical_names=list(categorical),
        attrs=attrs or {},
    )
