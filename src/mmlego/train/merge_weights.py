"""Choosing the weights λ of the adaptive merge and of DAMC on a split's validation patients.

λ has one entry per modality, each ≥ 0, summing to 1. Up to :data:`GRID_MAX` modalities every
point of the simplex grid of step ``merge.adaptive.step`` is scored; beyond, a coordinate
search seeded by the job's seed moves one modality's weight at a time over the same grid
values. Equal weights (LegoMerge) are always scored first and win ties, so the chosen λ
scores at least LegoMerge's validation metric. Only validation labels are read: the score
function gets the validation set and nothing else.

On a validation set of tens of patients the best λ of the grid often beats equal weights by
less than the set's sampling noise, and the argmax then jumps to a corner of the simplex. So
the best λ is taken only when it beats equal weights by more than a margin,
``merge.adaptive.margin`` / √(validation patients) (:func:`required_gain`): the noise of a
c-index or AUC shrinks as 1/√n, so the default 0.1 asks 0.018 of 30 patients, 0.01 of 100 and
0.002 of 2,500. Otherwise equal weights are kept.

``merge.adaptive.select_on`` is what λ is scored by: ``metric`` (the default) the task metric,
``loss`` minus the merged head's task loss on the validation patients (the training loss: the
survival NLL, the cross-entropy), which moves smoothly with λ where a c-index on a hundred
patients jumps; the margin is then asked of the loss. benchmarks/adaptive_merge.py compares
the two (docs/real_cohorts.md): neither wins on validation across datasets, so the default
stays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mmlego.models.compose import NaiveMC, average_parameters
from mmlego.models.lego import LegoBlock
from mmlego.models.losses import TaskLoss
from mmlego.models.merge import LegoMerge, block_weights, merged_logits
from mmlego.train.data import PatientDataset
from mmlego.train.monitor import metric_name, validation_metric

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

GRID_MAX = 4
SEARCH_ROUNDS = 10
TIE = 1e-12  # scores closer than this are a tie
DEFAULT_STEP = 0.1
DEFAULT_MARGIN = 0.1  # merge.adaptive.margin: the gain asked of λ is this / √(val patients)
SELECT_ON = ("metric", "loss")  # merge.adaptive.select_on; the first is the default

Weights = tuple[float, ...]
Score = Callable[[Weights], float]


def grid_units(step: float) -> int:
    """The number of steps 1 / ``step``; raises unless ``step`` divides 1."""
    if not 0 < step <= 1:
        raise ValueError(f"merge.adaptive.step must be in (0, 1]; got {step}")
    units = round(1 / step)
    if abs(units * step - 1) > 1e-9:
        raise ValueError(f"merge.adaptive.step must divide 1 (0.1, 0.05, 0.25, ...); got {step}")
    return units


def simplex_grid(n: int, step: float) -> list[Weights]:
    """Every λ with ``n`` entries on multiples of ``step`` summing to 1, in lexicographic order."""
    units = grid_units(step)
    points = [c for c in itertools.product(range(units + 1), repeat=n - 1) if sum(c) <= units]
    return [tuple(k / units for k in (*c, units - sum(c))) for c in points]


def required_gain(margin: float, n_val: int) -> float:
    """The validation gain over equal weights a λ needs: ``margin`` / √``n_val``."""
    if margin < 0:
        raise ValueError(f"merge.adaptive.margin must be ≥ 0; got {margin}")
    if n_val < 1:
        raise ValueError("the split has no validation patient to choose the merge weights λ on")
    return margin / math.sqrt(n_val)


def _rank(value: float) -> float:
    """A score for comparing: an undefined metric (NaN) ranks below every defined one."""
    return -math.inf if math.isnan(value) else value


def _key(lam: Weights) -> Weights:
    return tuple(round(v, 12) for v in lam)


class _Scorer:
    """Scores each λ once and records the validation curve in evaluation order."""

    def __init__(self, score: Score) -> None:
        self.score = score
        self.curve: list[tuple[Weights, float]] = []
        self.seen: dict[Weights, float] = {}

    def __call__(self, lam: Weights) -> float:
        key = _key(lam)
        if key not in self.seen:
            value = float(self.score(lam))
            self.seen[key] = value
            self.curve.append((lam, value))
        return self.seen[key]

    @property
    def best(self) -> Weights:
        """The best λ scored so far (``best_on_curve``)."""
        return best_on_curve(self.curve)


def _coordinate_search(scorer: _Scorer, n: int, step: float, seed: int) -> None:
    """Move one modality's weight at a time to the best grid value; the rest keep their ratios."""
    units = grid_units(step)
    rng = np.random.default_rng(seed)
    for _ in range(SEARCH_ROUNDS):
        start = scorer.best
        for m in rng.permutation(n).tolist():
            current = scorer.best
            rest = sum(current) - current[m]
            for k in range(units + 1):
                lam = list(current)
                lam[m] = k / units
                others = [i for i in range(n) if i != m]
                for i in others:  # the others share 1 - λ_m in their current ratios
                    share = current[i] / rest if rest > 0 else 1 / len(others)
                    lam[i] = (1 - lam[m]) * share
                scorer(tuple(lam))
        if scorer.best == start:
            break


def best_on_curve(curve: list[tuple[Weights, float]]) -> Weights:
    """The λ of highest score on ``curve`` (the earliest of a tie, NaN below every number)."""
    best, value = curve[0]
    for lam, v in curve[1:]:
        # Better by more than rounding only: the earlier λ (equal weights first) wins a tie
        # (the same ranking scored through other arithmetic can differ in the last bit).
        if _rank(v) > _rank(value) + TIE:
            best, value = lam, v
    return best


