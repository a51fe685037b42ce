"""Per-split transforms: fitted on train only (leakage tests), known values, load_split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego import layout
from mmlego.data.labels import write_labels
from mmlego.data.store import ModalityData, read_modality, write_modality
from mmlego.data.transforms import SplitFiles, fit_transforms, load_split, write_transforms
from mmlego.predictions import read_predictions
from mmlego.train.run import train_run
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.provenance import provenance
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN

IDS = [f"p{i}" for i in range(10)]
SPLIT = {"train": IDS[:6], "val": IDS[6:8], "test": IDS[8:]}
KINDS = {"clin": "vector", "vitals": "series", "slides": "bag"}


def _write(root, *, clin=None, vitals=None, times=None, slides=None, slides_present=None):
    """A dataset folder: labels, one split, a vector, a series and a bag store."""
    prov = provenance(None)
    times = times if times is not None else [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    labels = pd.DataFrame(
        {"patient_id": IDS, "time": times, "event": [1, 1, 1, 1, 0, 1, 1, 0, 1, 1]}
    )
    write_labels(root / "labels.parquet", labels, "survival", provenance=prov)
    write_json_atomic(root / "splits.json", {"splits": [SPLIT]}, provenance=prov)
    if clin is None:
        clin = np.array(
            [
                [1, 10],
                [2, np.nan],
                [3, 10],
                [np.nan, 10],
                [5, 10],
                [6, 10],
                [7, 10],
                [8, 10],
                [9, 10],
                [10, 10],
            ],
            dtype=np.float32,
        )
    cats = np.array([["a"], ["b"], ["a"], [""], ["a"], ["b"], ["c"], ["a"], ["b"], ["a"]])
    present = np.ones(10, dtype=bool)
    present[5] = False  # p5 (train) lacks the table: it must not enter the fit
    write_modality(
        root / "modalities" / "clin.h5",
        ModalityData(
            name="clin",
            kind="vector",
            ids=IDS,
            present=present,
            values=clin,
            feature_names=["x", "const"],
            categorical=cats,
            categorical_names=["site"],
        ),
        provenance=prov,
    )
    if vitals is None:
        vitals = np.arange(10 * 3 * 2, dtype=np.float32).reshape(10, 3, 2)
    mask = np.ones_like(vitals, dtype=bool)
    mask[:, 2, 1] = False
    write_modality(
        root / "modalities" / "vitals.h5",
        ModalityData(
            name="vitals",
            kind="series",
            ids=IDS,
            present=np.ones(10, bool),
            values=vitals,
            mask=mask,
            feature_names=["hr", "rr"],
        ),
        provenance=prov,
    )
    write_modality(
        root / "modalities" / "slides.h5",
        ModalityData(
            name="slides",
            kind="bag",
            ids=IDS,
            present=np.ones(10, bool) if slides_present is None else slides_present,
            values=np.ones((20, 4), np.float32) if slides is None else slides,
            offsets=np.arange(11) * 2,  # two instances per patient
        ),
        provenance=prov,
    )


def _stores(root, names):
    return {name: layout.modality_store(str(root), name) for name in names}


def _fit(root):
    """Split 0's transforms of the folder ``_write`` wrote (its vector and series stores)."""
    stores = _stores(root, [n for n, kind in KINDS.items() if kind != "bag"])
    return fit_transforms(
        layout.labels(str(root)), layout.splits(str(root)), stores, 0,
        modalities=KINDS, survival_bins=4, max_missing=0.5,
    )  # fmt: skip


def _load(root, modalities=None):
    """Split 0 of the folder ``_write`` wrote, with the transforms written to ``root``."""
    files = SplitFiles(
        layout.labels(str(root)), layout.splits(str(root)), layout.transforms(str(root), 0),
        _stores(root, KINDS),
    )  # fmt: skip
    return load_split(files, 0, modalities=modalities)


