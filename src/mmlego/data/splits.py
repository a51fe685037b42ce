"""Patient-level train/val/test splits, stratified by event or label: holdout or k-fold.

A *group* is the unit that must never straddle two sets: the patient of a TCGA record, the
patient of ISIC images, the subject of MIMIC stays (``labels.parquet``'s optional ``group``
column; without it each ``patient_id`` is its own group). Groups are stratified by their
event (survival: any event), label (binary: any positive) or most common label (multiclass).

- ``scheme: holdout`` draws ``repeats`` random splits; each stratum is divided in the
  configured fractions by largest remainder, so every set gets its share of events or classes.
- ``scheme: cv`` repeats a stratified k-fold over the groups ``repeats`` times. Fold f is the
  test set of split (repeat, f) and the next fold, f + 1 (mod k), its validation set: the
  remaining folds are already a stratified partition, so one of them is an inner validation
  fold of the same size as the test fold, and every patient is in val once and in test once
  per repeat. The ``train``/``val``/``test`` fractions do not apply; the shares are
  (k - 2)/k, 1/k and 1/k.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.data.labels import read_labels
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)

SETS = ("train", "val", "test")
SCHEMES = ("holdout", "cv")


def group_strata(labels: pd.DataFrame, task: str) -> pd.Series:
    """The stratum of each group (index: group id, sorted)."""
    groups = labels["group"] if "group" in labels.columns else labels["patient_id"]
    target = labels["event"] if task == "survival" else labels["label"]
    by_group = target.groupby(groups.to_numpy())
    if task == "multiclass":
        # Most common class of the group; ties go to the smallest class index.
        return by_group.agg(lambda s: s.value_counts().sort_index().idxmax()).sort_index()
    return by_group.max().sort_index()


def set_sizes(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Sizes of the sets for ``n`` groups: largest remainder, then at least one group per set."""
    ideal = n * np.asarray(fractions, dtype=float)
    sizes = np.floor(ideal).astype(int)
    order = np.argsort(-(ideal - sizes), kind="stable")
    sizes[order[: n - sizes.sum()]] += 1
    for j in np.flatnonzero(sizes == 0):
        donor = int(np.argmax(sizes))
        if sizes[donor] > 1:
            sizes[donor] -= 1
            sizes[j] += 1
    return sizes


def allocate(
    strata_sizes: Sequence[int], fractions: Sequence[float], rng: np.random.Generator
) -> np.ndarray:
    """Counts (strata x sets) whose rows sum to the strata sizes and columns to the set sizes.

    Start from the floor of each stratum's proportional share, then add one group at a time to
    the cell with the largest remaining share whose stratum and set still lack groups (ties
    broken at random), so each set gets close to its share of every stratum.
    """
    rows = np.asarray(strata_sizes, dtype=int)
    cols = set_sizes(int(rows.sum()), fractions)
    ideal = rows[:, None] * np.asarray(fractions, dtype=float)[None, :]
    counts = np.floor(ideal).astype(int)
    share = ideal - counts + 1e-9 * rng.random(ideal.shape)
    while (row_gap := rows - counts.sum(axis=1)).any():
        col_gap = cols - counts.sum(axis=0)
        open_cells = (row_gap[:, None] > 0) & (col_gap[None, :] > 0)
        if not open_cells.any():
            # The floors overfilled a set: move to the set sizes from the row deficits alone.
            open_cells = np.broadcast_to(row_gap[:, None] > 0, counts.shape)
        s, j = np.unravel_index(np.argmax(np.where(open_cells, share, -np.inf)), counts.shape)
        counts[s, j] += 1
        share[s, j] -= 1.0
    return counts


def split_once(
    strata: pd.Series, fractions: Sequence[float], rng: np.random.Generator
) -> dict[str, list[str]]:
    """One split of the groups in ``strata`` into train/val/test group ids."""
    values = sorted(strata.unique())
    members = [
        np.array(sorted(strata.index[strata == v].astype(str)), dtype=object) for v in values
    ]
    counts = allocate([len(m) for m in members], fractions, rng)
    sets: dict[str, list[str]] = {name: [] for name in SETS}
    for group_ids, row in zip(members, counts, strict=True):
        group_ids = group_ids[rng.permutation(len(group_ids))]
        bounds = np.concatenate([[0], np.cumsum(row)])
        for name, lo, hi in zip(SETS, bounds[:-1], bounds[1:], strict=True):
            sets[name].extend(group_ids[lo:hi].tolist())
    return {name: sorted(ids) for name, ids in sets.items()}


