"""Per-split transforms fitted on the **train** patients only, and ``load_split``.

For split k we fit, on the train patients that have the modality:

- vectors: feature filtering (drop columns missing in more than ``max_missing`` of them,
  never observed, or constant), median imputation, standardisation (mean/std of the observed
  values), and one-hot categories (those seen in train; unseen or missing -> all zeros);
- series: per-variable mean/std of the observed values (variables never observed in train
  are dropped); missing bins are filled with the train mean, i.e. 0 after scaling;
- bags: per-feature mean/std of the instances of the train patients. These are computed when
  the split is loaded rather than stored in the transforms file: the bag stores are the
  largest and the last to be built, and fitting here keeps the transforms job (which every
  tabular run waits for) off the slide-encoding chain. The result is the same on every load.
- survival: ``bins`` - 1 cut points at the quantiles of the train event times (uncensored;
  all train times if train has no event), giving edges ``[0, cuts..., +inf]``. Under tied
  times quantiles repeat: each cut is kept once, so the edges strictly increase and the task
  has fewer bins; ``n_out`` records the number used.

Each modality's transform is fitted alone (on the train patients that have it) and written to
``transforms/split{k}/{mod}.json``, with the split's task, bins and classes, which depend on the
labels only; :func:`join_transforms` joins a split's files into ``transforms/split{k}.json``.
A unimodal run loads its modality's file and a multimodal run the joined one, with
:func:`load_split` in both cases, so training and evaluation use exactly the same fitted
transform, and adding a modality changes no unimodal run's inputs. A modality's transform is
the same fitted alone or with the others: nothing in it depends on another modality.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.data.labels import read_labels
from mmlego.data.splits import SETS, read_splits
from mmlego.data.store import ModalityData, read_modality
from mmlego.data.transform_files import SPLIT_KEYS, join_transforms, write_transforms

log = logging.getLogger(__name__)

__all__ = [
    "SPLIT_KEYS", "SplitData", "SplitFiles", "fit_transforms", "join_transforms", "load_split",
    "write_transforms",
]  # fmt: skip


@dataclass(frozen=True)
class SplitFiles:
    """The files one split of a dataset is read from: the rule's inputs, passed one by one."""

    labels: str | Path
    splits: str | Path
    transforms: str | Path
    stores: Mapping[str, str | Path]


@dataclass
class SplitData:
    """One split of a dataset, transformed with the transforms fitted on its train set."""

    task: str
    n_out: int
    bins: list[float] | None
    classes: list[str] | None
    labels: pd.DataFrame
    sets: dict[str, list[str]]
    modalities: dict[str, ModalityData]

    def indices(self, name: str) -> np.ndarray:
        """Row positions (in ``labels`` and every modality) of the patients of set ``name``."""
        lookup = {pid: i for i, pid in enumerate(self.labels["patient_id"])}
        return np.array([lookup[pid] for pid in self.sets[name]], dtype=np.int64)


# --------------------------------------------------------------------------- fitting


def fit_vector(data: ModalityData, train: np.ndarray, *, max_missing: float) -> dict[str, Any]:
    """Fit filtering, imputation, scaling and categories on the rows ``train`` (bool mask)."""
    rows = train & data.present
    if not rows.any():
        raise ValueError(f"modality {data.name!r}: no train patient has this modality")
    x = data.values[rows].astype(np.float64)
    observed = ~np.isnan(x)
    missing = 1.0 - observed.mean(axis=0)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        std = np.nanstd(x, axis=0)
        mean = np.nanmean(x, axis=0)
        median = np.nanmedian(x, axis=0)
    keep = (missing <= max_missing) & observed.any(axis=0) & (np.nan_to_num(std) > 0)
    categories: dict[str, list[str]] = {}
    if data.categorical is not None:
        for j, name in enumerate(data.categorical_names):
            seen = {str(v) for v in data.categorical[rows, j] if str(v) != ""}
            if seen:
                categories[name] = sorted(seen)
    features = [f for f, k in zip(data.feature_names, keep, strict=True) if k]
    if not features and not categories:
        raise ValueError(
            f"modality {data.name!r}: every feature is constant, unobserved or missing in more "
            f"than {max_missing:.0%} of the train patients; check the input table"
        )
    return {
        "kind": "vector",
        "features": features,
        "dropped": [f for f, k in zip(data.feature_names, keep, strict=True) if not k],
        "impute": median[keep].tolist(),
        "mean": mean[keep].tolist(),
        "std": std[keep].tolist(),
        "categories": categories,
    }


def fit_series(data: ModalityData, train: np.ndarray) -> dict[str, Any]:
    """Fit per-variable scaling on the observed bins of the train rows."""
    rows = train & data.present
    if not rows.any():
        raise ValueError(f"modality {data.name!r}: no train patient has this modality")
    assert data.mask is not None
    values = np.where(data.mask[rows], data.values[rows], np.nan).reshape(-1, data.dim)
    observed = ~np.isnan(values)
    keep = observed.any(axis=0)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        mean = np.nanmean(values[:, keep], axis=0)
        std = np.nanstd(values[:, keep], axis=0)
    std = np.where(std > 0, std, 1.0)
    return {
        "kind": "series",
        "features": [f for f, k in zip(data.feature_names, keep, strict=True) if k],
        "dropped": [f for f, k in zip(data.feature_names, keep, strict=True) if not k],
        "mean": mean.tolist(),
        "std": std.tolist(),
    }


