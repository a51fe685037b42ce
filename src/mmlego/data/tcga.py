"""TCGA: the MCAT/PORPOISE ``tcga_<site>_all_clean`` table and the diagnostic-slide folder.

The table has one row per slide (``case_id``, ``slide_id``, ``survival_months``,
``censorship`` with 1 = censored, clinical columns, and ``<GENE>_mut``/``_cnv``/``_rnaseq``
omics columns). We turn it into one record per patient; slides are matched to patients by the
12-character TCGA barcode prefix of their file names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.data.ids import ids_column
from mmlego.data.readers import listing, read_table, require_columns
from mmlego.data.store import ModalityData
from mmlego.data.tabular import split_columns, vector_modality

log = logging.getLogger(__name__)

OMICS_SUFFIX = {"mut": "_mut", "cnv": "_cnv", "rna": "_rnaseq"}
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".svslide")
BARCODE = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}", re.IGNORECASE)
_LABEL_COLUMNS = ("case_id", "survival_months", "censorship")
TEXT_COLUMNS = ("case_id", "slide_id")  # read as written (mmlego.data.ids)


@dataclass
class TcgaTables:
    """Labels, vector modalities and excluded patients (with reasons) of one TCGA table."""

    labels: pd.DataFrame
    modalities: list[ModalityData]
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    classes: list[str] | None = None


def patient_of(barcode: str) -> str | None:
    """The 12-character patient barcode (``TCGA-XX-XXXX``) a slide or sample name starts with."""
    match = BARCODE.match(barcode)
    return match.group(0).upper() if match else None


def omics_columns(columns: Sequence[str], group: str) -> list[str]:
    """The table's columns of one omics group, by suffix, in table order."""
    suffix = OMICS_SUFFIX[group]
    return [c for c in columns if c.endswith(suffix)]


