"""The MIMIC-III-like database: release format, the project's ITEMIDs, quirks, planted signal."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mmlego.data.mimic.extract import dataset_labels, extract
from mmlego.data.mimic.variables import load_variable_map, normalise_unit
from mmlego.demo.mimic import (
    CHART_ITEMS,
    LAB_ITEMS,
    TABLES,
    generate_mimic,
    simulate_mimic,
)

COLUMNS = {
    "PATIENTS": "ROW_ID SUBJECT_ID GENDER DOB DOD DOD_HOSP DOD_SSN EXPIRE_FLAG",
    "ADMISSIONS": "ROW_ID SUBJECT_ID HADM_ID ADMITTIME DISCHTIME DEATHTIME ADMISSION_TYPE "
    "ADMISSION_LOCATION DISCHARGE_LOCATION INSURANCE LANGUAGE RELIGION MARITAL_STATUS "
    "ETHNICITY EDREGTIME EDOUTTIME DIAGNOSIS HOSPITAL_EXPIRE_FLAG HAS_CHARTEVENTS_DATA",
    "ICUSTAYS": "ROW_ID SUBJECT_ID HADM_ID ICUSTAY_ID DBSOURCE FIRST_CAREUNIT LAST_CAREUNIT "
    "FIRST_WARDID LAST_WARDID INTIME OUTTIME LOS",
    "CHARTEVENTS": "ROW_ID SUBJECT_ID HADM_ID ICUSTAY_ID ITEMID CHARTTIME STORETIME CGID VALUE "
    "VALUENUM VALUEUOM WARNING ERROR RESULTSTATUS STOPPED",
    "LABEVENTS": "ROW_ID SUBJECT_ID HADM_ID ITEMID CHARTTIME VALUE VALUENUM VALUEUOM FLAG",
    "DIAGNOSES_ICD": "ROW_ID SUBJECT_ID HADM_ID SEQ_NUM ICD9_CODE",
    "D_ITEMS": "ROW_ID ITEMID LABEL ABBREVIATION DBSOURCE LINKSTO CATEGORY UNITNAME PARAM_TYPE "
    "CONCEPTID",
    "D_LABITEMS": "ROW_ID ITEMID LABEL FLUID CATEGORY LOINC_CODE",
}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    out = tmp_path_factory.mktemp("mimic") / "mimic-iii"
    return out, generate_mimic(out, stays=120, seed=4)


def _read(out, table, **kwargs):
    return pd.read_csv(out / f"{table}.csv", **kwargs)


def test_tables_have_the_release_columns_and_types(database):
    out, _ = database
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    for table, columns in COLUMNS.items():
        frame = _read(out, table)
        assert list(frame.columns) == columns.split(), table
        assert frame["ROW_ID"].is_unique and frame["ROW_ID"].dtype == np.int64
    chart = _read(out, "CHARTEVENTS")
    for column in ("SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "ITEMID", "CGID"):
        assert chart[column].dtype == np.int64, column
    assert chart["VALUENUM"].dtype == np.float64
    for column in ("CHARTTIME", "STORETIME"):
        pd.to_datetime(chart[column], format="%Y-%m-%d %H:%M:%S")
    stays = _read(out, "ICUSTAYS")
    assert stays["DBSOURCE"].isin(["carevue", "metavision"]).all()
    assert stays["LOS"].dtype == np.float64
    # ICD-9 codes are strings without the dot; read as text they keep their leading zeros.
    codes = _read(out, "DIAGNOSES_ICD", dtype={"ICD9_CODE": str})["ICD9_CODE"]
    assert codes.str.fullmatch(r"[0-9EV][0-9]{2,4}").all()
    head = (out / "ADMISSIONS.csv").read_text().splitlines()[:2]
    # The release quotes the header, strings and dates; numbers are bare.
    assert head[0].startswith('"ROW_ID","SUBJECT_ID"')
    assert re.match(r'[0-9]+,[0-9]+,[0-9]+,"2[12][0-9]{2}-[0-9]{2}-[0-9]{2} ', head[1])


def test_itemids_and_units_agree_with_the_variable_mapping(database):
    out, _ = database
    mapping = load_variable_map()
    known = {}
    for var in mapping.variables.values():
        spellings = {normalise_unit(s) for u in var.units.values() for s in u.spellings}
        channels = [var.itemids, *(c.itemids for c in var.components.values())]
        for itemids in channels:
            for system, ids in itemids.items():
                for itemid in ids:
                    known[(system, itemid)] = spellings
    for system, items in CHART_ITEMS.items():
        for itemid, uom in items.values():
            assert (system, itemid) in known, (system, itemid)
            assert normalise_unit(uom) in known[(system, itemid)] | {""}, (itemid, uom)
    for itemid, uom in LAB_ITEMS.values():
        assert normalise_unit(uom) in known[("labevents", itemid)]
    d_items = _read(out, "D_ITEMS")
    used = set(_read(out, "CHARTEVENTS")["ITEMID"])
    assert used <= set(d_items["ITEMID"])
    assert set(_read(out, "LABEVENTS")["ITEMID"]) <= set(_read(out, "D_LABITEMS")["ITEMID"])


def test_the_release_quirks_are_there(database):
    out, _ = database
    chart = _read(out, "CHARTEVENTS")
    stays = _read(out, "ICUSTAYS").set_index("ICUSTAY_ID")
    units = set(chart["VALUEUOM"].dropna())
    assert {"Deg. F", "?F"} & units and {"Deg. C", "?C"} & units
    errors = chart[chart["ERROR"] == 1]
    assert len(errors) > 0
    assert (stays.loc[errors["ICUSTAY_ID"], "DBSOURCE"] == "metavision").all()
    assert (
        chart.loc[stays.loc[chart["ICUSTAY_ID"], "DBSOURCE"].eq("carevue").to_numpy(), "ERROR"]
        .isna()
        .all()
    )
    intime = pd.to_datetime(stays.loc[chart["ICUSTAY_ID"], "INTIME"]).to_numpy()
    assert (pd.to_datetime(chart["CHARTTIME"]).to_numpy() < intime).any()
    assert (stays["LOS"] < 1.0).any() and (stays["LOS"] >= 1.0).mean() > 0.6
    admissions = _read(out, "ADMISSIONS")
    assert admissions["SUBJECT_ID"].duplicated().any()
    assert admissions["ADMITTIME"].str[:4].astype(int).between(2100, 2200).all()
    # Patients older than 89: the date of birth sits about 300 years before admission.
    patients = _read(out, "PATIENTS").set_index("SUBJECT_ID")
    first = admissions.groupby("SUBJECT_ID")["ADMITTIME"].min().str[:4].astype(int)
    age = first - patients.loc[first.index, "DOB"].str[:4].astype(int)
    assert age.max() >= 299 and (age < 90).mean() > 0.8
    # A GCS component's VALUE is text; numeric items have VALUE = VALUENUM.
    gcs = chart[(chart["ITEMID"] == 220739) & (chart["ERROR"] == 0)]
    assert (
        gcs.empty
        or gcs["VALUE"].isin(["No Response", "To Pain", "To Speech", "Spontaneously"]).all()
    )
    hr = chart[chart["ITEMID"] == 211]
    assert np.allclose(hr["VALUE"].astype(float), hr["VALUENUM"])


def test_the_extractor_recovers_the_planted_labels(database, tmp_path):
    out, cohort = database
    extract(out, tmp_path, settings={}, provenance={})
    extracted = pq.read_table(tmp_path / "cohort.parquet").to_pandas()
    diagnoses = pq.read_table(tmp_path / "diagnoses.parquet").to_pandas()
    assert len(extracted) > 40
    truth = cohort.truth.set_index("ICUSTAY_ID")
    stay_column = next(c for c in extracted.columns if c.lower() == "icustay_id")
    for target, column in (("icd9", "icd9_label"), ("mortality", "mortality_class")):
        labels, _ = dataset_labels(extracted, diagnoses, {"target": target})
        expected = truth.loc[extracted[stay_column], column].to_numpy()
        assert (labels["label"].to_numpy() == expected).all(), target
    qc = pd.read_csv(tmp_path / "qc_events.csv")
    assert qc.loc[qc["measure"] == "unknown_unit", "count"].sum() == 0
    assert qc.loc[qc["measure"] == "error_flag", "count"].sum() > 0


def test_same_seed_same_bytes_other_seed_differs(database, tmp_path):
    out, _ = database
    again = generate_mimic(tmp_path / "again", stays=120, seed=4)
    assert again.truth.equals(database[1].truth)
    for table in TABLES:
        assert (tmp_path / "again" / f"{table}.csv").read_bytes() == (
            out / f"{table}.csv"
        ).read_bytes()
    other = simulate_mimic(stays=120, seed=5)
    assert not other.icustays.equals(database[1].icustays)


def _included(truth: pd.DataFrame) -> pd.DataFrame:
    """The extractor's cohort rules on the truth: >= 24 h, adults, first stay per patient."""
    keep = truth[(truth["los_hours"] >= 24) & (truth["age"] >= 15)]
    return keep.sort_values(["SUBJECT_ID", "intime"]).groupby("SUBJECT_ID").head(1)


