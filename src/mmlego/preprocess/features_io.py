"""Per-item feature files in the CLAM/TRIDENT layout.

``features`` (N, D) float32 and ``coords`` (N, 2) int64 level-0 corners, with attributes on
the file (encoder, weights hash, precision, resolution, status, provenance) and CLAM's
``patch_size``/``patch_level`` on ``coords``. Files written by CLAM or TRIDENT can be put in
their place: the reader only needs ``features`` (and uses ``coords`` when present).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mmlego.utils.atomic import atomic_path

log = logging.getLogger(__name__)

STATUS_OK = "ok"


@dataclass
class FeatureSet:
    """The contents of one feature file."""

    features: np.ndarray  # (N, D) float32
    coords: np.ndarray  # (N, 2) int64; -1 where the file had none
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok``, or why the item has no instances (e.g. ``skipped: no tissue``)."""
        return str(self.attrs.get("status", STATUS_OK))


def write_features(
    path: str | Path,
    features: np.ndarray,
    coords: np.ndarray,
    *,
    attrs: dict[str, Any],
    provenance: dict[str, Any],
) -> None:
    """Write one item's features atomically (an interrupted job leaves no file behind)."""
    features = np.asarray(features, dtype=np.float32)
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    if features.ndim != 2 or len(features) != len(coords):
        raise ValueError(f"{path}: {features.shape} features do not match {coords.shape} coords")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("features", data=features)
        dset = h5.create_dataset("coords", data=coords)
        for key in ("patch_size", "patch_level"):
            if key in attrs:
                dset.attrs[key] = attrs[key]
        for key, value in attrs.items():
            h5.attrs[key] = value if value is not None else ""
        h5.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_features(path: str | Path) -> FeatureSet:
    """Read a feature file of ours, CLAM's or TRIDENT's; raise naming the file if it is not one."""
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as err:
        raise ValueError(
            f"{path}: not a readable feature h5 file ({err}); delete it and rerun to recompute"
        ) from err
    with h5:
        if "features" not in h5:
            raise ValueError(
                f"{path}: no 'features' dataset (found {sorted(h5)}); a feature file needs "
                "features (N, D) and coords (N, 2) as written by CLAM, TRIDENT or mmlego"
            )
        features = np.asarray(h5["features"][...], dtype=np.float32)
        # CLAM's .h5 sometimes keeps a leading batch axis of 1.
        if features.ndim == 3 and features.shape[0] == 1:
            features = features[0]
        if features.ndim != 2:
            raise ValueError(f"{path}: 'features' must be (N, D), got shape {features.shape}")
        if "coords" in h5:
            coords = np.asarray(h5["coords"][...]).reshape(-1, 2).astype(np.int64)
            if len(coords) != len(features):
                raise ValueError(
                    f"{path}: {len(coords)} coords for {len(features)} feature rows; "
                    "the file is inconsistent"
                )
        else:
            log.warning("%s: no 'coords' dataset; patch positions are unknown (-1)", path)
            coords = np.full((len(features), 2), -1, dtype=np.int64)
        attrs = {k: _attr(v) for k, v in h5.attrs.items()}
        if "coords" in h5:
            for key, value in h5["coords"].attrs.items():
                attrs.setdefault(key, _attr(value))
    if not np.isfinite(features).all():
        raise ValueError(f"{path}: features contain NaN or infinite values")
    return FeatureSet(features=features, coords=coords, attrs=attrs)
