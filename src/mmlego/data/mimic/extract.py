"""MIMIC-III extraction: raw v1.4 tables -> cohort, static and vitals stores, QC (shared step),
then per dataset the labels of its target (cheap step).

The shared step runs once per distinct (mimic_dir, min_hours, hours, min_age): the demo's
``icd9`` and ``mort`` datasets read one database, so CHARTEVENTS is streamed once. Its outputs
sit in ``{output_dir}/_mimic/<key>/``; :func:`build_dataset` turns them into one dataset's
``labels.parquet``, ``modalities/{static,vitals}.h5`` and ``qc/mimic_*.csv``.

The cohort alone (:func:`extract_cohort`: the stays, their diagnoses and the static store,
from the four small tables, no event table) depends on (mimic_dir, min_hours, min_age) only.
The workflow builds a dataset's labels and static store from it (:func:`build_labels_static`)
and its vitals store from the shared step (:func:`build_vitals`), so a change of ``hours``
(the vitals window) leaves the labels and the static store as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmlego.data.labels import write_labels
from mmlego.data.mimic.cohort import (
    MORTALITY_CLASSES,
    QCTable,
    build_cohort,
    comorbidity_flags,
    icd9_group_present,
    mortality_class,
)
from mmlego.data.mimic.events import DROP_REASONS, HourlyBins
from mmlego.data.mimic.tables import MISSING_TIME, read_table, stream_table, table_path
from mmlego.data.mimic.variables import VariableMap, load_variable_map
from mmlego.data.store import ModalityData, read_modality, write_modality
from mmlego.utils.atomic import atomic_path, write_json_atomic, write_text_atomic
from mmlego.utils.ids import safe_id

log = logging.getLogger(__name__)

EXTRACTION_KEYS = ("min_hours", "hours", "min_age")
COHORT_KEYS = ("min_hours", "min_age")
DEFAULTS = {"min_hours": 24, "hours": 24, "min_age": 15, "chunk_rows": 2_000_000}
STATIC_FEATURES = ("age", "aids", "haem_malignancy", "metastatic_cancer")
EXTRACT_FILES = {
    "cohort": "cohort.parquet",
    "diagnoses": "diagnoses.parquet",
    "static": "static.h5",
    "vitals": "vitals.h5",
    "qc_cohort": "qc_cohort.csv",
    "qc_events": "qc_events.csv",
    "summary": "summary.json",
}
# What :func:`extract_cohort` writes: the same files as the shared step's, with no vitals.
COHORT_FILES = {name: EXTRACT_FILES[name] for name in ("cohort", "diagnoses", "static")}


def extraction_settings(ds: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change the shared extraction, with defaults filled in."""
    return {key: ds.get(key, DEFAULTS[key]) for key in EXTRACTION_KEYS}


def cohort_settings(ds: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change the cohort (not the vitals window), with defaults filled in."""
    return {key: ds.get(key, DEFAULTS[key]) for key in COHORT_KEYS}


def _key(ds: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    settings = {"mimic_dir": os.path.normpath(str(ds["mimic_dir"])), **settings}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{safe_id(Path(ds['mimic_dir']).name or 'mimic')}-{digest}"


def extraction_key(ds: Mapping[str, Any]) -> str:
    """Folder name under ``_mimic/``: the database folder's name and a hash of the settings."""
    return _key(ds, extraction_settings(ds))


def cohort_key(ds: Mapping[str, Any]) -> str:
    """Folder name under ``_mimic/cohort/``: as :func:`extraction_key`, of the cohort settings."""
    return _key(ds, cohort_settings(ds))


def _write_parquet(path: Path, frame: pd.DataFrame, provenance: dict[str, Any]) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = json.dumps({"provenance": provenance}, default=str).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"mmlego": meta})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _event_qc(bins: HourlyBins, values_mask: np.ndarray, mapping: VariableMap) -> pd.DataFrame:
    """Long-format events QC: (scope, name, measure, count)."""
    qc = bins.counts_qc
    rows: list[tuple[str, str, str, int]] = []
    for table, n in qc.rows_read.items():
        mapped = sum(qc.per_itemid[int(i)] for i in bins.itemids(table))
        rows.append(("table", table, "rows_read", n))
        rows.append(("table", table, "rows_with_unmapped_itemid", n - mapped))
    for k, name in enumerate(qc.channels):
        for measure in ("mapped_rows", *DROP_REASONS, "kept"):
            counts = qc.per_channel.get(measure)
            rows.append(("channel", name, measure, int(counts[k]) if counts is not None else 0))
    for f, name in enumerate(mapping.names):
        stays = int(values_mask[:, :, f].any(axis=1).sum())
        rows.append(("variable", name, "stays_observed", stays))
    for itemid, n in sorted(qc.per_itemid.items()):
        rows.append(("itemid", str(itemid), "rows_in_cohort_tables", n))
    for (variable, spelling), n in sorted(qc.unknown_units.items()):
        rows.append(("unknown_unit", f"{variable}:{spelling}", "rows_dropped", n))
    return pd.DataFrame(rows, columns=["scope", "name", "measure", "count"])


