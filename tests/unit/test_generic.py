"""Bring-your-own tables: hand-made inputs with known answers, and the errors users will hit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.config import ConfigError, check_config, fill_defaults
from mmlego.data.build import build_tables
from mmlego.data.generic import read_generic
from mmlego.data.manifests import read_user_manifest
from mmlego.data.store import read_modality
from mmlego.data.timeseries import bin_index, bin_long_format
from mmlego.utils.provenance import provenance

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


# Patient a, variable hr, bin 0 of [0, 24] in 2 bins: rows in file order (time, value). The
# latest time (5.0) has two rows: "last" takes the later one in the file (70).
AGG_ROWS = [(4.0, 90.0), (5.0, 60.0), (1.0, 80.0), (5.0, 70.0), (2.0, np.nan)]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [("mean", 75.0), ("last", 70.0), ("min", 60.0), ("max", 90.0), ("count", 4.0)],
)
def test_bin_aggregation_known_answers(tmp_path, agg, expected):
    rows = [("a", t, "hr", v) for t, v in AGG_ROWS] + [("b", 20.0, "hr", 50.0)]
    pd.DataFrame(rows, columns=["pid", "t", "test", "v"]).to_csv(tmp_path / "labs.csv", index=False)
    pd.DataFrame({"pid": IDS, "time": 1.0, "event": 1}).to_csv(tmp_path / "l.csv", index=False)
    ds = {
        "kind": "generic",
        "task": "survival",
        "labels": {"path": str(tmp_path / "l.csv"), "id": "pid", "time": "time", "event": "event"},
        "modalities": {
            "labs": {
                "type": "timeseries", "path": str(tmp_path / "labs.csv"), "id": "pid",
                "time": "t", "variable": "test", "value": "v", "window": [0, 24], "bins": 2,
                "agg": agg,
            }
        },
    }  # fmt: skip
    (data,) = read_generic(ds).modalities
    assert data.values[0, 0, 0] == expected and data.mask[0, 0, 0]
    # b's single value: itself, or a count of 1; unmeasured bins stay NaN and masked.
    assert data.values[1, 1, 0] == (1.0 if agg == "count" else 50.0)
    assert np.isnan(data.values[0, 1, 0]) and not data.mask[0, 1, 0]
    assert data.attrs["agg"] == agg and not data.present[2]


def test_series_errors_name_file_rows_and_ids():
    frame = pd.DataFrame(
        {"patient_id": ["a", "b"], "time": [1.0, 50.0], "variable": "x", "value": [1.0, 2.0]}
    )
    with pytest.raises(
        ValueError, match=r"labs\.csv: patient\(s\) b have measurements but none inside"
    ):
        bin_long_format(
            frame, name="labs", patient_ids=IDS, window=[0, 24], bins=2, source="labs.csv",
            on_empty="error",
        )  # fmt: skip
    # The default keeps b without the modality and returns it for the QC table.
    data, empty = bin_long_format(frame, name="labs", patient_ids=IDS, window=[0, 24], bins=2)
    assert empty == ["b"] and data.present.tolist() == [True, False, False]
    with pytest.raises(ValueError) as err:
        bin_long_format(frame, name="labs", patient_ids=IDS, window=[100, 200], bins=2)
    message = str(err.value)
    assert "no patient has a measurement inside the window [100, 200]" in message
    assert "times range from 1 to 50" in message and "unit mistake" in message
    assert "days" in message and "months" in message
    bad = frame.assign(time=["1", "soon"])
    with pytest.raises(
        ValueError,
        match=r"column 'time' must be numeric; bad or empty values at data row 2 "
        r"\(1-based, header not counted\)",
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
            r"clinical\.csv.*not in the labels \(label file .*labels\.csv\): ghost",
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
    frame, skipped = read_user_manifest(tmp_path / "m.csv", id_column="pid", patient_ids=IDS)
    assert frame["patient_id"].tolist() == ["a", "a", "b"] and skipped.empty
    assert frame["item_id"].tolist() == ["a_1", "a_2", "b_1"]  # sanitised stems
    assert frame["path"].iloc[0] == str(tmp_path / "img" / "a_1.jpg")
    with pytest.raises(ValueError, match="not in the labels: a"):
        read_user_manifest(tmp_path / "m.csv", id_column="pid", patient_ids=["b"])
    pd.DataFrame({"pid": ["a"], "path": ["img/none.jpg"]}).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(FileNotFoundError, match=r"none\.jpg"):
        read_user_manifest(tmp_path / "n.csv", id_column="pid", patient_ids=IDS)


def test_patients_without_rows_in_the_window_are_kept_and_counted_by_default(tmp_path):
    pd.DataFrame({"pid": IDS, "t": 1.0, "e": 1}).to_csv(tmp_path / "labels.csv", index=False)
    labs = pd.DataFrame(
        {"pid": ["a", "b", "b"], "day": [-3.0, -900.0, 40.0], "variable": "hb", "value": 1.0}
    )
    labs.to_parquet(tmp_path / "labs.parquet")
    ds = {
        "kind": "generic",
        "task": "survival",
        "labels": {"path": str(tmp_path / "labels.csv"), "id": "pid", "time": "t", "event": "e"},
        "modalities": {
            "labs": {"type": "timeseries", "path": str(tmp_path / "labs.parquet"), "id": "pid",
                     "time": "day", "window": [-365, 0], "bins": 4}
        },
    }  # fmt: skip
    out = tmp_path / "out"
    build_tables("mine", ds, out, provenance=provenance({}), seed=0)
    assert read_modality(out / "modalities" / "labs.h5").present.tolist() == [True, False, False]
    qc = pd.read_csv(out / "qc" / "tables.csv")
    assert qc.values.tolist() == [["b", "labs", "no measurement inside the window"]]
    labs.assign(variable=["hb", "", "hb"]).to_parquet(tmp_path / "labs.parquet")
    with pytest.raises(
        ValueError, match=r"empty variable name in column 'variable' at data row 2 "
    ):
        read_generic(ds)


def _generic_config(**labs) -> dict:
    labs_spec = {"type": "timeseries", "path": "labs.csv", "window": [0, 1], "bins": 1, **labs}
    return {
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "l.csv", "label": "y"},
                "modalities": {"labs": labs_spec},
            }
        }
    }


def test_schema_fills_the_id_and_window_defaults_and_names_a_bad_agg():
    ds = fill_defaults(_generic_config())["datasets"]["mine"]
    assert ds["extra_ids"] == "error"
    assert ds["modalities"]["labs"]["agg"] == "mean"
    assert ds["modalities"]["labs"]["no_rows_in_window"] == "absent"
    check_config(_generic_config(agg="last"))
    with pytest.raises(ConfigError) as info:
        check_config(_generic_config(agg="median"))
    assert "datasets.mine.modalities.labs.agg" in str(info.value) and "'last'" in str(info.value)


def test_one_job_per_file_writes_what_one_read_of_every_table_writes(tmp_path):
    """The labels job, one job per table modality and the QC join (the workflow's jobs for a
    generic dataset) write the labels, stores and ``qc/tables.csv`` of one ``build_tables``
    call; each job's config is its own part, so another modality's entry is not in it."""
    from mmlego import layout
    from mmlego.data.build import build_labels, build_modality_table, join_table_qc
    from mmlego.data.kinds import table_job_config
    from mmlego.data.labels import read_labels

    ids = ["a", "b", "c", "d"]
    pd.DataFrame({"pid": ids, "t": [1.0, 2.0, 3.0, 4.0], "e": [1, 0, 1, 1]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    clinical = pd.DataFrame(
        {"pid": ["a", "b", "ghost"], "age": [50, 60, 70], "sex": ["f", "m", "f"]}
    )
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    labs = pd.DataFrame(
        {"pid": ["a", "b", "c", "x"], "day": [-3.0, -900.0, -1.0, -2.0], "variable": "hb",
         "value": [1.0, 2.0, 3.0, 4.0]}
    )  # fmt: skip
    labs.to_parquet(tmp_path / "labs.parquet")
    ds = {
        "kind": "generic",
        "task": "survival",
        "extra_ids": "drop",
        "labels": {"path": str(tmp_path / "labels.csv"), "id": "pid", "time": "t", "event": "e"},
        "modalities": {
            "clinical": {"type": "tabular", "path": str(tmp_path / "clinical.csv"), "id": "pid"},
            "labs": {"type": "timeseries", "path": str(tmp_path / "labs.parquet"), "id": "pid",
                     "time": "day", "window": [-365, 0], "bins": 2},
        },
    }  # fmt: skip
    one, each = tmp_path / "one", tmp_path / "each"
    build_tables("mine", ds, one, provenance=provenance({}), seed=0)
    build_labels("mine", table_job_config(ds), each, provenance=provenance({}))
    for mod in ds["modalities"]:
        config = table_job_config(ds, mod)
        labels = layout.labels(str(each))
        build_modality_table("mine", config, mod, labels, each, provenance=provenance({}))
    parts = [layout.qc_modality_tables(str(each), m) for m in ds["modalities"]]
    join_table_qc(parts, layout.qc_tables(str(each)))

    assert read_labels(one / "labels.parquet")[0].equals(read_labels(each / "labels.parquet")[0])
    for mod in ds["modalities"]:
        a, b = (read_modality(root / "modalities" / f"{mod}.h5") for root in (one, each))
        assert a.ids.tolist() == b.ids.tolist() and a.feature_names == b.feature_names
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert np.array_equal(a.present, b.present)
    qc = (one / "qc" / "tables.csv").read_text()
    assert qc == (each / "qc" / "tables.csv").read_text()
    # ghost dropped from clinical; b has no labs in the window, x is dropped from them.
    assert [line.split(",")[:2] for line in qc.splitlines()[1:]] == [
        ["ghost", "clinical"], ["b", "labs"], ["x", "labs"],
    ]  # fmt: skip
    changed = {
        **ds,
        "modalities": {**ds["modalities"], "labs": {**ds["modalities"]["labs"], "bins": 3}},
    }
    assert table_job_config(changed, "clinical") == table_job_config(ds, "clinical")
    assert table_job_config(changed) == table_job_config(
        ds
    ) and "extra_ids" not in table_job_config(ds)
