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

from mmlego.data import isic, tcga
from mmlego.data.labels import read_labels, write_labels
from mmlego.data.manifests import finalise_manifest, write_manifest
from mmlego.data.store import write_modality
from mmlego.utils.atomic import atomic_path

log = logging.getLogger(__name__)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def build_tables(
    name: str, ds: Mapping[str, Any], out_dir: str | Path, *, provenance: dict[str, Any], seed: int
) -> None:
    """Write ``labels.parquet``, ``modalities/<mod>.h5`` (vector, series) and ``qc/excluded.csv``."""
    out = Path(out_dir)
    kind = ds["kind"]
    if kind == "tcga":
        result = tcga.read_tcga_table(ds["table"], ds)
    elif kind == "isic":
        result = isic.read_isic_metadata(ds["metadata"], ds, seed=seed, dataset=name)
        _write_csv(out / "qc" / "downsampling.csv", result.downsampling)
    else:
        raise ValueError(f"dataset {name!r}: kind {kind!r} has no table reader here")
    classes = getattr(result, "classes", None)
    write_labels(
        out / "labels.parquet", result.labels, ds["task"], provenance=provenance, classes=classes
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
    excluded = (
        result.excluded
        if not result.excluded.empty
        else pd.DataFrame(columns=["patient_id", "reason"])
    )
    _write_csv(out / "qc" / "excluded.csv", excluded)
    log.info("%s: %d labelled patients, %d excluded", name, len(result.labels), len(excluded))


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
        frame, skipped = tcga.slide_manifest(ds["slides"], ids)
        frame = finalise_manifest(frame, source=f"TCGA slide folder {ds['slides']}")
    elif kind == "isic":
        frame = finalise_manifest(
            isic.image_manifest(ds["images"], ids), source=f"ISIC image folder {ds['images']}"
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