def extract(
    mimic_dir: str | Path,
    out_dir: str | Path,
    *,
    settings: Mapping[str, Any],
    provenance: dict[str, Any],
    mapping: VariableMap | None = None,
) -> dict[str, Any]:
    """Run the shared extraction; write :data:`EXTRACT_FILES` into ``out_dir``; return the summary."""
    started = time.perf_counter()
    cfg = {**DEFAULTS, **settings}
    mapping = mapping or load_variable_map()
    out = Path(out_dir)
    qc = QCTable()
    cohort, diagnoses, flags = _read_cohort(mimic_dir, cfg, mapping, qc)

    bins = HourlyBins(mapping, cohort, int(cfg["hours"]))
    stream_started = time.perf_counter()
    for table, kind in (("CHARTEVENTS", "chart"), ("LABEVENTS", "lab")):
        blocks = stream_table(
            mimic_dir, table, chunk_rows=int(cfg["chunk_rows"]), itemids=bins.itemids(kind)
        )
        for i, (n_rows, block) in enumerate(blocks, start=1):
            bins.add_block(kind, n_rows, block)
            if i % 10 == 0:  # progress in the rule's log on long tables
                done = bins.counts_qc.rows_read[kind]
                rate = done / (time.perf_counter() - stream_started)
                log.info("%s: %d rows so far (%.0f rows/s)", table, done, rate)
        log.info("%s: %d rows streamed", table, bins.counts_qc.rows_read.get(kind, 0))
    stream_seconds = time.perf_counter() - stream_started
    values, mask = bins.finish()

    present = mask.any(axis=(1, 2))
    qc.add("events", "no_chart_or_lab_rows_in_window", int((~present).sum()), "flagged")
    if (~present).any():
        log.warning(
            "%d stays have no usable chart or lab row in the first %s h; kept with an empty "
            "vitals entry (present = False)",
            int((~present).sum()),
            cfg["hours"],
        )
    for f, name in enumerate(mapping.names):
        if not mask[:, :, f].any():
            log.warning("variable %s is never observed in any stay's window", name)
            qc.add("events", f"variable_never_observed:{name}", len(cohort), "flagged")
    for (variable, spelling), n in sorted(bins.counts_qc.unknown_units.items()):
        log.warning("%d %s rows with unknown VALUEUOM %r dropped", n, variable, spelling)
    unseen = sorted(i for i, n in bins.counts_qc.per_itemid.items() if n == 0)
    if unseen:
        log.warning("mapped ITEMIDs with no rows in the event tables: %s", unseen)

    table = _cohort_table(cohort, flags).assign(vitals_present=present)
    ids = table["patient_id"].to_numpy()
    _write_cohort(out, table, diagnoses, provenance)
    mapping_info = {"mapping_version": mapping.version, "mapping_sha256": mapping.sha256}
    vitals = ModalityData(
        name="vitals",
        kind="series",
        type="timeseries",
        ids=ids,
        present=present,
        values=values,
        mask=mask,
        feature_names=mapping.names,
        attrs={
            "units": {v.name: v.unit for v in mapping.variables.values()},
            "hours": int(cfg["hours"]),
            "forward_filled": True,
            **mapping_info,
        },
    )
    write_modality(out / EXTRACT_FILES["vitals"], vitals, provenance=provenance)
    write_text_atomic(out / EXTRACT_FILES["qc_cohort"], qc.frame().to_csv(index=False))
    write_text_atomic(
        out / EXTRACT_FILES["qc_events"], _event_qc(bins, mask, mapping).to_csv(index=False)
    )
    rows = sum(bins.counts_qc.rows_read.values())
    summary = {
        "stays": len(cohort),
        "rows_streamed": rows,
        "rows_by_table": bins.counts_qc.rows_read,
        "stream_seconds": round(stream_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "rows_per_second": round(rows / max(stream_seconds, 1e-9), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "settings": cfg,
        **mapping_info,
    }
    write_json_atomic(out / EXTRACT_FILES["summary"], summary, provenance=provenance)
    log.info("extraction done: %s", summary)
    return summary


def _read_cohort(
    mimic_dir: str | Path, cfg: Mapping[str, Any], mapping: VariableMap, qc: QCTable
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The included stays (raw columns), their admissions' diagnoses and comorbidity flags."""
    cohort = build_cohort(
        read_table(mimic_dir, "ICUSTAYS"),
        read_table(mimic_dir, "ADMISSIONS"),
        read_table(mimic_dir, "PATIENTS"),
        min_hours=float(cfg["min_hours"]),
        min_age=float(cfg["min_age"]),
        qc=qc,
        source=str(table_path(mimic_dir, "ICUSTAYS")),
    )
    if cohort.empty:
        raise RuntimeError(
            f"{mimic_dir}: no ICU stay passes the inclusion rules (see the counts: {qc.rows}); "
            "check the tables or lower datasets.<ds>.min_hours / min_age"
        )
    log.info("cohort: %d stays of %d patients", len(cohort), cohort["SUBJECT_ID"].nunique())
    diagnoses = read_table(mimic_dir, "DIAGNOSES_ICD")
    diagnoses = diagnoses.loc[diagnoses["HADM_ID"].isin(cohort["HADM_ID"])]
    flags = comorbidity_flags(diagnoses, cohort["HADM_ID"].to_numpy(), mapping.comorbidities)
    return cohort, diagnoses, flags


def _cohort_table(cohort: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """``cohort.parquet``'s rows (without the shared step's ``vitals_present``)."""
    death = np.where(cohort["DEATHTIME"] != MISSING_TIME, cohort["DEATHTIME"], cohort["DOD"])
    return pd.DataFrame(
        {
            "patient_id": cohort["SUBJECT_ID"].astype(str).to_numpy(),
            "subject_id": cohort["SUBJECT_ID"].to_numpy(),
            "hadm_id": cohort["HADM_ID"].to_numpy(),
            "icustay_id": cohort["ICUSTAY_ID"].to_numpy(),
            "intime": cohort["INTIME"].to_numpy(),
            "admittime": cohort["ADMITTIME"].to_numpy(),
            "death_time": death,
            "age": cohort["AGE"].to_numpy(),
            "admission_type": cohort["ADMISSION_TYPE"].to_numpy(),
            **{name: flags[name].to_numpy() for name in flags},
        }
    )


def _write_cohort(
    out: Path, table: pd.DataFrame, diagnoses: pd.DataFrame, provenance: dict[str, Any]
) -> None:
    """``cohort.parquet``, ``diagnoses.parquet`` and the static store (:data:`COHORT_FILES`)."""
    _write_parquet(out / EXTRACT_FILES["cohort"], table, provenance)
    _write_parquet(
        out / EXTRACT_FILES["diagnoses"],
        diagnoses[["HADM_ID", "ICD9_CODE"]].rename(columns=str.lower).reset_index(drop=True),
        provenance,
    )
    write_modality(out / EXTRACT_FILES["static"], static_modality(table), provenance=provenance)


def extract_cohort(
    mimic_dir: str | Path,
    out_dir: str | Path,
    *,
    settings: Mapping[str, Any],
    provenance: dict[str, Any],
    mapping: VariableMap | None = None,
) -> int:
    """Write :data:`COHORT_FILES` into ``out_dir`` (the shared step's, from the same rules, with
    no event table read); return the number of stays."""
    cfg = {**DEFAULTS, **settings}
    cohort, diagnoses, flags = _read_cohort(
        mimic_dir, cfg, mapping or load_variable_map(), QCTable()
    )
    _write_cohort(Path(out_dir), _cohort_table(cohort, flags), diagnoses, provenance)
    return len(cohort)


def static_modality(cohort: pd.DataFrame) -> ModalityData:
    """The static vector: age and the comorbidity flags, plus admission type as a categorical."""
    return ModalityData(
        name="static",
        kind="vector",
        type="tabular",
        ids=cohort["patient_id"].to_numpy(),
        present=np.ones(len(cohort), dtype=bool),
        values=cohort[list(STATIC_FEATURES)].to_numpy(np.float32),
        feature_names=list(STATIC_FEATURES),
        categorical=cohort[["admission_type"]].to_numpy(str),
        categorical_names=["admission_type"],
    )


def dataset_labels(
    cohort: pd.DataFrame, diagnoses: pd.DataFrame, ds: Mapping[str, Any]
) -> tuple[pd.DataFrame, list[str]]:
    """``labels.parquet`` rows and class names for a dataset's target (icd9 or mortality)."""
    if ds["target"] == "icd9":
        low, high = ds.get("icd9_range", [460, 519])
        frame = diagnoses.rename(columns={"hadm_id": "HADM_ID", "icd9_code": "ICD9_CODE"})
        label = icd9_group_present(frame, cohort["hadm_id"].to_numpy(), int(low), int(high))
        classes = [f"no_icd9_{low}_{high}", f"icd9_{low}_{high}"]
    elif ds["target"] == "mortality":
        label = mortality_class(cohort["admittime"].to_numpy(), cohort["death_time"].to_numpy())
        classes = list(MORTALITY_CLASSES)
    else:
        raise ValueError(f"unknown MIMIC target {ds['target']!r}; choose icd9 or mortality")
    return pd.DataFrame({"patient_id": cohort["patient_id"].to_numpy(), "label": label}), classes


def build_labels_static(
    cohort_dir: str | Path,
    out_dir: str | Path,
    ds: Mapping[str, Any],
    *,
    provenance: dict[str, Any],
) -> pd.DataFrame:
    """One dataset's labels and static store from a cohort folder (:func:`extract_cohort`'s,
    or the shared step's, which holds the same files); returns the labels."""
    src, out = Path(cohort_dir), Path(out_dir)
    cohort = pq.read_table(src / EXTRACT_FILES["cohort"]).to_pandas()
    diagnoses = pq.read_table(src / EXTRACT_FILES["diagnoses"]).to_pandas()
    labels, classes = dataset_labels(cohort, diagnoses, ds)
    task = ds["task"]
    if (task == "binary") != (len(classes) == 2):
        raise ValueError(
            f"dataset target {ds['target']!r} has {len(classes)} classes, which does not fit "
            f"task {task!r}; use task binary for icd9 and multiclass for mortality"
        )
    write_labels(out / "labels.parquet", labels, task, provenance=provenance, classes=classes)
    _copy_store(src, out, "static", provenance)
    counts = np.bincount(labels["label"], minlength=len(classes))
    log.info("labels: %s", dict(zip(classes, counts.tolist(), strict=True)))
    return labels


def build_vitals(
    extract_dir: str | Path, out_dir: str | Path, *, provenance: dict[str, Any]
) -> None:
    """One dataset's vitals store and QC tables from the shared step's folder."""
    src, out = Path(extract_dir), Path(out_dir)
    _copy_store(src, out, "vitals", provenance)
    for name, target in (("qc_cohort", "mimic_cohort.csv"), ("qc_events", "mimic_events.csv")):
        write_text_atomic(out / "qc" / target, (src / EXTRACT_FILES[name]).read_text())


def _copy_store(src: Path, out: Path, mod: str, provenance: dict[str, Any]) -> None:
    data = read_modality(src / EXTRACT_FILES[mod])
    write_modality(out / "modalities" / f"{mod}.h5", data, provenance=provenance)


def build_dataset(
    extract_dir: str | Path,
    out_dir: str | Path,
    ds: Mapping[str, Any],
    *,
    provenance: dict[str, Any],
) -> pd.DataFrame:
    """One dataset's labels, stores and QC from a shared extraction; returns the labels."""
    labels = build_labels_static(extract_dir, out_dir, ds, provenance=provenance)
    build_vitals(extract_dir, out_dir, provenance=provenance)
    return labels