def n_splits(cfg: Mapping[str, Any]) -> int:
    """Number of splits (k = 0 … n - 1) the ``splits`` config section gives."""
    repeats = int(cfg.get("repeats", 5))
    return repeats * int(cfg.get("folds", 5)) if _scheme(cfg) == "cv" else repeats


def scheme_label(cfg: Mapping[str, Any]) -> str:
    """The scheme in words, for tables: ``5-fold cv × 4 repeats``, ``holdout … × 5 repeats``."""
    repeats = int(cfg.get("repeats", 5))
    times = f"{repeats} repeat" + ("s" if repeats != 1 else "")
    if _scheme(cfg) == "cv":
        return f"{int(cfg.get('folds', 5))}-fold cv × {times}"
    shares = "/".join(f"{_fractions(cfg)[name]:g}" for name in SETS)
    return f"holdout train/val/test {shares} × {times}"


def _scheme(cfg: Mapping[str, Any]) -> str:
    scheme = str(cfg.get("scheme", "holdout"))
    if scheme not in SCHEMES:
        raise _config_error(
            f"config key 'splits.scheme': {scheme!r} is not a split scheme; "
            f"choose one of: {', '.join(SCHEMES)}"
        )
    return scheme


def _config_error(message: str) -> ValueError:
    """A :class:`mmlego.config.ConfigError`, imported late: it pulls in jsonschema, which the
    transforms and training jobs (importers of this module) otherwise never load."""
    from mmlego.config import ConfigError

    return ConfigError(message)


def _fractions(cfg: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: float(cfg.get(name, default))
        for name, default in zip(SETS, (0.7, 0.15, 0.15), strict=True)
    }


def _group_members(labels: pd.DataFrame) -> dict[str, list[str]]:
    """The patient ids of each group, by group id (a dict: 100 cv splits look groups up often)."""
    groups = labels["group"] if "group" in labels.columns else labels["patient_id"]
    return labels["patient_id"].groupby(groups.to_numpy()).agg(list).to_dict()


