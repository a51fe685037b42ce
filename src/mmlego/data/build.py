"""Raw tables of one dataset -> ``labels.parquet``, vector/series stores and bag manifests.

One entry point per output family, dispatching on the dataset's ``kind``; MIMIC-III has its
own extraction (the ``mimic`` stage) and is not handled here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego.config import dataset_modalities
from mmlego.data import generic, isic, tcga
from mmlego.data.labels import read_labels, write_labels
from mmlego.data.manifests import finalise_manifest, read_user_manifest, write_manifest
from mmlego.data.store import write_modality
from mmlego.utils.atomic import atomic_path

log = logging.getLogger(__name__)

# qc/tables.csv: one row per patient excluded from the dataset ("labels") or left without
# one modality, with the reason.
QC_COLUMNS = ["patient_id", "modality", "reason"]


def raw_table_inputs(ds: Mapping[str, Any]) -> list[str]:
    """The raw files the table reader of a (non-MIMIC) dataset reads."""
    if ds["kind"] == "tcga":
        return [ds["table"]]
    if ds["kind"] == "isic":
        return [ds["metadata"]]
    files = [ds["labels"]["path"]]
    return files + [spec["path"] for spec in ds["modalities"].values() if "path" in spec]


def table_outputs(ds: Mapping[str, Any]) -> list[str]:
    """Files :func:`build_tables` writes, relative to the dataset's output folder."""
    outs = ["labels.parquet", "qc/tables.csv"]
    outs += [f"modalities/{m.name}.h5" for m in dataset_modalities(ds) if m.kind != "bag"]
    if ds["kind"] == "isic":
        outs.append("qc/downsampling.csv")
    return outs


def manifest_sources(ds: Mapping[str, Any], mod: str) -> list[str]:
    """The folder(s) and tables that bag modality ``mod``'s manifest is built from."""
    if ds["kind"] == "tcga":
        return [ds["slides"], ds["table"]]
    if ds["kind"] == "isic":
        return [ds["images"]]
    return [ds["modalities"][mod]["manifest"]]


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def build_tables(
    name: str, ds: Mapping[str, Any], out_dir: str | Path, *, provenance: dict[str, Any], seed: int
) -> None:
    """Write ``labels.parquet``, ``modalities/<mod>.h5`` (vector, series) and ``qc/tables.csv``."""
    out = Path(out_dir)
    kind = ds["kind"]
    if kind == "tcga":
        result = tcga.read_tcga_table(ds["table"], ds)
    elif kind == "isic":
        result = isic.read_isic_metadata(ds["metadata"], ds, seed=seed, dataset=name)
        _write_csv(out / "qc" / "downsampling.csv", result.downsampling)
    elif kind == "generic":
        result = generic.read_generic(ds)
    else:
        raise ValueError(f"dataset {name!r}: kind {kind!r} has no table reader here")
    write_labels(
        out / "labels.parquet",
        result.labels,
        ds["task"],
        provenance=provenance,
        classes=result.classes,
    )
    for data in result.modalities:
        write_modality(out / "modalities" / f"{data.name}.h5", data, provenance=provenance)
        log.info(
            "%s/%s: %d of %d patients present, %d features",
            name,
            data.name,
            int(data.present.sum()),
            len(data),
            data.dim,
        )
    qc = result.excluded.reindex(columns=QC_COLUMNS)
    _write_csv(out / "qc" / "tables.csv", qc)
    log.info("%s: %d labelled patients, %d QC rows", name, len(result.labels), len(qc))


def build_manifest(
    name: str,
    ds: Mapping[str, Any],
    mod: str,
    labels_path: str | Path,
    out: str | Path,
    skipped_out: str | Path,
) -> None:
    """Write the manifest of bag modality ``mod`` for the labelled patients, and the skipped items."""
    labels, _ = read_labels(labels_path)
    ids = labels["patient_id"].tolist()
    kind = ds["kind"]
    skipped = pd.DataFrame(columns=["item", "reason"])
    if kind == "tcga":
        listed = tcga.table_slide_ids(ds["table"])
        frame, skipped = tcga.slide_manifest(ds["slides"], ids, listed)
        frame = finalise_manifest(frame, source=f"TCGA slide folder {ds['slides']}")
    elif kind == "isic":
        frame = finalise_manifest(
            isic.image_manifest(ds["images"], ids), source=f"ISIC image folder {ds['images']}"
        )
    elif kind == "generic":
        spec = ds["modalities"][mod]
        frame, skipped = read_user_manifest(
            spec["manifest"],
            id_column=spec.get("id", "patient_id"),
            patient_ids=ids,
            labels_source=generic.labels_source(ds),
            extra_ids=ds.get("extra_ids", "error"),
        )
    else:
        raise ValueError(f"dataset {name!r}: kind {kind!r} has no bag manifests")
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