def test_fitted_values_are_the_train_statistics(tmp_path):
    _write(tmp_path)
    t = _fit(tmp_path)
    clin = t["modalities"]["clin"]
    # Train patients with the table: p0..p4 -> x = 1, 2, 3, nan, 5; "const" is dropped.
    assert clin["features"] == ["x"] and clin["dropped"] == ["const"]
    assert clin["impute"] == [2.5]
    assert clin["mean"] == pytest.approx([2.75])
    assert clin["std"] == pytest.approx([np.std([1, 2, 3, 5])])
    assert clin["categories"] == {"site": ["a", "b"]}  # 'c' appears only in val
    # Train events at 1, 2, 3, 4, 6 -> quartiles 2, 3, 4.
    assert t["bin_cuts"] == [2.0, 3.0, 4.0] and t["n_out"] == 4
    vit = t["modalities"]["vitals"]
    hr_train = np.arange(6 * 3 * 2).reshape(6, 3, 2)[:, :, 0]
    assert vit["mean"][0] == pytest.approx(hr_train.mean())
    assert t["modalities"]["slides"] == {"kind": "bag"}


def test_changing_only_test_rows_moves_no_fitted_value(tmp_path):
    _write(tmp_path / "a")
    base = _fit(tmp_path / "a")
    rng = np.random.default_rng(0)
    clin = rng.normal(size=(10, 2)).astype(np.float32)
    vitals = rng.normal(size=(10, 3, 2)).astype(np.float32)
    original = tmp_path / "a"
    # Same train/val rows as the original, wild test rows (p8, p9) and test survival times.
    _write(tmp_path / "b", times=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 500.0, 0.01])
    _write(
        tmp_path / "c",
        clin=np.vstack([_clin(original)[:8], clin[8:] * 1e6]),
        vitals=np.concatenate(
            [np.arange(8 * 6, dtype=np.float32).reshape(8, 3, 2), vitals[8:] * 1e6]
        ),
    )
    assert _fit(tmp_path / "b") == base
    assert _fit(tmp_path / "c") == base


def _clin(root):
    return read_modality(root / "modalities" / "clin.h5").values


def test_changing_a_train_row_does_move_the_fit(tmp_path):
    _write(tmp_path / "a")
    clin = _clin(tmp_path / "a")
    clin[0, 0] = 100.0
    _write(tmp_path / "b", clin=clin)
    a = _fit(tmp_path / "a")["modalities"]["clin"]["mean"]
    b = _fit(tmp_path / "b")["modalities"]["clin"]["mean"]
    assert a != b


def test_load_split_applies_the_transform(tmp_path):
    _write(tmp_path)
    fitted = _fit(tmp_path)
    write_transforms(
        tmp_path / "transforms" / "split0.json", fitted, dataset="d", provenance=provenance(None)
    )
    data = _load(tmp_path)
    assert data.task == "survival" and data.n_out == 4
    assert data.bins == [0.0, 2.0, 3.0, 4.0, float("inf")]
    assert data.sets == SPLIT
    clin = data.modalities["clin"]
    assert clin.feature_names == ["x", "site=a", "site=b"]
    assert np.isfinite(clin.values).all()
    # p1: x = 2; p3: x missing -> median 2.5; p5 absent -> zeros; p6: unseen 'c' -> no one-hot.
    mean, std = fitted["modalities"]["clin"]["mean"][0], fitted["modalities"]["clin"]["std"][0]
    assert clin.values[1, 0] == pytest.approx((2 - mean) / std)
    assert clin.values[3].tolist() == pytest.approx([(2.5 - mean) / std, 0, 0])
    assert clin.values[5].tolist() == [0, 0, 0]
    assert clin.values[6, 1:].tolist() == [0, 0]
    vitals = data.modalities["vitals"]
    assert np.isfinite(vitals.values).all() and not vitals.mask[:, 2, 1].any()
    assert (vitals.values[:, 2, 1] == 0).all()
    np.testing.assert_array_equal(data.indices("test"), [8, 9])
    only = _load(tmp_path, modalities=["slides"])
    assert list(only.modalities) == ["slides"] and only.modalities["slides"].bag(0).shape == (2, 4)


