"""MIMIC-III extraction on a hand-made database whose right answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.labels import read_labels
from mmlego.data.mimic.cohort import mortality_class
from mmlego.data.mimic.events import forward_fill
from mmlego.data.mimic.extract import (
    build_dataset,
    build_labels_static,
    cohort_key,
    extract,
    extract_cohort,
    extraction_key,
)
from mmlego.data.mimic.tables import MISSING_TIME
from mmlego.data.store import read_modality
from mmlego.utils.provenance import provenance

from .mimic_tables import write_database

SETTINGS = {"min_hours": 24, "hours": 24, "min_age": 15, "chunk_rows": 10}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    root = tmp_path_factory.mktemp("mimic")
    db = write_database(root / "raw")
    summary = extract(db, root / "x", settings=SETTINGS, provenance=provenance({"t": 1}))
    return root, summary


def _vitals(root):
    data = read_modality(root / "x" / "vitals.h5")
    return data, {name: k for k, name in enumerate(data.feature_names)}


def test_cohort_rules_and_qc_counts(extracted):
    root, summary = extracted
    qc = pd.read_csv(root / "x" / "qc_cohort.csv").set_index("reason")["stays"]
    assert qc["icu_stays_in_table"] == 7
    assert qc["admission_not_in_admissions"] == 1
    assert qc["age_below_15"] == 1
    assert qc["stay_shorter_than_24h"] == 1
    assert qc["not_first_eligible_stay_of_patient"] == 1
    assert qc["included_stays"] == 3 == summary["stays"]
    assert qc["no_chart_or_lab_rows_in_window"] == 1
    cohort = pd.read_parquet(root / "x" / "cohort.parquet")
    assert cohort["patient_id"].tolist() == ["1", "2", "5"]
    assert cohort["icustay_id"].tolist() == [1000, 2000, 5000]


def test_age_shift_and_static_features(extracted):
    root, _ = extracted
    static = read_modality(root / "x" / "static.h5")
    assert static.feature_names == ["age", "aids", "haem_malignancy", "metastatic_cancer"]
    age = static.values[:, 0]
    assert age[0] == pytest.approx(50.0, abs=0.01)
    assert age[1] == pytest.approx(91.4)  # DOB shifted by 300 years: ~299.75 -> 91.4
    np.testing.assert_array_equal(static.values[:, 1:], [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert static.categorical[:, 0].tolist() == ["EMERGENCY", "ELECTIVE", "EMERGENCY"]


def test_hourly_binning_of_irregular_charting(extracted):
    root, _ = extracted
    data, col = _vitals(root)
    hr = data.values[0, :, col["heart_rate"]]
    mask = data.mask[0, :, col["heart_rate"]]
    # 10:05 80 and 10:40 90 -> bin 0 mean 85 (the ERROR row 300 and the range violation 500
    # are gone); 12:10 100 -> bin 2; bin 1 forward-filled but not observed; hour 24 excluded
    assert hr[0] == pytest.approx(85.0)
    assert hr[1] == pytest.approx(85.0) and not mask[1]
    assert hr[2] == pytest.approx(100.0) and mask[2]
    assert np.all(hr[3:] == pytest.approx(100.0))
    assert mask.tolist() == [True, False, True] + [False] * 21
    assert data.values[0, 0, col["sbp"]] == pytest.approx(120.0)  # joined by HADM_ID


def test_fahrenheit_to_celsius_and_unknown_unit(extracted):
    root, _ = extracted
    data, col = _vitals(root)
    temp = data.values[0, :, col["temperature"]]
    assert temp[0] == pytest.approx(37.0, abs=1e-4)
    assert temp[1] == pytest.approx(38.0, abs=1e-4)
    assert not data.mask[0, 3, col["temperature"]]  # the 'Deg. K' row at 13:00 is dropped
    events = pd.read_csv(root / "x" / "qc_events.csv")
    unknown = events.loc[events["scope"] == "unknown_unit"]
    assert unknown["name"].tolist() == ["temperature:Deg. K"]


def test_gcs_from_metavision_components_and_fio2_fraction(extracted):
    root, _ = extracted
    data, col = _vitals(root)
    gcs = data.values[0, :, col["gcs"]]
    assert np.isnan(gcs[:4]).all()
    assert gcs[4] == pytest.approx(15.0) and data.mask[0, 4, col["gcs"]]
    assert not data.mask[0, 5, col["gcs"]]  # eye alone is no total
    assert data.values[0, 0, col["fio2"]] == pytest.approx(45.0)  # mean of 0.5 -> 50 % and 40 %


def test_lab_rows_join_by_admission(extracted):
    root, _ = extracted
    data, col = _vitals(root)
    assert data.values[2, 2, col["ph"]] == pytest.approx(7.3)
    assert data.values[2, 4, col["pao2"]] == pytest.approx(95.0)
    assert not data.mask[2, :, col["glucose"]].any()  # before INTIME
    assert data.present.tolist() == [True, False, True]
    assert not data.mask[1].any() and np.isnan(data.values[1]).all()


def test_event_qc_counts_drops_by_reason(extracted):
    root, summary = extracted
    events = pd.read_csv(root / "x" / "qc_events.csv")
    hr = events.loc[(events["scope"] == "channel") & (events["name"] == "heart_rate")]
    counts = dict(zip(hr["measure"], hr["count"], strict=True))
    assert counts["mapped_rows"] == 8
    assert counts["error_flag"] == 1
    assert counts["out_of_range"] == 1
    assert counts["stay_not_in_cohort"] == 1
    assert counts["outside_window"] == 2
    assert counts["kept"] == 3
    assert summary["rows_by_table"] == {"chart": 19, "lab": 4}
    tables = events.loc[events["scope"] == "table"].set_index(["name", "measure"])["count"]
    assert tables[("chart", "rows_with_unmapped_itemid")] == 1  # ITEMID 999
    assert tables[("lab", "rows_with_unmapped_itemid")] == 0


def test_icd9_and_mortality_labels(extracted, tmp_path):
    root, _ = extracted
    prov = provenance({"t": 1})
    icd9 = build_dataset(
        root / "x",
        tmp_path / "icd9",
        {"task": "binary", "target": "icd9", "icd9_range": [460, 519]},
        provenance=prov,
    )
    assert icd9["label"].tolist() == [
        1,
        0,
        0,
    ]  # 507.0 is respiratory; 428.0, V15, 197, 203, E878 are not
    mort = build_dataset(
        root / "x",
        tmp_path / "mort",
        {"task": "multiclass", "target": "mortality"},
        provenance=prov,
    )
    # subject 1 dies 28 h after admission (<= 2 d); 2 never; 5 dies 18.6 days after (<= 1 yr)
    assert mort["label"].tolist() == [1, 5, 4]
    frame, meta = read_labels(tmp_path / "mort" / "labels.parquet")
    assert meta["classes"][5] == "alive_or_later" and frame["patient_id"].tolist() == [
        "1",
        "2",
        "5",
    ]
    assert read_modality(tmp_path / "mort" / "modalities" / "vitals.h5").ids.tolist() == [
        "1",
        "2",
        "5",
    ]
    assert (tmp_path / "mort" / "qc" / "mimic_cohort.csv").exists()


def test_mortality_class_boundaries():
    admit = np.zeros(8, dtype=np.int64)
    days = np.array([0.5, 1.0, 1.5, 2.5, 5.0, 200.0, 400.0, -0.2])
    death = (days * 86400).astype(np.int64)
    assert mortality_class(admit, death).tolist() == [0, 0, 1, 2, 3, 4, 5, 0]
    assert mortality_class(admit[:1], np.array([MISSING_TIME])).tolist() == [5]


def test_gzip_and_block_size_do_not_change_the_result(extracted, tmp_path):
    root, _ = extracted
    db = write_database(tmp_path / "raw", gzip_chart=True, chart_repeat=200)
    extract(
        db,
        tmp_path / "x",
        settings={**SETTINGS, "chunk_rows": 1_000_000},
        provenance=provenance({}),
    )
    a, b = read_modality(root / "x" / "vitals.h5"), read_modality(tmp_path / "x" / "vitals.h5")
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.mask, b.mask)


def test_missing_table_and_column_name_the_file(tmp_path):
    db = write_database(tmp_path / "raw")
    (db / "LABEVENTS.csv").unlink()
    with pytest.raises(FileNotFoundError, match="LABEVENTS not found"):
        extract(db, tmp_path / "x", settings=SETTINGS, provenance=provenance({}))
    text = (db / "ICUSTAYS.csv").read_text().replace("INTIME", "IN_TIME", 1)
    (db / "ICUSTAYS.csv").write_text(text)
    with pytest.raises(ValueError, match=r"ICUSTAYS.csv: missing column\(s\) \['INTIME'\]"):
        extract(db, tmp_path / "x", settings=SETTINGS, provenance=provenance({}))
    assert not (tmp_path / "x").exists()


def test_a_subject_id_not_written_as_a_plain_integer_names_both_forms(tmp_path):
    db = write_database(tmp_path / "raw")
    lines = (db / "ICUSTAYS.csv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("2,1,100,", "2,0001,100,", 1)  # the 2nd data row
    (db / "ICUSTAYS.csv").write_text("".join(lines))
    with pytest.raises(ValueError) as err:
        extract(db, tmp_path / "x", settings=SETTINGS, provenance=provenance({}))
    message = str(err.value)
    assert "ICUSTAYS.csv: SUBJECT_ID must be a plain integer" in message
    assert "data row 2 (1-based, header not counted) hold '0001' (would be '1')" in message


def test_extraction_key_depends_on_settings_not_target():
    base = {"mimic_dir": "raw/mimic-iii", "target": "icd9"}
    assert extraction_key(base) == extraction_key({**base, "target": "mortality"})
    assert extraction_key(base) != extraction_key({**base, "hours": 48})
    assert extraction_key(base).startswith("mimic-iii-")


def test_forward_fill_stays_within_each_stay_and_variable():
    nan = np.nan
    values = np.array([[[nan, 1.0], [2.0, nan], [nan, nan]], [[nan, nan], [nan, 5.0], [nan, nan]]])
    filled = forward_fill(values)
    np.testing.assert_array_equal(
        filled, [[[nan, 1.0], [2.0, 1.0], [2.0, 1.0]], [[nan, nan], [nan, 5.0], [nan, 5.0]]]
    )


def test_the_cohort_alone_is_the_shared_steps_without_the_event_tables(extracted, tmp_path):
    root, summary = extracted
    db = write_database(tmp_path / "raw")
    for table in ("CHARTEVENTS", "LABEVENTS"):  # it must not read them
        (db / f"{table}.csv").unlink()
    stays = extract_cohort(db, tmp_path / "c", settings=SETTINGS, provenance=provenance({}))
    assert stays == summary["stays"] == 3
    shared = pd.read_parquet(root / "x" / "cohort.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "c" / "cohort.parquet"), shared.drop(columns="vitals_present")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "c" / "diagnoses.parquet"),
        pd.read_parquet(root / "x" / "diagnoses.parquet"),
    )
    static, alone = (
        read_modality(root / "x" / "static.h5"),
        read_modality(tmp_path / "c" / "static.h5"),
    )
    np.testing.assert_array_equal(alone.values, static.values)
    np.testing.assert_array_equal(alone.categorical, static.categorical)
    assert alone.ids.tolist() == static.ids.tolist() == ["1", "2", "5"]
    # The labels made from it are the shared step's.
    ds = {"task": "binary", "target": "icd9", "icd9_range": [460, 519]}
    labels = build_labels_static(tmp_path / "c", tmp_path / "ds", ds, provenance=provenance({}))
    assert labels["label"].tolist() == [1, 0, 0]


def test_the_cohort_key_ignores_the_vitals_window():
    base = {"mimic_dir": "/data/mimic-iii", **SETTINGS}
    assert cohort_key(base) == cohort_key({**base, "hours": 48, "target": "mortality"})
    assert cohort_key(base) != cohort_key({**base, "min_age": 18})
    assert extraction_key(base) != extraction_key({**base, "hours": 48})
