"""The classical models' design: series summaries and bag means by hand, fitted on train only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.store import ModalityData
from mmlego.data.transforms import SplitData
from mmlego.models.classical.features import SUMMARIES, bag_means, build_design, series_summaries

NAN = np.nan


def test_series_summaries_use_only_the_observed_steps():
    # Patient 0: variable a observed at steps 0, 2, 4 (values 1, 4, 9), b only at step 3 (5).
    # Patient 1: a never observed, b at steps 1 and 2 (values 3, 1). The unobserved cells
    # hold 100, which must never enter a summary.
    values = np.full((2, 5, 2), 100.0)
    mask = np.zeros((2, 5, 2), dtype=bool)
    for step, value in [(0, 1.0), (2, 4.0), (4, 9.0)]:
        values[0, step, 0], mask[0, step, 0] = value, True
    values[0, 3, 1], mask[0, 3, 1] = 5.0, True
    for step, value in [(1, 3.0), (2, 1.0)]:
        values[1, step, 1], mask[1, step, 1] = value, True
    got = series_summaries(values, mask)
    assert got.shape == (2, 2, len(SUMMARIES))
    # slope of (0, 1), (2, 4), (4, 9): sxy = (-2)(1 - 14/3) + 2(9 - 14/3) = 16, sxx = 8
    expected = {
        (0, 0): [9.0, 14 / 3, 1.0, 9.0, 2.0, 3.0],
        (0, 1): [5.0, 5.0, 5.0, 5.0, NAN, 1.0],  # one step: no slope
        (1, 0): [NAN, NAN, NAN, NAN, NAN, 0.0],  # never observed: only the count
        (1, 1): [1.0, 2.0, 1.0, 3.0, -2.0, 2.0],
    }
    for (patient, variable), want in expected.items():
        np.testing.assert_allclose(got[patient, variable], want, equal_nan=True)


def test_bag_means_are_the_mean_instance_and_nan_for_an_empty_bag():
    values = np.array([[1, 2], [3, 6], [10, 10]], dtype=np.float32)
    bag = ModalityData(
        "img", "bag", ["a", "b", "c"], [True, False, True], values, offsets=[0, 2, 2, 3]
    )
    np.testing.assert_allclose(bag_means(bag), [[2, 4], [NAN, NAN], [10, 10]], equal_nan=True)


def _split(tab: np.ndarray, present: np.ndarray) -> SplitData:
    """Six patients, one vector modality: train p0-p3, val p4, test p5."""
    ids = [f"p{i}" for i in range(6)]
    labels = pd.DataFrame({"patient_id": ids, "label": [0, 1, 0, 1, 0, 1]})
    sets = {"train": ids[:4], "val": ids[4:5], "test": ids[5:]}
    modality = ModalityData("tab", "vector", ids, present, tab, ["x", "same"])
    return SplitData("binary", 2, None, ["n", "y"], labels, sets, {"tab": modality})


def test_design_imputes_and_scales_with_train_statistics_and_flags_a_missing_modality():
    tab = np.array([[1, 7], [3, 7], [0, 0], [5, 7], [9, 7], [0, 0]], dtype=np.float32)
    present = np.array([True, True, False, True, True, False])  # p2 (train), p5 (test) lack it
    design = build_design(_split(tab, present))
    # 'same' is constant on train: dropped. The indicator varies on train (p2): kept.
    assert design.names == ["tab:x", "tab:missing"]
    # train values of x: 1, 3, 5 (p2 is missing) -> mean 3, std sqrt(8/3)
    np.testing.assert_allclose(design.mean, [3.0, 0.25])
    np.testing.assert_allclose(design.std, [np.sqrt(8 / 3), np.sqrt(0.25 * 0.75)])
    scale = np.sqrt(8 / 3)
    indicator = (np.array([0.0, 1.0]) - 0.25) / np.sqrt(0.1875)
    np.testing.assert_allclose(
        design.x["train"][:, 0], [(1 - 3) / scale, 0.0, 0.0, (5 - 3) / scale], atol=1e-12
    )
    # the test patient without the modality: x at the train mean, the indicator set
    np.testing.assert_allclose(design.x["test"], [[0.0, indicator[1]]], atol=1e-12)
    np.testing.assert_allclose(design.x["val"], [[(9 - 3) / scale, indicator[0]]], atol=1e-12)


def test_design_does_not_move_when_only_val_or_test_values_change():
    tab = np.array([[1, 7], [3, 7], [0, 0], [5, 7], [9, 7], [0, 0]], dtype=np.float32)
    present = np.array([True, True, False, True, True, False])
    base = build_design(_split(tab, present))
    changed = tab.copy()
    changed[4:] = [[-50, 3], [80, 1]]
    other = build_design(_split(changed, np.array([True, True, False, True, False, True])))
    assert other.names == base.names
    np.testing.assert_array_equal(other.mean, base.mean)
    np.testing.assert_array_equal(other.std, base.std)
    np.testing.assert_array_equal(other.x["train"], base.x["train"])


def test_design_of_unknown_modality_or_nothing_to_fit_is_refused():
    tab = np.array([[1, 7]] * 6, dtype=np.float32)
    data = _split(tab, np.ones(6, bool))
    with pytest.raises(ValueError, match=r"modalities \['labs'\] are not in the split"):
        build_design(data, ["labs"])
    with pytest.raises(ValueError, match="constant or unobserved on the train patients"):
        build_design(data)
