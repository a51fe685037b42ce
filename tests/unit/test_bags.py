"""Feature files (ours and CLAM/TRIDENT's) and patient bags in the modality store."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from mmlego.data.manifests import read_manifest
from mmlego.data.store import read_modality, write_modality
from mmlego.preprocess.bags import build_bags, feature_finder, sample_rows
from mmlego.preprocess.features_io import read_features, write_features
from mmlego.utils.provenance import provenance


def clam_file(path, features: np.ndarray, coords: np.ndarray | None = None, batch_axis=False):
    """An h5 as CLAM writes it: bare datasets, no attributes of ours."""
    with h5py.File(path, "w") as h5:
        h5.create_dataset("features", data=features[None] if batch_axis else features)
        if coords is not None:
            h5.create_dataset("coords", data=coords)


def ours(path, n: int, dim: int = 4, start: float = 0.0, status: str = "ok"):
    feats = start + np.arange(n * dim, dtype=np.float32).reshape(n, dim)
    coords = np.arange(n * 2).reshape(n, 2) * 256
    attrs = {"encoder": "resnet18", "random_init": True, "status": status, "mpp_source": "metadata"}
    write_features(path, feats, coords, attrs=attrs, provenance=provenance(None))
    return feats


def test_read_features_accepts_clam_and_trident_layouts(tmp_path):
    feats = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    clam_file(tmp_path / "a.h5", feats, np.arange(10).reshape(5, 2), batch_axis=True)
    got = read_features(tmp_path / "a.h5")
    np.testing.assert_array_equal(got.features, feats)
    assert got.status == "ok" and got.coords.tolist()[1] == [2, 3]
    clam_file(tmp_path / "b.h5", feats)
    assert (read_features(tmp_path / "b.h5").coords == -1).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text", "not a readable feature h5"),
        ("nofeatures", "no 'features' dataset"),
        ("mismatch", "4 coords for 5 feature rows"),
        ("nan", "NaN or infinite"),
    ],
)
def test_bad_feature_files_are_named(tmp_path, content, message):
    path = tmp_path / f"{content}.h5"
    feats = np.ones((5, 3), np.float32)
    if content == "text":
        path.write_text("hello")
    elif content == "nofeatures":
        with h5py.File(path, "w") as h5:
            h5.create_dataset("coords", data=np.zeros((5, 2)))
    elif content == "mismatch":
        clam_file(path, feats, np.zeros((4, 2)))
    else:
        feats[2, 1] = np.nan
        clam_file(path, feats)
    with pytest.raises(ValueError, match=rf"{content}\.h5.*{message}"):
        read_features(path)


def _manifest(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=["patient_id", "item_id", "path"])
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    return read_manifest(tmp_path / "manifest.csv")


def test_bags_follow_label_order_and_mark_absent_patients(tmp_path):
    a1 = ours(tmp_path / "a1.h5", 3)
    a2 = ours(tmp_path / "a2.h5", 2, start=100)
    c1 = ours(tmp_path / "c1.h5", 0, status="skipped: no tissue")
    d1 = np.full((4, 4), 7.0, np.float32)
    clam_file(tmp_path / "d1.h5", d1, np.zeros((4, 2)))  # dropped in by hand, CLAM style
    manifest = _manifest(
        tmp_path,
        [("A", "a1", "x"), ("D", "d1", "x"), ("A", "a2", "x"), ("C", "c1", "x"), ("Z", "z1", "x")],
    )
    build = build_bags(
        ["D", "B", "A", "C"],
        manifest,
        lambda item: tmp_path / f"{item}.h5",
        name="slides",
        type="wsi",
        cap=None,
        seed=0,
        dataset="tcga",
    )
    data = build.data
    assert data.ids.tolist() == ["D", "B", "A", "C"]
    assert data.present.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(data.offsets, [0, 4, 4, 9, 9])
    np.testing.assert_array_equal(data.bag(0), d1)
    np.testing.assert_array_equal(data.bag(2), np.concatenate([a1, a2]))
    assert c1.shape == (0, 4) and data.attrs["items_without_instances"] == 1
    assert data.attrs["random_init"] and "external" in data.attrs["encoders"]
    assert build.qc.set_index("item_id").loc["c1", "status"] == "skipped: no tissue"
    write_modality(tmp_path / "store.h5", data, provenance=provenance(None))
    back = read_modality(tmp_path / "store.h5")
    np.testing.assert_array_equal(back.bag(2), data.bag(2))
    assert back.attrs["feature_dim"] == 4


def test_cap_is_reproducible_ordered_and_per_patient(tmp_path):
    ours(tmp_path / "a.h5", 50)
    ours(tmp_path / "b.h5", 50)
    manifest = _manifest(tmp_path, [("A", "a", "x"), ("B", "b", "x")])

    def build(seed):
        return build_bags(
            ["A", "B"],
            manifest,
            lambda i: tmp_path / f"{i}.h5",
            name="slides",
            type="wsi",
            cap=10,
            seed=seed,
            dataset="tcga",
        ).data

    first, second, other = build(0), build(0), build(1)
    assert np.array_equal(first.values, second.values)
    assert not np.array_equal(first.values, other.values)
    np.testing.assert_array_equal(first.offsets, [0, 10, 20])
    rows_a = first.bag(0)[:, 0] / 4  # row index within a.h5 (feature 0 is 4 * row)
    assert np.all(np.diff(rows_a) > 0)  # kept in their original order
    # Each patient has its own sub-seed: the same 50 rows are sampled differently.
    assert not np.array_equal(first.bag(0), first.bag(1))
    assert first.attrs["capped_patients"] == 2
    np.testing.assert_array_equal(sample_rows(5, 10, 0), np.arange(5))


def test_mixed_feature_dimensions_fail_naming_the_file(tmp_path):
    ours(tmp_path / "a.h5", 3, dim=4)
    clam_file(tmp_path / "b.h5", np.zeros((2, 1024), np.float32))
    manifest = _manifest(tmp_path, [("A", "a", "x"), ("B", "b", "x")])
    with pytest.raises(ValueError, match=r"b\.h5: features have dimension 1024 but .*a\.h5 has 4"):
        build_bags(
            ["A", "B"],
            manifest,
            lambda i: tmp_path / f"{i}.h5",
            name="slides",
            type="wsi",
            cap=None,
            seed=0,
            dataset="tcga",
        )


def test_manifest_errors_name_the_file(tmp_path):
    pd.DataFrame({"patient_id": ["A"], "path": ["x"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ValueError, match=r"m\.csv: missing column\(s\) \['item_id'\]"):
        read_manifest(tmp_path / "m.csv")
    pd.DataFrame({"patient_id": ["A", "B"], "item_id": ["s", "s"], "path": ["x", "y"]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(ValueError, match=r"d\.csv: item_id values must be unique"):
        read_manifest(tmp_path / "d.csv")


def test_feature_finder_takes_files_and_folders(tmp_path):
    (tmp_path / "shard0").mkdir()
    ours(tmp_path / "shard0" / "a.h5", 1)
    ours(tmp_path / "b.h5", 1)
    find = feature_finder([tmp_path / "shard0", tmp_path / "b.h5"])
    assert find("a") == tmp_path / "shard0" / "a.h5" and find("b") == tmp_path / "b.h5"
    with pytest.raises(FileNotFoundError, match=r"no feature file c\.h5 among"):
        find("c")
