"""Relative paths of a config file are taken from that file's folder.

Snakemake merges its config sources into one config: the config files in order (a later file
wins key by key), then the ``--config`` values, which win over every file. Each path of the
config is taken from the source that set it last: a path written in a file is relative to
that file's folder; a ``--config`` value, and a schema default (``output_dir: results``), is
relative to the working directory. Absolute paths are kept as written.

The rebased paths are written relative to the working directory when they lie under it, and
absolute otherwise: a study folder that is copied or moved together with its results then
passes the same paths to its rules, and so plans no job again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mmlego.data.kinds import dataset_kind

# The paths of a config outside its datasets (the datasets' raw inputs come from their kind).
TOP_LEVEL_PATHS = (("output_dir",), ("encoder", "weights"))
COMMAND_LINE = "--config"
_UNSET = object()


@dataclass(frozen=True)
class ConfigSource:
    """The values one source sets, and the folder its relative paths are taken from."""

    values: Mapping[str, Any]
    folder: Path | None  # None: the working directory (the --config values)
    label: str


@dataclass(frozen=True)
class PathOrigin:
    """Where a relative path of the config came from, for messages."""

    written: str
    source: str
    folder: str

    def describe(self) -> str:
        """E.g. "written 'data/a.csv' in /s/study.yaml, relative to that file's folder /s"."""
        if self.source == COMMAND_LINE:
            return f"given as {self.written!r} by --config, relative to the working directory {self.folder}"
        return f"written {self.written!r} in {self.source}, relative to that file's folder {self.folder}"


def file_source(path: str | Path) -> ConfigSource:
    """A config file (YAML, or JSON by its extension) as a source."""
    path = Path(path).absolute()
    text = path.read_text(encoding="utf-8")
    values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return ConfigSource(values if isinstance(values, dict) else {}, path.parent, str(path))


def snakemake_sources(
    configfiles: Iterable[str | Path],
    command_line_files: Iterable[str | Path],
    overrides: Mapping[str, Any],
) -> list[ConfigSource]:
    """The sources in snakemake's merge order: the Snakefile's ``configfile:`` files, the
    ``--configfile`` files, then the ``--config`` values (``workflow.configfiles``,
    ``workflow.overwrite_configfiles``, ``workflow.config_settings.config``)."""
    given = [Path(f).absolute() for f in command_line_files]
    own = [Path(f).absolute() for f in configfiles if Path(f).absolute() not in given]
    sources = [file_source(f) for f in [*own, *given]]
    if overrides:
        sources.append(ConfigSource(overrides, None, COMMAND_LINE))
    return sources


def path_keys(config: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The key path of every path in a (schema-valid) config."""
    keys = list(TOP_LEVEL_PATHS)
    for name, ds in (config.get("datasets") or {}).items():
        for raw in dataset_kind(ds).raw_inputs(ds):
            keys.append(("datasets", name, *raw.key.split(".")))
    return keys


def _get(mapping: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        if not isinstance(mapping, Mapping) or part not in mapping:
            return _UNSET
        mapping = mapping[part]
    return mapping


def _set(mapping: dict[str, Any], key: tuple[str, ...], value: str) -> None:
    for part in key[:-1]:
        mapping = mapping[part]
    mapping[key[-1]] = value


def workdir_path(path: str | Path, workdir: Path) -> str:
    """``path`` (absolute) relative to ``workdir`` when it lies under it, else absolute."""
    path = Path(os.path.normpath(path))
    return path.relative_to(workdir).as_posix() if path.is_relative_to(workdir) else str(path)


def rebase_paths(
    config: dict[str, Any], sources: list[ConfigSource], workdir: str | Path | None = None
) -> dict[str, PathOrigin]:
    """Rewrite in place every relative path a config file set so that it is taken from that
    file's folder (see the module docstring); return the origin of each relative path, by
    dotted key."""
    workdir = Path(os.path.normpath(Path(workdir or os.getcwd()).absolute()))
    origins: dict[str, PathOrigin] = {}
    for key in path_keys(config):
        value = _get(config, key)
        if not isinstance(value, str) or os.path.isabs(value):
            continue
        setters = [s for s in sources if _get(s.values, key) is not _UNSET]
        if not setters or _get(setters[-1].values, key) != value:
            continue  # a schema default, or a value no source wrote as such
        source = setters[-1]
        folder = source.folder or workdir
        origins[".".join(key)] = PathOrigin(value, source.label, str(folder))
        if source.folder is not None:
            _set(config, key, workdir_path(folder / value, workdir))
    return origins


def absolute_paths(config: Mapping[str, Any]) -> dict[str, str]:
    """Every path of ``config`` made absolute from the working directory, by dotted key."""
    return {
        ".".join(key): os.path.abspath(value)
        for key in path_keys(config)
        if isinstance(value := _get(config, key), str)
    }
