"""The search space: hyperparameters named by the config key they set.

A space maps a dotted config key (``train.lr``, ``lego.latent_dim``, ``baselines.dim``) to a
:class:`Param`: a float or int range (optionally on a log scale) or a list of choices. A trial's
parameters are applied to a copy of a run's config sections (:func:`apply_params`), so the
tuned run is built and trained exactly like an untuned one with those values in its config.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Type hints only: the config check imports this module, and Optuna takes a fifth of a second.
    import optuna

PARAM_TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: ``type`` float | int (``low``..``high``, ``log``, ``step``) or
    categorical (``choices``)."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw this parameter for ``trial`` (Optuna records it under the config key)."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            step = 1 if self.step is None else int(self.step)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this parameter can take."""
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.type == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def describe(self) -> dict[str, Any]:
        """The parameter as the config writes it (for ``tuning.json``)."""
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        return {
            "type": self.type,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }


def parse_param(key: str, entry: Mapping[str, Any]) -> Param:
    """A :class:`Param` from its config entry; raises naming ``tune.space.<key>`` when invalid."""
    where = f"config key 'tune.space.{key}'"
    kind = entry.get("type")
    if kind not in PARAM_TYPES:
        raise ValueError(f"{where}: type {kind!r} is not one of {', '.join(PARAM_TYPES)}")
    if kind == "categorical":
        choices = tuple(entry.get("choices") or ())
        if not choices:
            raise ValueError(f"{where}: a categorical parameter needs a non-empty 'choices' list")
        return Param(key, kind, choices=choices)
    low, high, log = entry.get("low"), entry.get("high"), bool(entry.get("log", False))
    if low is None or high is None or not low <= high:
        raise ValueError(f"{where}: needs 'low' <= 'high' (got low={low}, high={high})")
    if log and low <= 0:
        raise ValueError(f"{where}: a log-scale range needs low > 0 (got {low})")
    return Param(key, kind, low=low, high=high, log=log, step=entry.get("step"))


def parse_space(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Param]:
    """Every entry of a ``space`` mapping, parsed, in the mapping's order."""
    return {key: parse_param(key, entry) for key, entry in space.items()}


def _parts(key: str) -> list[str]:
    return key.split(".")


def has_key(cfg: Mapping[str, Any], key: str) -> bool:
    """Whether the dotted ``key`` names a value of ``cfg``."""
    node: Any = cfg
    for part in _parts(key):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def get_value(cfg: Mapping[str, Any], key: str) -> Any:
    """The value of ``cfg`` at the dotted ``key``."""
    node: Any = cfg
    for part in _parts(key):
        node = node[part]
    return node


def apply_params(cfg: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``cfg`` with each dotted key of ``params`` set to its value.

    Every key must already exist in ``cfg`` (the schema fills every tunable key with its
    default), so a mistyped key is an error instead of a value nobody reads.
    """
    out = copy.deepcopy(dict(cfg))
    for key, value in params.items():
        if not has_key(out, key):
            raise KeyError(f"tuning parameter {key!r} names no key of the run's config sections")
        *parents, leaf = _parts(key)
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = value
    return out


def applicable(space: Mapping[str, Param], cfg: Mapping[str, Any]) -> dict[str, Param]:
    """The parameters of ``space`` whose key a run's config sections have (``lego.*`` keys
    apply to LegoBlocks, ``baselines.dim`` to the baselines that read it, ...)."""
    return {key: param for key, param in space.items() if has_key(cfg, key)}
