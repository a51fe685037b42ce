"""SIIM-ISIC 2020: ``train.csv`` metadata, the melanoma label, and 5:1 downsampling by patient.

A sample is one lesion image (``image_name``); its ``group`` is the patient, so every image
of one patient lands in the same set of a split. Benign images are downsampled **by patient**
(a patient's benign images are kept or dropped together), in a seeded random patient order,
until there are ``downsample`` benign images per melanoma; every melanoma image is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.data.ids import check_unique, ids_column
from mmlego.data.readers import listing, read_table, require_columns
from mmlego.data.store import ModalityData
from mmlego.data.tabular import vector_modality
from mmlego.utils.seeding import derive_seed

CLASSES = ["benign", "melanoma"]
NUMERIC = ["age_approx"]
CATEGORICAL = ["sex", "anatom_site_general_challenge"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class IsicTables:
    """Labels (with patient groups), the metadata modality, and the downsampling record."""

    labels: pd.DataFrame
    modalities: list[ModalityData]
    excluded: pd.DataFrame
    downsampling: pd.DataFrame
    classes: list[str]


def downsample_by_patient(frame: pd.DataFrame, ratio: float | None, seed: int) -> np.ndarray:
    """Boolean mask of kept rows (``image_name``, ``patient_id``, ``target`` columns).

    Every melanoma image is kept. Patients are visited in a seeded random order and all of a
    patient's benign images are kept, until at least ``ratio`` x (number of melanoma images)
    benign images are kept. ``ratio=None`` keeps everything.
    """
    melanoma = frame["target"].to_numpy() == 1
    if ratio is None:
        return np.ones(len(frame), dtype=bool)
    wanted = int(np.ceil(ratio * melanoma.sum()))
    benign_counts = frame.loc[~melanoma].groupby("patient_id").size()
    order = np.random.default_rng(seed).permutation(
        np.array(sorted(benign_counts.index), dtype=object)
    )
    chosen, total = [], 0
    for patient in order:
        if total >= wanted:
            break
        chosen.append(patient)
        total += int(benign_counts[patient])
    return melanoma | frame["patient_id"].isin(chosen).to_numpy()


def read_isic_metadata(
    path: str | Path, ds: Mapping[str, Any], *, seed: int, dataset: str
) -> IsicTables:
    """Labels, the ``metadata`` modality and the downsampling record of an ISIC ``train.csv``."""
    source = f"ISIC metadata {path}"
    table = read_table(path, what="ISIC metadata", text_columns=["image_name", "patient_id"])
    require_columns(
        table, ["image_name", "patient_id", "target", *NUMERIC, *CATEGORICAL], source=source
    )
    names = ids_column(table, "image_name", source=source)
    check_unique(names, source=source, column="image_name")
    table = table.assign(
        image_name=names, patient_id=ids_column(table, "patient_id", source=source)
    )
    target = pd.to_numeric(table["target"], errors="coerce")
    bad = ~target.isin([0, 1])
    if bad.any():
        raise ValueError(
            f"{source}: target must be 0 or 1; other values for images {listing(names[bad])}"
        )
    table["target"] = target.astype(int)
    kept = downsample_by_patient(
        table, ds.get("downsample", 5), derive_seed(seed, dataset, "downsample")
    )
    record = table[["image_name", "patient_id", "target"]].assign(kept=kept)
    table = table.loc[kept].sort_values("image_name").reset_index(drop=True)
    labels = pd.DataFrame(
        {"patient_id": table["image_name"], "label": table["target"], "group": table["patient_id"]}
    )
    rows = table.set_index("image_name")
    metadata = vector_modality(
        "metadata",
        "tabular",
        labels["patient_id"].tolist(),
        rows,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        present=rows[NUMERIC + CATEGORICAL].notna().any(axis=1),
        source=source,
    )
    excluded = pd.DataFrame(
        {
            "patient_id": record.loc[~kept, "image_name"],
            "modality": "labels",
            "reason": "excluded: benign image downsampled",
        }
    )
    return IsicTables(labels, [metadata], excluded, record, CLASSES)


def image_manifest(images_dir: str | Path, image_names: Sequence[str]) -> pd.DataFrame:
    """``patient_id`` (the image name, the sample id) and ``path`` of each labelled image."""
    root = Path(images_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"ISIC image folder {root} does not exist; check 'images' in your config"
        )
    files = {p.stem: p for p in sorted(root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    missing = [n for n in image_names if n not in files]
    if missing:
        raise FileNotFoundError(f"ISIC image folder {root}: no image file for {listing(missing)}")
    return pd.DataFrame(
        {"patient_id": list(image_names), "path": [str(files[n]) for n in image_names]}
    )
