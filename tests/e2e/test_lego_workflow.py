"""Real snakemake run of the model stages on a tiny generic study: blocks → merge, adaptive
merge and fuse.

The study is written by hand: two modalities (a table and a long-format time series) that each
carry half of the signal, some patients without one of them. Then a merge option is changed and
a dry run must plan the merge job only (the params rerun trigger).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego.data.store import read_presence
from tests.conftest import REPO, run_snakemake

# The model rules activate once the stages that make their inputs are in the workflow.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REPO / "workflow" / "rules" / "splits.smk").exists(),
        reason="the splits stage (splits.smk) is not in this workflow yet",
    ),
]

N = 80


def _write_study(root):
    rng = np.random.default_rng(0)
    ids = [f"pt{i:03d}" for i in range(N)]
    z1, z2 = rng.normal(size=(2, N))
    clinical = pd.DataFrame(
        {"patient_id": ids, "a": z1 + 0.3 * rng.normal(size=N), "b": rng.normal(size=N)}
    )
    clinical.drop(index=[3, 4]).to_csv(root / "clinical.csv", index=False)
    rows = [
        (pid, t, var, (z2[i] if var == "lactate" else 0.0) + 0.3 * rng.normal())
        for i, pid in enumerate(ids)
        if i not in (5, 6)
        for t, var in zip(rng.uniform(-10, 0, 8), ["lactate", "hr"] * 4, strict=True)
    ]
    pd.DataFrame(rows, columns=["patient_id", "day", "test", "value"]).to_csv(
        root / "labs.csv", index=False
    )
    pd.DataFrame({"patient_id": ids, "label": (z1 + z2 > 0).astype(int)}).to_csv(
        root / "labels.csv", index=False
    )
    config = {
        "output_dir": "out",
        "device": "cpu",
        "splits": {"repeats": 1},
        "datasets": {
            "toy": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "labels.csv", "label": "label"},
                "modalities": {
                    "clinical": {"type": "tabular", "path": "clinical.csv"},
                    "labs": {"type": "timeseries", "path": "labs.csv", "time": "day", "variable": "test",
                             "value": "value", "window": [-10, 0], "bins": 4},
                },
            }
        },
        "models": ["lego_block", "lego_merge", "lego_merge_adaptive", "naive_mc", "damc",
                   "lego_fuse", "lego_ensemble"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 4, "batch_size": 16, "lr": 3.0e-3, "patience": 4},
        "fuse": {"epochs": 1},
    }  # fmt: skip
    (root / "study.yaml").write_text(yaml.safe_dump(config))


def test_blocks_merge_and_fuse_run_and_only_merge_reruns_on_a_merge_option(tmp_path):
    _write_study(tmp_path)
    targets = [
        "out/toy/lego_merge/split0/predictions.parquet",
        "out/toy/lego_merge/split0/missing_modality.json",
        "out/toy/lego_fuse/split0/predictions.parquet",
        "out/toy/lego_merge_adaptive/split0/lambda.json",
        "out/toy/lego_ensemble/split0/predictions.parquet",
        "out/tables/merge_ablation.md",
        "out/tables/composition.md",
    ]
    common = ["--configfile", "study.yaml", "--cores", "2"]
    done = run_snakemake(*common, *targets, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out" / "toy"
    for run in ("lego_block.clinical", "lego_block.labs", "lego_fuse"):
        log = pd.read_csv(out / run / "split0" / "train_log.csv")
        assert list(log.columns) == [
            "epoch",
            "train_loss",
            "val_loss",
            "val_metric",
            "lr",
            "seconds",
        ]
    merged = pd.read_parquet(out / "lego_merge" / "split0" / "predictions.parquet")
    splits = json.loads((out / "splits.json").read_text())["splits"][0]
    assert sorted(merged["patient_id"]) == sorted(splits["val"] + splits["test"])
    assert np.allclose(merged[["prob_0", "prob_1"]].sum(axis=1), 1.0)
    report = json.loads((out / "lego_merge" / "split0" / "missing_modality.json").read_text())
    assert (
        set(report["without"]) == {"clinical", "labs"} and report["provenance"]["seed"] is not None
    )
    weights = json.loads((out / "lego_merge_adaptive" / "split0" / "lambda.json").read_text())
    assert set(weights["lambda"]) == {"clinical", "labs"}
    assert weights["val_metric"] >= weights["equal_val_metric"] and len(weights["curve"]) == 11
    # lego_ensemble: per patient, the mean of the probabilities of the blocks it has inputs for.
    blocks = {
        m: pd.read_parquet(out / f"lego_block.{m}" / "split0" / "predictions.parquet").set_index(
            ["patient_id", "set"]
        )["prob_1"]
        for m in ("clinical", "labs")
    }
    present = {m: read_presence(out / "modalities" / f"{m}.h5") for m in blocks}
    ensemble = pd.read_parquet(out / "lego_ensemble" / "split0" / "predictions.parquet")
    for row in ensemble.itertuples():
        have = [m for m in blocks if present[m][row.patient_id]] or list(blocks)
        expected = np.mean([blocks[m][(row.patient_id, row.set)] for m in have])
        assert row.prob_1 == pytest.approx(expected), row.patient_id
    # The composition table: every composition of the blocks and the best block, the λ of
    # the weighted ones, and LegoMerge's test AUC as its metrics.json has it.
    composition = pd.read_csv(tmp_path / "out" / "tables" / "composition.csv").set_index("model")
    assert list(composition.index) == ["lego_merge", "lego_merge_adaptive", "naive_mc", "damc",
                                       "lego_fuse", "lego_ensemble", "best_block"]  # fmt: skip
    merge_metrics = json.loads((out / "lego_merge" / "split0" / "metrics.json").read_text())
    assert composition.at["lego_merge", "mean"] == pytest.approx(merge_metrics["test"]["auc"])
    damc = json.loads((out / "damc" / "split0" / "lambda.json").read_text())
    assert json.loads(composition.at["damc", "lambda"]) == {"0": damc["lambda"]}
    assert json.loads(composition.at["lego_merge_adaptive", "lambda"]) == {"0": weights["lambda"]}
    assert (tmp_path / "out" / "figures" / "composition.png").stat().st_size > 0
    ablation = pd.read_csv(tmp_path / "out" / "tables" / "merge_ablation.csv")
    assert len(ablation) == 18 and ablation["default"].sum() == 1
    # A merge option changes the merge job's params only: blocks and fuse stay cached.
    plan = run_snakemake(
        *common,
        *targets,
        "-n",
        "--quiet",
        "host",
        "--config",
        "merge={'magnitude': 'mean'}",
        cwd=tmp_path,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    assert jobs.get("merge") == "1" and "train" not in jobs and "fuse" not in jobs, plan.stdout[
        -2000:
    ]
    assert jobs.get("merge_adaptive") == "1", plan.stdout[-2000:]
    # A step of the λ search (a file: --config passes 0.5 as text).
    study = yaml.safe_load((tmp_path / "study.yaml").read_text())
    study["merge"] = {"adaptive": {"step": 0.5}}
    (tmp_path / "step.yaml").write_text(yaml.safe_dump(study))
    plan = run_snakemake(
        "--configfile", "step.yaml", "--cores", "2", *targets, "-n", "--quiet", "host", cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    # The λ search's step is the adaptive merge's and DAMC's alone (their metrics and the
    # composition table follow; NaiveMC, LegoMerge, the blocks and the fuse stay cached).
    assert jobs.get("merge_adaptive") == "1" and jobs.get("damc") == "1", plan.stdout[-2000:]
    assert set(jobs) <= {"merge_adaptive", "damc", "metrics", "composition", "total"}, plan.stdout[
        -2000:
    ]