def survival_cuts(labels: pd.DataFrame, train_ids: Sequence[str], n_bins: int) -> list[float]:
    """Interior bin edges: the distinct quantiles of the train event times.

    The uncensored times are used when train has any event. Tied times make quantiles
    repeat; each cut is kept once, so there may be fewer than ``n_bins - 1`` cuts. (Times
    are positive, ``read_labels`` checks it, so every cut is above the first edge, 0.)
    """
    train = labels.set_index("patient_id").loc[list(train_ids)]
    times = train.loc[train["event"] == 1, "time"]
    if times.empty:
        log.warning("no event among the train patients: survival bins use every train time")
        times = train["time"]
    quantiles = np.quantile(times.to_numpy(dtype=float), np.arange(1, n_bins) / n_bins)
    cuts = np.unique(quantiles)
    if len(cuts) < n_bins - 1:
        log.warning(
            "tied train event times: %d of the %d survival bins remain (cuts %s)",
            len(cuts) + 1, n_bins, cuts.tolist(),
        )  # fmt: skip
    return [float(c) for c in cuts]


def classification_output(
    meta: Mapping[str, Any], labels: pd.DataFrame
) -> tuple[int, list[str] | None]:
    """(n_out, classes) of a classification task."""
    task = meta["task"]
    classes = meta.get("classes")
    if not classes:
        n = max(2, int(labels["label"].max()) + 1)
        classes = [str(i) for i in range(n)]
    if task == "binary" and len(classes) != 2:
        raise ValueError(
            f"a binary task needs 2 classes, the labels have {len(classes)}: {classes}"
        )
    return len(classes), list(classes)


def fit_transforms(
    labels_path: str | Path,
    splits_path: str | Path,
    stores: Mapping[str, str | Path],
    k: int,
    *,
    modalities: Mapping[str, str],
    survival_bins: int,
    max_missing: float,
) -> dict[str, Any]:
    """Fit every transform of split ``k`` on its train patients.

    ``modalities`` maps name -> store kind; ``stores`` gives the store of each vector and
    series modality (bags are standardised when the split is loaded).
    """
    labels, meta = read_labels(labels_path)
    split = read_splits(splits_path)["splits"][k]
    train_ids = set(split["train"])
    fitted: dict[str, Any] = {}
    for name, kind in modalities.items():
        if kind == "bag":
            fitted[name] = {"kind": "bag"}
            continue
        data = _aligned(_store(stores, name, "transforms"), labels)
        train = np.isin(data.ids, list(train_ids))
        fitted[name] = (
            fit_vector(data, train, max_missing=max_missing)
            if kind == "vector"
            else fit_series(data, train)
        )
    cuts = (
        survival_cuts(labels, split["train"], survival_bins) if meta["task"] == "survival" else None
    )
    n_out, classes = (
        (len(cuts) + 1, None) if cuts is not None else classification_output(meta, labels)
    )
    return {
        "split": k,
        "task": meta["task"],
        "n_out": n_out,
        "classes": classes,
        "bin_cuts": cuts,
        "max_missing": max_missing,
        "modalities": fitted,
    }


# --------------------------------------------------------------------------- applying


def apply_vector(data: ModalityData, spec: Mapping[str, Any]) -> ModalityData:
    """Filtered, imputed, standardised numeric features followed by one-hot categories."""
    index = {f: j for j, f in enumerate(data.feature_names)}
    cols = [index[f] for f in spec["features"]]
    x = data.values[:, cols].astype(np.float64)
    x = np.where(np.isnan(x), np.asarray(spec["impute"]), x)
    x = (x - np.asarray(spec["mean"])) / np.asarray(spec["std"])
    names = list(spec["features"])
    blocks = [x]
    cat_index = {c: j for j, c in enumerate(data.categorical_names)}
    for column, cats in spec["categories"].items():
        raw = (
            data.categorical[:, cat_index[column]].astype(str)
            if data.categorical is not None
            else None
        )
        if raw is None:
            raise ValueError(f"modality {data.name!r}: categorical column {column!r} is missing")
        blocks.append((raw[:, None] == np.asarray(cats)[None, :]).astype(np.float64))
        names += [f"{column}={c}" for c in cats]
    values = np.concatenate(blocks, axis=1)
    values[~data.present] = 0.0
    return replace(
        data,
        values=values.astype(np.float32),
        feature_names=names,
        categorical=None,
        categorical_names=[],
    )


