"""The ``tune`` config section: what a run's tuning study does, resolved per model.

The section (schema ``tune``; every key has a default) holds the global settings and space,
and ``tune.models.<model>`` overrides ``trials``, ``timeout_s`` and entries of ``space`` for
one model (an entry set to null removes that key from the model's space). :func:`run_tune_settings` turns
it into the settings of one run, which the train job receives in its config as ``tune``; it
returns None when the run is not tuned, so that an untuned run's config, checkpoint and
rerun triggers stay exactly what they are without tuning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mmlego.models.catalogue import job_config
from mmlego.train.tuning.space import Param, applicable, has_key, parse_space

PRUNERS = ("median", "none")
# What a trial is scored by; None follows train.select_on (the score early stopping keeps).
OBJECTIVES = ("loss", "metric")
# Config sections a trained run's jobs read, so the only ones a tuned key can set.
TUNABLE_SECTIONS = ("train", "lego", "baselines")
SHARED_MODEL = "lego_block"


@dataclass(frozen=True)
class TuneSettings:
    """One run's tuning settings (see the ``tune`` schema for each key's meaning)."""

    trials: int
    space: dict[str, Param]
    timeout_s: float | None = None
    seed: int | None = None
    pruner: str = "median"
    startup_trials: int = 5
    warmup_epochs: int = 2
    shared_keys: tuple[str, ...] = ()
    shared_trials: int = 0
    objective: str | None = None
    margin: float = 0.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TuneSettings:
        """Parse the resolved settings :func:`run_tune_settings` puts into a run's config."""
        if section.get("pruner", "median") not in PRUNERS:
            raise ValueError(
                f"config key 'tune.pruner': {section['pruner']!r} is not one of {', '.join(PRUNERS)}"
            )
        objective = section.get("objective")
        if objective is not None and objective not in OBJECTIVES:
            raise ValueError(
                f"config key 'tune.objective': {objective!r} is not one of "
                f"{', '.join(OBJECTIVES)} (or null: follow train.select_on)"
            )
        margin = float(section.get("margin") or 0.0)
        if not margin >= 0:
            raise ValueError(f"config key 'tune.margin': {margin} must be >= 0")
        shared = section.get("shared") or {}
        return cls(
            trials=int(section["trials"]),
            space=parse_space(section.get("space", {})),
            timeout_s=section.get("timeout_s"),
            seed=section.get("seed"),
            pruner=section.get("pruner", "median"),
            startup_trials=int(section.get("startup_trials", 5)),
            warmup_epochs=int(section.get("warmup_epochs", 2)),
            shared_keys=tuple(shared.get("keys", ())),
            shared_trials=int(shared.get("trials") or section["trials"]),
            objective=objective,
            margin=margin,
        )

    def shared_space(self) -> dict[str, Param]:
        """The parameters tuned once per dataset and split for all of its LegoBlocks."""
        return {k: p for k, p in self.space.items() if k in self.shared_keys}

    def own_space(self) -> dict[str, Param]:
        """The parameters tuned per run (the shared ones are fixed by the shared stage)."""
        return {k: p for k, p in self.space.items() if k not in self.shared_keys}


