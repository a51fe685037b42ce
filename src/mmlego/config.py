"""Config validation: the schema, and the rules of a study the schema cannot express.

The Snakefile validates with ``snakemake.utils.validate`` (which fills in the schema's
defaults); :func:`check_config` runs first so that a bad config stops with one message
that names the key path and the allowed values, instead of a raw jsonschema dump. The
allowed model keys come from the model catalogue, the modalities of a dataset from its kind.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from mmlego.config_paths import file_source, rebase_paths
from mmlego.data.kinds import Modality, dataset_modalities
from mmlego.data.unpaired import colliding_tags
from mmlego.models.catalogue import listing, member_runs, model_keys, model_misfit
from mmlego.train.tuning.settings import tune_problems

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
# Keys that moved: an old config gets a message naming the new place.
MOVED_KEYS = {("train", "fuse_epochs"): "fuse.epochs"}


class ConfigError(ValueError):
    """A config that breaks the schema or the study's rules; the message names the key."""


def load_yaml(path: str | Path) -> Any:
    """Read YAML with ``safe_load`` only (never a loader that can build objects)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema as a dict, with the model keys of the catalogue as the allowed models."""
    schema = load_yaml(path)
    props = schema["properties"]
    props["models"]["items"]["enum"] = model_keys()
    members = props["baselines"]["properties"]["ensemble"]["properties"]["members"]
    members["items"]["enum"] = model_keys("train", per_modality=True)
    return schema


def _key_path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: ValidationError) -> str:
    """One readable sentence for a schema violation."""
    key = _key_path(error)
    if error.validator == "enum":
        allowed = ", ".join(map(repr, error.validator_value))
        return f"config key '{key}': {error.instance!r} is not allowed; choose one of: {allowed}"
    if error.validator == "const":
        return f"config key '{key}': {error.instance!r} is not allowed; it must be {error.validator_value!r}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        where = f"'{key}'" if key != "<top level>" else "the top level"
        return f"config key '{missing}' is required under {where}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"config key '{key}': {error.message}{hint}"
    if error.validator == "propertyNames":
        return f"config key '{key}': name {error.instance!r} must start with a letter and use only letters, digits and _"
    return f"config key '{key}': {error.message}"


def _deepest_errors(error: ValidationError) -> ValidationError:
    """Descend into ``allOf``/``if-then`` wrappers to the error that names the real key."""
    while error.context:
        error = best_match(error.context)
    return error