def apply_series(data: ModalityData, spec: Mapping[str, Any]) -> ModalityData:
    """Standardised kept variables; unobserved bins filled with 0 (the train mean)."""
    assert data.mask is not None
    index = {f: j for j, f in enumerate(data.feature_names)}
    cols = [index[f] for f in spec["features"]]
    mask = data.mask[:, :, cols] & data.present[:, None, None]
    x = (data.values[:, :, cols].astype(np.float64) - np.asarray(spec["mean"])) / np.asarray(
        spec["std"]
    )
    x = np.where(mask & np.isfinite(x), x, 0.0)
    return replace(
        data, values=x.astype(np.float32), mask=mask, feature_names=list(spec["features"])
    )


def standardise_bag(data: ModalityData, train: np.ndarray, chunk: int = 65536) -> ModalityData:
    """Instances scaled by the per-feature mean/std of the ``train`` patients' instances.

    Raw patch features (e.g. of an untrained or ImageNet encoder) carry large per-feature
    offsets and small spreads; left unscaled, attention pooling learns from them very slowly.
    Features constant on train keep a unit scale (they become 0). Statistics accumulate in
    float64; the scaling runs in place and in chunks so that memory stays at the store's own
    size: a float32 ``data.values`` is overwritten (``load_split`` owns the array it passes).
    """
    assert data.offsets is not None
    rows = train & data.present
    if not rows.any():
        raise ValueError(f"modality {data.name!r}: no train patient has this modality")
    starts, ends = data.offsets[:-1][rows], data.offsets[1:][rows]
    total = np.zeros(data.dim)
    squares = np.zeros(data.dim)
    count = 0
    for start, end in zip(starts, ends, strict=True):
        for lo in range(int(start), int(end), chunk):
            block = data.values[lo : min(lo + chunk, int(end))].astype(np.float64)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
            count += len(block)
    if count == 0:
        raise ValueError(f"modality {data.name!r}: the train patients' bags are all empty")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
    std = np.where(std > 1e-6 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    values = np.asarray(data.values, dtype=np.float32)
    if not values.flags.writeable:
        values = values.copy()
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    for lo in range(0, len(values), chunk):
        values[lo : lo + chunk] -= mean32
        values[lo : lo + chunk] /= std32
    return replace(data, values=values)


def apply_transform(data: ModalityData, spec: Mapping[str, Any]) -> ModalityData:
    """Apply one modality's fitted transform (bags pass through unchanged)."""
    if spec["kind"] != data.kind:
        raise ValueError(
            f"modality {data.name!r} is a {data.kind} but its transform is for a {spec['kind']}"
        )
    if data.kind == "vector":
        return apply_vector(data, spec)
    if data.kind == "series":
        return apply_series(data, spec)
    return data  # bags: standardised by load_split, which knows the train patients


def load_split(files: SplitFiles, k: int, modalities: Sequence[str] | None = None) -> SplitData:
    """Split ``k`` of a dataset with its fitted transforms applied (docs/contracts.md).

    ``modalities`` restricts which stores are read (default: every modality of the transform).
    """
    path = Path(files.transforms)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the workflow's transforms rule first")
    spec = json.loads(path.read_text(encoding="utf-8"))
    labels, _ = read_labels(files.labels)
    split = read_splits(files.splits)["splits"][k]
    names = list(spec["modalities"]) if modalities is None else list(modalities)
    unknown = [n for n in names if n not in spec["modalities"]]
    if unknown:
        raise KeyError(
            f"{path}: no transform for modality(ies) {unknown}; known: {list(spec['modalities'])}"
        )
    data = {
        n: apply_transform(
            _aligned(_store(files.stores, n, "split"), labels), spec["modalities"][n]
        )
        for n in names
    }
    train = labels["patient_id"].astype(str).isin(split["train"]).to_numpy()
    for name, modality in data.items():
        if modality.kind == "bag":
            data[name] = standardise_bag(modality, train)
    cuts = spec.get("bin_cuts")
    return SplitData(
        task=spec["task"],
        n_out=int(spec["n_out"]),
        bins=None if cuts is None else [0.0, *cuts, float("inf")],
        classes=spec.get("classes"),
        labels=labels,
        sets={name: list(split[name]) for name in SETS},
        modalities=data,
    )


def _store(stores: Mapping[str, str | Path], name: str, step: str) -> Path:
    """The store given for modality ``name``; raises naming the ones given otherwise."""
    if name not in stores:
        raise KeyError(f"the {step} step was given no store of modality {name!r} ({list(stores)})")
    return Path(stores[name])


def _aligned(path: Path, labels: pd.DataFrame) -> ModalityData:
    """A modality store whose ids must be the labels' patient ids in order."""
    if not path.is_file():
        raise FileNotFoundError(f"modality store {path} does not exist")
    data = read_modality(path)
    expected = labels["patient_id"].astype(str).to_numpy()
    if len(data.ids) != len(expected) or not np.array_equal(data.ids, expected):
        raise ValueError(
            f"{path}: its ids are not the patient ids of labels.parquet in order "
            f"({len(data.ids)} vs {len(expected)} patients); rebuild the store"
        )
    return data
