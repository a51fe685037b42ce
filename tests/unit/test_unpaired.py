"""The unpaired-data study (Fig. 6): the patient-set design, its sets file, and its table."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mmlego.config import ConfigError, check_config, load_yaml
from mmlego.data.unpaired import (
    draw_block_sets,
    shared_count,
    study_sets,
    symmetric_difference_fraction,
)
from mmlego.evaluate.unpaired import summary, unpaired_table
from mmlego.layout import overlap_tag
from mmlego.utils.seeding import derive_seed

OVERLAPS = [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]


def test_symmetric_difference_fraction_by_hand():
    # A Δ B = {a, d}, A ∪ B = {a, b, c, d}.
    assert symmetric_difference_fraction(["a", "b", "c"], ["b", "c", "d"]) == 0.5
    assert symmetric_difference_fraction(["a"], ["a"]) == 0.0
    assert symmetric_difference_fraction(["a"], ["b"]) == 1.0
    assert symmetric_difference_fraction([], []) == 0.0


def test_shared_count_by_hand():
    # m = 10, o = 0.5: exact s = 2*10*0.5/1.5 = 6.67; s = 7 gives 6/13 = 0.46, s = 6 gives
    # 8/14 = 0.57, so 7 is nearer.
    assert shared_count(10, 0.5) == 7
    assert shared_count(10, 0.0) == 10 and shared_count(10, 1.0) == 0
    # o = 2/3 has the exact s = 5: 2*5/(20-5) = 2/3.
    assert shared_count(10, 2 / 3) == 5
    with pytest.raises(ValueError, match="outside"):
        shared_count(10, 1.5)


@pytest.mark.parametrize("n", [2, 3, 41, 200])
def test_draw_keeps_sizes_and_hits_the_overlap(n):
    pool = [f"p{i:03d}" for i in range(n)]
    drawn = draw_block_sets(pool, OVERLAPS, seed=7)
    m = n // 2
    first = drawn[0].first
    for d in drawn:
        assert len(d.first) == len(d.second) == m
        assert len(set(d.second)) == m  # no patient twice
        assert set(d.first) <= set(pool) and set(d.second) <= set(pool)
        # The realised fraction is the nearest a set size of m allows: within 1/m.
        assert abs(d.realized - d.overlap) <= 1 / m + 1e-12
        assert d.realized == symmetric_difference_fraction(d.first, d.second)
        # Nested design: the first block's patients never change.
        assert d.first == first
    assert drawn[0].second == drawn[0].first  # o = 0: the same patients
    assert not set(drawn[-1].first) & set(drawn[-1].second)  # o = 1: disjoint halves


def test_draw_is_deterministic_and_seeded():
    pool = [f"p{i}" for i in range(60)]
    a = draw_block_sets(pool, [0.5], seed=1)
    assert a == draw_block_sets(list(reversed(pool)), [0.5], seed=1)  # input order is irrelevant
    assert a != draw_block_sets(pool, [0.5], seed=2)


def test_draw_cap_and_too_small_pool():
    pool = [f"p{i}" for i in range(100)]
    capped = draw_block_sets(pool, [0.0, 1.0], seed=0, patients=20)
    assert len(capped[0].first) == 10
    assert len(set(capped[1].first) | set(capped[1].second)) == 20
    with pytest.raises(ValueError, match="at least 2"):
        draw_block_sets(["only"], [0.0], seed=0)


def _splits(n=40):
    ids = [f"s{i:02d}" for i in range(n)]
    return [
        {"train": ids[:24], "val": ids[24:32], "test": ids[32:]},
        {"train": ids[16:], "val": ids[:8], "test": ids[8:16]},
    ]


def test_study_sets_draw_from_paired_train_patients_only():
    splits = _splits()
    ids = [f"s{i:02d}" for i in range(40)]
    # s00-s03 lack vitals, s30-s35 lack static (train, val and test patients of both splits).
    presence = {
        "static": {i: not 30 <= int(i[1:]) <= 35 for i in ids},
        "vitals": {i: int(i[1:]) >= 4 for i in ids},
    }
    doc = study_sets(splits, presence, dataset="icd9", overlaps=[0.0, 0.5, 1.0], seed=3)
    assert doc["modalities"] == ["static", "vitals"]
    for k, (split, plan) in enumerate(zip(splits, doc["splits"], strict=True)):
        train = set(split["train"])
        paired_train = {i for i in train if presence["static"][i] and presence["vitals"][i]}
        assert plan["pool"] == len(paired_train)
        assert plan["set_size"] == len(paired_train) // 2
        assert plan["test"] == [
            i for i in split["test"] if presence["static"][i] and presence["vitals"][i]
        ]
        assert plan["test_dropped"] == len(split["test"]) - len(plan["test"])
        for entry in plan["blocks"]:
            for ids_ in entry["sets"].values():
                assert set(ids_) <= paired_train  # never val or test, never unpaired
                assert len(ids_) == plan["set_size"]
            assert entry["tag"] == overlap_tag(entry["overlap"])
        expected = draw_block_sets(
            sorted(paired_train), [0.0, 0.5, 1.0], seed=derive_seed(3, "icd9", k, "unpaired")
        )
        assert [e["sets"]["vitals"] for e in plan["blocks"]] == [d.second for d in expected]
    assert json.loads(json.dumps(doc)) == doc  # plain JSON


def test_study_sets_errors_name_the_problem():
    splits = _splits()
    ids = [f"s{i:02d}" for i in range(40)]
    both = {"static": dict.fromkeys(ids, True), "vitals": dict.fromkeys(ids, True)}
    with pytest.raises(ValueError, match="exactly two"):
        study_sets(splits, {"static": both["static"]}, dataset="x", overlaps=[0.0], seed=0)
    with pytest.raises(ValueError, match="repeat a value"):
        study_sets(splits, both, dataset="x", overlaps=[0.5, 0.501], seed=0)
    no_test = {**both, "vitals": {i: i not in splits[1]["test"] for i in ids}}
    with pytest.raises(ValueError, match="split 1: no test patient has both"):
        study_sets(splits, no_test, dataset="x", overlaps=[0.0], seed=0)


@pytest.fixture
def demo(repo):
    return load_yaml(repo / "config" / "config.yaml")


def test_config_needs_a_two_modality_dataset_and_distinct_overlaps(demo):
    config = copy.deepcopy(demo)
    config["evaluate"]["unpaired"]["dataset"] = "tcga"  # slides + 3 omics groups (separate)
    with pytest.raises(ConfigError, match="'tcga' has 4 modalities"):
        check_config(config)
    config = copy.deepcopy(demo)
    config["evaluate"]["unpaired"]["overlaps"] = [0.0, 0.001]
    with pytest.raises(ConfigError, match="repeats a value at 2 decimals"):
        check_config(config)


def _metrics(path, run, split, overlap, auc):
    doc = {
        "dataset": "icd9",
        "run": run,
        "split": split,
        "task": "binary",
        "val": {"auc": 0.5, "average_precision": 0.4},
        "test": {"auc": auc, "average_precision": None},
        "provenance": {
            "predictions_provenance": {
                "unpaired": {
                    "overlap": overlap,
                    "realized_overlap": overlap,
                    "set_size": 10,
                    "shared": round(20 * (1 - overlap) / (2 - overlap)),
                }
            }
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_table_and_summary_from_metrics_files(tmp_path):
    aucs = {("lego_merge", 0.0): [0.7, 0.8, 0.9], ("ensemble", 1.0): [0.6, 0.6, 0.9]}
    files = [
        _metrics(tmp_path / run / str(o) / f"{k}.json", run, k, o, auc)
        for (run, o), values in aucs.items()
        for k, auc in enumerate(values)
    ]
    table = unpaired_table(files)
    assert len(table) == 6 * 4  # 6 files x (2 sets x 2 metrics)
    assert table["value"].isna().sum() == 6  # test average precision: undefined
    assert set(table["model"]) == {"LegoMerge", "Ensemble"}
    stats = summary(table).set_index(["run", "overlap"])
    assert stats.loc[("lego_merge", 0.0), "mean"] == pytest.approx(0.8)
    assert stats.loc[("lego_merge", 0.0), "std"] == pytest.approx(0.1)  # ddof = 1
    assert stats.loc[("ensemble", 1.0), "std"] == pytest.approx(np.std([0.6, 0.6, 0.9], ddof=1))
    with pytest.raises(ValueError, match="same result"):
        unpaired_table([*files, files[0]])


def test_table_rejects_metrics_of_other_runs(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"dataset": "icd9", "run": "lego_merge", "split": 0, "task": "binary",
                                "val": {}, "test": {}, "provenance": {}}))  # fmt: skip
    with pytest.raises(ValueError, match="no 'unpaired' provenance"):
        unpaired_table([path])


def _job(tmp_path, monkeypatch):
    """The study job on a tiny hand-made split, recording every block fit."""
    import mmlego.studies.unpaired as job
    from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split

    data = make_split("binary", n=60, kinds=("vector", "series"), absent={"ts": [50]})
    presence = {
        m: dict(zip(d.ids, d.present.tolist(), strict=True)) for m, d in data.modalities.items()
    }
    doc = study_sets([data.sets], presence, dataset="toy", overlaps=[0.0, 0.5, 1.0], seed=0)
    plan = {**doc["splits"][0], "modalities": doc["modalities"]}
    fits = []

    def recording_fit(train_data, **kwargs):
        fits.append((kwargs["run"], list(train_data.sets["train"]), kwargs["seed"]))
        return real_fit(train_data, **kwargs)

    real_fit = job.fit_run
    monkeypatch.setattr(job, "fit_run", recording_fit)
    cfg = {"train": {**TINY_TRAIN, "epochs": 2}, "lego": TINY_LEGO, "merge": {}}
    kwargs = dict(dataset="toy", split=0, cfg=cfg, out_root=tmp_path, labels=data.labels,
                  inputs=[tmp_path / "sets.json"], base_provenance={"seed": 0}, seed=0)  # fmt: skip
    return job, data, plan, fits, kwargs


def test_study_job_trains_each_block_on_its_set_and_scores_the_paired_test(tmp_path, monkeypatch):
    job, data, plan, fits, kwargs = _job(tmp_path, monkeypatch)
    written = job.run_unpaired_split(data, plan, **kwargs)
    assert len(written) == 3 * 4  # overlaps x (2 blocks, merge, ensemble)
    # The first modality's set is the same at every overlap: one fit; the second: one per overlap.
    assert [run for run, _, _ in fits] == [
        "lego_block.tab",
        "lego_block.ts",
        "lego_block.ts",
        "lego_block.ts",
    ]
    assert fits[0][1] == plan["blocks"][0]["sets"]["tab"]
    assert [f[1] for f in fits[1:]] == [e["sets"]["ts"] for e in plan["blocks"]]
    assert len({seed for run, _, seed in fits if run == "lego_block.ts"}) == 1
    doc = json.loads(
        (tmp_path / "overlap0.50" / "lego_merge" / "split0" / "metrics.json").read_text()
    )
    assert doc["n"] == {"val": len(data.sets["val"]), "test": len(plan["test"])}
    assert plan["test_dropped"] == 1  # patient 50 (test) has no series
    assert (
        doc["provenance"]["predictions_provenance"]["unpaired"]["shared"]
        == plan["blocks"][1]["shared"]
    )


def test_study_job_refuses_a_stale_sets_file(tmp_path, monkeypatch):
    job, data, plan, _, kwargs = _job(tmp_path, monkeypatch)
    stale = {**plan, "val": plan["val"][1:]}
    with pytest.raises(ValueError, match=r"val set differs from splits\.json"):
        job.run_unpaired_split(data, stale, **kwargs)
    stale = {**plan, "test": [*plan["test"], data.sets["train"][0]]}
    with pytest.raises(ValueError, match="not in the split's test set"):
        job.run_unpaired_split(data, stale, **kwargs)
    assert not any(tmp_path.iterdir())
