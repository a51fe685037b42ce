"""One classical job (mmlego.models.classical.run): the config's grid, the files it writes,
repeatability, and test labels that decide nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmlego.config import fill_defaults, load_yaml
from mmlego.models.catalogue import job_config
from mmlego.models.classical.run import fit_classical, write_classical_outputs
from mmlego.predictions import read_predictions
from tests.conftest import REPO
from tests.unit.splitdata import make_split

SMALL = {
    "classical": {
        "coxnet": {"l1_ratio": [0.5, 1.0], "n_alphas": 4},
        "logistic": {"C": [0.01, 1.0, 100.0]},
        "gbm": {"learning_rate": [0.1], "max_depth": [2], "iterations": [5, 10]},
    }
}


def _cfg(model: str) -> dict:
    """The job config of ``model`` as the rule passes it: the schema's defaults under SMALL."""
    config = load_yaml(REPO / "config" / "config.yaml")
    return job_config(fill_defaults({**config, **SMALL}), model)


@pytest.mark.parametrize(
    ("model", "task", "settings"), [("logistic", "binary", 3), ("gbm", "multiclass", 2)]
)
def test_the_grid_comes_from_the_config(model, task, settings):
    fit = fit_classical(make_split(task, n=60), model, _cfg(model), split=0, seed=1)
    assert len(fit.curve) == settings and fit.select_on == "loss"


def test_coxnet_fits_one_path_of_n_alphas_per_l1_ratio():
    fit = fit_classical(
        make_split("survival", n=80, kinds=("vector", "series")),
        "coxnet",
        _cfg("coxnet"),
        split=0,
        seed=1,
    )
    assert sorted({c["l1_ratio"] for c in fit.curve}) == [0.5, 1.0]
    assert len(fit.curve) <= 8


def test_a_model_that_is_not_classical_is_refused():
    with pytest.raises(ValueError, match="'snn' is not a classical model"):
        fit_classical(make_split("binary"), "snn", _cfg("gbm"), split=0, seed=0)


def test_the_outputs_follow_the_predictions_contract(tmp_path):
    data = make_split("survival", n=80)
    fit = fit_classical(data, "coxnet", _cfg("coxnet"), split=2, seed=0)
    write_classical_outputs(tmp_path, fit, data, run="coxnet", dataset="os", provenance={"seed": 0})
    preds = read_predictions(tmp_path / "predictions.parquet")  # the checked reader
    assert (preds.meta["run"], preds.meta["dataset"], preds.bins) == ("coxnet", "os", data.bins)
    assert set(preds.frame["split"]) == {2}
    for name in ("val", "test"):
        assert sorted(preds.frame.loc[preds.subset(name), "patient_id"]) == sorted(data.sets[name])
    selection = json.loads((tmp_path / "selection.json").read_text())
    assert selection["setting"] == fit.setting == preds.meta["selection"]["setting"]
    assert selection["provenance"] == {"seed": 0}


@pytest.mark.parametrize(
    ("model", "task"), [("coxnet", "survival"), ("logistic", "binary"), ("gbm", "survival")]
)
def test_same_seed_same_predictions_and_test_labels_change_nothing(model, task):
    data = make_split(task, n=80)
    first = fit_classical(data, model, _cfg(model), split=0, seed=3, threads=2)
    again = fit_classical(data, model, _cfg(model), split=0, seed=3, threads=1)
    pd.testing.assert_frame_equal(first.frame, again.frame, check_exact=True)
    # Permute the test patients' labels: the setting and every prediction stay the same.
    rng = np.random.default_rng(0)
    test = data.labels["patient_id"].isin(data.sets["test"]).to_numpy()
    columns = ["time", "event"] if task == "survival" else ["label"]
    labels = data.labels.copy()
    labels.loc[test, columns] = labels.loc[test, columns].to_numpy()[rng.permutation(test.sum())]
    data.labels = labels
    shuffled = fit_classical(data, model, _cfg(model), split=0, seed=3)
    assert shuffled.setting == first.setting and shuffled.curve == first.curve
    outputs = [
        c for c in first.frame.columns if c.startswith(("risk", "surv_", "hazard_", "prob_"))
    ]
    pd.testing.assert_frame_equal(shuffled.frame[outputs], first.frame[outputs], check_exact=True)
