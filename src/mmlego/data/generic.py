"""Bring your own dataset (``kind: generic``): labels and tabular/time-series modalities from config.

Column names come from the config; no code change is needed for a new study. Ids are text,
exactly as written (:mod:`mmlego.data.ids`); patients are ordered by id text (code-point
order), so the order of the rows in the user's files changes nothing downstream. Slides and
images come as manifests (:func:`mmlego.data.manifests.read_user_manifest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mmlego.data.ids import check_unique, ids_column, rows_in_labels
from mmlego.data.labels import check_labels
from mmlego.data.readers import listing, read_table, require_columns
from mmlego.data.store import ModalityData
from mmlego.data.tabular import split_columns, vector_modality
from mmlego.data.timeseries import bin_long_format

# qc/tables.csv reasons of the patients a modality leaves out or leaves empty.
DROPPED = "dropped: id not in the label file (extra_ids: drop)"
NO_ROWS_IN_WINDOW = "no measurement inside the window"
QC_COLUMNS = ["patient_id", "modality", "reason"]


@dataclass
class GenericTables:
    """Labels, vector/series modalities, QC rows and class names of a generic dataset."""

    labels: pd.DataFrame
    modalities: list[ModalityData]
    excluded: pd.DataFrame
    classes: list[str] | None


@dataclass
class ModalityRows:
    """The rows of a modality file whose ids are labelled, and the ids that were dropped."""

    frame: pd.DataFrame
    ids: pd.Series
    dropped: list[str]
    source: str


def _class_names(values: pd.Series) -> list[Any]:
    """Sorted distinct labels (numerically when they are numbers)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return sorted(numbers.unique().tolist())
    return sorted(values.astype(str).str.strip().unique().tolist())


def _format_class(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def labels_source(ds: Mapping[str, Any]) -> str:
    """How errors name a generic dataset's label file."""
    return f"label file {ds['labels']['path']}"


def read_labels_file(ds: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str] | None]:
    """The checked label table (sorted by id text) and, for classification, the class names."""
    spec = ds["labels"]
    source = labels_source(ds)
    id_col = spec.get("id", "patient_id")
    frame = read_table(spec["path"], what="label file", text_columns=[id_col])
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


def modality_rows(
    ds: Mapping[str, Any],
    name: str,
    *,
    what: str,
    patient_ids: list[str],
    text_columns: tuple[str, ...] = (),
) -> ModalityRows:
    """Read modality ``name``'s file and keep the rows of labelled patients.

    Ids outside the labels raise or are dropped, by the dataset's ``extra_ids``.
    """
    spec = ds["modalities"][name]
    path = spec["path"]
    source = f"{what} file {path} (modality {name})"
    id_col = spec.get("id", "patient_id")
    frame = read_table(
        path, what=f"{what} file (modality {name})", text_columns=[id_col, *text_columns]
    )
    ids = ids_column(frame, id_col, source=source)
    keep = rows_in_labels(
        ids,
        patient_ids,
        source=source,
        labels_source=labels_source(ds),
        extra_ids=ds.get("extra_ids", "error"),
    )
    return ModalityRows(frame.loc[keep], ids[keep], sorted(set(ids[~keep])), source)


def read_tabular(
    ds: Mapping[str, Any], name: str, patient_ids: list[str]
) -> tuple[ModalityData, list[str]]:
    """A one-row-per-patient table as a vector modality; also the ids dropped from it."""
    spec = ds["modalities"][name]
    id_col = spec.get("id", "patient_id")
    rows = modality_rows(ds, name, what="tabular", patient_ids=patient_ids)
    check_unique(rows.ids, source=rows.source, column=id_col)
    columns = spec.get("columns") or [c for c in rows.frame.columns if c != id_col]
    require_columns(rows.frame, columns, source=rows.source)
    forced = spec.get("categorical", [])
    require_columns(rows.frame, forced, source=rows.source)
    numeric, cats = split_columns(rows.frame, columns, forced)
    data = vector_modality(
        name,
        "tabular",
        patient_ids,
        rows.frame.set_index(rows.ids.to_numpy()),
        numeric=numeric,
        categorical=cats,
        source=rows.source,
    )
    return data, rows.dropped


def read_timeseries(
    ds: Mapping[str, Any], name: str, patient_ids: list[str]
) -> tuple[ModalityData, list[str], list[str]]:
    """A long-format file binned into a series modality; also the patients left empty and the
    ids dropped."""
    spec = ds["modalities"][name]
    variable = spec.get("variable", "variable")
    rows = modality_rows(
        ds, name, what="time-series", patient_ids=patient_ids, text_columns=(variable,)
    )
    data, empty = bin_long_format(
        rows.frame,
        name=name,
        patient_ids=patient_ids,
        window=spec["window"],
        bins=int(spec["bins"]),
        id_col=spec.get("id", "patient_id"),
        time_col=spec.get("time", "time"),
        variable_col=variable,
        value_col=spec.get("value", "value"),
        agg=spec.get("agg", "mean"),
        on_empty=spec.get("no_rows_in_window", "absent"),
        source=rows.source,
    )
    return data, empty, rows.dropped


def _qc(ids: list[str], modality: str, reason: str) -> list[dict[str, str]]:
    return [{"patient_id": pid, "modality": modality, "reason": reason} for pid in ids]


def read_generic_modality(
    ds: Mapping[str, Any], name: str, patient_ids: list[str]
) -> tuple[ModalityData, pd.DataFrame]:
    """One tabular or time-series modality of a generic dataset, and its QC rows (the
    patients it leaves empty, then the ids it drops). It reads nothing of the other
    modalities, so adding a modality to the config leaves this one's store as it was."""
    spec = ds["modalities"][name]
    qc: list[dict[str, str]] = []
    if spec["type"] == "tabular":
        data, dropped = read_tabular(ds, name, patient_ids)
    elif spec["type"] == "timeseries":
        data, empty, dropped = read_timeseries(ds, name, patient_ids)
        qc += _qc(empty, name, NO_ROWS_IN_WINDOW)
    else:
        raise ValueError(f"modality {name!r} is a {spec['type']} (a bag): it has no table to read")
    qc += _qc(dropped, name, DROPPED)
    return data, pd.DataFrame(qc, columns=QC_COLUMNS)


def read_generic(ds: Mapping[str, Any]) -> GenericTables:
    """Labels and every tabular/time-series modality of a generic dataset."""
    labels, classes = read_labels_file(ds)
    ids = labels["patient_id"].tolist()
    mods: list[ModalityData] = []
    qc: list[pd.DataFrame] = [pd.DataFrame(columns=QC_COLUMNS)]
    for name, spec in ds["modalities"].items():
        if spec["type"] not in ("tabular", "timeseries"):
            continue
        data, rows = read_generic_modality(ds, name, ids)
        mods.append(data)
        qc.append(rows)
    excluded = pd.concat([q for q in qc if len(q)] or qc[:1], ignore_index=True)
    return GenericTables(labels, mods, excluded, classes)
