"""scripts/export_cohort.py: GBSG2 and WHAS500 written as the raw files and config of a
generic study."""

from __future__ import annotations

import importlib.util

import pandas as pd
from sksurv.datasets import load_whas500

from mmlego.config import load_config
from mmlego.data.kinds import dataset_modalities
from mmlego.models.catalogue import dataset_runs
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "export_cohort", REPO / "scripts" / "export_cohort.py"
)
export_cohort = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_cohort)


def test_gbsg2_becomes_labels_two_modalities_and_a_valid_config(tmp_path):
    export_cohort.main(["--out", str(tmp_path / "raw"), "--output-dir", str(tmp_path / "out")])
    labels = pd.read_csv(tmp_path / "raw" / "labels.csv", dtype={"pid": str})
    # GBSG2: 686 patients, 299 recurrences or deaths (the package's event indicator).
    assert len(labels) == 686 and labels["recurrence"].sum() == 299
    assert labels["pid"].iloc[[0, -1]].tolist() == ["G001", "G686"]
    assert labels["days"].min() > 0
    for name, columns in export_cohort.MODALITIES.items():
        table = pd.read_csv(tmp_path / "raw" / f"{name}.csv", dtype={"pid": str})
        assert table.columns.tolist() == ["pid", *columns]
        assert table["pid"].tolist() == labels["pid"].tolist()
    assert set(pd.read_csv(tmp_path / "raw" / "tumour.csv")["tgrade"]) == {"I", "II", "III"}

    config = load_config(tmp_path / "raw" / "study.yaml")  # passes the workflow's own check
    mods = dataset_modalities(config["datasets"]["gbsg2"])
    assert [(m.name, m.type) for m in mods] == [("clinical", "tabular"), ("tumour", "tabular")]
    # Every listed model applies to two tabular modalities.
    runs = dataset_runs(mods, config["models"])
    assert {run.split(".")[0] for run in runs} == set(export_cohort.MODELS)


def test_whas500_becomes_labels_two_modalities_and_a_valid_config(tmp_path):
    raw = tmp_path / "raw"
    export_cohort.main(["--cohort", "whas500", "--out", str(raw), "--output-dir", str(tmp_path)])
    labels = pd.read_csv(raw / "labels.csv", dtype={"pid": str})
    # WHAS500: 500 patients, 215 deaths during follow-up.
    assert len(labels) == 500 and labels["death"].sum() == 215
    assert labels["pid"].iloc[[0, -1]].tolist() == ["W001", "W500"]
    modalities = export_cohort.COHORTS["whas500"].modalities
    for name, columns in modalities.items():
        table = pd.read_csv(raw / f"{name}.csv", dtype={"pid": str})
        assert table.columns.tolist() == ["pid", *columns]
        assert table["pid"].tolist() == labels["pid"].tolist()
    # Every feature of the package's table is in exactly one modality.
    columns = [column for names in modalities.values() for column in names]
    assert sorted(columns) == sorted(load_whas500()[0].columns)
    config = load_config(raw / "study.yaml")
    mods = dataset_modalities(config["datasets"]["whas500"])
    assert [(m.name, m.type) for m in mods] == [("patient", "tabular"), ("hospital", "tabular")]
