"""One Optuna study: seeded TPE over a space, median pruning, every trial recorded.

The objective is the validation score the training loop selects epochs on (higher is
better): the best epoch's validation metric (c-index, AUC, macro AUC), or minus the
validation loss when the validation labels do not define the metric. A stage that fits
several runs per trial scores their mean. Nothing here reads the test set: a trial is a call
of the shared training loop, which trains on train and scores on val.

Reproducibility: the sampler is ``TPESampler(seed=...)`` and the trials run one after the
other (``n_jobs=1``), the only way TPE is deterministic for a seed; every trial trains with
the same training seed, so trials differ by their parameters alone. With ``timeout_s`` the
number of trials depends on the machine's speed; without it a study is bit-for-bit
repeatable on the CPU.

Trial 0 takes the config's own value of every parameter whose range holds it, so the chosen
parameters are never worse on validation than the untuned defaults. ``tune.margin`` keeps
trial 0 unless another trial beats its value by more than the margin: on a small validation
set the best of many trials mostly wins by the set's noise.

``tune.objective`` (``loss`` | ``metric``) scores a trial by the kept epoch's validation
loss (minus it) or metric, whatever the loop selects epochs on; unset, it is the loop's own
selection score (``train.select_on``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from mmlego.train.tuning.settings import TuneSettings
from mmlego.train.tuning.space import Param, apply_params, get_value, has_key

if TYPE_CHECKING:
    from mmlego.train.loop import FitResult

log = logging.getLogger(__name__)


def epoch_score(row: Mapping[str, float], objective: str | None = None) -> float:
    """An epoch's score under ``objective``: ``loss``, minus the val loss; ``metric``, the
    metric, or minus the val loss when the metric is undefined (the loop's
    ``validation_metric`` is NaN exactly then); None, the loop's own ``score`` when the row
    has it (``train.select_on``), else as ``metric``."""
    if objective == "loss":
        return -float(row["val_loss"])
    if objective is None and "score" in row:
        return float(row["score"])
    metric = row["val_metric"]
    return float(metric) if not math.isnan(metric) else -float(row["val_loss"])


def fit_value(result: FitResult, objective: str | None) -> float:
    """A fitted run's trial value: the loop's selection score (None), or the kept epoch's
    score under ``objective`` (the model the trial would keep is the one it is scored by)."""
    if objective is None:
        return float(result.best_score)
    row = result.log.set_index("epoch").loc[result.best_epoch]
    return epoch_score({"val_loss": row["val_loss"], "val_metric": row["val_metric"]}, objective)


@dataclass
class TrialProgress:
    """What one trial has done so far: epochs run and best score per run, and its monitor.

    :meth:`epoch_callback` is the training loop's ``on_epoch_end``; with ``report`` it also
    reports the trial's running best score at each epoch to Optuna and prunes. The running
    best (not the epoch's own score) is what the trial would return if stopped there, which
    is what early stopping keeps.
    """

    trial: optuna.Trial
    objective: str | None = None
    epochs: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    monitors: dict[str, str] = field(default_factory=dict)

    def epoch_callback(self, run: str, *, report: bool = False) -> Callable[..., None]:
        """An ``on_epoch_end(epoch, model, row)`` recording ``run``'s progress."""

        def on_epoch_end(epoch: int, model: Any, row: Mapping[str, float]) -> None:
            self.epochs[run] = epoch
            if not row.get("candidate", True):
                return  # before train.min_epochs: the loop cannot keep this epoch
            self.scores[run] = max(
                self.scores.get(run, -math.inf), epoch_score(row, self.objective)
            )
            if report:
                self.report(epoch, self.scores[run])

        return on_epoch_end

    def report(self, step: int, value: float) -> None:
        """Report ``value`` at ``step``; raise ``TrialPruned`` when the pruner says so."""
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"score {value:.4f} at step {step} is below the median")


# A trial's fit: (the trial's config sections, its progress) -> (score, what to keep if best).
FitTrial = Callable[[dict[str, Any], TrialProgress], tuple[float, Any]]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as ``tuning.json`` stores it."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    epochs: dict[str, int]
    scores: dict[str, float]
    monitors: dict[str, str]


