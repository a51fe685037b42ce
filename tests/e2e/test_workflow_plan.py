"""Real snakemake runs on the shipped and on broken configs."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import BIN, REPO, run_snakemake


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
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["output_dir"] = str(tmp_path / "out")
    config["models"] = ["lego_block", "gpt"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake("--cores", "1", "--configfile", str(path))
    assert result.returncode != 0
    assert "config key 'models.1': 'gpt' is not allowed" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_real_run_writes_the_resolved_config_with_provenance(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["output_dir"] = str(tmp_path / "out")
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