def check_schema(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`ConfigError` naming the key path of the first schema violation."""
    schema = schema if schema is not None else load_schema()
    validator = Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    messages = sorted({_describe(_deepest_errors(err)) for err in errors})
    raise ConfigError("invalid config:\n  - " + "\n  - ".join(messages))


def moved_key_problems(config: Mapping[str, Any]) -> list[str]:
    """Keys of an older config that have moved, each with its new place."""
    return [
        f"config key '{'.'.join(old)}' has moved to '{new}'; rename it in your config"
        for old, new in MOVED_KEYS.items()
        if old[-1] in (config.get(old[0]) or {})
    ]


def check_semantics(config: Mapping[str, Any]) -> None:
    """Rules the schema cannot express: split fractions, model/dataset fit, study references.

    Runs on a copy with the schema's defaults filled in, so that a key left out is checked
    at its default value; only the models the config lists must each fit a dataset (the
    default list is taken as far as it fits).
    """
    listed = list(config.get("models") or [])
    config = fill_defaults(copy.deepcopy(dict(config)))
    problems: list[str] = []
    splits = config["splits"]
    fractions = [splits[k] for k in ("train", "val", "test")]
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        problems.append(
            f"config keys 'splits.train', 'splits.val', 'splits.test' must sum to 1 "
            f"(got {fractions[0]} + {fractions[1]} + {fractions[2]} = {sum(fractions):.4g})"
        )
    for name, ds in config["datasets"].items():
        if ds["kind"] == "generic":
            needed = ("time", "event") if ds["task"] == "survival" else ("label",)
            for key in needed:
                if key not in ds["labels"]:
                    problems.append(
                        f"config key 'datasets.{name}.labels.{key}' is required for a {ds['task']} task"
                    )
    problems += model_problems(config, listed)
    problems += tune_problems(config, model_keys("train"))
    unpaired = config["evaluate"]["unpaired"]
    if unpaired["enabled"]:
        target = unpaired["dataset"]
        if target not in config["datasets"]:
            problems.append(
                f"config key 'evaluate.unpaired.dataset': {target!r} is not a dataset of this config; "
                f"choose one of: {', '.join(config['datasets'])}"
            )
        else:
            problems += unpaired_problems(config["datasets"][target], target, unpaired)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def unpaired_problems(ds: Mapping[str, Any], name: str, unpaired: Mapping[str, Any]) -> list[str]:
    """The unpaired study needs a dataset of exactly two modalities and distinct overlaps."""
    problems = []
    names = [m.name for m in dataset_modalities(ds)]
    if len(names) != 2:
        problems.append(
            f"config key 'evaluate.unpaired.dataset': dataset {name!r} has {len(names)} modalities "
            f"({', '.join(names)}); the unpaired study trains two blocks, choose a dataset with two "
            "(e.g. a MIMIC dataset: static and vitals)"
        )
    if colliding_tags(unpaired["overlaps"]):
        problems.append(
            f"config key 'evaluate.unpaired.overlaps': {list(unpaired['overlaps'])} repeats "
            "a value at 2 decimals (their output folders would collide); give distinct values"
        )
    return problems


def model_problems(config: Mapping[str, Any], listed: list[str]) -> list[str]:
    """The ``listed`` models that fit none of the datasets, ensembles with fewer than 2
    members, and baseline sizes attention cannot take (``config`` has its defaults filled in)."""
    mods: dict[str, list[Modality]] = {
        name: dataset_modalities(ds) for name, ds in config["datasets"].items()
    }
    tasks = {name: ds["task"] for name, ds in config["datasets"].items()}
    problems: list[str] = []
    for model in listed:
        reasons = {name: model_misfit(model, m, tasks[name]) for name, m in mods.items()}
        if reasons and all(reasons.values()):
            detail = "; ".join(f"dataset '{name}': {why}" for name, why in reasons.items())
            problems.append(
                f"config key 'models': {model!r} applies to no dataset of this study ({detail}); "
                f"remove it from 'models' or add a dataset it fits"
            )
    params = config["baselines"]
    if params["dim"] % params["heads"]:
        problems.append(
            f"config key 'baselines.heads' ({params['heads']}) must divide 'baselines.dim' "
            f"({params['dim']}): attention splits the embedding across the heads"
        )
    if "ensemble" in config["models"]:
        members = params["ensemble"]["members"]
        for name, m in mods.items():
            if model_misfit("ensemble", m) is None and len(member_runs(config, "ensemble", m)) < 2:
                problems.append(
                    f"config key 'baselines.ensemble.members': on dataset '{name}' the models "
                    f"{list(members)} give fewer than 2 runs to average (modalities: {listing(m)}); "
                    "add a member model that fits another modality"
                )
    return problems


def check_config(config: Mapping[str, Any]) -> None:
    """Moved keys, the schema check, then the semantic checks; raises :class:`ConfigError`."""
    moved = moved_key_problems(config)
    if moved:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(moved))
    check_schema(config)
    check_semantics(config)


def fill_defaults(
    config: dict[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Fill in the schema's defaults in place (for use outside Snakemake, e.g. tests and the CLI)."""
    schema = schema if schema is not None else load_schema()
    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        for prop, sub in properties.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    filler = validators.extend(Draft202012Validator, {"properties": set_defaults})
    filler(schema).validate(config)
    return config


def load_config(path: str | Path) -> dict[str, Any]:
    """Read, check and default-fill a config file as the Snakefile does (for non-Snakemake
    use): its relative paths are taken from its folder, written from the working directory."""
    config = load_yaml(path) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    check_config(config)
    rebase_paths(config, [file_source(path)])
    return fill_defaults(config)
