"""Bring your own dataset (``kind: generic``): labels and tabular/time-series modalities from config.

Column names come from the config; no code change is needed for a new study. Slides and
images come as manifests (:func:`mmlego.data.manifests.read_user_manifest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mmlego.data.labels import check_labels
from mmlego.data.readers import (
    check_known,
    check_unique,
    ids_column,
    listing,
    read_table,
    require_columns,
)
from mmlego.data.store import ModalityData
from mmlego.data.tabular import split_columns, vector_modality
from mmlego.data.timeseries import bin_long_format


@dataclass
class GenericTables:
    """Labels, vector/series modalities, QC rows and class names of a generic dataset."""

    labels: pd.DataFrame
    modalities: list[ModalityData]
    excluded: pd.DataFrame
    classes: list[str] | None


def _class_names(values: pd.Series) -> list[Any]:
    """Sorted distinct labels (numerically when they are numbers)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return sorted(numbers.unique().tolist())
    return sorted(values.astype(str).str.strip().unique().tolist())


def _format_class(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def read_labels_file(ds: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str] | None]:
    """The checked label table (sorted by id) and, for classification, the class names."""
    spec = ds["labels"]
    path = spec["path"]
    source = f"label file {path}"
    frame = read_table(path, what="label file")
    id_col = spec.get("id", "patient_id")
    ids = ids_column(frame, id_col, source=source)
    check_unique(ids, source=source, column=id_col)
    task = ds["task"]
    if task == "survival":
        require_columns(frame, [spec["time"], spec["event"]], source=source)
        out = pd.DataFrame(
            {"patient_id": ids, "time": frame[spec["time"]], "event": frame[spec["event"]]}
        )
        classes = None
    else:
        require_columns(frame, [spec["label"]], source=source)
        raw = frame[spec["label"]]
        empty = raw.isna() | (raw.astype(str).str.strip() == "")
        if empty.any():
            raise ValueError(f"{source}: empty label for {listing(ids[empty])}")
        names = _class_names(raw)
        numbers = pd.to_numeric(raw, errors="coerce")
        keys = numbers if numbers.notna().all() else raw.astype(str).str.strip()
        out = pd.DataFrame(
            {"patient_id": ids, "label": keys.map({n: i for i, n in enumerate(names)})}
        )
        classes = [_format_class(n) for n in names]
        if task == "binary" and len(classes) != 2:
            raise ValueError(
                f"{source}: a binary task needs exactly 2 label values, column "
                f"{spec['label']!r} has {len(classes)}: {listing(classes)}"
            )
        if len(classes) < 2:
            raise ValueError(f"{source}: column {spec['label']!r} has a single label value")
    labels = check_labels(out, task, source=source)
    return labels.sort_values("patient_id").reset_index(drop=True), classes


def read_tabular(name: str, spec: Mapping[str, Any], patient_ids: list[str]) -> ModalityData:
    """A one-row-per-patient table as a vector modality."""
    path = spec["path"]
    source = f"tabular file {path} (modality {name})"
    frame = read_table(path, what=f"tabular file (modality {name})")
    id_col = spec.get("id", "patient_id")
    ids = ids_column(frame, id_col, source=source)
    check_unique(ids, source=source, column=id_col)
    check_known(ids, patient_ids, source=source)
    columns = spec.get("columns") or [c for c in frame.columns if c != id_col]
    require_columns(frame, columns, source=source)
    forced = spec.get("categorical", [])
    require_columns(frame, forced, source=source)
    numeric, cats = split_columns(frame, columns, forced)
    rows = frame.set_index(ids.to_numpy())
    return vector_modality(
        name, "tabular", patient_ids, rows, numeric=numeric, categorical=cats, source=source
    )


def read_timeseries(
    name: str, spec: Mapping[str, Any], patient_ids: list[str]
) -> tuple[ModalityData, list[str]]:
    """A long-format file binned into a series modality; also the patients left empty."""
    path = spec["path"]
    frame = read_table(path, what=f"time-series file (modality {name})")
    return bin_long_format(
        frame,
        name=name,
        patient_ids=patient_ids,
        window=spec["window"],
        bins=int(spec["bins"]),
        id_col=spec.get("id", "patient_id"),
        time_col=spec.get("time", "time"),
        variable_col=spec.get("variable", "variable"),
        value_col=spec.get("value", "value"),
        on_empty=spec.get("no_rows_in_window", "error"),
        source=f"time-series file {path} (modality {name})",
    )


def read_generic(ds: Mapping[str, Any]) -> GenericTables:
    """Labels and every tabular/time-series modality of a generic dataset."""
    labels, classes = read_labels_file(ds)
    ids = labels["patient_id"].tolist()
    mods: list[ModalityData] = []
    qc: list[dict[str, str]] = []
    for name, spec in ds["modalities"].items():
        if spec["type"] == "tabular":
            mods.append(read_tabular(name, spec, ids))
        elif spec["type"] == "timeseries":
            data, empty = read_timeseries(name, spec, ids)
            mods.append(data)
            qc += [
                {"patient_id": p, "modality": name, "reason": "no measurement inside the window"}
                for p in empty
            ]
    return GenericTables(
        labels, mods, pd.DataFrame(qc, columns=["patient_id", "modality", "reason"]), classes
    )
