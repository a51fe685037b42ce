"""Choosing a classical model's setting on the validation patients, and its predictions frame.

Every family fits one candidate per setting of its grid on the train patients and hands
them to :func:`select_on_validation`, which scores each on the validation patients (both
the loss and the task's primary metric; :mod:`~mmlego.models.classical.validation`) and
keeps the best by ``select_on``: the lowest loss or the highest metric. Ties go to the
earlier setting (the default grids list the strongest regularisation first). The test
patients' labels are never read here; their rows of the frame get the chosen candidate's
predictions and, as in every run's frame, a copy of their labels for the metrics step.

Survival predictions follow the contract of ``predictions.parquet``: ``surv_j`` is the
survival at the right edge ``e_{j+1}`` of bin j of the split's bins. A fitted survival
function is a right-continuous step function known at the train times (Breslow's
estimator), so ``surv_j`` is its value at the last train time <= ``e_{j+1}`` (1 before the
first), and the last bin, whose edge is +inf, takes the value at the last train time: the
estimator says nothing beyond the follow-up. The hazards follow from the curve
(h_j = 1 - S_j / S_{j-1}) and the risk is the model's own score (Cox: the linear predictor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sksurv.util import Surv

from mmlego.data.transforms import SplitData
from mmlego.evaluate.metric_names import PRIMARY_METRIC
from mmlego.models.baselines.ensemble import hazards_from_survival
from mmlego.models.classical.features import Design
from mmlego.models.classical.results import Candidate, ClassicalFit, Prediction
from mmlego.models.classical.validation import validation_loss, validation_metric
from mmlego.train.outputs import outputs_frame

log = logging.getLogger(__name__)

SELECT_ON = ("loss", "metric")


def require_task(data: SplitData, tasks: Sequence[str], model: str) -> None:
    """Raise naming the model when the split's task is not one it fits."""
    if data.task not in tasks:
        raise ValueError(f"model {model!r} fits {' or '.join(tasks)} tasks, not {data.task!r}")


def survival_target(data: SplitData, set_name: str) -> np.ndarray:
    """The (event, time) structured array of a set, as scikit-survival takes it."""
    truth = data.labels.iloc[data.indices(set_name)]
    return Surv.from_arrays(truth["event"].to_numpy(bool), truth["time"].to_numpy(float))


def class_target(data: SplitData, set_name: str) -> np.ndarray:
    """The integer class labels of a set."""
    return data.labels.iloc[data.indices(set_name)]["label"].to_numpy(np.int64)


def survival_on_bins(times: np.ndarray, curves: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Step survival ``curves`` (n, len(times)) at the right bin edges -> (n, bins).

    ``times`` are increasing; the value at an edge is that at the last time <= the edge.
    """
    last = np.searchsorted(np.asarray(times, float), np.asarray(edges[1:], float), side="right")
    padded = np.concatenate([np.ones((len(curves), 1)), np.asarray(curves, float)], axis=1)
    return padded[:, last]


def class_probabilities(estimator: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` on every class of the task; a class absent from train gets 0."""
    probs = np.zeros((len(x), n_classes))
    probs[:, np.asarray(estimator.classes_, dtype=np.int64)] = estimator.predict_proba(x)
    return probs


def predictions(
    data: SplitData, design: Design, predict: Callable[[np.ndarray], Prediction], split: int
) -> pd.DataFrame:
    """The val and test rows of ``predictions.parquet`` for a predictor."""
    frames = []
    for set_name in ("val", "test"):
        out = predict(design.x[set_name])
        extra: dict[str, np.ndarray | None] = {"probs": out.probs}
        if data.task == "survival":
            assert out.survival is not None
            extra = {
                "risk": out.risk,
                "hazards": hazards_from_survival(out.survival),
                "survival": out.survival,
            }
        ids = data.sets[set_name]
        frame = outputs_frame(data.task, ids, data.labels, set_name=set_name, split=split, **extra)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def usable(prediction: Prediction) -> bool:
    """Finite outputs, and survival curves within [0, 1].

    A nearly unpenalised fit can overflow its Breslow baseline (sksurv sums exp(risk) by
    subtraction); its curves are then inf or NaN for every patient, since the baseline is the
    same for all of them, so checking the validation patients suffices.
    """
    arrays = [a for a in (prediction.risk, prediction.survival, prediction.probs) if a is not None]
    if not all(np.isfinite(a).all() for a in arrays):
        return False
    curves = prediction.survival
    return curves is None or bool(((curves >= 0) & (curves <= 1)).all())


def select_on_validation(
    model: str,
    data: SplitData,
    design: Design,
    candidates: Iterable[Candidate],
    *,
    split: int,
    select_on: str,
) -> ClassicalFit:
    """The candidate that scores best on validation, the curve of all, and its predictions."""
    if select_on not in SELECT_ON:
        raise ValueError(
            f"model {model!r}: select_on must be one of {list(SELECT_ON)}, got {select_on!r}"
        )
    sign = -1.0 if select_on == "loss" else 1.0  # compare as "higher is better"
    curve: list[dict[str, Any]] = []
    first: Candidate | None = None
    best: Candidate | None = None
    best_score = -np.inf
    for candidate in candidates:
        prediction = candidate.predict(design.x["val"])
        scores = {"loss": np.nan, "metric": np.nan}
        if usable(prediction):
            scores = {
                "loss": validation_loss(data, prediction),
                "metric": validation_metric(data, prediction),
            }
        else:
            log.warning(
                "%s: setting %s predicts non-finite or out-of-range values; skipped",
                model,
                candidate.setting,
            )
        curve.append({**candidate.setting, **{f"val_{k}": _finite(v) for k, v in scores.items()}})
        first = first or candidate
        score = sign * scores[select_on]
        if np.isfinite(score) and score > best_score:
            best, best_score = candidate, score
    if first is None:
        raise ValueError(f"model {model!r}: its grid of settings is empty")
    if best is None:
        log.warning(
            "%s: the validation %s is undefined for every setting; keeping the first (in the "
            "default grids, the most regularised) one",
            model,
            select_on,
        )
        best = first
    return ClassicalFit(
        model=model,
        estimator=best.estimator,
        setting=best.setting,
        select_on=select_on,
        metric=PRIMARY_METRIC[data.task],
        curve=curve,
        features=design.names,
        frame=predictions(data, design, best.predict, split),
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
