"""Patient-level splits: disjoint, covering, stratified, grouped, seeded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmlego.data.labels import write_labels
from mmlego.data.splits import allocate, make_splits, read_splits, set_sizes, write_splits
from mmlego.utils.provenance import has_provenance, provenance

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def _survival(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "patient_id": [f"p{i:03d}" for i in range(n)],
            "time": rng.uniform(1, 100, n),
            "event": (rng.random(n) < 0.35).astype(int),
        }
    )


def test_set_sizes_are_largest_remainder_with_one_group_per_set():
    assert set_sizes(20, [0.7, 0.15, 0.15]).tolist() == [14, 3, 3]
    assert set_sizes(10, [0.7, 0.15, 0.15]).tolist() == [7, 2, 1]
    assert set_sizes(3, [0.6, 0.2, 0.2]).tolist() == [1, 1, 1]  # not [2, 1, 0]


@pytest.mark.parametrize("seed", range(5))
def test_allocate_matches_strata_and_set_sizes(seed):
    rng = np.random.default_rng(seed)
    counts = allocate([13, 7], [0.7, 0.15, 0.15], rng)
    assert counts.sum(axis=1).tolist() == [13, 7]
    assert counts.sum(axis=0).tolist() == [14, 3, 3]
    assert counts[0].tolist() in ([9, 2, 2], [10, 2, 1], [10, 1, 2])  # 13 x 0.7 = 9.1
    # Three singleton classes (tiny MIMIC-like cohorts) still fill every set.
    assert allocate([1, 1, 1], [0.6, 0.2, 0.2], rng).sum(axis=0).tolist() == [1, 1, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sets_are_disjoint_cover_everyone_and_keep_the_event_rate(seed):
    labels = _survival()
    splits = make_splits(labels, "survival", repeats=5, fractions=FRACTIONS, seed=seed, dataset="d")
    events = labels.set_index("patient_id")["event"]
    for split in splits:
        sets = [set(split[name]) for name in ("train", "val", "test")]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert set.union(*sets) == set(labels["patient_id"])
        assert abs(len(split["train"]) - 42) <= 2
        for name in ("val", "test"):  # stratified: each set within one event of its share
            share = events.sum() * len(split[name]) / len(labels)
            assert abs(events.loc[split[name]].sum() - share) <= 1.5
    assert len({tuple(s["test"]) for s in splits}) == 5  # the repeats differ


def test_groups_never_straddle_two_sets():
    labels = pd.DataFrame(
        {
            "patient_id": [f"img{i}" for i in range(90)],
            "label": [1 if i % 9 == 0 else 0 for i in range(90)],
            "group": [f"pat{i // 3}" for i in range(90)],  # 3 images per patient
        }
    )
    for split in make_splits(labels, "binary", repeats=5, fractions=FRACTIONS, seed=0, dataset="d"):
        group_of = labels.set_index("patient_id")["group"]
        where = {}
        for name in ("train", "val", "test"):
            for pid in split[name]:
                assert where.setdefault(group_of[pid], name) == name


def test_same_seed_same_splits_other_seed_differs(tmp_path):
    labels = _survival()
    write_labels(tmp_path / "labels.parquet", labels, "survival", provenance=provenance(None))
    cfg = {"repeats": 3, **FRACTIONS}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_splits(
            tmp_path / "labels.parquet",
            tmp_path / f"{name}.json",
            dataset="d",
            cfg=cfg,
            seed=seed,
            provenance=provenance(cfg, seed=seed),
        )
    a, b, c = (read_splits(tmp_path / f"{n}.json") for n in "abc")
    assert a["splits"] == b["splits"] and a["splits"] != c["splits"]
    assert a["stratify"] == "event" and a["repeats"] == 3 and has_provenance(a["provenance"])


def test_a_patient_in_two_sets_is_caught(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"splits": [{"train": ["a", "b"], "val": ["b"], "test": ["c"]}]}))
    with pytest.raises(ValueError, match="patient b is in both train and val of split 0"):
        read_splits(path)


def test_too_few_patients_is_a_clear_error():
    labels = _survival(n=2)
    with pytest.raises(ValueError, match="too few"):
        make_splits(labels, "survival", repeats=1, fractions=FRACTIONS, seed=0, dataset="tiny")
