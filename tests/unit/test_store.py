"""The modality store round-trips every kind and keeps patients aligned."""

from __future__ import annotations

import numpy as np
import pytest

from mmlego.data.store import ModalityData, read_modality, read_provenance, write_modality
from mmlego.utils.provenance import has_provenance, provenance


def _bag() -> ModalityData:
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    return ModalityData(
        name="slides",
        kind="bag",
        type="wsi",
        ids=["p1", "p2", "p3"],
        present=[True, False, True],
        values=values,
        offsets=np.array([0, 4, 4, 6]),
        coords=np.arange(12).reshape(6, 2),
    )


def test_bag_round_trip_and_subset(tmp_path):
    path = tmp_path / "slides.h5"
    write_modality(path, _bag(), provenance=provenance({"k": 1}, seed=0))
    back = read_modality(path)
    assert back.kind == "bag" and back.ids.tolist() == ["p1", "p2", "p3"]
    assert back.bag(1).shape == (0, 2)
    np.testing.assert_array_equal(back.bag(2), [[8, 9], [10, 11]])
    sub = back.subset(["p3", "p1"])
    np.testing.assert_array_equal(sub.offsets, [0, 2, 6])
    np.testing.assert_array_equal(sub.bag(0), back.bag(2))
    np.testing.assert_array_equal(sub.coords[:2], back.coords[4:6])
    assert has_provenance(read_provenance(path))


def test_series_and_vector_round_trip(tmp_path):
    values = np.full((2, 3, 2), np.nan, dtype=np.float32)
    values[0, 0] = [1.0, 2.0]
    series = ModalityData(
        name="vitals",
        kind="series",
        ids=["a", "b"],
        present=[True, True],
        values=values,
        mask=~np.isnan(values),
        feature_names=["hr", "sbp"],
    )
    write_modality(tmp_path / "s.h5", series, provenance=provenance(None))
    back = read_modality(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.mask, series.mask)
    assert back.feature_names == ["hr", "sbp"]
    vector = ModalityData(
        name="static",
        kind="vector",
        ids=["a", "b"],
        present=[True, True],
        values=np.ones((2, 1)),
        feature_names=["age"],
        categorical=np.array([["M"], ["F"]]),
        categorical_names=["sex"],
    )
    write_modality(tmp_path / "v.h5", vector, provenance=provenance(None))
    back = read_modality(tmp_path / "v.h5")
    assert back.categorical.tolist() == [["M"], ["F"]] and back.categorical_names == ["sex"]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="duplicate patient ids"):
        ModalityData(
            name="m", kind="vector", ids=["a", "a"], present=[1, 1], values=np.zeros((2, 1))
        )
    with pytest.raises(KeyError, match="no entry for patient ids"):
        _bag().subset(["nobody"])


def test_truncated_store_file_is_reported(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"broken\.h5"):
        read_modality(path)
