"""Ids as text, exactly as written, from real CSV, TSV and parquet files of either id dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmlego.data.build import build_manifest, build_tables
from mmlego.data.generic import read_generic
from mmlego.data.ids import retyped
from mmlego.data.labels import read_labels
from mmlego.data.manifests import read_manifest
from mmlego.data.readers import read_table
from mmlego.data.store import read_modality
from mmlego.utils.provenance import provenance

PADDED = ["0001", "0002", "0010", "NA"]  # "NA" is an id, not a missing value


def _write(frame: pd.DataFrame, path) -> str:
    """Write ``frame`` in the format of ``path``'s suffix (csv, tsv, parquet)."""
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return str(path)


def _dataset(labels_path, modality_path, *, extra_ids: str = "error", series=None) -> dict:
    modalities = {"clinical": {"type": "tabular", "path": modality_path, "id": "pid"}}
    if series is not None:
        modalities["labs"] = {
            "type": "timeseries",
            "path": series,
            "id": "pid",
            "window": [0, 10],
            "bins": 2,
        }
    return {
        "kind": "generic",
        "task": "survival",
        "extra_ids": extra_ids,
        "labels": {"path": labels_path, "id": "pid", "time": "t", "event": "e"},
        "modalities": modalities,
    }


def _labels(ids) -> pd.DataFrame:
    return pd.DataFrame({"pid": ids, "t": np.arange(1.0, len(ids) + 1), "e": 1})


