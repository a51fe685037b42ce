"""Leakage guards of the shared training loop: model selection (early stopping, the restored
best epoch) reads train and val only, so scrambling the test patients' labels or features
changes nothing that training produces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlego.models.base import InputSpec
from mmlego.models.catalogue import get_builder
from mmlego.train.loop import fit
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split

CFG = {**TINY_TRAIN, "epochs": 5, "patience": 5}


def _fit(data):
    spec = {"tab": InputSpec("vector", data.modalities["tab"].dim)}
    cfg = {"lego": TINY_LEGO, "train": CFG}
    torch.manual_seed(3)  # as train_run does before building
    model = get_builder("lego_block")(modalities=spec, n_out=data.n_out, task=data.task, cfg=cfg)
    result = fit(model, data, CFG, require=["tab"], seed=3)
    return result, {k: v.clone() for k, v in model.state_dict().items()}


def _test_rows(data) -> np.ndarray:
    return data.labels["patient_id"].isin(data.sets["test"]).to_numpy()


def _scramble_test_labels(data) -> None:
    rows = _test_rows(data)
    rng = np.random.default_rng(1)
    for column in [c for c in ("label", "time", "event") if c in data.labels]:
        values = data.labels.loc[rows, column].to_numpy()
        if column == "label":
            values = (values + 1) % data.n_out  # every test label changes
        elif column == "time":
            values = rng.uniform(0.1, 50, size=len(values))
        else:
            values = 1 - values
        data.labels.loc[rows, column] = values


def _scramble_test_features(data) -> None:
    rows = _test_rows(data)
    tab = data.modalities["tab"]
    tab.values[rows] = np.random.default_rng(2).normal(size=tab.values[rows].shape) * 100


@pytest.mark.parametrize("task", ["binary", "survival"])
@pytest.mark.parametrize(
    "scramble", [_scramble_test_labels, _scramble_test_features], ids=["labels", "features"]
)
def test_training_never_reads_the_test_patients(task, scramble):
    data = make_split(task, n=40, kinds=("vector",))
    before, weights = _fit(data)
    scrambled = make_split(task, n=40, kinds=("vector",))
    scramble(scrambled)
    assert not scrambled.labels.equals(data.labels) or scramble is _scramble_test_features
    after, weights_after = _fit(scrambled)
    assert after.best_epoch == before.best_epoch
    np.testing.assert_array_equal(
        after.log[["train_loss", "val_loss", "val_metric"]].to_numpy(),
        before.log[["train_loss", "val_loss", "val_metric"]].to_numpy(),
    )
    assert all(torch.equal(weights[k], weights_after[k]) for k in weights)


def test_scrambling_val_labels_does_change_selection():
    # Guards the test above: the selection it checks really depends on the labels it reads.
    data = make_split("binary", n=40, kinds=("vector",))
    before, _ = _fit(data)
    rows = data.labels["patient_id"].isin(data.sets["val"]).to_numpy()
    data.labels.loc[rows, "label"] = 1 - data.labels.loc[rows, "label"]
    after, _ = _fit(data)
    assert not np.array_equal(
        after.log["val_metric"].to_numpy(), before.log["val_metric"].to_numpy()
    )
