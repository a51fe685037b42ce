"""Hyperparameter tuning on the validation patients with Optuna (seeded TPE, median pruning).

Modules, one job each: :mod:`~.space` (parameters named by the config key they set),
:mod:`~.settings` (the ``tune`` config section resolved per run, and its checks),
:mod:`~.study` (one Optuna study and its trial records), :mod:`~.record` (``tuning.json``),
:mod:`~.job` (a run's study, the LegoBlocks' shared stage, and :func:`train_or_tune`, the
train job's entry). The test set is never read: every trial is a call of the shared training
loop, which trains on train and scores on val.
"""

from __future__ import annotations

from typing import Any

from mmlego.train.tuning.settings import (
    TuneSettings,
    run_tune_settings,
    shares_latent_shape,
    tune_problems,
    tuned_job_config,
    tuned_models,
)

# The jobs import torch and Optuna; the config check and the rules need only the settings.
_JOBS = ("shared_job", "train_or_tune", "tune_run", "tune_shared")


def __getattr__(name: str) -> Any:
    if name in _JOBS:
        from mmlego.train.tuning import job

        return getattr(job, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TuneSettings",
    "run_tune_settings",
    "shared_job",
    "shares_latent_shape",
    "train_or_tune",
    "tune_problems",
    "tune_run",
    "tune_shared",
    "tuned_job_config",
    "tuned_models",
]
