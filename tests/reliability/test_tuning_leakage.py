"""Tuning never reads the test patients: scrambling their labels leaves every trial, the
chosen parameters and the kept model's weights bit-identical, in both tuning stages."""

from __future__ import annotations

import pytest
import torch

from mmlego.train.tuning import TuneSettings, tune_run, tune_shared
from tests.reliability.test_leakage import _scramble_test_labels
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split

CFG = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 3, "patience": 3}}
SECTION = {
    "trials": 3,
    "startup_trials": 1,
    "warmup_epochs": 1,
    "space": {
        "train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        "lego.latent_dim": {"type": "categorical", "choices": [4, 8, 12]},
    },
    "shared": {"keys": ["lego.latent_dim"], "trials": 3},
}
SETTINGS = TuneSettings.from_config(SECTION)
# The small-cohort options: scored on the val loss, trial 0 kept unless beaten by a margin.
LOSS_MARGIN = TuneSettings.from_config({**SECTION, "objective": "loss", "margin": 0.01})
RUNS = ["lego_block.tab", "lego_block.img"]


def _tune_block(data, settings=SETTINGS):
    tuned = tune_run(
        data, run="lego_block.tab", split=0, cfg=CFG, settings=settings, seed=3,
        fixed={"lego.latent_dim": 8},
    )  # fmt: skip
    return tuned.summary, {k: v.clone() for k, v in tuned.model.state_dict().items()}


def _tune_block_on_loss(data):
    return _tune_block(data, LOSS_MARGIN)


def _tune_shape(data):
    summary = tune_shared(
        data, runs=RUNS, split=0, cfg=CFG, settings=SETTINGS, seeds={r: 3 for r in RUNS},
        study_seed=5,
    )  # fmt: skip
    return summary, {}


@pytest.mark.parametrize(
    "stage", [_tune_block, _tune_shape, _tune_block_on_loss], ids=["run", "shared", "loss-margin"]
)
def test_tuning_never_reads_the_test_labels(stage):
    kinds = ("vector", "bag") if stage is _tune_shape else ("vector",)
    data = make_split("survival", n=40, kinds=kinds)
    before, weights = stage(data)
    scrambled = make_split("survival", n=40, kinds=kinds)
    _scramble_test_labels(scrambled)
    assert not scrambled.labels.equals(data.labels)
    after, weights_after = stage(scrambled)
    assert after == before  # every trial's params, state, value, epochs; the chosen params
    assert weights.keys() == weights_after.keys()
    assert all(torch.equal(weights[k], weights_after[k]) for k in weights)


def test_scrambling_val_labels_does_change_the_trials():
    # Guards the test above: the trials it compares really depend on the labels they read.
    data = make_split("survival", n=40, kinds=("vector",))
    before, _ = _tune_block(data)
    rows = data.labels["patient_id"].isin(data.sets["val"]).to_numpy()
    data.labels.loc[rows, "time"] = data.labels.loc[rows, "time"].to_numpy()[::-1]
    after, _ = _tune_block(data)
    assert [t["value"] for t in after["trials"]] != [t["value"] for t in before["trials"]]