def model_space(section: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The global space with ``tune.models.<model>.space`` laid over it (null removes a key)."""
    override = (section.get("models") or {}).get(model) or {}
    space = {**section.get("space", {}), **(override.get("space") or {})}
    return {key: entry for key, entry in space.items() if entry is not None}


def model_trials(section: Mapping[str, Any], model: str) -> int:
    """Trials of ``model``'s runs: its own ``trials`` when set, else the global ``trials``."""
    override = (section.get("models") or {}).get(model) or {}
    own = override.get("trials")
    return int(section.get("trials", 0) if own is None else own)


def run_tune_settings(
    section: Mapping[str, Any] | None, model: str, run_cfg: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The ``tune`` settings of one run of ``model`` (None: not tuned).

    ``run_cfg`` holds the config sections the run reads; the space keeps only the keys they
    have. A LegoBlock run also gets ``shared``: the keys its dataset's blocks tune together
    and the trials of that stage (null there means the block's own trials).
    """
    if not section:
        return None
    trials = model_trials(section, model)
    if trials <= 0:
        return None
    space = model_space(section, model)
    keep = applicable(parse_space(space), run_cfg)
    settings: dict[str, Any] = {
        key: section[key]
        for key in ("timeout_s", "seed", "pruner", "startup_trials", "warmup_epochs")
        if key in section
    }
    # Passed on only when set, so a tuned job's params (and rerun triggers) stay as they were
    # before these keys existed.
    settings.update({key: section[key] for key in ("objective", "margin") if section.get(key)})
    timeout = ((section.get("models") or {}).get(model) or {}).get("timeout_s")
    if timeout is not None:
        settings["timeout_s"] = timeout
    settings.update(trials=trials, space={key: space[key] for key in keep})
    if model == SHARED_MODEL:
        shared = section.get("shared") or {}
        keys = [k for k in shared.get("keys", ()) if k in keep]
        settings["shared"] = {"keys": keys, "trials": int(shared.get("trials") or trials)}
    return settings


def tuned_job_config(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The config sections a train job of ``model`` reads (``job_config``), plus ``tune``
    (its resolved settings) when the model is tuned; exactly ``job_config`` when not, so an
    untuned job's params, checkpoint and rerun triggers are unchanged."""
    cfg = job_config(config, model)
    settings = run_tune_settings(config.get("tune"), model, cfg)
    return cfg if settings is None else {**cfg, "tune": settings}


def tuned_models(config: Mapping[str, Any], models: Iterable[str]) -> list[str]:
    """The keys among ``models`` whose runs are tuned: their train jobs write ``tuning.json``
    (none with ``tune.trials: 0`` and no per-model trials)."""
    return [model for model in models if "tune" in tuned_job_config(config, model)]


def shares_latent_shape(config: Mapping[str, Any], model: str) -> bool:
    """Whether ``model``'s train jobs read the shared stage's ``tuning.json`` (tuned
    LegoBlocks with shared keys in their space)."""
    if model != SHARED_MODEL:
        return False
    settings = tuned_job_config(config, model).get("tune")
    return bool(settings and settings["shared"]["keys"])


def tune_problems(config: Mapping[str, Any], trained_models: Iterable[str]) -> list[str]:
    """What is wrong with a default-filled config's ``tune`` section, one message per problem.

    ``trained_models`` are the model keys the train rule fits (the only ones tuning applies
    to). Checks that every space key names a key of a section the trained runs read, that
    every entry is a valid range or choice list, and that the shared keys are LegoBlock keys
    of the LegoBlocks' space.
    """
    section = config.get("tune") or {}
    trained = set(trained_models)
    problems = [
        f"config key 'tune.models.{model}': {model!r} is not a trained model; choose one of: "
        + ", ".join(sorted(trained))
        for model in section.get("models") or {}
        if model not in trained
    ]
    spaces = {"tune.space": section.get("space", {})}
    for model, override in (section.get("models") or {}).items():
        spaces[f"tune.models.{model}.space"] = (override or {}).get("space") or {}
    for where, space in spaces.items():
        for key, entry in space.items():
            if entry is None:
                continue
            if key.split(".")[0] not in TUNABLE_SECTIONS or not has_key(config, key):
                problems.append(
                    f"config key '{where}.{key}': {key!r} names no key of the "
                    f"{', '.join(TUNABLE_SECTIONS)} sections; write the full key, e.g. train.lr"
                )
                continue
            try:
                parse_space({key: entry})
            except ValueError as err:
                problems.append(str(err).replace("'tune.space.", f"'{where}.", 1))
    lego_space = model_space(section, SHARED_MODEL)
    for key in (section.get("shared") or {}).get("keys", ()):
        if not key.startswith("lego.") or key not in lego_space:
            problems.append(
                f"config key 'tune.shared.keys': {key!r} is not a lego.* key of the LegoBlocks' "
                "space; the shared stage tunes LegoBlock keys that every block of a split must "
                "share: add it to tune.space or remove it from tune.shared.keys"
            )
    return problems
