"""Patient bags: the items (slides or images) of each patient joined into one bag store.

The bag of a patient is the concatenation of its items' instances, in manifest order; when it
exceeds the cap, a seeded sample (per dataset, modality and patient) is kept, in the original
order. The full per-item files stay on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.data.store import ModalityData
from mmlego.preprocess.features_io import read_features
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)


def feature_finder(places: Sequence[str | Path]) -> Callable[[str], Path]:
    """Map an item id to its feature file ``{item_id}.h5``: one of ``places`` or inside one."""
    index: dict[str, Path] = {}
    for place in map(Path, places):
        files = sorted(place.glob("*.h5")) if place.is_dir() else [place]
        for path in files:
            index.setdefault(path.stem, path)

    def find(item_id: str) -> Path:
        if item_id not in index:
            raise FileNotFoundError(
                f"no feature file {item_id}.h5 among {', '.join(map(str, places))}; "
                "rerun the encode rules"
            )
        return index[item_id]

    return find


def sample_rows(n: int, cap: int | None, seed: int) -> np.ndarray:
    """Indices of the instances kept from a bag of ``n``: all, or ``cap`` sampled in order."""
    if cap is None or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=cap, replace=False))


@dataclass
class BagBuild:
    """The bag store and one QC row per item."""

    data: ModalityData
    qc: pd.DataFrame


def build_bags(
    patient_ids: Sequence[str],
    manifest: pd.DataFrame,
    feature_file: Callable[[str], Path],
    *,
    name: str,
    type: str,
    cap: int | None,
    seed: int,
    dataset: str,
    attrs: dict[str, Any] | None = None,
) -> BagBuild:
    """Join each patient's item features; patients without items (or instances) are absent."""
    groups = {pid: rows for pid, rows in manifest.groupby("patient_id", sort=False)}
    unlabelled = sorted(set(groups) - set(map(str, patient_ids)))
    if unlabelled:
        log.info(
            "%s/%s: %d patients of the manifest have no label and are left out (e.g. %s)",
            dataset,
            name,
            len(unlabelled),
            unlabelled[:3],
        )
    values, coords, sizes, qc_rows = [], [], [], []
    capped = 0
    dim: int | None = None
    first_file = ""
    encoders: dict[str, Any] = {}
    for pid in map(str, patient_ids):
        parts, part_coords = [], []
        for item in groups.get(pid, pd.DataFrame(columns=manifest.columns)).itertuples():
            path = feature_file(item.item_id)
            feats = read_features(path)
            if feats.features.shape[1] != (dim if dim is not None else feats.features.shape[1]):
                raise ValueError(
                    f"{path}: features have dimension {feats.features.shape[1]} but {first_file} "
                    f"has {dim}; all items of {dataset}/{name} must come from the same encoder"
                )
            if dim is None:
                dim, first_file = feats.features.shape[1], str(path)
            encoders.setdefault(str(feats.attrs.get("encoder", "external")), feats.attrs)
            parts.append(feats.features)
            part_coords.append(feats.coords)
            qc_rows.append(
                {
                    "patient_id": pid,
                    "item_id": item.item_id,
                    "status": feats.status,
                    "instances": len(feats.features),
                    "encoder": feats.attrs.get("encoder", "external"),
                    "random_init": bool(feats.attrs.get("random_init", False)),
                    "mpp_source": feats.attrs.get("mpp_source", ""),
                    "file": str(path),
                }
            )
        bag = np.concatenate(parts) if parts else np.zeros((0, dim or 0), dtype=np.float32)
        bag_coords = np.concatenate(part_coords) if parts else np.zeros((0, 2), dtype=np.int64)
        keep = sample_rows(len(bag), cap, derive_seed(seed, dataset, name, "bag", pid))
        capped += len(keep) < len(bag)
        values.append(bag[keep])
        coords.append(bag_coords[keep])
        sizes.append(len(keep))
    dim = dim or 0
    stacked = (
        np.concatenate([v.reshape(-1, dim) for v in values])
        if values
        else np.zeros((0, dim), dtype=np.float32)
    )
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    qc = pd.DataFrame(
        qc_rows,
        columns=[
            "patient_id",
            "item_id",
            "status",
            "instances",
            "encoder",
            "random_init",
            "mpp_source",
            "file",
        ],
    )
    random_init = bool(qc["random_init"].any()) if len(qc) else False
    summary = {
        **(attrs or {}),
        "dataset": dataset,
        "feature_dim": dim,
        "max_instances_per_patient": cap,
        "capped_patients": capped,
        "items": len(qc),
        "items_without_instances": int((qc["instances"] == 0).sum()) if len(qc) else 0,
        "random_init": random_init,
        "encoders": sorted(encoders),
    }
    if random_init:
        log.warning(
            "%s/%s: features come from a RANDOMLY initialised encoder (no weights)", dataset, name
        )
    data = ModalityData(
        name=name,
        kind="bag",
        type=type,
        ids=np.asarray(list(map(str, patient_ids)), dtype=object),
        present=sizes_arr > 0,
        values=stacked.astype(np.float32),
        offsets=offsets,
        coords=np.concatenate(coords) if coords else np.zeros((0, 2), dtype=np.int64),
        attrs=summary,
    )
    return BagBuild(data=data, qc=qc)
