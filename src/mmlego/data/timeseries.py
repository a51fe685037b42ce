"""Long-format measurements (id, time, variable, value) -> a T x F series per patient.

The window ``[start, end]`` is cut into ``bins`` equal-width bins (the last one includes
``end``); each bin holds one number per variable made from the values measured in it by
``agg`` (default ``mean``), and a mask marks the bins where the variable was measured.
Irregular and repeated measurements are fine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmlego.data.ids import ids_column, rows_in_labels
from mmlego.data.readers import data_rows, listing, require_columns
from mmlego.data.store import ModalityData

# mean, min, max of the values in the bin; last: the value measured last in the bin (equal
# times: the row that comes later in the file); count: how many values were measured.
AGGREGATIONS = ("mean", "last", "min", "max", "count")
NO_ROWS_IN_WINDOW = ("absent", "error")


def bin_index(time: np.ndarray, start: float, end: float, bins: int) -> np.ndarray:
    """Bin of each time in ``[start, end]`` (``-1`` outside the window)."""
    width = (end - start) / bins
    index = np.floor((time - start) / width).astype(np.int64)
    index = np.where(time == end, bins - 1, index)
    return np.where((time >= start) & (time <= end), index, -1)


def _numeric(frame: pd.DataFrame, column: str, *, source: str, allow_missing: bool) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & (raw.notna() if allow_missing else True)
    if bad.any():
        raise ValueError(
            f"{source}: column {column!r} must be numeric; bad or empty values at "
            f"{data_rows(frame.index[bad])}"
        )
    return values.to_numpy(dtype=np.float64)


def aggregate_bins(rows: pd.DataFrame, agg: str) -> pd.DataFrame:
    """One value per (``pid``, ``bin``, ``var``) of ``rows`` (file order; ``time``, ``value``)."""
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg must be one of {AGGREGATIONS}, got {agg!r}")
    keys = ["pid", "bin", "var"]
    if agg == "last":
        # A stable sort keeps file order among equal times, so the later row is last.
        rows = rows.sort_values("time", kind="stable")
    grouped = rows.groupby(keys, sort=False)["value"]
    values = grouped.size() if agg == "count" else grouped.agg(agg)
    return values.reset_index(name="value")


def _window_error(source: str, start: float, end: float, time: np.ndarray) -> ValueError:
    seen = (
        f"the file's times range from {np.nanmin(time):g} to {np.nanmax(time):g}"
        if len(time)
        else "the file has no rows for the labelled patients"
    )
    return ValueError(
        f"{source}: no patient has a measurement inside the window [{start:g}, {end:g}]; "
        f"{seen}. This is almost always a unit mistake (a window in days for times in "
        "months, or the reverse): fix 'window' in your config to the time column's units"
    )


def bin_long_format(
    frame: pd.DataFrame,
    *,
    name: str,
    patient_ids: Sequence[str],
    window: Sequence[float],
    bins: int,
    id_col: str = "patient_id",
    time_col: str = "time",
    variable_col: str = "variable",
    value_col: str = "value",
    agg: str = "mean",
    on_empty: str = "absent",
    source: str = "time series",
) -> tuple[ModalityData, list[str]]:
    """The series modality over ``patient_ids`` (labels order), and the patients left empty.

    ``frame``'s index is the data row position of each row (as :func:`read_table` gives it),
    for error messages. Patients absent from the file have ``present = False``; so do
    patients with rows but none inside the window (returned for the QC table), unless
    ``on_empty == "error"``. No measurement inside the window for any patient raises.
    """
    start, end = float(window[0]), float(window[1])
    if not end > start:
        raise ValueError(f"{source}: the window {list(window)} must have start < end")
    if on_empty not in NO_ROWS_IN_WINDOW:
        raise ValueError(f"{source}: no_rows_in_window must be one of {NO_ROWS_IN_WINDOW}")
    require_columns(frame, [id_col, time_col, variable_col, value_col], source=source)
    ids = ids_column(frame, id_col, source=source)
    rows_in_labels(ids, patient_ids, source=source)
    time = _numeric(frame, time_col, source=source, allow_missing=False)
    value = _numeric(frame, value_col, source=source, allow_missing=True)
    slot = bin_index(time, start, end, bins)
    inside = (slot >= 0) & ~np.isnan(value)
    if not inside.any():
        raise _window_error(source, start, end, time)
    variable = frame[variable_col].astype(str).str.strip()
    blank = (frame[variable_col].isna() | (variable == "")).to_numpy()
    if blank.any():
        raise ValueError(
            f"{source}: empty variable name in column {variable_col!r} at "
            f"{data_rows(frame.index[blank])}"
        )
    rows = pd.DataFrame(
        {
            "pid": ids.to_numpy()[inside],
            "bin": slot[inside],
            "var": variable.to_numpy()[inside],
            "time": time[inside],
            "value": value[inside],
        }
    )
    variables = sorted(rows["var"].unique())
    position = {pid: i for i, pid in enumerate(patient_ids)}
    cells = aggregate_bins(rows, agg)
    values = np.full((len(patient_ids), bins, len(variables)), np.nan, dtype=np.float32)
    var_pos = {v: j for j, v in enumerate(variables)}
    values[
        cells["pid"].map(position).to_numpy(),
        cells["bin"].to_numpy(),
        cells["var"].map(var_pos).to_numpy(),
    ] = cells["value"].to_numpy()
    present = np.zeros(len(patient_ids), dtype=bool)
    present[rows["pid"].map(position).unique()] = True
    empty = sorted(set(ids) - set(rows["pid"]))
    if empty and on_empty == "error":
        raise ValueError(
            f"{source}: patient(s) {listing(empty)} have measurements but none inside the window "
            f"[{start:g}, {end:g}]; widen the window, remove their rows, or set "
            "no_rows_in_window: absent to keep them without this modality"
        )
    data = ModalityData(
        name=name,
        kind="series",
        type="timeseries",
        ids=np.asarray(patient_ids, dtype=object),
        present=present,
        values=values,
        mask=~np.isnan(values),
        feature_names=variables,
        attrs={"window": [start, end], "bins": bins, "agg": agg},
    )
    return data, empty
