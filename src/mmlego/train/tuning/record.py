"""``tuning.json``: a study's every trial and its chosen parameters.

Written atomically beside the run's outputs (``{ds}/{run}/split{k}/tuning.json``; the
LegoBlocks' shared stage under ``{ds}/lego_block/split{k}/``). Keys:

- ``stage``: ``run`` (one run's own parameters) or ``shared`` (the parameters a split's
  LegoBlocks share, scored on the blocks' mean); ``runs``: the runs a trial fits; ``split``;
- ``objective``: the validation score maximised (``set`` is always ``val``) and each run's
  ``monitor`` (the metric's name, or ``val_loss`` when the labels do not define it);
- ``sampler``, ``pruner``, ``trials_requested``, ``timeout_s``; ``space``: the parameters
  searched; ``fixed``: parameters set by the shared stage;
- ``trials``: per trial its ``number``, ``params``, ``state`` (COMPLETE, PRUNED, or FAIL
  when its score is not finite), ``value`` (null unless complete), ``epochs`` and best val ``scores`` per run;
- ``margin`` (``tune.margin``) and ``best_trial``: the highest-value trial, which is not the
  chosen one when it beat trial 0 (the config's values) by no more than the margin;
- ``chosen``: the chosen trial's number and value, and ``params``: every parameter the
  tuned run uses, ``fixed`` ones included.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mmlego.train.tuning.settings import TuneSettings
from mmlego.train.tuning.space import Param
from mmlego.train.tuning.study import StudyOutcome
from mmlego.utils.atomic import write_json_atomic

STAGES = ("run", "shared")


def tuning_summary(
    outcome: StudyOutcome,
    *,
    stage: str,
    runs: list[str],
    split: int,
    settings: TuneSettings,
    space: dict[str, Param],
    fixed: dict[str, Any],
    warmup_steps: int,
    trials: int,
) -> dict[str, Any]:
    """The ``tuning.json`` payload of a finished study (provenance is added on writing)."""
    chosen = outcome.chosen
    monitors = {run: m for t in outcome.trials for run, m in t.monitors.items()}
    return {
        "stage": stage,
        "runs": runs,
        "split": split,
        "objective": {
            "direction": "maximize",
            "set": "val",
            "monitor": monitors,
            "name": settings.objective or "select_on",
        },
        "sampler": {"name": "TPESampler", "seed": outcome.sampler_seed},
        "pruner": {
            "name": settings.pruner,
            "startup_trials": settings.startup_trials,
            "warmup_steps": warmup_steps,
        },
        "trials_requested": trials,
        "timeout_s": settings.timeout_s,
        "space": {key: param.describe() for key, param in space.items()},
        "fixed": fixed,
        "trials": [asdict(t) for t in outcome.trials],
        "margin": outcome.margin,
        "best_trial": None if outcome.best is None else outcome.best.number,
        "chosen": {
            "trial": chosen.number,
            "value": chosen.value,
            "params": {**fixed, **chosen.params},
        },
    }


def write_tuning(path: str | Path, summary: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write ``tuning.json`` atomically with the job's provenance."""
    write_json_atomic(path, summary, provenance=provenance)


def read_chosen(path: str | Path, *, stage: str = "shared") -> dict[str, Any]:
    """The chosen parameters of a ``tuning.json`` of ``stage``; raises naming the file."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        found, params = payload["stage"], payload["chosen"]["params"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: not a readable tuning.json with stage and chosen.params ({err}); "
            "delete it and rerun the tuning job that writes it"
        ) from err
    if found != stage or not isinstance(params, dict):
        raise ValueError(
            f"{path}: expected the chosen params of a {stage!r} tuning stage, found stage "
            f"{found!r}; pass the file the {stage} stage wrote"
        )
    return params
