"""``logistic``: L2-penalised logistic regression of scikit-learn, binary and multiclass.

One candidate per inverse penalty strength ``C`` (lbfgs; multinomial for more than two
classes); the class probabilities are ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from mmlego.data.transforms import SplitData
from mmlego.models.classical.features import Design, build_design
from mmlego.models.classical.results import Candidate, ClassicalFit, Prediction
from mmlego.models.classical.selection import (
    class_probabilities,
    class_target,
    require_task,
    select_on_validation,
)


def _candidates(
    design: Design, target: np.ndarray, n_classes: int, *, C: Sequence[float], max_iter: int
) -> Iterator[Candidate]:
    for strength in C:
        model = LogisticRegression(C=strength, max_iter=max_iter).fit(design.x["train"], target)

        def predict(x: np.ndarray, model=model) -> Prediction:
            return Prediction(probs=class_probabilities(model, x, n_classes))

        yield Candidate({"C": float(strength)}, model, predict)


def fit_logistic(
    data: SplitData,
    *,
    split: int,
    C: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0),
    max_iter: int = 1000,
    select_on: str = "loss",
    modalities: Sequence[str] | None = None,
) -> ClassicalFit:
    """Fit a logistic regression for every ``C`` (small = strong penalty) on train; keep the
    best on validation by ``select_on``: ``loss`` (log loss) or ``metric`` (AUC).
    ``modalities``: feature modalities (default all)."""
    require_task(data, ["binary", "multiclass"], "logistic")
    design = build_design(data, modalities)
    target = class_target(data, "train")
    if len(np.unique(target)) < 2:
        raise ValueError("logistic: the train patients of the split hold a single class")
    candidates = _candidates(design, target, data.n_out, C=C, max_iter=max_iter)
    return select_on_validation(
        "logistic", data, design, candidates, split=split, select_on=select_on
    )
