"""coxnet, logistic and gbm: planted signals recovered, calibration, the choice made on
validation only, and frames that the metrics step reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from threadpoolctl import threadpool_limits

from mmlego.data.store import ModalityData
from mmlego.data.transforms import SplitData
from mmlego.evaluate.score import score_predictions
from mmlego.models.classical import fit_coxnet, fit_gbm, fit_logistic
from mmlego.models.classical.coxnet import coefficients
from mmlego.models.classical.features import build_design
from mmlego.models.classical.results import Candidate, Prediction
from mmlego.models.classical.selection import select_on_validation, usable
from mmlego.models.classical.validation import cox_partial_nll
from mmlego.predictions import read_predictions, write_predictions
from tests.unit.splitdata import make_split


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """Histogram boosting on tiny data is fastest on one thread, and the test cores are shared
    (OpenMP threads that wait for busy cores slow it down tenfold)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


SMALL_GBM = {"learning_rate": [0.1], "max_depth": [2], "iterations": [10, 30]}


def _planted(task: str, x: np.ndarray, outcome: dict[str, np.ndarray], bins=None, classes=None):
    """A split of one vector modality ``x``: 60 % train, 20 % val, 20 % test."""
    n = len(x)
    ids = [f"q{i:04d}" for i in range(n)]
    labels = pd.DataFrame({"patient_id": ids, **outcome})
    a, b = int(0.6 * n), int(0.8 * n)
    sets = {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}
    names = [f"x{j}" for j in range(x.shape[1])]
    tab = ModalityData("tab", "vector", ids, np.ones(n, bool), x.astype(np.float32), names)
    n_out = len(bins) - 1 if bins is not None else len(classes)
    return SplitData(task, n_out, bins, classes, labels, sets, {"tab": tab})


def test_cox_partial_likelihood_by_hand():
    # exp(risk) = 1, 2, 1, 3; events at t = 1 (risk set: all, sum 7), t = 2 (patients 1-3,
    # the censored tie included: sum 6) and t = 3 (patient 3: sum 3).
    risk = np.log([1.0, 2.0, 1.0, 3.0])
    got = cox_partial_nll(np.array([1, 2, 2, 3.0]), np.array([1, 1, 0, 1]), risk)
    assert got == pytest.approx((np.log(7) + np.log(6 / 2) + np.log(3 / 3)) / 3)


def test_coxnet_recovers_the_sign_of_every_planted_coefficient():
    rng = np.random.default_rng(3)
    beta = np.array([0.9, -0.7, 0.5, -0.4])
    x = rng.normal(size=(600, 4))
    event_time = rng.exponential(1 / (0.1 * np.exp(x @ beta)))
    censor = rng.uniform(0, 30, size=600)
    time, event = np.minimum(event_time, censor), (event_time <= censor).astype(int)
    cuts = np.quantile(time[:360][event[:360] == 1], [0.25, 0.5, 0.75]).tolist()
    data = _planted("survival", x, {"time": time, "event": event}, bins=[0.0, *cuts, np.inf])
    fit = fit_coxnet(data, split=0)
    coef = coefficients(fit)
    assert np.array_equal(np.sign([coef[f"tab:x{j}"] for j in range(4)]), np.sign(beta)), coef
    assert fit.setting in [{k: c[k] for k in fit.setting} for c in fit.curve]


def test_coxnet_survival_is_its_breslow_curve_at_the_bin_edges():
    data = make_split("survival", n=80, kinds=("vector", "series"))
    fit = fit_coxnet(data, split=0, l1_ratio=[0.5])
    x_test = build_design(data).x["test"]
    functions = fit.estimator.predict_survival_function(x_test, alpha=fit.setting["alpha"])
    edges = np.asarray(data.bins)
    expected = np.array(
        [[fn(min(e, fn.x[-1])) if e >= fn.x[0] else 1.0 for e in edges[1:]] for fn in functions]
    )
    test = fit.frame[fit.frame["set"] == "test"]
    surv = test.filter(like="surv_").to_numpy()
    np.testing.assert_allclose(surv, expected, rtol=1e-12)
    hazards = test.filter(like="hazard_").to_numpy()
    previous = np.concatenate([np.ones((len(surv), 1)), surv[:, :-1]], axis=1)
    np.testing.assert_allclose(hazards, 1 - surv / previous, atol=1e-12)
    np.testing.assert_allclose(
        test["risk"], fit.estimator.predict(x_test, alpha=fit.setting["alpha"]), rtol=1e-12
    )


