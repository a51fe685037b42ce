"""Real snakemake run of a study with ``splits.scheme: cv``: folds × repeats splits end to end.

A 3-fold cv repeated twice gives six splits: the workflow must fit six transforms and train and
score every model on every one of them, the last (repeat 1, fold 2) included.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, run_snakemake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        "n_splits(" not in (REPO / "workflow" / "rules" / "common.smk").read_text(),
        reason="common.smk does not number the splits with mmlego.data.splits.n_splits yet",
    ),
]

N = 45


def _write_study(root):
    rng = np.random.default_rng(1)
    ids = [f"pt{i:02d}" for i in range(N)]
    z = rng.normal(size=N)
    pd.DataFrame({"patient_id": ids, "a": z + 0.3 * rng.normal(size=N)}).to_csv(
        root / "clinical.csv", index=False
    )
    pd.DataFrame({"patient_id": ids, "label": (z > 0).astype(int)}).to_csv(
        root / "labels.csv", index=False
    )
    config = {
        "output_dir": "out",
        "device": "cpu",
        "splits": {"scheme": "cv", "folds": 3, "repeats": 2},
        "datasets": {
            "toy": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "labels.csv", "label": "label"},
                "modalities": {"clinical": {"type": "tabular", "path": "clinical.csv"}},
            }
        },
        "models": ["lego_block"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 2, "batch_size": 16, "patience": 2},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(config))


def test_a_cv_study_trains_and_scores_every_fold_of_every_repeat(tmp_path):
    _write_study(tmp_path)
    common = ["--configfile", "study.yaml", "--cores", "2"]
    # --quiet host: the job counts, which the local profile's quiet list hides.
    plan = run_snakemake(*common, "-n", "--quiet", "host", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    # One job fits the modality's transforms of all six splits; with unimodal runs alone no
    # split needs the joined file.
    assert jobs.get("modality_transforms") == "1" and "transforms" not in jobs, plan.stdout[-2000:]
    # The one run's six splits train and are scored in one job each (batch_splits).
    assert jobs.get("train") == jobs.get("metrics") == "1", plan.stdout[-2000:]

    out = tmp_path / "out" / "toy"
    last = out / "lego_block.clinical" / "split5" / "metrics.json"
    targets = [
        *(f"out/toy/transforms/split{k}/clinical.json" for k in range(6)),
        str(last.relative_to(tmp_path)),
        "out/tables/table2.md",
    ]
    done = run_snakemake(*common, *targets, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((out / "splits.json").read_text())
    assert (doc["scheme"], doc["folds"], doc["repeats"], len(doc["splits"])) == ("cv", 3, 2, 6)
    split5 = doc["splits"][5]
    assert (split5["repeat"], split5["fold"], split5["val_fold"]) == (1, 2, 0)
    tested = sorted(p for s in doc["splits"][3:] for p in s["test"])
    assert tested == sorted(f"pt{i:02d}" for i in range(N))  # repeat 1 tests everyone once
    for k in range(6):
        fitted = json.loads((out / "transforms" / f"split{k}" / "clinical.json").read_text())
        assert fitted["split"] == k
    metrics = json.loads(last.read_text())
    assert metrics["split"] == 5 and metrics["n"]["test"] == len(split5["test"]) == 15
    # The table says how its cells average: over 6 splits, by 3-fold cv repeated twice.
    table2 = (tmp_path / "out" / "tables" / "table2.md").read_text()
    assert "mean ± std over 6 splits (3-fold cv × 2 repeats)" in table2, table2