def _patients(
    by_group: Mapping[str, Sequence[str]], members: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Each set's group ids replaced by their patients' ids, sorted."""
    return {name: sorted(p for g in ids for p in members[g]) for name, ids in by_group.items()}


def make_splits(
    labels: pd.DataFrame,
    task: str,
    *,
    repeats: int,
    fractions: Mapping[str, float],
    seed: int,
    dataset: str,
) -> list[dict[str, list[str]]]:
    """``repeats`` holdout splits of the labelled patients; repeat r is seeded by (seed, dataset, r)."""
    strata = group_strata(labels, task)
    fracs = [fractions[name] for name in SETS]
    members = _group_members(labels)
    splits = []
    for r in range(repeats):
        rng = np.random.default_rng(derive_seed(seed, dataset, "split", r))
        by_group = split_once(strata, fracs, rng)
        empty = [name for name, ids in by_group.items() if not ids]
        if empty:
            raise ValueError(
                f"dataset {dataset!r}: {len(strata)} patient groups are too few for "
                f"fractions {dict(zip(SETS, fracs, strict=True))}: set(s) {empty} would be empty"
            )
        splits.append(_patients(by_group, members))
    _warn_thin_sets(labels, task, splits, dataset)
    return splits


def stratified_folds(strata: pd.Series, folds: int, seed: int) -> np.ndarray:
    """The fold (0 … folds - 1) of each group of ``strata``: scikit-learn's ``StratifiedKFold``.

    Each fold gets the floor or the ceiling of its share of every stratum, and fold sizes
    differ by at most one group.
    """
    # Imported here: the transforms and training jobs import this module but never draw folds.
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(strata), dtype=int)
    with warnings.catch_warnings():
        # A stratum smaller than the fold count leaves some folds without it; the thin-set
        # warning below says which split's val or test set that leaves without a metric.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        for f, (_, test) in enumerate(splitter.split(np.zeros(len(strata)), strata.to_numpy())):
            fold_of[test] = f
    return fold_of


def make_cv_splits(
    labels: pd.DataFrame, task: str, *, folds: int, repeats: int, seed: int, dataset: str
) -> list[dict[str, Any]]:
    """``repeats`` × ``folds`` splits: fold f is test, fold f + 1 (mod folds) val, the rest train.

    Split ``r * folds + f`` is fold f of repeat r; repeat r's folds are seeded by
    (seed, dataset, "cv", r). Each split records its ``repeat``, ``fold`` and ``val_fold``.
    """
    strata = group_strata(labels, task)
    _check_folds(strata, folds, dataset)
    members = _group_members(labels)
    group_ids = strata.index.to_numpy()
    splits: list[dict[str, Any]] = []
    for r in range(repeats):
        fold_of = stratified_folds(strata, folds, derive_seed(seed, dataset, "cv", r))
        for f in range(folds):
            val_fold = (f + 1) % folds
            by_group = {
                "train": group_ids[(fold_of != f) & (fold_of != val_fold)],
                "val": group_ids[fold_of == val_fold],
                "test": group_ids[fold_of == f],
            }
            splits.append(
                {"repeat": r, "fold": f, "val_fold": val_fold, **_patients(by_group, members)}
            )
    _warn_thin_sets(labels, task, splits, dataset)
    return splits


def _check_folds(strata: pd.Series, folds: int, dataset: str) -> None:
    """Raise naming ``splits.folds`` when the folds cannot each hold a distinct test and val set."""
    if folds < 3:
        raise _config_error(
            f"config key 'splits.folds': {folds} folds leave no train fold beside the test "
            "and validation folds under splits.scheme: cv; use 3 or more"
        )
    counts = strata.value_counts().sort_index()
    if (counts < folds).all():
        raise ValueError(
            f"dataset {dataset!r}: config key 'splits.folds' is {folds}, but no stratum has that "
            f"many patient groups (groups per stratum: {counts.to_dict()}); lower splits.folds "
            "or use splits.scheme: holdout"
        )


def _warn_thin_sets(
    labels: pd.DataFrame, task: str, splits: Sequence[Mapping[str, Any]], dataset: str
) -> None:
    """Warn when a val/test set cannot give a metric (no events, or a single class)."""
    column = "event" if task == "survival" else "label"
    target = dict(zip(labels["patient_id"], labels[column].tolist(), strict=True))
    for r, split in enumerate(splits):
        for name in ("val", "test"):
            values = {target[pid] for pid in split[name]}
            thin = not any(values) if task == "survival" else len(values) < 2
            if thin:
                log.warning(
                    "dataset %s split %d: the %s set has %s; its metric will be undefined",
                    dataset,
                    r,
                    name,
                    "no events" if task == "survival" else "a single class",
                )


def write_splits(
    labels_path: str | Path,
    out: str | Path,
    *,
    dataset: str,
    cfg: Mapping[str, Any],
    seed: int,
    provenance: dict[str, Any],
) -> None:
    """Read the labels, draw the splits and write ``splits.json`` (docs/contracts.md).

    A holdout file has the keys it had before cv existed; a cv file adds ``scheme``, ``folds``
    and each split's ``repeat``, ``fold`` and ``val_fold``.
    """
    labels, meta = read_labels(labels_path)
    task = meta.get("task", "survival")
    repeats = int(cfg.get("repeats", 5))
    scheme: dict[str, Any]
    if _scheme(cfg) == "cv":
        folds = int(cfg.get("folds", 5))
        splits = make_cv_splits(
            labels, task, folds=folds, repeats=repeats, seed=seed, dataset=dataset
        )
        shares = (folds - 2) / folds, 1 / folds, 1 / folds
        scheme = {
            "scheme": "cv",
            "folds": folds,
            "fractions": dict(zip(SETS, shares, strict=True)),
        }
    else:
        fractions = _fractions(cfg)
        splits = make_splits(
            labels, task, repeats=repeats, fractions=fractions, seed=seed, dataset=dataset
        )
        scheme = {"fractions": fractions}
    payload = {
        "dataset": dataset,
        "seed": seed,
        "repeats": repeats,
        **scheme,
        "stratify": "event" if task == "survival" else "label",
        "grouped_by": "group" if "group" in labels.columns else "patient_id",
        "splits": splits,
    }
    write_json_atomic(out, payload, provenance=provenance)
    sizes = [[len(s[name]) for s in splits] for name in SETS]
    log.info(
        "%s: %d splits (%s) of %d patients; train/val/test sizes %s",
        dataset,
        len(splits),
        scheme_label(cfg),
        len(labels),
        " / ".join(f"{min(n)}" if min(n) == max(n) else f"{min(n)}-{max(n)}" for n in sizes),
    )


def read_splits(path: str | Path) -> dict[str, Any]:
    """Read and check ``splits.json``: sets disjoint within each split."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    for r, split in enumerate(payload["splits"]):
        check_disjoint(split, path, r)
    return payload


def check_disjoint(split: Mapping[str, list[str]], path: str | Path, r: int) -> None:
    """Raise naming the patient when one is in two sets (or twice in one) of split ``r``."""
    seen: dict[str, str] = {}
    for name in SETS:
        for pid in split[name]:
            if pid in seen:
                raise ValueError(
                    f"{path}: patient {pid} is in both {seen[pid]} and {name} of split {r}"
                )
            seen[pid] = name