@pytest.mark.parametrize("label_suffix", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("modality_suffix", [".csv", ".tsv", ".parquet"])
def test_zero_padded_text_ids_are_kept_in_every_format(tmp_path, label_suffix, modality_suffix):
    labels = _write(_labels([" 0010 ", *PADDED[:2], PADDED[3]]), tmp_path / f"l{label_suffix}")
    clinical = pd.DataFrame({"pid": ["0002", "NA", "0010"], "age": [1.0, 2.0, 3.0]})
    result = read_generic(_dataset(labels, _write(clinical, tmp_path / f"c{modality_suffix}")))
    # Sorted as text; only the surrounding whitespace of " 0010 " is stripped.
    assert result.labels["patient_id"].tolist() == ["0001", "0002", "0010", "NA"]
    (store,) = result.modalities
    assert store.ids.tolist() == ["0001", "0002", "0010", "NA"]
    assert store.present.tolist() == [False, True, True, True]
    assert store.values[:, 0].tolist()[1:] == [1.0, 3.0, 2.0]


def test_integer_parquet_ids_match_their_text_in_a_csv(tmp_path):
    labels = pd.DataFrame({"pid": np.array([100, 7, 10], dtype=np.int64), "t": 1.0, "e": 0})
    labels_path = _write(labels, tmp_path / "l.parquet")
    clinical = _write(pd.DataFrame({"pid": [7, 100], "age": [70.0, 100.0]}), tmp_path / "c.csv")
    result = read_generic(_dataset(labels_path, clinical))
    assert result.labels["patient_id"].tolist() == ["10", "100", "7"]
    assert result.modalities[0].values[:, 0].tolist()[1:] == [100.0, 70.0]


@pytest.mark.parametrize(
    ("label_ids", "modality_ids", "here", "there"),
    [
        (["0001", "0002"], np.array([1, 2], dtype=np.int64), "'1'", "'0001'"),
        (np.array([1, 2], dtype=np.int64), ["1.0", "2"], "'1.0'", "'1'"),
    ],
)
def test_ids_equal_only_after_retyping_are_an_error_naming_both(
    tmp_path, label_ids, modality_ids, here, there
):
    suffix = ".parquet" if isinstance(label_ids, np.ndarray) else ".csv"
    labels = _write(_labels(label_ids), tmp_path / f"labels{suffix}")
    clinical = pd.DataFrame({"pid": modality_ids, "age": [1.0, 2.0]})
    path = _write(clinical, tmp_path / ("clin.csv" if suffix == ".parquet" else "clin.parquet"))
    for policy in ("error", "drop"):  # dropping would silently lose the patient
        with pytest.raises(ValueError) as err:
            read_generic(_dataset(labels, path, extra_ids=policy))
        message = str(err.value)
        assert (
            f"{here} is {there}" in message and "only after converting them to numbers" in message
        )
        assert path in message and labels in message


def test_a_floating_point_parquet_id_column_is_refused(tmp_path):
    path = _write(pd.DataFrame({"pid": [1.0, 2.0], "t": 1.0, "e": 1}), tmp_path / "l.parquet")
    with pytest.raises(ValueError, match=r"l\.parquet: id column 'pid' holds double values"):
        read_table(path, what="label file", text_columns=["pid"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_empty_id_names_the_same_data_row_in_every_format(tmp_path, suffix):
    labels = _write(_labels(["a", None, "c"]), tmp_path / f"l{suffix}")
    clinical = _write(pd.DataFrame({"pid": ["a"], "age": [1.0]}), tmp_path / "c.csv")
    with pytest.raises(
        ValueError, match=r"empty id in column 'pid' at data row 2 \(1-based, header not counted\)"
    ):
        read_generic(_dataset(labels, clinical))


def test_row_order_of_the_files_changes_nothing(tmp_path):
    ids = [f"{i:04d}" for i in range(12)]
    rng = np.random.default_rng(0)
    stores = []
    for k, order in enumerate([np.arange(12), rng.permutation(12)]):
        labels = _labels(ids).iloc[order]
        clinical = pd.DataFrame({"pid": ids, "age": np.arange(12.0)}).iloc[order[::-1]]
        result = read_generic(
            _dataset(
                _write(labels, tmp_path / f"l{k}.csv"), _write(clinical, tmp_path / f"c{k}.csv")
            )
        )
        stores.append((result.labels, result.modalities[0]))
    (labels_a, store_a), (labels_b, store_b) = stores
    pd.testing.assert_frame_equal(labels_a, labels_b)
    assert store_a.ids.tolist() == store_b.ids.tolist() == ids
    np.testing.assert_array_equal(store_a.values, store_b.values)


def test_extra_ids_drop_counts_dropped_ids_by_modality(tmp_path):
    labels = _write(_labels(["0001", "0002"]), tmp_path / "labels.csv")
    clinical = pd.DataFrame({"pid": ["0001", "9"], "age": [1.0, 2.0]})
    clinical_path = _write(clinical, tmp_path / "clinical.parquet")
    labs = pd.DataFrame(
        {
            "pid": ["0002", "x", "x", "y"],
            "time": [1.0, 2.0, 3.0, 4.0],
            "variable": "crp",
            "value": [5.0, 6.0, 7.0, 8.0],
        }
    )
    ds = _dataset(labels, clinical_path, series=_write(labs, tmp_path / "labs.tsv"))
    with pytest.raises(ValueError, match=r"clinical\.parquet.*not in the labels.*: 9;"):
        read_generic(ds)
    out = tmp_path / "out"
    build_tables("mine", {**ds, "extra_ids": "drop"}, out, provenance=provenance({}), seed=0)
    qc = pd.read_csv(out / "qc" / "tables.csv", dtype=str)
    assert qc.values.tolist() == [
        ["9", "clinical", "dropped: id not in the label file (extra_ids: drop)"],
        ["x", "labs", "dropped: id not in the label file (extra_ids: drop)"],
        ["y", "labs", "dropped: id not in the label file (extra_ids: drop)"],
    ]
    labels_out, _ = read_labels(out / "labels.parquet")
    assert labels_out["patient_id"].tolist() == ["0001", "0002"]
    assert read_modality(out / "modalities" / "clinical.h5").present.tolist() == [True, False]
    assert read_modality(out / "modalities" / "labs.h5").present.tolist() == [False, True]


def test_extra_ids_drop_in_a_manifest_lists_the_dropped_files(tmp_path):
    labels = _write(_labels(["0001", "0002"]), tmp_path / "labels.csv")
    clinical = _write(pd.DataFrame({"pid": ["0001"], "age": [1.0]}), tmp_path / "c.csv")
    for name in ("0001.jpg", "7.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    _write(pd.DataFrame({"pid": ["0001", "7"], "path": ["0001.jpg", "7.jpg"]}), tmp_path / "m.csv")
    ds = _dataset(labels, clinical, extra_ids="drop")
    ds["modalities"]["photos"] = {"type": "image", "manifest": str(tmp_path / "m.csv"), "id": "pid"}
    out = tmp_path / "out"
    build_tables("mine", ds, out, provenance=provenance({}), seed=0)
    build_manifest(
        "mine",
        ds,
        "photos",
        out / "labels.parquet",
        out / "m.csv",
        out / "qc" / "skipped.csv",
        mod_type="image",
    )
    manifest = read_manifest(out / "m.csv")
    assert manifest["patient_id"].tolist() == ["0001"] and manifest["item_id"].tolist() == ["0001"]
    skipped = pd.read_csv(out / "qc" / "skipped.csv")
    assert skipped["item"].tolist() == [str(tmp_path / "7.jpg")]
    assert skipped["reason"].tolist() == ["patient 7 has no label row (extra_ids: drop)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001", "1"),
        ("1.0", "1"),
        ("+1", "1"),
        ("1.50", "1.5"),
        ("1e3", "1000"),
        ("12345678901234567891", "12345678901234567891"),  # exact: no float rounding
        ("TCGA-AB-0001", "TCGA-AB-0001"),
        ("NA", "NA"),
        ("1_000", "1_000"),
    ],
)
def test_retyped_is_what_a_number_parsing_reader_makes_of_an_id(text, expected):
    assert retyped(text) == expected
