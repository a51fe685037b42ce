"""Patient sets of the unpaired-data study (Fig. 6): two blocks, a chosen overlap of patients.

For one split, the *pool* is the split's train patients that have both modalities (optionally
capped at ``patients`` by a seeded draw). Each block gets ``m = floor(pool / 2)`` patients,
whatever the overlap, so that only the overlap changes along the curve. The overlap ``o`` is
the symmetric-difference fraction of the two sets,

    o = |A Δ B| / |A ∪ B| = 2 (m - s) / (2 m - s)      with s = |A ∩ B|,

so ``o = 0`` gives identical sets and ``o = 1`` disjoint halves of the pool. For a requested
``o`` the shared count ``s`` is the integer nearest to ``2 m (1 - o) / (2 - o)`` that makes the
realised fraction closest to ``o`` (off by at most ``1 / m``).

The draw is nested: one seeded permutation ``p`` of the pool per split, ``A = p[:m]`` for every
overlap and ``B = p[:s] + p[m : 2m - s]``. The first modality's block therefore trains on the
same patients at every overlap and the second block's set moves away from it, which keeps the
comparison between overlaps free of the noise of redrawing both sets.

The test set of the study is the split's test patients that have both modalities (the common
paired test set); the validation set (early stopping) is the split's own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmlego.layout import overlap_tag
from mmlego.utils.seeding import derive_seed

# The runs of every overlap after the blocks (``lego_block.{modality}``).
RUNS_AFTER_BLOCKS = ("lego_merge", "ensemble")


def study_runs(modalities: Sequence[str]) -> list[str]:
    """The runs of one overlap: a block per modality, the merge, the ensemble."""
    return [f"lego_block.{m}" for m in modalities] + list(RUNS_AFTER_BLOCKS)


def run_files(run: str) -> list[str]:
    """The files a study run writes in its ``split{k}`` folder, as ``mmlego.layout`` functions
    of the folder (the main runs' formats)."""
    files = ["predictions", "metrics"]
    if run != "ensemble":
        files.append("model")
    if run.startswith("lego_block."):
        files.append("train_log")
    if run == "lego_merge":
        files.append("missing_modality")
    return files


@dataclass(frozen=True)
class BlockSets:
    """The two blocks' training patients at one requested overlap."""

    overlap: float
    first: list[str]
    second: list[str]

    @property
    def shared(self) -> int:
        """Patients in both sets."""
        return len(set(self.first) & set(self.second))

    @property
    def realized(self) -> float:
        """The sets' symmetric-difference fraction."""
        return symmetric_difference_fraction(self.first, self.second)


def colliding_tags(overlaps: Sequence[float]) -> list[str] | None:
    """The overlaps' folder tags when two of them coincide (their outputs would collide)."""
    tags = [overlap_tag(float(o)) for o in overlaps]
    return tags if len(set(tags)) != len(tags) else None


def symmetric_difference_fraction(a: Sequence[str], b: Sequence[str]) -> float:
    """``|A Δ B| / |A ∪ B|`` (0 for two empty sets)."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return len(sa ^ sb) / union if union else 0.0


def shared_count(m: int, overlap: float) -> int:
    """Shared patients ``s`` of two sets of ``m`` whose symmetric-difference fraction is nearest ``overlap``."""
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap {overlap} is outside [0, 1]")
    exact = 2 * m * (1 - overlap) / (2 - overlap)
    candidates = {min(m, max(0, math.floor(exact))), min(m, max(0, math.ceil(exact)))}

    def error(s: int) -> float:
        return abs((2 * (m - s) / (2 * m - s) if m else 0.0) - overlap)

    return min(sorted(candidates), key=error)


def draw_block_sets(
    pool: Sequence[str], overlaps: Sequence[float], *, seed: int, patients: int | None = None
) -> list[BlockSets]:
    """The two blocks' patient sets for every overlap (module docstring), sorted ids.

    ``seed`` fixes the permutation; ``patients`` caps the pool first (None: the whole pool).
    """
    ids = sorted({str(i) for i in pool})
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    if patients is not None:
        order = order[:patients]
    m = len(order) // 2
    if m == 0:
        raise ValueError(
            f"the unpaired study needs at least 2 train patients with both modalities, got {len(order)}"
        )
    out = []
    for overlap in overlaps:
        s = shared_count(m, float(overlap))
        first = sorted(order[:m])
        second = sorted(order[:s] + order[m : 2 * m - s])
        out.append(BlockSets(float(overlap), first, second))
    return out


def paired(ids: Sequence[str], presence: Mapping[str, Mapping[str, bool]]) -> list[str]:
    """The patients of ``ids`` present in every modality of ``presence`` ({mod: {id: present}})."""
    return [i for i in ids if all(p.get(i, False) for p in presence.values())]


def study_sets(
    splits: Sequence[Mapping[str, Sequence[str]]],
    presence: Mapping[str, Mapping[str, bool]],
    *,
    dataset: str,
    overlaps: Sequence[float],
    seed: int,
    patients: int | None = None,
) -> dict[str, Any]:
    """The ``unpaired/sets.json`` payload (docs/contracts.md) for every split of ``splits``.

    ``presence`` must hold exactly the two modalities, in the dataset's order: the first is
    the block whose set stays fixed across overlaps.
    """
    modalities = list(presence)
    if len(modalities) != 2:
        raise ValueError(
            f"dataset {dataset!r} has the modalities {modalities}; the unpaired study needs exactly two"
        )
    tags = colliding_tags(overlaps)
    if tags:
        raise ValueError(f"overlaps {list(overlaps)} repeat a value at 2 decimals ({tags})")
    out_splits = []
    for k, split in enumerate(splits):
        pool = paired(split["train"], presence)
        test = paired(split["test"], presence)
        if not test:
            raise ValueError(
                f"dataset {dataset!r} split {k}: no test patient has both {modalities}; "
                "the unpaired study needs a paired test set"
            )
        try:
            drawn = draw_block_sets(
                pool, overlaps, seed=derive_seed(seed, dataset, k, "unpaired"), patients=patients
            )
        except ValueError as err:
            raise ValueError(f"dataset {dataset!r} split {k}: {err}") from None
        out_splits.append(
            {
                "train": list(split["train"]),
                "val": list(split["val"]),
                "test": test,
                "pool": min(len(pool), patients) if patients is not None else len(pool),
                "set_size": len(drawn[0].first),
                "test_dropped": len(split["test"]) - len(test),
                "blocks": [
                    {
                        "overlap": d.overlap,
                        "tag": overlap_tag(d.overlap),
                        "shared": d.shared,
                        "realized_overlap": d.realized,
                        "sets": dict(zip(modalities, (d.first, d.second), strict=True)),
                    }
                    for d in drawn
                ],
            }
        )
    return {
        "dataset": dataset,
        "seed": seed,
        "modalities": modalities,
        "overlaps": [float(o) for o in overlaps],
        "patients": patients,
        "splits": out_splits,
    }


def read_study_split(path: str | Path, k: int) -> dict[str, Any]:
    """Split ``k`` of an ``unpaired/sets.json``, with the file's modalities."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    splits = doc.get("splits", [])
    if not 0 <= k < len(splits):
        raise KeyError(f"{path}: split {k} does not exist (the file holds {len(splits)} splits)")
    return {**splits[k], "modalities": doc["modalities"]}
