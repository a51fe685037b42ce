"""What the classical families hand around: predictions, fitted candidates, the chosen fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Prediction:
    """A candidate's predictions for some patients: survival or classification outputs.

    Survival: ``risk`` (n,) and ``survival`` (n, bins) on the split's bins; classification:
    ``probs`` (n, classes).
    """

    risk: np.ndarray | None = None
    survival: np.ndarray | None = None
    probs: np.ndarray | None = None


@dataclass(frozen=True)
class Candidate:
    """One setting of a family's grid, fitted on train, with its predictor of a design matrix."""

    setting: dict[str, Any]
    estimator: Any
    predict: Callable[[np.ndarray], Prediction]


@dataclass
class ClassicalFit:
    """The chosen candidate of one family on one split, and its predictions.

    ``curve`` has one entry per setting of the grid: the setting, ``val_loss`` and
    ``val_metric`` (None where undefined). ``select_on`` names the one that chose.
    """

    model: str
    estimator: Any
    setting: dict[str, Any]
    select_on: str
    metric: str
    curve: list[dict[str, Any]]
    features: list[str]
    frame: pd.DataFrame = field(repr=False)

    def record(self) -> dict[str, Any]:
        """The choice as plain JSON values: setting, selection rule, curve, feature names."""
        return {
            "model": self.model,
            "setting": self.setting,
            "select_on": self.select_on,
            "metric": self.metric,
            "curve": self.curve,
            "features": self.features,
        }