@dataclass
class StudyOutcome:
    """Every trial, the chosen one (highest value, ties to the earlier trial; trial 0, the
    config's values, unless that value is beaten by more than ``margin``) and what its fit
    returned. ``best`` is the highest-value trial, whether or not it was chosen."""

    trials: list[TrialRecord]
    chosen: TrialRecord
    kept: Any
    sampler_seed: int
    best: TrialRecord | None = None
    margin: float = 0.0


def config_start(space: Mapping[str, Param], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The config's own values of the parameters whose range holds them (trial 0)."""
    start = {}
    for key, param in space.items():
        if has_key(cfg, key) and param.contains(get_value(cfg, key)):
            start[key] = get_value(cfg, key)
    return start


def make_pruner(settings: TuneSettings, warmup_steps: int) -> optuna.pruners.BasePruner:
    """Median pruning after ``startup_trials`` complete trials, or none.

    Steps count from 1 (epochs, or blocks fitted); the first ``warmup_steps`` are never
    pruned (Optuna's earliest pruned step is ``n_warmup_steps``).
    """
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings.startup_trials, n_warmup_steps=warmup_steps + 1
    )


def run_study(
    fit_trial: FitTrial,
    *,
    space: Mapping[str, Param],
    cfg: Mapping[str, Any],
    settings: TuneSettings,
    trials: int,
    sampler_seed: int,
    warmup_steps: int,
    name: str,
) -> StudyOutcome:
    """Run ``trials`` trials of ``fit_trial`` over ``space`` applied to ``cfg``.

    An empty space runs one trial (every trial would be the same). A trial that raises
    stops the study with an error naming the trial's parameters; one whose score is not
    finite is recorded as FAIL and the study goes on.
    """
    study = optuna.create_study(
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        pruner=make_pruner(settings, warmup_steps),
    )
    start = config_start(space, cfg)
    if start:
        study.enqueue_trial(start)
    records: list[TrialRecord] = []
    best: dict[str, Any] = {"value": -math.inf, "record": None, "kept": None}
    # Trial 0 (the config's values) and its fit, kept for tune.margin.
    first: dict[str, Any] = {"record": None, "kept": None}

    def objective(trial: optuna.Trial) -> float:
        params = {key: param.suggest(trial) for key, param in space.items()}
        progress = TrialProgress(trial, settings.objective)

        def record(state: str, value: float | None) -> TrialRecord:
            records.append(
                TrialRecord(trial.number, params, state, value, dict(progress.epochs),
                            dict(progress.scores), dict(progress.monitors))
            )  # fmt: skip
            return records[-1]

        try:
            value, kept = fit_trial(apply_params(cfg, params), progress)
        except optuna.TrialPruned:
            record("PRUNED", None)
            raise
        except Exception as err:
            raise RuntimeError(
                f"{name}: trial {trial.number} with {params} failed ({err}); narrow the "
                "tune.space entries that allow these values"
            ) from err
        if not math.isfinite(value):
            # Diverged (the validation loss the score fell back to is not finite): Optuna
            # records a non-finite value as a failed trial and the study goes on.
            record("FAIL", None)
            log.warning("%s: trial %d with %s has score %s", name, trial.number, params, value)
            return math.nan
        done = record("COMPLETE", value)
        if trial.number == 0 and start:
            first.update(record=done, kept=kept)
        if value > best["value"]:
            best.update(value=value, record=done, kept=kept)
        return value

    study.optimize(objective, n_trials=trials if space else 1, timeout=settings.timeout_s, n_jobs=1)
    if best["record"] is None:
        raise RuntimeError(
            f"{name}: no trial completed with a finite validation score; raise tune.trials "
            "or tune.timeout_s, or narrow tune.space"
        )
    chosen, kept = best["record"], best["kept"]
    default = first["record"]
    if default is not None and chosen.value - default.value <= settings.margin:
        chosen, kept = default, first["kept"]
    return StudyOutcome(
        records, chosen, kept, sampler_seed, best=best["record"], margin=settings.margin
    )
