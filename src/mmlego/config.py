"""Config validation and the study's derived structure (modalities and runs per dataset).

The Snakefile validates with ``snakemake.utils.validate`` (which fills in the schema's
defaults); :func:`check_config` runs first so that a bad config stops with one message
that names the key path and the allowed values, instead of a raw jsonschema dump.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

MODALITY_TYPES = ("tabular", "timeseries", "wsi", "image")
STORE_KIND = {"tabular": "vector", "timeseries": "series", "wsi": "bag", "image": "bag"}
TCGA_OMICS = ("mut", "cnv", "rna")


class ConfigError(ValueError):
    """A config that breaks the schema or the study's rules; the message names the key."""


def load_yaml(path: str | Path) -> Any:
    """Read YAML with ``safe_load`` only (never a loader that can build objects)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema as a dict."""
    return load_yaml(path)


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


def check_semantics(config: Mapping[str, Any]) -> None:
    """Rules the schema cannot express: split fractions, model/dataset fit, study references."""
    problems: list[str] = []
    splits = config.get("splits", {})
    fractions = [splits.get(k, d) for k, d in (("train", 0.7), ("val", 0.15), ("test", 0.15))]
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        problems.append(
            f"config keys 'splits.train', 'splits.val', 'splits.test' must sum to 1 "
            f"(got {fractions[0]} + {fractions[1]} + {fractions[2]} = {sum(fractions):.4g})"
        )
    for name, ds in config.get("datasets", {}).items():
        if ds.get("kind") == "generic":
            labels = ds.get("labels", {})
            needed = ("time", "event") if ds.get("task") == "survival" else ("label",)
            for key in needed:
                if key not in labels:
                    problems.append(
                        f"config key 'datasets.{name}.labels.{key}' is required for a {ds.get('task')} task"
                    )
    problems += model_problems(config)
    unpaired = config.get("evaluate", {}).get("unpaired", {})
    if unpaired.get("enabled"):
        target = unpaired.get("dataset")
        if target not in config.get("datasets", {}):
            problems.append(
                f"config key 'evaluate.unpaired.dataset': {target!r} is not a dataset of this config; "
                f"choose one of: {', '.join(config.get('datasets', {}))}"
            )
        else:
            problems += unpaired_problems(config["datasets"][target], target, unpaired)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def unpaired_problems(ds: Mapping[str, Any], name: str, unpaired: Mapping[str, Any]) -> list[str]:
    """The unpaired study needs a dataset of exactly two modalities and distinct overlaps."""
    problems = []
    try:
        names = [m.name for m in dataset_modalities(ds)]
    except (ConfigError, KeyError):
        names = None
    if names is not None and len(names) != 2:
        problems.append(
            f"config key 'evaluate.unpaired.dataset': dataset {name!r} has {len(names)} modalities "
            f"({', '.join(names)}); the unpaired study trains two blocks, choose a dataset with two "
            "(e.g. a MIMIC dataset: static and vitals)"
        )
    from mmlego.data.unpaired import colliding_tags

    if colliding_tags(unpaired.get("overlaps", [])):
        problems.append(
            f"config key 'evaluate.unpaired.overlaps': {list(unpaired.get('overlaps', []))} repeats "
            "a value at 2 decimals (their output folders would collide); give distinct values"
        )
    return problems


def check_config(config: Mapping[str, Any]) -> None:
    """Schema check, then the semantic checks; raises :class:`ConfigError`."""
    check_schema(config)
    check_semantics(config)


