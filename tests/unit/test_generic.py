"""Bring-your-own tables: hand-made inputs with known answers, and the errors users will hit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.generic import read_generic
from mmlego.data.manifests import read_user_manifest
from mmlego.data.timeseries import bin_index, bin_long_format

IDS = ["a", "b", "c"]


def test_bin_index_edges():
    # Window [0, 24] in 4 bins of 6: 0 -> 0, 5.99 -> 0, 6 -> 1, 24 -> 3 (end included), outside -> -1.
    times = np.array([0, 5.99, 6, 23.9, 24, -0.1, 24.1])
    assert bin_index(times, 0, 24, 4).tolist() == [0, 0, 1, 3, 3, -1, -1]


def test_irregular_series_binning_known_answer():
    frame = pd.DataFrame(
        [
            ("a", 0.5, "hr", 80),
            ("a", 1.0, "hr", 90),
            ("a", 7.0, "hr", 100),  # bin 0 mean 85
            ("a", 7.5, "sbp", 120),
            ("a", 30.0, "hr", 1e6),  # outside the window: ignored
            ("b", 23.0, "sbp", 110),
            ("b", 12.0, "sbp", np.nan),  # NaN value: not an observation
        ],
        columns=["pid", "t", "var", "val"],
    )
    data, empty = bin_long_format(
        frame, name="vitals", patient_ids=IDS, window=[0, 24], bins=4,
        id_col="pid", time_col="t", variable_col="var", value_col="val",
    )  # fmt: skip
    assert data.feature_names == ["hr", "sbp"] and data.values.shape == (3, 4, 2)
    assert data.values[0, 0, 0] == pytest.approx(85) and data.values[0, 1, 0] == 100
    assert data.values[0, 1, 1] == 120 and data.values[1, 3, 1] == 110
    expected_mask = np.zeros((3, 4, 2), bool)
    expected_mask[0, 0, 0] = expected_mask[0, 1, 0] = expected_mask[0, 1, 1] = True
    expected_mask[1, 3, 1] = True
    np.testing.assert_array_equal(data.mask, expected_mask)
    assert np.isnan(data.values[~expected_mask]).all()
    assert data.present.tolist() == [True, True, False] and empty == []


def test_series_errors_name_file_rows_and_ids():
    frame = pd.DataFrame(
        {"patient_id": ["a", "b"], "time": [1.0, 50.0], "variable": "x", "value": [1.0, 2.0]}
    )
    with pytest.raises(
        ValueError, match=r"labs\.csv: patient\(s\) b have measurements but none inside"
    ):
        bin_long_format(
            frame, name="labs", patient_ids=IDS, window=[0, 24], bins=2, source="labs.csv"
        )
    _, empty = bin_long_format(
        frame, name="labs", patient_ids=IDS, window=[0, 24], bins=2, on_empty="absent"
    )
    assert empty == ["b"]
    with pytest.raises(
        ValueError, match=r"no measurement inside the window \[100, 200\].*from 1 to 50"
    ):
        bin_long_format(frame, name="labs", patient_ids=IDS, window=[100, 200], bins=2)
    bad = frame.assign(time=["1", "soon"])
    with pytest.raises(
        ValueError, match=r"column 'time' must be numeric; bad or empty values at row\(s\) 3"
    ):
        bin_long_format(bad, name="labs", patient_ids=IDS, window=[0, 24], bins=2)
    with pytest.raises(ValueError, match=r"id.* not in the labels: zed"):
        bin_long_format(
            frame.assign(patient_id=["a", "zed"]),
            name="labs",
            patient_ids=IDS,
            window=[0, 24],
            bins=2,
        )


def _study(tmp_path, labels: pd.DataFrame, clinical: pd.DataFrame, task: str = "survival") -> dict:
    labels.to_csv(tmp_path / "labels.csv", index=False)
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    lab_cols = {"time": "t", "event": "e"} if task == "survival" else {"label": "y"}
    return {
        "kind": "generic",
        "task": task,
        "labels": {"path": str(tmp_path / "labels.csv"), "id": "pid", **lab_cols},
        "modalities": {
            "clinical": {"type": "tabular", "path": str(tmp_path / "clinical.csv"), "id": "pid"}
        },
    }


def _labels(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"pid": ["c", "a", "b"], "t": [3.0, 1.0, 2.0], "e": [1, 0, 1]})
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


CLINICAL = pd.DataFrame({"pid": ["a", "b"], "age": [50, 60], "sex": ["f", "m"]})


def test_generic_tables_known_answer(tmp_path):
    result = read_generic(_study(tmp_path, _labels(), CLINICAL))
    assert result.labels["patient_id"].tolist() == ["a", "b", "c"]  # sorted ids
    (clinical,) = result.modalities
    assert clinical.ids.tolist() == ["a", "b", "c"] and clinical.present.tolist() == [
        True,
        True,
        False,
    ]
    assert clinical.feature_names == ["age"] and clinical.categorical[:, 0].tolist() == [
        "f",
        "m",
        "",
    ]


@pytest.mark.parametrize(
    ("labels", "clinical", "message"),
    [
        (
            _labels(t=(1, np.nan)),
            CLINICAL,
            r"labels\.csv: survival time is missing.*for patients a",
        ),
        (_labels(t=(2, -4.0)), CLINICAL, r"labels\.csv: survival time .*negative for patients b"),
        (_labels(e=(0, 2)), CLINICAL, r"labels\.csv: event must be 0 .*patients c"),
        (_labels(pid=(0, "a")), CLINICAL, r"labels\.csv: duplicate ids in column 'pid': a"),
        (
            _labels(),
            pd.concat([CLINICAL, CLINICAL.iloc[:1]]),
            r"clinical\.csv.*duplicate ids in column 'pid': a",
        ),
        (
            _labels(),
            CLINICAL.assign(pid=["a", "ghost"]),
            r"clinical\.csv.*not in the labels: ghost",
        ),
    ],
)
def test_generic_errors_name_the_file_and_ids(tmp_path, labels, clinical, message):
    with pytest.raises(ValueError, match=message):
        read_generic(_study(tmp_path, labels, clinical))


def test_classification_labels_map_to_sorted_classes(tmp_path):
    labels = pd.DataFrame({"pid": ["a", "b", "c"], "y": ["melanoma", "benign", "benign"]})
    result = read_generic(_study(tmp_path, labels, CLINICAL, task="binary"))
    assert result.classes == ["benign", "melanoma"] and result.labels["label"].tolist() == [1, 0, 0]
    labels = pd.DataFrame({"pid": ["a", "b", "c"], "y": [2, 0, 1]})
    with pytest.raises(ValueError, match=r"binary task needs exactly 2 label values.*0, 1, 2"):
        read_generic(_study(tmp_path, labels, CLINICAL, task="binary"))
    assert read_generic(_study(tmp_path, labels, CLINICAL, task="multiclass")).classes == [
        "0",
        "1",
        "2",
    ]


def test_user_manifest_resolves_relative_paths_and_checks_ids(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a_1.jpg", "a_2.jpg", "b 1.jpg"):
        (tmp_path / "img" / name).write_bytes(b"x")
    pd.DataFrame(
        {"pid": ["b", "a", "a"], "path": ["img/b 1.jpg", "img/a_2.jpg", "img/a_1.jpg"]}
    ).to_csv(tmp_path / "m.csv", index=False)
    frame = read_user_manifest(tmp_path / "m.csv", id_column="pid", patient_ids=IDS)
    assert frame["patient_id"].tolist() == ["a", "a", "b"]
    assert frame["item_id"].tolist() == ["a_1", "a_2", "b_1"]  # sanitised stems
    assert frame["path"].iloc[0] == str(tmp_path / "img" / "a_1.jpg")
    with pytest.raises(ValueError, match="not in the labels: a"):
        read_user_manifest(tmp_path / "m.csv", id_column="pid", patient_ids=["b"])
    pd.DataFrame({"pid": ["a"], "path": ["img/none.jpg"]}).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(FileNotFoundError, match=r"none\.jpg"):
        read_user_manifest(tmp_path / "n.csv", id_column="pid", patient_ids=IDS)