def _auc(model, train, test, columns, target):
    fit = model.fit(train[columns], train[target])
    prob = fit.predict_proba(test[columns])
    if prob.shape[1] == 2:
        return roc_auc_score(test[target], prob[:, 1])
    return roc_auc_score(test[target], prob, multi_class="ovr", average="macro")


def test_oracle_on_true_factors_beats_each_modality_alone():
    truth = _included(simulate_mimic(stays=8000, seed=0).truth)
    truth = truth.assign(
        sev_x_static=truth["severity_factor"] * truth["static_mort_score"],
        resp_x_static=truth["respiratory_factor"] * truth["static_icd_score"],
    )
    train, test = truth.iloc[: len(truth) // 2], truth.iloc[len(truth) // 2 :]
    model = LogisticRegression(max_iter=5000)
    tasks = {
        "icd9_label": (["respiratory_factor"], ["static_icd_score"], ["resp_x_static"]),
        "mortality_class": (
            ["severity_factor", "respiratory_factor"],
            ["static_mort_score"],
            ["sev_x_static"],
        ),
    }
    for target, (series, static, interaction) in tasks.items():
        oracle = _auc(model, train, test, series + static + interaction, target)
        assert oracle >= 0.8, target
        for alone in (series, static):
            assert _auc(model, train, test, alone, target) < oracle - 0.04, (target, alone)


def test_extra_items_add_unmapped_rows_listed_in_d_items(tmp_path):
    generate_mimic(tmp_path, stays=12, seed=1, extra_items=3)
    chart = _read(tmp_path, "CHARTEVENTS")
    mapped = {
        itemid
        for channel in load_variable_map().channels()
        for ids in channel.itemids.values()
        for itemid in ids
    }
    extra = set(chart["ITEMID"]) - mapped - {212, 220048}
    assert len(extra) >= 3 and not extra & mapped
    assert set(chart["ITEMID"]) <= set(_read(tmp_path, "D_ITEMS")["ITEMID"])
    plain = simulate_mimic(stays=12, seed=1)
    assert chart["ICUSTAY_ID"].nunique() == len(plain.icustays)