def test_logistic_probabilities_are_calibrated_on_a_planted_logistic_model():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4000, 3))
    truth = 1 / (1 + np.exp(-(x @ np.array([1.2, -0.8, 0.5]) - 0.3)))
    label = (rng.random(4000) < truth).astype(int)
    data = _planted("binary", x, {"label": label}, classes=["no", "yes"])
    fit = fit_logistic(data, split=0)
    test = fit.frame[fit.frame["set"] == "test"]
    p_hat, y = test["prob_1"].to_numpy(), test["label"].to_numpy()
    # Against the known truth: the fitted probabilities are those of the planted model.
    assert np.max(np.abs(p_hat - truth[3200:])) < 0.05
    # Hosmer-Lemeshow over deciles of the predicted risk on held-out patients: a calibrated
    # model gives a chi-square with 10 degrees of freedom (no parameter was fitted on them).
    groups = np.array_split(np.argsort(p_hat), 10)
    observed = np.array([y[g].sum() for g in groups])
    expected = np.array([p_hat[g].sum() for g in groups])
    sizes = np.array([len(g) for g in groups])
    statistic = np.sum((observed - expected) ** 2 / (expected * (1 - expected / sizes)))
    assert statistic < chi2.ppf(0.999, df=10), statistic


def test_multiclass_probabilities_cover_a_class_absent_from_train():
    data = make_split("multiclass", n=60)
    labels = data.labels.copy()
    train = labels["patient_id"].isin(data.sets["train"])
    labels.loc[train & (labels["label"] == 2), "label"] = 1  # class 2 only in val/test
    data.labels = labels
    fit = fit_logistic(data, split=0, C=[1.0])
    probs = fit.frame.filter(like="prob_").to_numpy()
    assert probs.shape[1] == 3
    np.testing.assert_array_equal(probs[:, 2], 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def _permute_test_labels(data: SplitData, seed: int) -> SplitData:
    labels = data.labels.copy()
    rows = np.flatnonzero(labels["patient_id"].isin(data.sets["test"]).to_numpy())
    shuffled = np.random.default_rng(seed).permutation(rows)
    columns = ["time", "event"] if data.task == "survival" else ["label"]
    labels.loc[rows, columns] = labels.loc[shuffled, columns].to_numpy()
    return SplitData(
        data.task, data.n_out, data.bins, data.classes, labels, data.sets, data.modalities
    )


CASES = [
    ("survival", fit_coxnet, {}),
    ("survival", fit_gbm, SMALL_GBM),
    ("binary", fit_logistic, {}),
    ("multiclass", fit_gbm, SMALL_GBM),
]


@pytest.mark.parametrize(("task", "fit_family", "grid"), CASES)
@pytest.mark.parametrize("select_on", ["loss", "metric"])
def test_the_choice_and_the_fit_never_read_test_labels(task, fit_family, grid, select_on):
    data = make_split(task, n=60, kinds=("vector", "bag", "series"))
    base = fit_family(data, split=0, select_on=select_on, **grid)
    permuted_data = _permute_test_labels(data, seed=1)
    other = fit_family(permuted_data, split=0, select_on=select_on, **grid)
    truth = ["time", "event"] if task == "survival" else ["label"]
    assert not base.frame[truth].equals(other.frame[truth])  # the permutation did move labels
    assert other.setting == base.setting
    assert other.curve == base.curve
    predicted = [c for c in base.frame.columns if c not in truth]
    pd.testing.assert_frame_equal(other.frame[predicted], base.frame[predicted], check_exact=True)


def test_changing_a_val_label_can_change_the_choice():
    # The counterpart of the permutation test: the choice does read the validation labels.
    data = make_split("binary", n=60, kinds=("vector",))
    base = fit_logistic(data, split=0)
    labels = data.labels.copy()
    val = labels["patient_id"].isin(data.sets["val"]).to_numpy()
    labels.loc[val, "label"] = 1 - labels.loc[val, "label"]
    flipped = fit_logistic(
        SplitData(data.task, 2, None, data.classes, labels, data.sets, data.modalities), split=0
    )
    assert [c["val_loss"] for c in flipped.curve] != [c["val_loss"] for c in base.curve]
    assert flipped.setting != base.setting


@pytest.mark.parametrize(
    ("task", "fit_family", "grid"),
    [("survival", fit_coxnet, {}), ("survival", fit_gbm, SMALL_GBM), ("binary", fit_gbm, SMALL_GBM),
     ("multiclass", fit_logistic, {})],
)  # fmt: skip
def test_frames_are_scored_by_the_metrics_step_with_missing_modalities(
    tmp_path, task, fit_family, grid
):
    # Patients 5 (train), 40 (val) and 55 (test) lack the bag; 7 (train) and 50 (test) the series.
    absent = {"img": [5, 40, 55], "ts": [7, 50]}
    data = make_split(task, n=60, kinds=("vector", "bag", "series"), absent=absent)
    fit = fit_family(data, split=0, **grid)
    assert len(fit.frame) == 24 and {"img:missing", "ts:missing"} <= set(fit.features)
    meta = {"task": task, "bins": data.bins, "classes": data.classes, "run": fit.model}
    write_predictions(tmp_path / "predictions.parquet", fit.frame, meta)
    preds = read_predictions(tmp_path / "predictions.parquet")
    scored = score_predictions(preds, data.labels, data.sets, 0)
    metric = "c_index" if task == "survival" else ("auc" if task == "binary" else "auc_macro_ovr")
    # make_split plants the label in every modality: far better than chance on 12 patients
    assert scored["test"][metric] > 0.7, scored
    assert scored["n"] == {"val": 12, "test": 12}


def test_same_split_same_fit_bit_for_bit():
    data = make_split("survival", n=60, kinds=("vector", "series"))
    a, b = fit_gbm(data, split=0, seed=4, **SMALL_GBM), fit_gbm(data, split=0, seed=4, **SMALL_GBM)
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.record() == b.record()


def test_undefined_validation_scores_keep_the_first_setting_and_bad_options_are_named():
    data = make_split("survival", n=60, kinds=("vector",))
    labels = data.labels.copy()
    labels.loc[labels["patient_id"].isin(data.sets["val"]), "event"] = 0  # no val event
    no_events = SplitData(
        data.task, data.n_out, data.bins, None, labels, data.sets, data.modalities
    )
    with pytest.warns(RuntimeWarning, match="undefined"):
        fit = fit_coxnet(no_events, split=0, l1_ratio=[0.5])
    assert fit.setting == {k: fit.curve[0][k] for k in fit.setting}
    assert all(c["val_loss"] is None for c in fit.curve)
    with pytest.raises(ValueError, match=r"select_on must be one of \['loss', 'metric'\]"):
        fit_coxnet(data, split=0, select_on="auc")
    with pytest.raises(ValueError, match="'coxnet' fits survival tasks, not 'binary'"):
        fit_coxnet(make_split("binary", n=30), split=0)


def test_a_setting_with_unusable_curves_is_never_chosen():
    # Setting b ranks the validation patients perfectly but its curves overflow (> 1), as a
    # nearly unpenalised Cox fit's Breslow baseline can: the usable setting a is chosen.
    data = make_split("survival", n=60, kinds=("vector",))
    design = build_design(data)
    val_time = data.labels.iloc[data.indices("val")]["time"].to_numpy()
    perfect = -np.argsort(np.argsort(val_time)).astype(float)

    def make(risk_of, surv_value):
        def predict(x):
            risk = perfect if len(x) == len(perfect) else np.zeros(len(x))
            return Prediction(risk=risk_of(risk), survival=np.full((len(x), 4), surv_value))

        return predict

    candidates = [
        Candidate({"name": "a"}, None, make(lambda r: 0.5 * r + 0.1 * np.sin(r), 0.5)),
        Candidate({"name": "b"}, None, make(lambda r: r, np.inf)),
    ]
    fit = select_on_validation("test", data, design, candidates, split=0, select_on="metric")
    assert fit.setting == {"name": "a"}
    assert fit.curve[1] == {"name": "b", "val_loss": None, "val_metric": None}
    assert not usable(Prediction(risk=np.zeros(2), survival=np.array([[1.2], [0.3]])))
    assert usable(Prediction(probs=np.array([[0.4, 0.6]])))
