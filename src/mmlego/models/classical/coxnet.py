"""``coxnet``: the elastic-net Cox model of scikit-survival (``CoxnetSurvivalAnalysis``).

One fit per ``l1_ratio`` computes the whole regularisation path (``alphas``, or a path of
``n_alphas`` values from the smallest alpha that zeroes every coefficient down to
``alpha_min_ratio`` times it); every (l1_ratio, alpha) of it is a candidate scored on the
validation patients. The risk is the linear predictor; the survival curves come from the
Breslow baseline of the chosen alpha (``fit_baseline_model``), for Uno's c-index and the IBS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sksurv.linear_model import CoxnetSurvivalAnalysis

from mmlego.data.transforms import SplitData
from mmlego.models.classical.features import Design, build_design
from mmlego.models.classical.results import Candidate, ClassicalFit, Prediction
from mmlego.models.classical.selection import (
    require_task,
    select_on_validation,
    survival_on_bins,
    survival_target,
)


def _path_candidates(
    design: Design,
    target: np.ndarray,
    bins: Sequence[float],
    *,
    l1_ratio: Sequence[float],
    alphas: Sequence[float] | None,
    n_alphas: int,
    alpha_min_ratio: float,
    max_iter: int,
) -> Iterator[Candidate]:
    for ratio in l1_ratio:
        model = CoxnetSurvivalAnalysis(
            l1_ratio=ratio,
            alphas=None if alphas is None else sorted(alphas, reverse=True),
            n_alphas=n_alphas,
            alpha_min_ratio=alpha_min_ratio,
            max_iter=max_iter,
            fit_baseline_model=True,
        )
        try:
            model.fit(design.x["train"], target)
        except ArithmeticError as err:
            raise ValueError(
                f"coxnet: the fit with l1_ratio {ratio} diverged ({err}); raise "
                "classical.coxnet.alpha_min_ratio (or the smallest of alphas)"
            ) from err
        for alpha in model.alphas_:

            def predict(x: np.ndarray, model=model, alpha=float(alpha)) -> Prediction:
                curves = model.predict_survival_function(x, alpha=alpha, return_array=True)
                return Prediction(
                    risk=model.predict(x, alpha=alpha),
                    survival=survival_on_bins(model.unique_times_, curves, bins),
                )

            yield Candidate({"l1_ratio": float(ratio), "alpha": float(alpha)}, model, predict)


def fit_coxnet(
    data: SplitData,
    *,
    split: int,
    l1_ratio: Sequence[float] = (0.1, 0.5, 1.0),
    alphas: Sequence[float] | None = None,
    n_alphas: int = 20,
    alpha_min_ratio: float = 0.01,
    max_iter: int = 100_000,
    select_on: str = "loss",
    modalities: Sequence[str] | None = None,
) -> ClassicalFit:
    """Fit the Cox model of every (l1_ratio, alpha) on train; keep the best on validation.

    ``l1_ratio``: elastic-net mixings in (0, 1] (1 = lasso; small = close to ridge).
    ``alphas``: penalty strengths; None = the automatic path of ``n_alphas`` strengths
    spanning a factor ``alpha_min_ratio``. ``select_on``: ``loss`` (the validation partial
    likelihood) or ``metric`` (the validation c-index). ``modalities``: feature modalities
    (default all).
    The chosen candidate's ``estimator`` predicts with ``alpha=setting["alpha"]``.
    """
    require_task(data, ["survival"], "coxnet")
    assert data.bins is not None
    design = build_design(data, modalities)
    candidates = _path_candidates(
        design,
        survival_target(data, "train"),
        data.bins,
        l1_ratio=l1_ratio,
        alphas=alphas,
        n_alphas=n_alphas,
        alpha_min_ratio=alpha_min_ratio,
        max_iter=max_iter,
    )
    return select_on_validation(
        "coxnet", data, design, candidates, split=split, select_on=select_on
    )


def coefficients(fit: ClassicalFit) -> dict[str, float]:
    """The chosen Cox model's coefficient of every feature column (on standardised columns)."""
    model, alpha = fit.estimator, fit.setting["alpha"]
    index = int(np.flatnonzero(np.isclose(model.alphas_, alpha))[0])
    return dict(zip(fit.features, model.coef_[:, index].tolist(), strict=True))
