"""Model registry: each model module registers a builder under its config key."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

_BUILDERS: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``builder`` as the constructor for model key ``name``."""

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model {name!r} registered twice")
        _BUILDERS[name] = builder
        return builder

    return decorator


def _import_all() -> None:
    """Import every module under ``mmlego.models`` so that their registrations run."""
    import mmlego.models as package

    for info in pkgutil.walk_packages(package.__path__, prefix="mmlego.models."):
        importlib.import_module(info.name)


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered for ``name``; raises naming the known models otherwise."""
    if name not in _BUILDERS:
        _import_all()
    if name not in _BUILDERS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name]


def registered_models() -> list[str]:
    """Names of every registered model."""
    _import_all()
    return sorted(_BUILDERS)
