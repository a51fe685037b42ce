"""Real snakemake runs of the evaluation rules on hand-made predictions (per the contract)."""

from __future__ import annotations

import json

import yaml

from tests.conftest import REPO, run_snakemake
from tests.evaluate_fixtures import survival_study


def _study(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["output_dir"] = str(tmp_path / "out")
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_metrics_rule_scores_saved_predictions(tmp_path):
    config = _study(tmp_path)
    survival_study(tmp_path / "out" / "tcga", n=50, signal=3.0, run="lego_merge", k=1)
    target = tmp_path / "out" / "tcga" / "lego_merge" / "split1" / "metrics.json"
    result = run_snakemake(str(target), "--cores", "1", "--configfile", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(target.read_text())
    assert doc["split"] == 1 and doc["task"] == "survival"
    assert doc["test"]["c_index"] > 0.6
    log = tmp_path / "out" / "logs" / "metrics" / "tcga" / "lego_merge" / "split1.log"
    assert "lego_merge split 1" in log.read_text()
