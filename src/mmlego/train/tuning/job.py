"""Tuning jobs: a run's own study, the LegoBlocks' shared stage, and the train job's entry.

**The final fit keeps the chosen trial's model.** Every trial of a run trains with the run's
own training seed, so the chosen trial's fitted model is exactly what retraining with its
parameters would give on the CPU (a test checks this bit for bit); keeping it saves that
extra fit and, on a GPU whose kernels are not deterministic, keeps the model that was scored.

**LegoBlocks share their latent shape.** LegoMerge and LegoFuse need the blocks of one
dataset and split to have one latent shape, so tuning a LegoBlock has two stages:

1. :func:`tune_shared` (once per dataset and split): trials of the shared keys
   (``tune.shared.keys``, by default ``lego.latent_len`` and ``lego.latent_dim``), each
   training every block of the split with the other keys at their config values and scored
   on the blocks' mean validation score; pruned after each block on the mean so far;
2. :func:`tune_run` per block, the shared keys fixed to stage 1's choice (``fixed``),
   the rest of the block's space tuned on its own validation score.

:func:`train_or_tune` is what the train job calls: without ``tune`` settings in the run's
config it is :func:`~mmlego.train.run.train_run`, unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from mmlego.models.base import InputSpec, MultimodalModel
from mmlego.models.catalogue import parse_run
from mmlego.train.loop import FitResult
from mmlego.train.monitor import metric_name
from mmlego.train.run import fit_run, train_run, write_run_outputs
from mmlego.train.tuning.record import read_chosen, tuning_summary, write_tuning
from mmlego.train.tuning.settings import TuneSettings
from mmlego.train.tuning.space import apply_params
from mmlego.train.tuning.study import TrialProgress, fit_value, run_study
from mmlego.utils.seeding import derive_seed

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

log = logging.getLogger(__name__)

SHARED_RUN = "lego_block"


def sampler_seed(run_seed: int, tune_seed: int | None) -> int:
    """The TPE seed of a study: from the run's training seed, and ``tune.seed`` when set
    (which varies the sampler without changing the training seeds)."""
    parts = ("tune",) if tune_seed is None else ("tune", tune_seed)
    return derive_seed(run_seed, *parts)


def without_tune(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config sections a model's builder and loop read (the ``tune`` settings removed)."""
    return {key: value for key, value in cfg.items() if key != "tune"}


def monitor_name(result: FitResult, objective: str | None, task: str) -> str:
    """What a trial's value measures: the loop's monitor (objective None), ``val_loss``, or
    the metric (``val_loss`` where the kept epoch's metric is undefined)."""
    if objective is None:
        return result.monitor
    if objective == "loss":
        return "val_loss"
    metric = result.log.set_index("epoch").loc[result.best_epoch, "val_metric"]
    return "val_loss" if pd.isna(metric) else metric_name(task)


@dataclass
class TunedRun:
    """A tuned run: the chosen trial's fitted model, its fit, its config and the study."""

    model: MultimodalModel
    result: FitResult
    modalities: dict[str, InputSpec]
    cfg: dict[str, Any]
    summary: dict[str, Any]


def tune_run(
    data: SplitData,
    *,
    run: str,
    split: int,
    cfg: dict[str, Any],
    settings: TuneSettings,
    seed: int,
    device: torch.device | str = "cpu",
    fixed: dict[str, Any] | None = None,
) -> TunedRun:
    """Tune ``run``'s own parameters on validation and keep the chosen trial's model.

    ``cfg`` holds the run's config sections; ``seed`` is its training seed. A run whose
    settings name shared keys needs them in ``fixed`` (the shared stage's choice).
    """
    fixed = dict(fixed or {})
    missing = [key for key in settings.shared_keys if key not in fixed]
    if missing:
        raise ValueError(
            f"{run}: the shared keys {missing} are tuned once for all LegoBlocks of split "
            f"{split}; pass the shared stage's chosen params (its tuning.json)"
        )
    base = apply_params(without_tune(cfg), fixed)
    space = settings.own_space()

    def fit_trial(trial_cfg: dict[str, Any], progress: TrialProgress) -> tuple[float, Any]:
        model, result, modalities = fit_run(
            data, run=run, split=split, cfg=trial_cfg, device=device, seed=seed,
            on_epoch_end=progress.epoch_callback(run, report=True),
        )  # fmt: skip
        progress.monitors[run] = monitor_name(result, settings.objective, data.task)
        return fit_value(result, settings.objective), (model, result, modalities, trial_cfg)

    outcome = run_study(
        fit_trial, space=space, cfg=base, settings=settings, trials=settings.trials,
        sampler_seed=sampler_seed(seed, settings.seed), warmup_steps=settings.warmup_epochs,
        name=f"{run} split {split}",
    )  # fmt: skip
    model, result, modalities, chosen_cfg = outcome.kept
    summary = tuning_summary(
        outcome, stage="run", runs=[run], split=split, settings=settings, space=space,
        fixed=fixed, warmup_steps=settings.warmup_epochs, trials=settings.trials,
    )  # fmt: skip
    log.info("%s split %d: chosen %s", run, split, summary["chosen"])
    return TunedRun(model, result, modalities, chosen_cfg, summary)


