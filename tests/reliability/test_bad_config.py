"""Bad study configs through a real ``snakemake`` invocation: non-zero exit, a message naming
the offending key, and no output directory."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_snakemake
from tests.unit.mimic_tables import write_database


def _base(tmp_path: Path) -> dict:
    raw = write_database(tmp_path / "mimic-iii")  # a small valid database
    return {
        "output_dir": str(tmp_path / "out"),
        "seed": 0,
        "demo": {"enabled": False},
        "models": ["lego_block"],
        "datasets": {
            "mort": {
                "kind": "mimic",
                "task": "multiclass",
                "target": "mortality",
                "mimic_dir": str(raw),
            }
        },
    }


def _unknown_key(c):
    c["sede"] = 1


def _wrong_type(c):
    c["seed"] = "zero"


def _missing_raw(c):
    c["datasets"]["mort"]["mimic_dir"] = c["output_dir"] + "-nowhere/mimic"


def _fractions(c):
    c["splits"] = {"train": 0.8, "val": 0.15, "test": 0.15}


def _misfit_model(c):
    # A fusion model on a study whose only dataset has one modality.
    table = Path(c["datasets"]["mort"]["mimic_dir"]) / "omics.csv"
    table.write_text("patient_id,g1\np1,0.5\n")
    c["datasets"] = {
        "omics": {
            "kind": "generic",
            "task": "binary",
            "labels": {"path": str(table), "label": "g1"},
            "modalities": {"omics": {"type": "tabular", "path": str(table)}},
        }
    }
    c["models"] = ["lego_merge"]


CASES = {
    "unknown key": (_unknown_key, ["sede"]),
    "wrong type": (_wrong_type, ["seed", "zero"]),
    "missing raw path": (_missing_raw, ["datasets.mort.mimic_dir", "-nowhere/mimic", "PhysioNet"]),
    "fractions": (_fractions, ["splits.train", "sum to 1"]),
    "model misfit": (
        _misfit_model,
        ["'models'", "lego_merge", "dataset 'omics'", "needs at least 2"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_stops_snakemake_before_any_output(tmp_path, case):
    change, expected = CASES[case]
    config = copy.deepcopy(_base(tmp_path))
    change(config)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    work.mkdir()
    result = run_snakemake("--cores", "1", "--configfile", str(path), cwd=work)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    for text in expected:
        assert text in message, message[-2000:]
    assert "Traceback" not in message
    assert not Path(config["output_dir"]).exists()


def test_the_base_config_is_valid(tmp_path):
    # The cases above fail because of their one change, not because the base is broken.
    config = _base(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