def test_store_out_of_order_with_labels_is_refused(tmp_path):
    _write(tmp_path)
    prov = provenance(None)
    write_modality(
        tmp_path / "modalities" / "clin.h5",
        ModalityData(
            name="clin",
            kind="vector",
            ids=IDS[::-1],
            present=np.ones(10, bool),
            values=np.zeros((10, 1), np.float32),
            feature_names=["x"],
        ),
        provenance=prov,
    )
    with pytest.raises(ValueError, match=r"not the patient ids of labels\.parquet in order"):
        _fit(tmp_path)
    assert json.loads((tmp_path / "splits.json").read_text())["splits"][0] == SPLIT


def test_bags_are_standardised_with_train_instances_only(tmp_path):
    # Instance features: column 0 = 10 * patient + instance; column 1 constant; column 2 large
    # on test patients only; column 3 a big offset with a small spread.
    values = np.zeros((20, 4), np.float32)
    for p in range(10):
        for i in range(2):
            test_only = 1000.0 if f"p{p}" in SPLIT["test"] else 0.0
            values[2 * p + i] = [10 * p + i, 5.0, test_only, 500.0 + 0.1 * i]
    present = np.ones(10, bool)
    present[1] = False  # a train patient without slides must not enter the fit
    _write(tmp_path, slides=values, slides_present=present)
    fitted = _fit(tmp_path)
    assert fitted["modalities"]["slides"] == {"kind": "bag"}
    write_transforms(
        tmp_path / "transforms" / "split0.json", fitted, dataset="d", provenance=provenance(None)
    )
    slides = _load(tmp_path, modalities=["slides"]).modalities["slides"]
    train = [int(p[1:]) for p in SPLIT["train"] if p != "p1"]
    col0 = np.array([10 * p + i for p in train for i in range(2)], np.float64)
    expected = (values[:, 0] - col0.mean()) / col0.std()
    np.testing.assert_allclose(slides.values[:, 0], expected, rtol=1e-5)
    # Constant on train -> 0 everywhere; test-only values do not move the fit.
    assert (slides.values[:, 1] == 0).all()
    assert (slides.values[:, 2][~np.isin(np.arange(20) // 2, train)] != 0).any()
    rows = np.concatenate([[2 * p, 2 * p + 1] for p in train])
    assert slides.values[rows, 2].tolist() == [0.0] * len(rows)
    # A large offset with a small spread becomes unit scale: +-1 around 0.
    np.testing.assert_allclose(np.abs(slides.values[rows, 3]), 1.0, rtol=1e-2)
    assert slides.values.dtype == np.float32


@pytest.mark.parametrize(
    ("times", "cuts"),
    [
        # Train events (p0-p3, p5) all at 2: the three quartiles are one cut, two bins.
        ([2.0, 2.0, 2.0, 2.0, 5.0, 2.0, 7.0, 8.0, 9.0, 10.0], [2.0]),
        # Events at 1, 1, 3, 3, 3: quartiles 1, 3, 3; three bins.
        ([1.0, 1.0, 3.0, 3.0, 5.0, 3.0, 7.0, 8.0, 9.0, 10.0], [1.0, 3.0]),
    ],
)
def test_tied_event_times_give_fewer_bins_that_the_predictions_reader_accepts(
    tmp_path, times, cuts
):
    _write(tmp_path, times=times)
    fitted = _fit(tmp_path)
    assert fitted["bin_cuts"] == cuts and fitted["n_out"] == len(cuts) + 1
    write_transforms(
        tmp_path / "transforms" / "split0.json", fitted, dataset="d", provenance=provenance(None)
    )
    data = _load(tmp_path, modalities=["clin"])
    assert data.bins == [0.0, *cuts, float("inf")] and data.n_out == len(cuts) + 1
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 1}}
    out = tmp_path / "lego_block.clin" / "split0"
    train_run(
        data, run="lego_block.clin", dataset="d", split=0, cfg=cfg, out_dir=out, provenance={}
    )
    preds = read_predictions(out / "predictions.parquet")
    assert preds.bins == data.bins and len(preds.columns("surv")) == len(cuts) + 1


def test_one_transforms_job_writes_several_splits_as_single_jobs_do(tmp_path):
    from mmlego.cli import main

    _write(tmp_path)
    other = {"train": IDS[4:], "val": IDS[2:4], "test": IDS[:2]}
    write_json_atomic(tmp_path / "splits.json", {"splits": [SPLIT, other]}, provenance=None)
    out = tmp_path / "transforms"
    root = str(tmp_path)
    argv = ["transforms", "--dataset", "d", "--labels", layout.labels(root)]
    argv += ["--splits", layout.splits(root)]
    argv += [f"--store={m}={p}" for m, p in _stores(tmp_path, ["clin", "vitals"]).items()]
    cfg = {"splits": {"max_missing": 0.5}, "modalities": KINDS, "survival_bins": 4}
    argv += ["--cfg", json.dumps(cfg)]
    assert main([*argv, "--split", "1", "--out", str(out / "alone1.json")]) == 0
    both = [str(out / "split0.json"), str(out / "split1.json")]
    assert main([*argv, "--split", "0", "1", "--out", *both]) == 0

    def fitted(name):
        doc = json.loads((out / name).read_text())
        assert doc.pop("provenance")["split"] == doc["split"]
        return doc

    assert fitted("split1.json") == fitted("alone1.json")
    assert fitted("split0.json") == {
        "dataset": "d",
        **_fit(tmp_path),
    }
    assert fitted("split0.json") != fitted("split1.json")
    # One output path per split, or nothing is written.
    assert main([*argv, "--split", "0", "1", "--out", str(out / "lone.json")]) == 1
    assert not (out / "lone.json").exists()


def test_modality_files_joined_are_the_transforms_fitted_together(tmp_path):
    """Each modality fitted alone (the per-modality transforms job) and the files joined give
    exactly what one fit of every modality gave, key for key and number for number, so a
    study's multimodal runs load the same transform as before the split into modality files,
    and a unimodal run's file holds its modality's alone."""
    from mmlego.cli import main

    _write(tmp_path)
    root = str(tmp_path)
    stores = _stores(tmp_path, ["clin", "vitals"])
    parts = []
    for name, kind in KINDS.items():
        part = layout.modality_transforms(root, 0, name)
        argv = ["transforms", "--dataset", "d", "--labels", layout.labels(root)]
        argv += ["--splits", layout.splits(root), "--split", "0", "--out", part]
        argv += [f"--store={name}={stores[name]}"] if kind != "bag" else []
        cfg = {"splits": {"max_missing": 0.5}, "modalities": {name: kind}, "survival_bins": 4}
        assert main([*argv, "--cfg", json.dumps(cfg)]) == 0
        alone = json.loads(Path(part).read_text())
        assert list(alone["modalities"]) == [name]
        parts.append(part)
    joined = layout.transforms(root, 0)
    argv = ["join-transforms", "--dataset", "d", "--out", joined]
    assert main([*argv, *[f"--part={p}" for p in parts]]) == 0
    doc = json.loads(Path(joined).read_text())
    assert doc.pop("provenance")["split"] == 0
    assert doc == {"dataset": "d", **_fit(tmp_path)}
    assert _load(tmp_path).modalities["clin"].values.tolist() == (
        load_split(
            SplitFiles(layout.labels(root), layout.splits(root), parts[0], stores), 0, ["clin"]
        )
        .modalities["clin"]
        .values.tolist()
    )


def test_joining_modality_files_of_different_splits_is_refused(tmp_path):
    from mmlego.data.transforms import join_transforms

    _write(tmp_path)
    fitted = _fit(tmp_path)
    first, second = tmp_path / "clin.json", tmp_path / "vitals.json"
    write_json_atomic(first, {**fitted, "modalities": {"clin": fitted["modalities"]["clin"]}})
    other = {**fitted, "bin_cuts": [1.0], "n_out": 2, "modalities": {"vitals": {}}}
    write_json_atomic(second, other)
    with pytest.raises(
        ValueError, match=r"vitals\.json and .*clin\.json disagree on n_out, bin_cuts"
    ):
        join_transforms([first, second])
    with pytest.raises(ValueError, match="'clin' is in another file"):
        join_transforms([first, first])
