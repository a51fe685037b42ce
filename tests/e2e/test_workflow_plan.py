"""Real snakemake runs on the shipped and on broken configs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

from tests.conftest import BIN, REPO, demo_study, run_snakemake

# The demo study's jobs (rule, output) as planned before issue 19's refactor, and the rules
# that refactor renamed to match their subcommands.
PLAN_FILE = REPO / "tests" / "e2e" / "data" / "plan_demo.tsv"
RENAMED_RULES = {
    "tables_tcga": "read_tables_tcga",
    "tables_isic": "read_tables_isic",
    "mimic_icd9": "mimic_dataset_icd9",
    "mimic_mort": "mimic_dataset_mort",
}


def test_demo_config_plans(tmp_path):
    result = run_snakemake("-n", "--cores", "1", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "resolve_config" in result.stdout


def test_paper_config_lists_every_missing_raw_input():
    result = run_snakemake("-n", "--cores", "1", "--configfile", "config/paper.yaml")
    assert result.returncode != 0
    err = result.stdout + result.stderr
    assert "12 raw input(s) of this study do not exist" in err
    for needle in (
        "datasets.blca.slides",
        "GDC",
        "PhysioNet",
        "datasets.isic.metadata",
        "MCAT/PORPOISE",
    ):
        assert needle in err
    assert "Traceback" not in err


def test_broken_config_stops_before_any_job(tmp_path):
    config = demo_study(tmp_path / "out")
    config["models"] = ["lego_block", "gpt"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake("--cores", "1", "--configfile", str(path))
    assert result.returncode != 0
    assert "config key 'models.1': 'gpt' is not allowed" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_real_run_writes_the_resolved_config_with_provenance(tmp_path):
    config = demo_study(tmp_path / "out")
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(
        f"{tmp_path}/out/config.resolved.yaml", "--cores", "1", "--configfile", str(path), cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load((tmp_path / "out" / "config.resolved.yaml").read_text())
    assert resolved["encoder"]["channels_last"] is True  # a schema default, filled in
    assert set(resolved["provenance"]) >= {
        "config_hash",
        "git_commit",
        "packages",
        "seed",
        "device",
    }


def test_cli_lists_its_steps():
    result = subprocess.run(
        [str(BIN / "mmlego"), "--help"], capture_output=True, text=True, check=True
    )
    assert "check-config" in result.stdout and "resolve-config" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "mmlego.cli", "check-config", "/nonexistent.yaml"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "/nonexistent.yaml" in bad.stderr


def test_missing_files_of_a_generic_dataset_stop_the_demo_study(tmp_path):
    """With the demo on, a dataset the generator does not write is still checked: a dry run
    stops and names each missing file, instead of quietly planning without the dataset."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = {"icd9": config["datasets"]["icd9"]}
    config["evaluate"]["unpaired"]["enabled"] = False
    # Binary tasks only: the survival model of the list would fit no dataset (an error of its own).
    config["models"].remove("coxnet")
    missing = {
        name: str(tmp_path / "absent" / f"{name}.csv") for name in ("labels", "clin", "labs")
    }
    config["datasets"]["mine"] = {
        "kind": "generic",
        "task": "binary",
        "labels": {"path": missing["labels"], "label": "y"},
        "modalities": {
            "clin": {"type": "tabular", "path": missing["clin"]},
            "labs": {"type": "timeseries", "path": missing["labs"], "window": [0, 10], "bins": 2},
        },
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(path), cwd=tmp_path)
    err = result.stdout + result.stderr
    assert result.returncode != 0, err
    assert "3 raw input(s) of this study do not exist" in err
    for key, file in (
        ("datasets.mine.labels.path", missing["labels"]),
        ("datasets.mine.modalities.clin.path", missing["clin"]),
        ("datasets.mine.modalities.labs.path", missing["labs"]),
    ):
        assert f"{key} = {file}" in err
    assert "icd9" not in err.split("do not exist")[1]  # the demo's own files are not listed


def planned_outputs(workdir) -> list[str]:
    """``rule<TAB>output`` of every job ``config/config.yaml`` plans from an empty output
    folder (``snakemake --summary``), sorted. Jobs behind the manifest checkpoint (encoding)
    are only known once it ran, so a fresh folder plans everything else."""
    shutil.copytree(REPO / "config", workdir / "config")
    result = run_snakemake("--summary", "--cores", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
    return sorted(f"{row[2]}\t{row[0]}" for row in rows)


def test_the_demo_plan_is_the_recorded_one(tmp_path):
    """Every job (rule and output path) of the demo study is the one recorded in
    ``tests/e2e/data/plan_demo.tsv`` (but for the renamed rules); a change to the plan must
    update that file on purpose."""
    rows = [line.split("\t") for line in PLAN_FILE.read_text().splitlines()]
    recorded = sorted(f"{RENAMED_RULES.get(rule, rule)}\t{path}" for rule, path in rows)
    planned = planned_outputs(tmp_path)
    assert planned == recorded, "\n".join(sorted(set(planned) ^ set(recorded))[:20])
