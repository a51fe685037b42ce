"""Hyperparameter tuning on the validation patients with Optuna (seeded TPE, median pruning).

Modules, one job each: :mod:`~.space` (parameters named by the config key they set),
:mod:`~.settings` (the ``tune`` config section resolved per run, and its checks),
:mod:`~.study` (one Optuna study and its trial records), :mod:`~.record` (``tuning.json``),
:mod:`~.job` (a run's study, the LegoBlocks' shared stage, and :func:`train_or_tune`, the
train job's entry). The test set is never read: every trial is a call of the shared training
loop, which trains on train and scores on val.
"""

from __future__ import annotations

from mmlego.train.tuning.job import shared_job, train_or_tune, tune_run, tune_shared
from mmlego.train.tuning.settings import TuneSettings, run_tune_settings, tune_problems

__all__ = [
    "TuneSettings",
    "run_tune_settings",
    "shared_job",
    "train_or_tune",
    "tune_problems",
    "tune_run",
    "tune_shared",
]
