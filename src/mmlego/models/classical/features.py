"""The design matrix of the classical models: one row per patient, fitted on train only.

Columns, per modality of the split (after ``load_split``'s per-split transforms):

- vector (tabular): the transformed features as they are (imputed, standardised, one-hot);
- series: per variable, over the observed steps of the window (the store's mask): ``last``,
  ``mean``, ``min``, ``max``, ``slope`` (least squares per step) and ``count``. A variable a
  patient never had measured gets ``count`` 0 and NaN for the others;
- bag (slides, images): the mean of its instances;
- ``{modality}:missing``: 1 for a patient without the modality, whose every other column of
  that modality is NaN.

Only the columns are computed per patient; what is fitted comes from the train patients:
NaN is imputed with the train mean of the column, every column is standardised with the
train mean and standard deviation (so that one penalty fits all columns), and columns that
are constant or never observed on train are dropped (an indicator of a modality that every
train patient has is one of them).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmlego.data.store import ModalityData
from mmlego.data.transforms import SplitData

SUMMARIES = ("last", "mean", "min", "max", "slope", "count")
SETS = ("train", "val", "test")


def series_summaries(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-variable summaries (n, F, 6) in :data:`SUMMARIES` order of (n, T, F) series.

    Only the steps where ``mask`` is True count. ``last`` is the value at the latest observed
    step; ``slope`` is the least-squares slope against the step index and needs two observed
    steps. Without an observed step every summary but ``count`` (0) is NaN.
    """
    observed = np.asarray(mask, dtype=bool)
    x = np.where(observed, np.asarray(values, dtype=np.float64), np.nan)
    steps = np.arange(x.shape[1], dtype=np.float64)[None, :, None]
    count = observed.sum(axis=1)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        mean = np.nanmean(x, axis=1)
        low = np.nanmin(x, axis=1)
        high = np.nanmax(x, axis=1)
        t = np.where(observed, steps, np.nan)
        dt = t - np.nanmean(t, axis=1)[:, None, :]
    sxx = np.nansum(dt * dt, axis=1)
    sxy = np.nansum(dt * (x - mean[:, None, :]), axis=1)
    slope = np.where(count >= 2, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
    latest = np.where(observed, steps, -1).max(axis=1).astype(np.int64)
    last = np.take_along_axis(x, np.maximum(latest, 0)[:, None, :], axis=1)[:, 0, :]
    last = np.where(latest >= 0, last, np.nan)
    return np.stack([last, mean, low, high, slope, count.astype(np.float64)], axis=2)


def bag_means(data: ModalityData) -> np.ndarray:
    """The mean instance (n, D) of every patient's bag; NaN for an empty bag."""
    assert data.offsets is not None
    out = np.full((len(data), data.dim), np.nan)
    for i, (start, end) in enumerate(zip(data.offsets[:-1], data.offsets[1:], strict=True)):
        if end > start:
            out[i] = data.values[start:end].mean(axis=0, dtype=np.float64)
    return out


def modality_columns(data: ModalityData) -> tuple[np.ndarray, list[str]]:
    """The unfitted columns (n, p) of one modality and their names, ``missing`` last."""
    if data.kind == "vector":
        values = np.asarray(data.values, dtype=np.float64)
        names = [f"{data.name}:{f}" for f in data.feature_names]
    elif data.kind == "series":
        assert data.mask is not None
        variables = data.feature_names or [f"v{j}" for j in range(data.dim)]
        values = series_summaries(data.values, data.mask).reshape(len(data), -1)
        names = [f"{data.name}:{v}:{s}" for v in variables for s in SUMMARIES]
    else:
        values = bag_means(data)
        names = [f"{data.name}:mean_{j}" for j in range(data.dim)]
    values = np.where(data.present[:, None], values, np.nan)
    missing = (~data.present).astype(np.float64)[:, None]
    return np.concatenate([values, missing], axis=1), [*names, f"{data.name}:missing"]


@dataclass(frozen=True)
class Design:
    """The fitted design: kept column names, their train means and stds, a matrix per set."""

    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    x: dict[str, np.ndarray]


def build_design(data: SplitData, modalities: Sequence[str] | None = None) -> Design:
    """Columns of ``modalities`` (default: every modality of the split), fitted on train."""
    chosen = list(data.modalities) if modalities is None else list(modalities)
    unknown = [m for m in chosen if m not in data.modalities]
    if unknown or not chosen:
        raise ValueError(
            f"classical features: modalities {unknown or chosen} are not in the split "
            f"(it has {list(data.modalities)})"
        )
    blocks = [modality_columns(data.modalities[m]) for m in chosen]
    values = np.concatenate([b[0] for b in blocks], axis=1)
    names = [n for b in blocks for n in b[1]]
    train = values[data.indices("train")]
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        mean = np.nanmean(train, axis=0)
        std = np.nanstd(train, axis=0)
    keep = np.isfinite(mean) & (np.nan_to_num(std) > 1e-12 * np.maximum(np.abs(mean), 1.0))
    if not keep.any():
        raise ValueError(
            f"classical features: every column of {chosen} is constant or unobserved on the "
            "train patients; there is nothing to fit"
        )
    mean, std = mean[keep], std[keep]
    x = {}
    for name in SETS:
        rows = values[data.indices(name)][:, keep]
        x[name] = (np.where(np.isnan(rows), mean, rows) - mean) / std
    return Design([n for n, k in zip(names, keep, strict=True) if k], mean, std, x)