def _one_row_per_patient(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Collapse slide rows to patient rows; the label must agree across a patient's slides."""
    table = table.assign(case_id=ids_column(table, "case_id", source=source))
    for col in ("survival_months", "censorship"):
        spread = table.groupby("case_id")[col].nunique(dropna=False)
        bad = spread.index[spread > 1]
        if len(bad):
            raise ValueError(
                f"{source}: {col} differs between the slide rows of patient(s) {listing(bad)}; "
                "a patient must have one label"
            )
    return table.drop_duplicates("case_id", keep="first").set_index("case_id").sort_index()


def _labels(patients: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels, excluded): patients without a usable survival time are excluded, not fatal."""
    censorship = pd.to_numeric(patients["censorship"], errors="coerce")
    bad = ~censorship.isin([0, 1])
    if bad.any():
        raise ValueError(
            f"{source}: censorship must be 0 (event) or 1 (censored); other values for "
            f"{listing(patients.index[bad])}"
        )
    time = pd.to_numeric(patients["survival_months"], errors="coerce")
    unusable = ~np.isfinite(time) | (time <= 0)
    excluded = pd.DataFrame(
        {
            "patient_id": patients.index[unusable],
            "modality": "labels",
            "reason": "excluded: survival_months missing, zero or negative",
        }
    )
    if unusable.any():
        log.warning(
            "%s: %d patient(s) without a positive survival time are excluded: %s",
            source,
            int(unusable.sum()),
            listing(patients.index[unusable]),
        )
    keep = ~unusable
    labels = pd.DataFrame(
        {
            "patient_id": patients.index[keep],
            "time": time[keep].to_numpy(dtype=float),
            "event": (1 - censorship[keep]).to_numpy(dtype=int),
        }
    )
    return labels, excluded


def _patients(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The table's patient rows (one per ``case_id``) and how errors name the table."""
    source = f"TCGA table {path}"
    table = read_table(path, what="TCGA table", text_columns=TEXT_COLUMNS)
    require_columns(table, _LABEL_COLUMNS, source=source)
    return _one_row_per_patient(table, source), source


def _group_columns(patients: pd.DataFrame, groups: Sequence[str], source: str) -> dict:
    """{omics group: its columns}; raises naming the groups the table has no column of."""
    by_group = {g: omics_columns(list(patients.columns), g) for g in groups}
    empty = [g for g, cols in by_group.items() if not cols]
    if empty:
        raise ValueError(
            f"{source}: no columns ending in {[OMICS_SUFFIX[g] for g in empty]} for omics "
            f"group(s) {empty}; remove them from 'omics' in the config"
        )
    return by_group


def _modality(
    patients: pd.DataFrame, ids: list[str], ds: Mapping[str, Any], name: str, source: str
) -> ModalityData:
    """Tabular modality ``name`` of the patients ``ids``: ``omics`` (every group of ``omics``
    and the ``clinical`` columns) when ``omics_as`` is joint, else the omics group ``name``
    alone, which reads no other group's columns."""
    patients = patients.loc[ids]
    if ds.get("omics_as", "joint") == "joint":
        clinical = list(ds.get("clinical", ["age", "is_female"]))
        require_columns(patients, clinical, source=source)
        groups = list(ds.get("omics", list(OMICS_SUFFIX)))
        by_group = _group_columns(patients, groups, source)
        columns, attrs = (
            [c for g in groups for c in by_group[g]],
            {"groups": groups, "clinical": clinical},
        )
        numeric, cats = split_columns(patients, columns + clinical)
    else:
        columns = _group_columns(patients, [name], source)[name]
        attrs = {"suffix": OMICS_SUFFIX[name]}
        numeric, cats = split_columns(patients, columns)
    # A patient "has" an omics modality when any of its columns is measured.
    present = patients[columns].notna().any(axis=1)
    return vector_modality(name, "tabular", ids, patients, numeric=numeric, categorical=cats,
                           present=present, source=source, attrs=attrs)  # fmt: skip


def tcga_modality_names(ds: Mapping[str, Any]) -> list[str]:
    """The table modalities of a TCGA dataset: ``omics``, or one per group of ``omics``."""
    if ds.get("omics_as", "joint") == "joint":
        return ["omics"]
    return list(ds.get("omics", list(OMICS_SUFFIX)))


def read_tcga_labels(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels, excluded patients with reasons) of a TCGA table; reads no omics column."""
    patients, source = _patients(path)
    return _labels(patients, source)


def read_tcga_modality(
    path: str | Path, ds: Mapping[str, Any], name: str, ids: list[str]
) -> ModalityData:
    """One tabular modality of a TCGA dataset for the labelled patients ``ids``: adding an
    omics group to a ``separate`` config leaves every other group's store as it was."""
    if name not in tcga_modality_names(ds):
        raise KeyError(
            f"TCGA table {path}: no tabular modality {name!r}; the config gives "
            f"{tcga_modality_names(ds)}"
        )
    patients, source = _patients(path)
    return _modality(patients, ids, ds, name, source)


def read_tcga_table(path: str | Path, ds: Mapping[str, Any]) -> TcgaTables:
    """Labels and the tabular modalities (``omics`` or one per group) of a TCGA dataset."""
    patients, source = _patients(path)
    require_columns(patients, list(ds.get("clinical", ["age", "is_female"])), source=source)
    _group_columns(patients, list(ds.get("omics", list(OMICS_SUFFIX))), source)
    labels, excluded = _labels(patients, source)
    ids = labels["patient_id"].tolist()
    mods = [_modality(patients, ids, ds, name, source) for name in tcga_modality_names(ds)]
    return TcgaTables(labels=labels, modalities=mods, excluded=excluded)


def _slide_stem(name: str) -> str:
    path = Path(name)
    return path.stem if path.suffix.lower() in SLIDE_SUFFIXES else path.name


def table_slide_ids(path: str | Path) -> list[str]:
    """The ``slide_id`` values of a TCGA table (empty when the table has no such column)."""
    table = read_table(path, what="TCGA table", text_columns=TEXT_COLUMNS)
    if "slide_id" not in table:
        return []
    slides = table["slide_id"].str.strip()
    return slides[slides != ""].tolist()


def slide_manifest(
    slides_dir: str | Path, patient_ids: Sequence[str], listed: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, skipped) of the slides under ``slides_dir`` (searched recursively).

    A slide belongs to the patient whose barcode prefixes its file name; slides of patients
    without a label and files without a TCGA barcode are skipped and listed with a reason,
    as are the table's ``listed`` slide ids that have no file.
    """
    root = Path(slides_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"TCGA slide folder {root} does not exist; check 'slides' in your config"
        )
    known = set(patient_ids)
    rows, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in SLIDE_SUFFIXES):
        patient = patient_of(path.name)
        if patient is None:
            skipped.append(
                {"item": str(path), "reason": "file name does not start with a TCGA barcode"}
            )
        elif patient not in known:
            skipped.append({"item": str(path), "reason": f"patient {patient} has no label row"})
        else:
            rows.append({"patient_id": patient, "path": str(path)})
    found = {_slide_stem(Path(row["path"]).name) for row in rows} | {
        _slide_stem(Path(item["item"]).name) for item in skipped
    }
    skipped += [
        {"item": slide, "reason": "listed in the table, no file in the slide folder"}
        for slide in sorted(set(listed))
        if _slide_stem(slide) not in found
    ]
    return pd.DataFrame(rows, columns=["patient_id", "path"]), pd.DataFrame(
        skipped, columns=["item", "reason"]
    )
