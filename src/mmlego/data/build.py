"""Raw tables of one dataset -> ``labels.parquet``, vector/series stores and bag manifests.

One entry point per output family; the dataset's kind (``data/kinds.py``) supplies the
reader. MIMIC-III has its own extraction (the ``mimic`` stage) and is not handled here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego import layout
from mmlego.data.kinds import (
    dataset_kind,
    reads_tables_per_modality,
    table_modalities,
)
from mmlego.data.labels import read_labels, write_labels
from mmlego.data.manifests import write_manifest
from mmlego.data.store import write_modality
from mmlego.utils.atomic import atomic_path

log = logging.getLogger(__name__)

# qc/tables.csv: one row per patient excluded from the dataset ("labels") or left without
# one modality, with the reason.
QC_COLUMNS = ["patient_id", "modality", "reason"]


def table_outputs(ds_dir: str, ds: Mapping[str, Any]) -> dict[str, str]:
    """Every file :func:`build_tables` writes into the dataset folder ``ds_dir``, by name."""
    outs = {"labels": layout.labels(ds_dir), "qc": layout.qc_tables(ds_dir)}
    outs |= {m.name: layout.modality_store(ds_dir, m.name) for m in table_modalities(ds)}
    if dataset_kind(ds).qc_downsampling:
        outs["downsampling"] = layout.qc_downsampling(ds_dir)
    return outs


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def build_tables(
    name: str, ds: Mapping[str, Any], out_dir: str | Path, *, provenance: dict[str, Any], seed: int
) -> None:
    """Write the dataset's labels, vector and series stores and QC (:func:`table_outputs`)."""
    kind = dataset_kind(ds)
    if kind.read_tables is None:
        raise ValueError(f"dataset {name!r}: kind {kind.name!r} has no table reader here")
    files = table_outputs(str(out_dir), ds)
    result = kind.read_tables(name, ds, seed)
    if kind.qc_downsampling:
        _write_csv(Path(files["downsampling"]), result.downsampling)
    write_labels(
        files["labels"], result.labels, ds["task"], provenance=provenance, classes=result.classes
    )
    for data in result.modalities:
        write_modality(files[data.name], data, provenance=provenance)
        log.info(
            "%s/%s: %d of %d patients present, %d features",
            name,
            data.name,
            int(data.present.sum()),
            len(data),
            data.dim,
        )
    qc = result.excluded.reindex(columns=QC_COLUMNS)
    _write_csv(Path(files["qc"]), qc)
    log.info("%s: %d labelled patients, %d QC rows", name, len(result.labels), len(qc))


def build_labels(
    name: str, ds: Mapping[str, Any], out_dir: str | Path, *, provenance: dict[str, Any]
) -> None:
    """Write the labels of a dataset whose modalities are read one job each
    (``labels.parquet``) and the QC rows of the patients its reader excluded."""
    kind = _per_modality_kind(name, ds)
    labels, classes, excluded = kind.read_labels(ds)
    root = str(out_dir)
    write_labels(layout.labels(root), labels, ds["task"], provenance=provenance, classes=classes)
    _write_csv(Path(layout.qc_labels_tables(root)), excluded.reindex(columns=QC_COLUMNS))
    log.info("%s: %d labelled patients, %d excluded", name, len(labels), len(excluded))


def build_modality_table(
    name: str,
    ds: Mapping[str, Any],
    mod: str,
    labels_path: str | Path,
    out_dir: str | Path,
    *,
    provenance: dict[str, Any],
) -> None:
    """Write one table modality's store and QC rows into ``out_dir``, for the patients of
    ``labels_path`` (the ``labels.parquet`` :func:`build_labels` wrote)."""
    kind = _per_modality_kind(name, ds)
    root = str(out_dir)
    labels, _ = read_labels(labels_path)
    data, qc = kind.read_modality_table(ds, mod, labels["patient_id"].tolist())
    write_modality(layout.modality_store(root, mod), data, provenance=provenance)
    _write_csv(Path(layout.qc_modality_tables(root, mod)), qc.reindex(columns=QC_COLUMNS))
    log.info(
        "%s/%s: %d of %d patients present, %d features, %d QC rows",
        name, mod, int(data.present.sum()), len(data), data.dim, len(qc),
    )  # fmt: skip


def join_table_qc(parts: list[str | Path], out: str | Path) -> None:
    """``qc/tables.csv`` from the per-modality QC tables, in the order given (the dataset's
    modality order, as the one-job reader writes them)."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts]
    rows = [f for f in frames if len(f)]
    qc = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=QC_COLUMNS)
    _write_csv(Path(out), qc.reindex(columns=QC_COLUMNS))


def _per_modality_kind(name: str, ds: Mapping[str, Any]) -> Any:
    if not reads_tables_per_modality(ds):
        raise ValueError(
            f"dataset {name!r}: kind {ds['kind']!r} reads its tables in one job (read-tables "
            "without --part)"
        )
    return dataset_kind(ds)


def build_manifest(
    name: str,
    ds: Mapping[str, Any],
    mod: str,
    labels_path: str | Path,
    out: str | Path,
    skipped_out: str | Path,
    *,
    mod_type: str,
    fallback_mpp: float | None = None,
) -> None:
    """Write the manifest of bag modality ``mod`` (``mod_type`` wsi or image) for the labelled
    patients, and the skipped items.

    Every listed file is opened first (:mod:`mmlego.preprocess.item_check`): one that cannot be
    encoded fails this step, which is never retried, rather than its encoding job.
    """
    from mmlego.preprocess.item_check import check_items

    kind = dataset_kind(ds)
    if kind.read_manifest is None:
        raise ValueError(f"dataset {name!r}: kind {kind.name!r} has no bag manifests")
    labels, _ = read_labels(labels_path)
    ids = labels["patient_id"].tolist()
    frame, skipped = kind.read_manifest(ds, mod, ids)
    check_items(frame, mod_type, fallback_mpp, source=f"{name}/{mod}")
    write_manifest(out, frame)
    _write_csv(Path(skipped_out), skipped)
    log.info(
        "%s/%s: %d items for %d of %d patients; %d skipped",
        name,
        mod,
        len(frame),
        frame["patient_id"].nunique(),
        len(ids),
        len(skipped),
    )
