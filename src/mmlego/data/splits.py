"""Repeated train/val/test splits at patient (group) level, stratified by event or label.

A *group* is the unit that must never straddle two sets: the patient of a TCGA record, the
patient of ISIC images, the subject of MIMIC stays (``labels.parquet``'s optional ``group``
column; without it each ``patient_id`` is its own group). Groups are stratified by their
event (survival: any event), label (binary: any positive) or most common label (multiclass),
and each stratum is divided in the configured fractions by largest remainder, so every set
gets its share of events or classes.
"""

from __future__ import annotations

import json
import logging
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


def make_splits(
    labels: pd.DataFrame,
    task: str,
    *,
    repeats: int,
    fractions: Mapping[str, float],
    seed: int,
    dataset: str,
) -> list[dict[str, list[str]]]:
    """``repeats`` splits of the labelled patients; repeat r is seeded by (seed, dataset, r)."""
    strata = group_strata(labels, task)
    fracs = [fractions[name] for name in SETS]
    groups = labels["group"] if "group" in labels.columns else labels["patient_id"]
    members = labels["patient_id"].groupby(groups.to_numpy()).agg(list)
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
        splits.append(
            {name: sorted(p for g in ids for p in members[g]) for name, ids in by_group.items()}
        )
    _warn_thin_sets(labels, task, splits, dataset)
    return splits


def _warn_thin_sets(
    labels: pd.DataFrame, task: str, splits: list[dict[str, list[str]]], dataset: str
) -> None:
    """Warn when a val/test set cannot give a metric (no events, or a single class)."""
    target = labels.set_index("patient_id")["event" if task == "survival" else "label"]
    for r, split in enumerate(splits):
        for name in ("val", "test"):
            values = target.loc[split[name]]
            thin = values.sum() == 0 if task == "survival" else values.nunique() < 2
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
    """Read the labels, draw the splits and write ``splits.json`` (docs/contracts.md)."""
    labels, meta = read_labels(labels_path)
    task = meta.get("task", "survival")
    fractions = {
        name: float(cfg.get(name, default))
        for name, default in zip(SETS, (0.7, 0.15, 0.15), strict=True)
    }
    repeats = int(cfg.get("repeats", 5))
    splits = make_splits(
        labels, task, repeats=repeats, fractions=fractions, seed=seed, dataset=dataset
    )
    payload = {
        "dataset": dataset,
        "seed": seed,
        "repeats": repeats,
        "fractions": fractions,
        "stratify": "event" if task == "survival" else "label",
        "grouped_by": "group" if "group" in labels.columns else "patient_id",
        "splits": splits,
    }
    write_json_atomic(out, payload, provenance=provenance)
    sizes = (
        [len(s["train"]) for s in splits],
        [len(s["val"]) for s in splits],
        [len(s["test"]) for s in splits],
    )
    log.info(
        "%s: %d splits of %d patients; train/val/test sizes %s",
        dataset,
        repeats,
        len(labels),
        sizes,
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
