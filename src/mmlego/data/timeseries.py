"""Long-format measurements (id, time, variable, value) -> a T x F series per patient.

The window ``[start, end]`` is cut into ``bins`` equal-width bins (the last one includes
``end``); each bin holds the mean of the variable's values measured in it, and a mask marks
the bins where the variable was measured. Irregular and repeated measurements are fine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmlego.data.readers import check_known, ids_column, listing, require_columns
from mmlego.data.store import ModalityData


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
        rows = listing(frame.index[bad] + 2)  # +2: header line, 1-based rows
        raise ValueError(
            f"{source}: column {column!r} must be numeric; bad or empty values at row(s) {rows}"
        )
    return values.to_numpy(dtype=np.float64)


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
    on_empty: str = "error",
    source: str = "time series",
) -> tuple[ModalityData, list[str]]:
    """The series modality over ``patient_ids`` (labels order), and the patients left empty.

    Patients absent from the file have ``present = False``. Patients with rows but none inside
    the window raise, unless ``on_empty == "absent"`` (then they are returned for the QC table).
    """
    start, end = float(window[0]), float(window[1])
    if not end > start:
        raise ValueError(f"{source}: the window {list(window)} must have start < end")
    require_columns(frame, [id_col, time_col, variable_col, value_col], source=source)
    ids = ids_column(frame, id_col, source=source)
    check_known(ids, patient_ids, source=source)
    time = _numeric(frame, time_col, source=source, allow_missing=False)
    value = _numeric(frame, value_col, source=source, allow_missing=True)
    slot = bin_index(time, start, end, bins)
    inside = (slot >= 0) & ~np.isnan(value)
    if not inside.any():
        raise ValueError(
            f"{source}: no measurement inside the window [{start:g}, {end:g}] (times range from "
            f"{np.nanmin(time):g} to {np.nanmax(time):g}); fix 'window' in your config"
        )
    rows = pd.DataFrame(
        {
            "pid": ids.to_numpy()[inside],
            "bin": slot[inside],
            "var": frame[variable_col].astype(str).str.strip().to_numpy()[inside],
            "value": value[inside],
        }
    )
    variables = sorted(rows["var"].unique())
    position = {pid: i for i, pid in enumerate(patient_ids)}
    means = rows.groupby(["pid", "bin", "var"], sort=False)["value"].mean().reset_index()
    values = np.full((len(patient_ids), bins, len(variables)), np.nan, dtype=np.float32)
    var_pos = {v: j for j, v in enumerate(variables)}
    values[
        means["pid"].map(position).to_numpy(),
        means["bin"].to_numpy(),
        means["var"].map(var_pos).to_numpy(),
    ] = means["value"].to_numpy()
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
        attrs={"window": [start, end], "bins": bins},
    )
    return data, empty