def fill_defaults(
    config: dict[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Fill in the schema's defaults in place (for use outside Snakemake, e.g. tests and the CLI)."""
    from jsonschema import validators

    schema = schema if schema is not None else load_schema()
    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        for prop, sub in properties.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(prop, _copy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    filler = validators.extend(Draft202012Validator, {"properties": set_defaults})
    filler(schema).validate(config)
    return config


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read, check and default-fill a config file (the Snakefile's path, for non-Snakemake use)."""
    config = load_yaml(path) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    check_config(config)
    return fill_defaults(config)


# --------------------------------------------------------------------------- study structure


@dataclass(frozen=True)
class Modality:
    """One modality of a dataset: its name, data type and store kind."""

    name: str
    type: str

    @property
    def kind(self) -> str:
        """Store kind: vector, series or bag."""
        return STORE_KIND[self.type]


def dataset_modalities(ds: Mapping[str, Any]) -> list[Modality]:
    """The modalities a dataset's raw data turns into, in a fixed order."""
    kind = ds["kind"]
    if kind == "tcga":
        if ds.get("omics_as", "joint") == "joint":
            return [Modality("slides", "wsi"), Modality("omics", "tabular")]
        return [Modality("slides", "wsi")] + [
            Modality(group, "tabular") for group in ds.get("omics", TCGA_OMICS)
        ]
    if kind == "mimic":
        return [Modality("static", "tabular"), Modality("vitals", "timeseries")]
    if kind == "isic":
        return [Modality("image", "image"), Modality("metadata", "tabular")]
    if kind == "generic":
        return [Modality(name, spec["type"]) for name, spec in ds["modalities"].items()]
    raise ConfigError(f"unknown dataset kind {kind!r}; choose one of: tcga, mimic, isic, generic")


# Which modality types a unimodal model can take, and which run once over all modalities.
UNIMODAL_MODELS: dict[str, tuple[str, ...]] = {
    "lego_block": MODALITY_TYPES,
    "snn": ("tabular",),
    "abmil": ("timeseries", "wsi", "image"),
    "perceiver": MODALITY_TYPES,
}
MULTIMODAL_MODELS = (
    "lego_merge",
    "lego_fuse",
    "perceiver_early",
    "late_concat",
    "late_bilinear",
    "ensemble",
    "multimodn",
    "mcat",
    "healnet",
)
# Models made by their own rules from other runs' outputs, not by the shared train rule:
# LegoMerge/LegoFuse from the trained blocks (combine stage), the ensemble from its members.
NOT_FROM_TRAIN_RULE = ("lego_merge", "lego_fuse", "ensemble")
INSTANCE_TYPES = ("timeseries", "wsi", "image")
DEFAULT_ENSEMBLE_MEMBERS = ("snn", "abmil")


def run_name(model: str, modality: str | None = None) -> str:
    """Directory name of one trained model: ``snn.omics`` for unimodal runs, ``healnet`` else."""
    return f"{model}.{modality}" if modality else model


def parse_run(run: str) -> tuple[str, str | None]:
    """Inverse of :func:`run_name`."""
    model, _, modality = run.partition(".")
    return model, modality or None


# The ``baselines`` keys each baseline's builder reads. A train job's params hold only its
# model's keys, so editing one model's options retrains that model alone.
BASELINE_KEYS: dict[str, tuple[str, ...]] = {
    "snn": ("dim", "dropout"),
    "abmil": ("dim", "dropout"),
    "late_concat": ("dim", "dropout"),
    "multimodn": ("dim", "dropout"),
    "late_bilinear": ("dim", "dropout", "late"),
    "perceiver": ("dim", "heads", "dropout", "perceiver"),
    "perceiver_early": ("dim", "heads", "dropout", "perceiver"),
    "mcat": ("dim", "heads", "dropout", "mcat"),
    "healnet": ("dim", "heads", "dropout", "healnet"),
}


def run_config(config: Mapping[str, Any], run: str) -> dict[str, Any]:
    """The config sections the train rule passes to ``run``'s builder and training loop.

    Only what the run reads: the training loop's keys (``fuse_epochs`` is LegoFuse's), and
    the ``lego`` section for LegoBlocks or the model's own ``baselines`` keys for a baseline.
    """
    model, _ = parse_run(run)
    cfg: dict[str, Any] = {
        "train": {k: v for k, v in config["train"].items() if k != "fuse_epochs"}
    }
    if model == "lego_block":
        cfg["lego"] = config["lego"]
    else:
        cfg["baselines"] = {k: config["baselines"][k] for k in BASELINE_KEYS[model]}
    return cfg


def _listing(mods: list[Modality]) -> str:
    return ", ".join(f"{m.name} ({m.type})" for m in mods)


def model_misfit(model: str, mods: list[Modality]) -> str | None:
    """Why ``model`` cannot run on a dataset with modalities ``mods``; None when it can."""
    types = [m.type for m in mods]
    if model in UNIMODAL_MODELS:
        allowed = UNIMODAL_MODELS[model]
        if not any(t in allowed for t in types):
            return (
                f"{model} needs a modality of type {' or '.join(allowed)}; it has {_listing(mods)}"
            )
        return None
    if len(mods) < 2:
        return f"{model} fuses modalities and needs at least 2; it has {_listing(mods)}"
    if model == "mcat":
        instances = [t for t in types if t in INSTANCE_TYPES]
        if len(instances) != 1 or "tabular" not in types:
            return (
                "mcat needs exactly one wsi, image or timeseries modality (the instances its "
                f"genomic groups attend over) and at least one tabular modality; it has {_listing(mods)}"
            )
    return None


def dataset_runs(ds: Mapping[str, Any], models: Iterable[str]) -> list[str]:
    """Every run (model, and modality for unimodal models) that applies to a dataset."""
    mods = dataset_modalities(ds)
    runs: list[str] = []
    for model in models:
        if model_misfit(model, mods) is not None:
            continue
        if model in UNIMODAL_MODELS:
            runs += [run_name(model, m.name) for m in mods if m.type in UNIMODAL_MODELS[model]]
        else:
            runs.append(run_name(model))
    return runs


def trained_runs(ds: Mapping[str, Any], models: Iterable[str]) -> list[str]:
    """The runs of a dataset that the shared train rule fits (see :data:`NOT_FROM_TRAIN_RULE`)."""
    return [r for r in dataset_runs(ds, models) if parse_run(r)[0] not in NOT_FROM_TRAIN_RULE]


def ensemble_members(ds: Mapping[str, Any], members: Iterable[str]) -> list[str]:
    """The unimodal runs an ensemble averages on a dataset (every modality of each member model)."""
    return dataset_runs(ds, [m for m in members if m in UNIMODAL_MODELS])


def model_problems(config: Mapping[str, Any]) -> list[str]:
    """Listed models that fit none of the datasets, ensembles with fewer than 2 members, and
    baseline sizes attention cannot take."""
    datasets = {name: ds for name, ds in config.get("datasets", {}).items() if "kind" in ds}
    problems: list[str] = []
    mods = {}
    for name, ds in datasets.items():
        try:
            mods[name] = dataset_modalities(ds)
        except (ConfigError, KeyError):
            continue
    for model in config.get("models") or ():
        reasons = {name: model_misfit(model, m) for name, m in mods.items()}
        if reasons and all(reasons.values()):
            detail = "; ".join(f"dataset '{name}': {why}" for name, why in reasons.items())
            problems.append(
                f"config key 'models': {model!r} applies to no dataset of this study ({detail}); "
                f"remove it from 'models' or add a dataset it fits"
            )
    params = config.get("baselines", {})
    dim, heads = params.get("dim", 64), params.get("heads", 4)
    if dim % heads:
        problems.append(
            f"config key 'baselines.heads' ({heads}) must divide 'baselines.dim' ({dim}): "
            "attention splits the embedding across the heads"
        )
    if "ensemble" in (config.get("models") or ()):
        members = (
            config.get("baselines", {}).get("ensemble", {}).get("members", DEFAULT_ENSEMBLE_MEMBERS)
        )
        for name, m in mods.items():
            if (
                model_misfit("ensemble", m) is None
                and len(ensemble_members(datasets[name], members)) < 2
            ):
                problems.append(
                    f"config key 'baselines.ensemble.members': on dataset '{name}' the models "
                    f"{list(members)} give fewer than 2 runs to average (modalities: {_listing(m)}); "
                    "add a member model that fits another modality"
                )
    return problems


def ensemble_inputs(config: Mapping[str, Any], ds: str, k: int | str) -> dict[str, list[str]]:
    """The ensemble job's inputs on dataset ``ds``, split ``k``: each member run's predictions
    and its modality store (for the presence flags), in the members' order."""
    out = config["output_dir"]
    runs = ensemble_members(config["datasets"][ds], config["baselines"]["ensemble"]["members"])
    return {
        "predictions": [f"{out}/{ds}/{run}/split{k}/predictions.parquet" for run in runs],
        "stores": [f"{out}/{ds}/modalities/{parse_run(run)[1]}.h5" for run in runs],
    }
