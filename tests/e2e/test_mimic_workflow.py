"""A real snakemake run of the MIMIC rules on a hand-made database: one shared extraction,
two datasets (icd9, mortality) with their labels, stores and QC tables."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import yaml

from mmlego.data.labels import read_labels
from mmlego.data.store import read_modality
from tests.conftest import REPO, run_snakemake
from tests.e2e.test_add_modality import planned_jobs
from tests.unit.mimic_tables import write_database


def test_mimic_rules_extract_once_and_write_both_datasets(tmp_path):
    raw = write_database(tmp_path / "raw", gzip_chart=True)
    out = tmp_path / "out"
    mimic = {"kind": "mimic", "mimic_dir": str(raw), "chunk_rows": 1000}
    config = {
        "output_dir": str(out),
        "demo": {"enabled": False},
        "models": ["lego_block"],
        "datasets": {
            "icd9": {**mimic, "task": "binary", "target": "icd9"},
            "mort": {**mimic, "task": "multiclass", "target": "mortality"},
        },
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [
        str(out / ds / name)
        for ds in ("icd9", "mort")
        for name in ("labels.parquet", "modalities/vitals.h5", "modalities/static.h5",
                     "qc/mimic_cohort.csv")
    ]  # fmt: skip
    result = run_snakemake(*targets, "--cores", "2", "--configfile", str(path), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    # One extraction and one cohort for both datasets.
    extractions = [p for p in (out / "_mimic").iterdir() if p.name != "cohort"]
    assert len(extractions) == 1 and len(list((out / "_mimic" / "cohort").iterdir())) == 1
    icd9, meta = read_labels(out / "icd9" / "labels.parquet")
    assert icd9["label"].tolist() == [1, 0, 0] and meta["task"] == "binary"
    mort, meta = read_labels(out / "mort" / "labels.parquet")
    assert mort["label"].tolist() == [1, 5, 4] and len(meta["classes"]) == 6
    vitals = read_modality(out / "mort" / "modalities" / "vitals.h5")
    assert vitals.values.shape == (3, 24, 12) and vitals.ids.tolist() == ["1", "2", "5"]
    log = next((out / "logs" / "_mimic").glob("*.log")).read_text()
    assert "unknown VALUEUOM 'Deg. K'" in log

    # A new vitals window for icd9: a new extraction and icd9's vitals store, nothing else (its
    # labels and static store, the cohort and every mort file stay as they were).
    config["datasets"]["icd9"]["hours"] = 12
    path.write_text(yaml.safe_dump(config))
    plan = run_snakemake(*targets, "-n", "--quiet", "host", "--cores", "1", "--configfile",
                         str(path), cwd=REPO)  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    rules = [rule for rule, _ in planned_jobs(plan.stdout)]
    assert sorted(rule.split("_")[1] for rule in rules) == ["extract", "vitals"]
    assert "mimic_vitals_icd9" in rules


def test_cli_names_the_file_and_column_of_a_broken_table(tmp_path):
    raw = write_database(tmp_path / "raw")
    chart = raw / "CHARTEVENTS.csv"
    chart.write_text(chart.read_text().replace("VALUENUM", "VALUE_NUM", 1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmlego.cli",
            "mimic-extract",
            "--mimic-dir",
            str(raw),
            "--cfg",
            '{"chunk_rows": 100000}',
            "--out-dir",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "CHARTEVENTS.csv: missing column(s) ['VALUENUM']" in result.stderr
    assert not (tmp_path / "x" / "vitals.h5").exists()


def test_mimic_rules_chain_on_the_demo_generator(tmp_path):
    out = tmp_path / "out"
    mimic = {"kind": "mimic", "mimic_dir": str(out / "raw" / "mimic-iii")}
    config = {
        "output_dir": str(out),
        "demo": {"enabled": True, "mimic_stays": 60},
        "models": ["lego_block"],
        "datasets": {
            "icd9": {**mimic, "task": "binary", "target": "icd9"},
            "mort": {**mimic, "task": "multiclass", "target": "mortality"},
        },
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [str(out / ds / "modalities" / "static.h5") for ds in ("icd9", "mort")]
    targets.append(str(out / "mort" / "qc" / "mimic_cohort.csv"))  # from the extraction
    result = run_snakemake(*targets, "--cores", "2", "--configfile", str(path), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    labels, _ = read_labels(out / "mort" / "labels.parquet")
    cohort = pd.read_csv(out / "mort" / "qc" / "mimic_cohort.csv").set_index("reason")
    assert len(labels) == cohort.loc["included_stays", "stays"] > 0
    static = read_modality(out / "icd9" / "modalities" / "static.h5")
    assert static.ids.tolist() == labels["patient_id"].tolist()
    assert np.isfinite(static.values[:, 0]).all() and (static.values[:, 0] >= 15).all()