def tune_shared(
    data: SplitData,
    *,
    runs: list[str],
    split: int,
    cfg: dict[str, Any],
    settings: TuneSettings,
    seeds: dict[str, int],
    study_seed: int,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Stage 1: tune the keys the LegoBlock ``runs`` of one split share; returns the
    ``tuning.json`` payload (``chosen.params`` holds the shared keys).

    ``seeds`` are the blocks' training seeds (the ones their own train jobs use) and
    ``study_seed`` the stage's seed, from which its sampler's seed derives.
    """
    space = settings.shared_space()
    base = without_tune(cfg)

    def fit_trial(trial_cfg: dict[str, Any], progress: TrialProgress) -> tuple[float, Any]:
        scores = []
        for done, run in enumerate(runs, start=1):
            _, result, _ = fit_run(
                data, run=run, split=split, cfg=trial_cfg, device=device, seed=seeds[run],
                on_epoch_end=progress.epoch_callback(run),
            )  # fmt: skip
            progress.monitors[run] = monitor_name(result, settings.objective, data.task)
            scores.append(fit_value(result, settings.objective))
            if done < len(runs):
                progress.report(done, fmean(scores))
        return fmean(scores), None

    outcome = run_study(
        fit_trial, space=space, cfg=base, settings=settings, trials=settings.shared_trials,
        sampler_seed=sampler_seed(study_seed, settings.seed), warmup_steps=0,
        name=f"{SHARED_RUN} shared split {split}",
    )  # fmt: skip
    return tuning_summary(
        outcome, stage="shared", runs=list(runs), split=split, settings=settings, space=space,
        fixed={}, warmup_steps=0, trials=settings.shared_trials,
    )  # fmt: skip


def shared_job(
    data: SplitData,
    *,
    runs: list[str],
    dataset: str,
    split: int,
    cfg: dict[str, Any],
    out: str | Path,
    master_seed: int,
    provenance: dict[str, Any],
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """The shared stage's job: :func:`tune_shared` with the blocks' own training seeds, its
    ``tuning.json`` written to ``out``."""
    seeds = {run: derive_seed(master_seed, dataset, split, run) for run in runs}
    summary = tune_shared(
        data, runs=runs, split=split, cfg=cfg, settings=TuneSettings.from_config(cfg["tune"]),
        seeds=seeds, study_seed=derive_seed(master_seed, dataset, split, SHARED_RUN),
        device=device,
    )  # fmt: skip
    write_tuning(out, summary, provenance)
    return summary


def train_or_tune(
    data: SplitData,
    *,
    run: str,
    dataset: str,
    split: int,
    cfg: dict[str, Any],
    out_dir: str | Path,
    provenance: dict[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
    shared_tuning: str | Path | None = None,
) -> MultimodalModel:
    """The train job: :func:`~mmlego.train.run.train_run` when ``cfg`` has no ``tune``
    settings; else tune, write ``tuning.json`` and the chosen model's outputs.

    The tuned run's checkpoint ``hparams`` are its config sections with the chosen values
    (so the model reloads as trained), its ``tune`` settings and ``tuned`` (the chosen
    params); the predictions' provenance gets ``tuning`` (chosen trial, value, params).
    ``shared_tuning`` is the shared stage's ``tuning.json`` (LegoBlocks with shared keys).
    """
    if not cfg.get("tune"):
        return train_run(
            data, run=run, dataset=dataset, split=split, cfg=cfg, out_dir=out_dir,
            provenance=provenance, device=device, seed=seed,
        )  # fmt: skip
    settings = TuneSettings.from_config(cfg["tune"])
    fixed = read_chosen(shared_tuning) if shared_tuning is not None else None
    tuned = tune_run(
        data, run=run, split=split, cfg=cfg, settings=settings, seed=seed, device=device,
        fixed=fixed,
    )  # fmt: skip
    chosen = tuned.summary["chosen"]
    write_tuning(Path(out_dir) / "tuning.json", tuned.summary, provenance)
    write_run_outputs(
        out_dir, tuned.model, data, name=parse_run(run)[0], run=run, dataset=dataset,
        split=split, hparams={**tuned.cfg, "tune": cfg["tune"], "tuned": chosen["params"]},
        modalities=tuned.modalities, provenance={**provenance, "tuning": chosen},
        train_log=tuned.result.log, device=device,
    )  # fmt: skip
    return tuned.model
