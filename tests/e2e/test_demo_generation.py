"""A real snakemake run of the demo generator rules on a tiny config."""

from __future__ import annotations

import pandas as pd
import yaml

from mmlego.demo.io import read_truth
from mmlego.utils.provenance import has_provenance
from tests.conftest import demo_study, run_snakemake

SOURCES = ("tcga", "mimic", "isic")
TINY_DEMO = {
    "enabled": True,
    "tcga_patients": 6,
    "slide_size": 512,
    "genes": 4,
    "mimic_stays": 30,
    "mimic_chart_hours": 30,
    "isic_patients": 30,
    "image_size": 64,
    "isic_melanoma_rate": 0.1,
}


def test_generate_rules_write_the_raw_data(tmp_path):
    out = tmp_path / "out"
    config = demo_study(out)
    config["demo"].update(TINY_DEMO)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [str(out / f"raw/truth/{source}.parquet") for source in SOURCES]
    result = run_snakemake(*targets, "--cores", "2", "--configfile", str(path))
    assert result.returncode == 0, result.stderr
    slides = sorted((out / "raw/tcga/slides").glob("*.tif"))
    table = pd.read_csv(out / "raw/tcga/tcga_demo_all_clean.csv.zip")
    assert table["case_id"].nunique() == 6 and len(slides) >= 2
    truth, meta = read_truth(out / "raw/truth/tcga.parquet")
    assert sorted(truth["case_id"]) == sorted(table["case_id"].unique())
    assert meta["source"] == "tcga" and has_provenance(meta["provenance"])
    assert "TCGA-like cohort: 6 patients" in (out / "logs/generate_demo_tcga.log").read_text()
    tables = sorted(p.name for p in (out / "raw/mimic-iii").glob("*.csv"))
    assert "CHARTEVENTS.csv" in tables and len(tables) == 8
    mimic, meta = read_truth(out / "raw/truth/mimic.parquet")
    assert len(mimic) == 30 and meta["params"]["stays"] == 30
    isic = pd.read_csv(out / "raw/isic/train.csv")
    assert isic["patient_id"].nunique() == 30
    assert len(list((out / "raw/isic/train").glob("*.jpg"))) == len(isic)
    for source in SOURCES:
        assert (out / f"benchmarks/generate_demo_{source}.tsv").exists()

    # Each generator's params hold only its own sizes: a bigger ISIC cohort regenerates ISIC.
    config["demo"]["isic_patients"] = 31
    path.write_text(yaml.safe_dump(config))
    plan = run_snakemake(*targets, "-n", "--cores", "1", "--configfile", str(path))
    assert plan.returncode == 0, plan.stderr
    assert "generate_demo_isic" in plan.stdout
    assert "generate_demo_tcga" not in plan.stdout and "generate_demo_mimic" not in plan.stdout
