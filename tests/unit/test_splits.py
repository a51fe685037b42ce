"""Patient-level splits, holdout and cv: disjoint, covering, stratified, grouped, seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego.config import ConfigError, check_schema
from mmlego.data.labels import write_labels
from mmlego.data.splits import (
    allocate,
    check_disjoint,
    group_strata,
    make_cv_splits,
    make_splits,
    n_splits,
    read_splits,
    scheme_label,
    set_sizes,
    write_splits,
)
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


# --------------------------------------------------------------------------- holdout golden

GOLDEN = Path(__file__).parent / "golden"


def _grouped_binary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [f"img{i}" for i in range(90)],
            "label": [1 if i % 9 == 0 else 0 for i in range(90)],
            "group": [f"pat{i // 3}" for i in range(90)],
        }
    )


@pytest.mark.parametrize(
    ("name", "labels", "task"),
    [("survival", _survival(), "survival"), ("grouped_binary", _grouped_binary(), "binary")],
)
def test_holdout_writes_the_same_file_as_before_cv_existed(tmp_path, name, labels, task):
    """``golden/splits_holdout_*.json`` were written by the code before ``scheme`` existed.

    Everything but the provenance (time, commit) must be identical, keys and order included.
    """
    write_labels(tmp_path / "labels.parquet", labels, task, provenance=provenance(None))
    cfg = {"repeats": 3, **FRACTIONS}
    write_splits(
        tmp_path / "labels.parquet",
        tmp_path / "splits.json",
        dataset=name,
        cfg=cfg,
        seed=7,
        provenance=provenance(cfg, seed=7, dataset=name),
    )
    doc = json.loads((tmp_path / "splits.json").read_text())
    doc.pop("provenance")
    golden = (GOLDEN / f"splits_holdout_{name}.json").read_text()
    assert json.dumps(doc, indent=1) + "\n" == golden
    # With scheme and folds spelled out (as the schema fills them in), the file is the same.
    write_splits(
        tmp_path / "labels.parquet",
        tmp_path / "explicit.json",
        dataset=name,
        cfg={**cfg, "scheme": "holdout", "folds": 5},
        seed=7,
        provenance=provenance(cfg, seed=7, dataset=name),
    )
    explicit = json.loads((tmp_path / "explicit.json").read_text())
    explicit.pop("provenance")
    assert explicit == doc


# --------------------------------------------------------------------------- cv


def _multiclass(n: int = 70) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "patient_id": [f"m{i:02d}" for i in range(n)],
            "label": rng.choice(3, n, p=[0.6, 0.3, 0.1]),
        }
    )


CV_CASES = [
    ("survival", _survival(n=57)),
    ("binary", _grouped_binary()),
    ("multiclass", _multiclass()),
]


@pytest.mark.parametrize(("task", "labels"), CV_CASES, ids=[c[0] for c in CV_CASES])
@pytest.mark.parametrize("folds", [3, 5])
def test_cv_folds_are_grouped_stratified_and_each_patient_tested_once(task, labels, folds):
    repeats = 2
    splits = make_cv_splits(labels, task, folds=folds, repeats=repeats, seed=0, dataset="d")
    assert len(splits) == n_splits({"scheme": "cv", "folds": folds, "repeats": repeats})
    assert [(s["repeat"], s["fold"]) for s in splits] == [
        (r, f) for r in range(repeats) for f in range(folds)
    ]
    patients = set(labels["patient_id"])
    group_of = labels.set_index("patient_id", drop=False)[
        "group" if "group" in labels else "patient_id"
    ]
    strata = group_strata(labels, task)
    for r in range(repeats):
        repeat = splits[r * folds : (r + 1) * folds]
        tested = [pid for s in repeat for pid in s["test"]]
        validated = [pid for s in repeat for pid in s["val"]]
        assert sorted(tested) == sorted(patients) == sorted(validated)  # once each, per repeat
        for s in repeat:
            check_disjoint(s, "splits.json", s["fold"])
            assert set(s["train"]) | set(s["val"]) | set(s["test"]) == patients
            assert s["val_fold"] == (s["fold"] + 1) % folds
            assert s["val"] == repeat[s["val_fold"]]["test"]  # the inner fold is the next fold
            where: dict[str, str] = {}
            for name in ("train", "val", "test"):
                for pid in s[name]:
                    assert where.setdefault(group_of[pid], name) == name  # no group in two sets
            # Each test fold holds the floor or ceiling of its share of every stratum.
            test_groups = strata.loc[sorted({group_of[p] for p in s["test"]})]
            for value, n_stratum in strata.value_counts().items():
                assert abs((test_groups == value).sum() - n_stratum / folds) < 1
    assert [s["test"] for s in splits[:folds]] != [s["test"] for s in splits[folds:]]


def test_cv_is_deterministic_per_seed():
    labels = _survival()
    draw = lambda seed: make_cv_splits(  # noqa: E731
        labels, "survival", folds=5, repeats=2, seed=seed, dataset="d"
    )
    assert draw(4) == draw(4)
    assert draw(4) != draw(5)


def test_cv_file_names_scheme_folds_and_each_split(tmp_path):
    write_labels(tmp_path / "labels.parquet", _survival(), "survival", provenance=provenance(None))
    # The holdout fractions do not apply under cv (and need not match the folds).
    cfg = {"scheme": "cv", "folds": 4, "repeats": 3, "train": 0.8, "val": 0.1, "test": 0.1}
    write_splits(
        tmp_path / "labels.parquet",
        tmp_path / "splits.json",
        dataset="d",
        cfg=cfg,
        seed=0,
        provenance=provenance(cfg),
    )
    doc = read_splits(tmp_path / "splits.json")
    assert (doc["scheme"], doc["folds"], doc["repeats"]) == ("cv", 4, 3)
    assert doc["fractions"] == {"train": 0.5, "val": 0.25, "test": 0.25}
    assert len(doc["splits"]) == n_splits(cfg) == 12
    split7 = doc["splits"][7]
    assert (split7["repeat"], split7["fold"], split7["val_fold"]) == (1, 3, 0)
    assert [len(s["test"]) for s in doc["splits"][:4]] == [15, 15, 15, 15]


def test_n_splits_and_scheme_label():
    assert n_splits({}) == 5
    assert n_splits({"scheme": "holdout", "repeats": 20, "folds": 10}) == 20
    assert n_splits({"scheme": "cv", "repeats": 4}) == 20
    assert n_splits({"scheme": "cv", "repeats": 2, "folds": 10}) == 20
    assert scheme_label({"scheme": "cv", "repeats": 4, "folds": 5}) == "5-fold cv × 4 repeats"
    assert scheme_label({"repeats": 5}) == "holdout train/val/test 0.7/0.15/0.15 × 5 repeats"
    assert scheme_label({"scheme": "cv", "repeats": 1, "folds": 3}) == "3-fold cv × 1 repeat"
    with pytest.raises(ConfigError, match=r"'splits.scheme': 'kfold'.*holdout, cv"):
        n_splits({"scheme": "kfold"})


def test_bad_cv_settings_are_clear_errors():
    labels = _survival(n=20)  # 4 events, 16 without
    with pytest.raises(ConfigError, match=r"'splits.folds': 2 folds leave no train fold"):
        make_cv_splits(labels, "survival", folds=2, repeats=1, seed=0, dataset="d")
    with pytest.raises(ValueError, match=r"dataset 'd'.*'splits.folds' is 17.*\{0: 16, 1: 4\}"):
        make_cv_splits(labels, "survival", folds=17, repeats=1, seed=0, dataset="d")
    # 16 folds still give every fold a patient: the folds without an event are warned about.
    assert len(make_cv_splits(labels, "survival", folds=16, repeats=1, seed=0, dataset="d")) == 16
    with pytest.raises(ConfigError, match=r"splits\.folds"):
        check_schema({"splits": {"scheme": "cv", "folds": 2}})
