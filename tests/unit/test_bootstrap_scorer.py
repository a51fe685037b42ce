"""The bootstrap's resample scorer gives the primary metric of every resample, as
``primary_score`` does with scikit-learn and scikit-survival, only without their per-call checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mmlego.evaluate.compare import primary_score, resample_scorer
from mmlego.evaluate.metrics import UndefinedMetricWarning
from mmlego.predictions import Predictions

N = 40


def _preds(task: str, rng: np.random.Generator) -> Predictions:
    """Test-set predictions of ``task`` with tied scores (rounded to one decimal)."""
    frame = pd.DataFrame({"patient_id": [f"p{i}" for i in range(N)], "set": "test"})
    if task == "survival":
        frame["time"] = rng.integers(1, 15, N).astype(float)  # tied times too
        frame["event"] = rng.random(N) < 0.6
        frame["risk"] = np.round(rng.normal(size=N), 1)
        return Predictions(frame, task, [0.0, 5.0, np.inf], None, {}, "planted")
    classes = 2 if task == "binary" else 4
    # Class 3 is rare, so some resamples lack it and the macro mean covers the others.
    frame["label"] = rng.choice(classes, N, p=None if classes == 2 else [0.4, 0.3, 0.27, 0.03])
    probs = np.round(rng.dirichlet(np.ones(classes), N), 1)
    for c in range(classes):
        frame[f"prob_{c}"] = probs[:, c]
    return Predictions(frame, task, None, [str(c) for c in range(classes)], {}, "planted")


@pytest.mark.parametrize("task", ["binary", "multiclass", "survival"])
def test_every_resample_scores_as_primary_score(task):
    rng = np.random.default_rng({"binary": 0, "multiclass": 1, "survival": 2}[task])
    preds = _preds(task, rng)
    score = resample_scorer(preds)
    resamples = [rng.integers(0, N, size=N) for _ in range(200)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        expected = np.array([primary_score(preds, rows) for rows in resamples])
    got = np.array([score(rows) for rows in resamples])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    if task == "multiclass":  # the rare class was missing from some resamples
        assert any((preds.frame["label"].to_numpy()[rows] == 3).sum() == 0 for rows in resamples)
