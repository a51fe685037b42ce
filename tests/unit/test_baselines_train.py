"""Every baseline through the shared training job: fit, outputs, reload, and it learns."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from mmlego.config import fill_defaults
from mmlego.predictions import read_predictions
from mmlego.train.data import PatientDataset
from mmlego.train.outputs import load_model
from mmlego.train.run import train_run
from tests.unit.splitdata import TINY_TRAIN, make_split

RUNS = [
    "snn.tab", "abmil.img", "abmil.ts", "perceiver.tab", "perceiver.ts", "perceiver_early",
    "late_concat", "late_bilinear", "multimodn", "mcat", "healnet",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_baselines():
    study = {"datasets": {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}}
    params = fill_defaults(study)["baselines"]
    params.update(dim=8, heads=2, dropout=0.0)
    params["perceiver"].update(latents=4, depth=1)
    params["healnet"].update(latents=4, depth=1)
    params["late"]["bilinear_dim"] = 4
    params["mcat"]["groups"] = 2
    return params


# every run on a binary task; the survival path (hazard logits, c-index) on one per family
CASES = [(run, "binary") for run in RUNS] + [
    (run, "survival") for run in ("snn.tab", "abmil.ts", "late_bilinear", "multimodn", "healnet")
]


@pytest.mark.parametrize(("run", "task"), CASES)
def test_baseline_trains_writes_reloads_and_beats_chance(tmp_path, run, task, tiny_baselines):
    # the first kinds are the fused ones; MCAT takes one instance modality, the others any
    kinds = (
        ("vector", "series") if run in ("abmil.ts", "perceiver.ts", "mcat") else ("vector", "bag")
    )
    data = make_split(task, n=60, kinds=kinds, absent={"img": [2, 50], "ts": [5, 55], "tab": [7]})
    train = {**TINY_TRAIN, "epochs": 10, "patience": 10, "lr": 1e-2}
    cfg = {"train": train, "baselines": tiny_baselines}
    model = train_run(
        data, run=run, dataset="toy", split=0, cfg=cfg, out_dir=tmp_path, provenance={}, seed=0
    )
    preds = read_predictions(tmp_path / "predictions.parquet")
    frame, meta = preds.frame, preds.meta
    assert meta["run"] == run and len(frame) == 24
    if task == "binary":
        score = roc_auc_score(frame["label"], frame["prob_1"])
    else:
        score = concordance_index_censored(
            frame["event"].astype(bool), frame["time"], frame["risk"]
        )[0]
    # the label follows a factor planted in every modality: chance is 0.5, and on 24
    # patients a c-index or AUC above 0.65 is about two null standard deviations away
    assert score >= 0.65, f"{run} {task}: {score:.3f}"
    column = "prob_1" if task == "binary" else "risk"
    assert frame[column].std() > 1e-4, "constant predictions"
    reloaded = load_model(tmp_path / "model.pt")
    batch, _, _ = PatientDataset(data, data.sets["test"], list(model.modalities)).collate(range(6))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(batch), model(batch), atol=1e-6)