def choose_weights(
    score: Score, n: int, *, step: float, seed: int, gain: float = 0.0
) -> tuple[Weights, list[tuple[Weights, float]]]:
    """The chosen λ and every (λ, score) evaluated, in order.

    ``score`` maps λ to the validation metric (NaN when undefined). Equal weights come first.
    The λ of highest score is chosen only if it beats equal weights by more than ``gain``
    (:func:`required_gain`); otherwise, and on a tie or when every score is NaN, equal weights.
    """
    equal = tuple(1 / n for _ in range(n))
    scorer = _Scorer(score)
    scorer(equal)
    if n <= GRID_MAX:
        for lam in simplex_grid(n, step):
            scorer(lam)
    else:
        _coordinate_search(scorer, n, step, seed)
    best = scorer.best
    # A score beats an undefined one by any margin; a defined one must clear the gain.
    if _rank(scorer.seen[_key(best)]) > _rank(scorer.curve[0][1]) + gain + TIE:
        return best, scorer.curve
    return equal, scorer.curve


def set_score(task: str, select_on: str) -> Callable[[torch.Tensor, dict], float]:
    """(logits, targets) → what λ is chosen by (higher is better): the task metric, or minus
    the task loss (``TaskLoss`` at its defaults)."""
    if select_on not in SELECT_ON:
        raise ValueError(f"merge.adaptive.select_on must be one of {SELECT_ON}; got {select_on!r}")
    if select_on == "metric":
        return lambda logits, targets: validation_metric(task, logits, targets)
    loss = TaskLoss(task)
    return lambda logits, targets: -float(loss(logits, targets))


def score_name(task: str, select_on: str) -> str:
    """The name of the score in ``lambda.json``: the metric's, or ``neg_val_loss``."""
    return metric_name(task) if select_on == "metric" else "neg_val_loss"


@torch.no_grad()
def validation_scorer(
    merged: LegoMerge, data: SplitData, *, batch_size: int = 64, select_on: str = "metric"
) -> Score:
    """λ → the task metric (or minus the task loss, ``select_on``) of the weighted merge on
    ``data``'s validation patients.

    The blocks run once; each λ only re-merges their latents and heads. Reads the labels of
    the validation set only.
    """
    measure = set_score(data.task, select_on)
    merged.eval()
    dataset = PatientDataset(data, data.sets["val"])
    batches, targets = [], []
    for batch, target, _ in dataset.loader(batch_size, shuffle=False):
        batches.append(LegoMerge.block_latents(merged, batch))
        targets.append(target)
    merged_targets = {k: torch.cat([t[k] for t in targets]) for k in targets[0]}
    heads = merged.heads()
    options = {"magnitude": merged.magnitude, "phase": merged.phase,
               "head": merged.head_method, "eps": merged.eps}  # fmt: skip

    @torch.no_grad()
    def score(lam: Weights) -> float:
        logits = [
            merged_logits(latents, block_weights(present, lam), heads, **options)
            for latents, present in batches
        ]
        return measure(torch.cat(logits), merged_targets)

    return score


@torch.no_grad()
def composition_scorer(
    blocks: dict[str, LegoBlock], data: SplitData, *, batch_size: int = 64,
    select_on: str = "metric",
) -> Score:  # fmt: skip
    """λ → the task metric (or minus the task loss) of the DAMC composition on ``data``'s
    validation patients.

    The encoders do not change with λ: each modality's context is computed once, and each λ
    only re-averages the shared parameters and reruns the steps and the head.
    """
    measure = set_score(data.task, select_on)
    composed = NaiveMC(blocks).eval()
    dataset = PatientDataset(data, data.sets["val"])
    batches, targets = [], []
    for batch, target, _ in dataset.loader(batch_size, shuffle=False):
        present = torch.stack([batch[m].present.bool() for m in composed.modalities])
        batches.append((composed.contexts(batch), present))
        targets.append(target)
    merged_targets = {k: torch.cat([t[k] for t in targets]) for k in targets[0]}

    @torch.no_grad()
    def score(lam: Weights) -> float:
        composed.load_shared(average_parameters(blocks, lam))
        logits = [
            composed.head_logits(composed.embed_contexts(contexts, present))
            for contexts, present in batches
        ]
        return measure(torch.cat(logits), merged_targets)

    return score


def weights_report(
    modalities: Sequence[str],
    chosen: Weights,
    curve: list[tuple[Weights, float]],
    *,
    task: str,
    step: float,
    search: str,
    margin: float = 0.0,
    gain: float = 0.0,
    n_val: int | None = None,
    select_on: str = "metric",
) -> dict[str, Any]:
    """The ``lambda.json`` contents: the chosen λ, the best λ of the curve (not chosen when it
    beat equal weights by no more than ``gain``), the margin and the validation curve."""

    def named(lam: Weights) -> dict[str, float]:
        return {m: float(v) for m, v in zip(modalities, lam, strict=True)}

    def value(v: float) -> float | None:
        return None if math.isnan(v) else v

    scores = {_key(lam): v for lam, v in curve}
    best = best_on_curve(curve)
    return {
        "set": "val",
        "select_on": select_on,
        "metric": score_name(task, select_on),
        "search": search,
        "step": step,
        "margin": margin,
        "n_val": n_val,
        "required_gain": gain,
        "lambda": named(chosen),
        "val_metric": value(scores[_key(chosen)]),
        "equal_val_metric": value(curve[0][1]),
        "best_lambda": named(best),
        "best_val_metric": value(scores[_key(best)]),
        "curve": [{"lambda": named(lam), "val_metric": value(v)} for lam, v in curve],
    }
