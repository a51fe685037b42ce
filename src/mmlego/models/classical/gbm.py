"""``gbm``: gradient-boosted trees; scikit-learn's ``HistGradientBoostingClassifier`` for
classification, scikit-survival's ``GradientBoostingSurvivalAnalysis`` (Cox loss) for survival.

One candidate per (learning_rate, max_depth, iterations) of the grid. Boosting runs its full
number of iterations (no internal early stopping: that would hold out a random part of train
and choose on it); ``seed`` fixes the trees' randomness. The survival model's risk is its
log hazard ratio and its curves come from its Breslow baseline.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sksurv.ensemble import GradientBoostingSurvivalAnalysis

from mmlego.data.transforms import SplitData
from mmlego.models.classical.features import build_design
from mmlego.models.classical.results import Candidate, ClassicalFit, Prediction
from mmlego.models.classical.selection import (
    class_probabilities,
    class_target,
    require_task,
    select_on_validation,
    survival_on_bins,
    survival_target,
)


def _estimator(task: str, setting: dict[str, Any], *, min_samples_leaf: int, seed: int) -> Any:
    common = {
        "learning_rate": setting["learning_rate"],
        "max_depth": setting["max_depth"],
        "min_samples_leaf": min_samples_leaf,
    }
    if task == "survival":
        return GradientBoostingSurvivalAnalysis(
            loss="coxph", n_estimators=setting["iterations"], random_state=seed, **common
        )
    return HistGradientBoostingClassifier(
        max_iter=setting["iterations"], early_stopping=False, random_state=seed, **common
    )


def _predictor(model: Any, data: SplitData) -> Any:
    if data.task == "survival":
        bins = data.bins
        assert bins is not None

        def predict_survival(x: np.ndarray) -> Prediction:
            curves = model.predict_survival_function(x, return_array=True)
            return Prediction(
                risk=model.predict(x), survival=survival_on_bins(model.unique_times_, curves, bins)
            )

        return predict_survival

    def predict_probs(x: np.ndarray) -> Prediction:
        return Prediction(probs=class_probabilities(model, x, data.n_out))

    return predict_probs


def fit_gbm(
    data: SplitData,
    *,
    split: int,
    learning_rate: Sequence[float] = (0.03, 0.1),
    max_depth: Sequence[int] = (2, 3),
    iterations: Sequence[int] = (50, 200),
    min_samples_leaf: int = 5,
    seed: int = 0,
    select_on: str = "loss",
    modalities: Sequence[str] | None = None,
) -> ClassicalFit:
    """Fit boosted trees for every grid setting on train; keep the best on validation by
    ``select_on`` (``loss`` or ``metric``, as for coxnet and logistic).

    ``min_samples_leaf``: the smallest leaf of both estimators (scikit-learn's default of 20
    for the histogram trees leaves a 36-patient train set without a single split).
    """
    require_task(data, ["survival", "binary", "multiclass"], "gbm")
    design = build_design(data, modalities)
    target = (
        survival_target(data, "train") if data.task == "survival" else class_target(data, "train")
    )

    def candidates() -> Iterator[Candidate]:
        for rate, depth, n in itertools.product(learning_rate, max_depth, iterations):
            setting = {"learning_rate": float(rate), "max_depth": int(depth), "iterations": int(n)}
            model = _estimator(data.task, setting, min_samples_leaf=min_samples_leaf, seed=seed)
            model.fit(design.x["train"], target)
            yield Candidate(setting, model, _predictor(model, data))

    return select_on_validation("gbm", data, design, candidates(), split=split, select_on=select_on)
