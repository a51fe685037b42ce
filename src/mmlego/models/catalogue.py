"""Every model of the study, declared once.

An entry says what the rest of the study needs to know about a model: its config key, how its
table row is labelled and grouped, which modality types it takes, how it is made, which config
keys its jobs read, and the function that builds it. The schema's ``models`` enum, the rules,
the config checks and the result tables all read this module, so adding a model is its module
plus one entry here.

How a model is made (``made_by``):

- ``train``: fitted by the shared train rule, one job per (dataset, run, split);
- ``blocks``: composed from the split's trained LegoBlocks by its own rule (``step``);
- ``predictions``: averaged from other runs' predictions by its own rule (``step``);
- ``classical``: a classical reference (scikit-learn, scikit-survival) fitted by its own rule
  (``step``) on the features of every modality, its setting chosen on validation; the
  ``builder`` is its ``fit_<family>`` function (:mod:`mmlego.models.classical`).

A *run* is a model on the modalities it takes: ``snn.omics`` for a model that runs once per
modality (``per_modality``), ``healnet`` for one that takes every modality of the dataset.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmlego.data.kinds import MODALITY_TYPES, Modality

MADE_BY = ("train", "blocks", "predictions", "classical")
TASKS = ("survival", "binary", "multiclass")
INSTANCE_TYPES = ("timeseries", "wsi", "image")
# The kind a unimodal row names, and the late-fusion encoder of a modality type.
TYPE_KIND = {"tabular": "tab", "timeseries": "img/ts", "wsi": "img/ts", "image": "img/ts"}
TYPE_ENCODER = {"tabular": "SNN", "timeseries": "ABMIL", "wsi": "ABMIL", "image": "ABMIL"}
ENCODER_ORDER = ("SNN", "ABMIL")
# Table sections by model group, in display order; ``{kind}`` is the unimodal run's kind.
SECTIONS: dict[str, str] = {
    "unimodal": "Unimodal ({kind})",
    "late": "Multimodal",
    "early": "Multimodal",
    "ensemble": "Multimodal",
    "intermediate": "Multimodal",
    "lego": "Multimodal",
    "classical": "Classical",
}


@dataclass(frozen=True)
class ModelEntry:
    """One model: see the module docstring for the meaning of ``made_by``.

    ``label`` is the table row's label, with ``{name}``, ``{kind}`` (the unimodal run's
    modality kind, tab or img/ts) and ``{encoders}`` (the late-fusion encoders of the
    modalities the run takes) filled in. ``config_keys`` are the dotted config keys the jobs
    read besides ``train`` (a trained model's jobs also read the training loop), so that
    editing one model's keys reruns that model's jobs only. ``builder`` is
    ``"module:function"``, imported when first used.

    A model with its own rule (made from blocks or predictions) names it ``step`` (the rule
    and its ``mmlego`` subcommand), the files of its run folder it writes (``outputs``:
    names of ``mmlego.layout`` functions) and the job's ``resources``. ``members`` names the
    models a predictions-made model averages: a dotted config key listing them, or the tuple
    of model keys itself; ``survival_mean`` is what it averages on a survival task, the
    members' survival curves (``survival``) or their per-bin hazards (``hazards``). ``tasks``
    are the tasks the model fits and ``min_modalities`` the fewest modalities a model that is
    not ``per_modality`` takes (a fusion needs 2; a classical model also runs on one table).
    """

    key: str
    name: str
    group: str
    made_by: str
    types: tuple[str, ...]
    per_modality: bool
    config_keys: tuple[str, ...]
    builder: str | None
    label: str = "{name}"
    step: str | None = None
    outputs: tuple[str, ...] = ("model", "train_log", "predictions")
    resources: Mapping[str, int] = field(default_factory=dict)
    members: str | tuple[str, ...] | None = None
    survival_mean: str = "survival"
    ours: bool = False
    misfit: Callable[[Sequence[Modality]], str | None] | None = None
    tasks: tuple[str, ...] = TASKS
    min_modalities: int = 2

    def row_label(self, types: Sequence[str]) -> str:
        """The table row label of a run taking modalities of ``types``."""
        present = {TYPE_ENCODER[t] for t in types}
        encoders = [e for e in ENCODER_ORDER if e in present]
        if len(encoders) == 1:
            encoders *= len(types)
        kind = TYPE_KIND[types[0]] if self.per_modality and types else ""
        return self.label.format(name=self.name, kind=kind, encoders="+".join(encoders))

    def section(self, types: Sequence[str]) -> str:
        """The table section of a run taking modalities of ``types``."""
        kind = TYPE_KIND[types[0]] if self.per_modality else ""
        return SECTIONS[self.group].format(kind=kind)


def _mcat_misfit(mods: Sequence[Modality]) -> str | None:
    types = [m.type for m in mods]
    instances = [t for t in types if t in INSTANCE_TYPES]
    if len(instances) != 1 or "tabular" not in types:
        return (
            "mcat needs exactly one wsi, image or timeseries modality (the instances its "
            f"genomic groups attend over) and at least one tabular modality; it has {listing(mods)}"
        )
    return None


BASELINES = "mmlego.models.baselines"
CLASSICAL = "mmlego.models.classical"
ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        key="snn", name="SNN", group="unimodal", made_by="train", types=("tabular",),
        per_modality=True, config_keys=("baselines.dim", "baselines.dropout"),
        builder=f"{BASELINES}.unimodal:build_snn", label="{name} ({kind})",
    ),
    ModelEntry(
        key="abmil", name="ABMIL", group="unimodal", made_by="train", types=INSTANCE_TYPES,
        per_modality=True, config_keys=("baselines.dim", "baselines.dropout"),
        builder=f"{BASELINES}.unimodal:build_abmil", label="{name} ({kind})",
    ),
    ModelEntry(
        key="perceiver", name="Perceiver", group="unimodal", made_by="train",
        types=MODALITY_TYPES, per_modality=True,
        config_keys=("baselines.dim", "baselines.heads", "baselines.dropout", "baselines.perceiver"),
        builder=f"{BASELINES}.perceiver:build_perceiver", label="{name} ({kind})",
    ),
    ModelEntry(
        key="lego_block", name="LegoBlock", group="unimodal", made_by="train",
        types=MODALITY_TYPES, per_modality=True, config_keys=("lego",),
        builder="mmlego.models.lego:build_lego_block", label="{name} ({kind})", ours=True,
    ),
    ModelEntry(
        key="late_concat", name="concat (late)", group="late", made_by="train",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("baselines.dim", "baselines.dropout"),
        builder=f"{BASELINES}.late:build_late_concat", label="{encoders} {name}",
    ),
    ModelEntry(
        key="late_bilinear", name="bilinear (late)", group="late", made_by="train",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("baselines.dim", "baselines.dropout", "baselines.late"),
        builder=f"{BASELINES}.late:build_late_bilinear", label="{encoders} {name}",
    ),
    ModelEntry(
        key="perceiver_early", name="Perceiver concat (early)", group="early", made_by="train",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("baselines.dim", "baselines.heads", "baselines.dropout", "baselines.perceiver"),
        builder=f"{BASELINES}.perceiver:build_perceiver_early",
    ),
    ModelEntry(
        key="ensemble", name="Ensemble", group="ensemble", made_by="predictions",
        types=MODALITY_TYPES, per_modality=False, config_keys=("baselines.ensemble",),
        builder=None, step="ensemble", outputs=("predictions",),
        members="baselines.ensemble.members",
    ),
    ModelEntry(
        key="lego_ensemble", name="LegoBlock ensemble", group="ensemble", made_by="predictions",
        types=MODALITY_TYPES, per_modality=False, config_keys=(), builder=None, step="ensemble",
        outputs=("predictions",), members=("lego_block",), survival_mean="hazards",
    ),
    ModelEntry(
        key="multimodn", name="MultiModN", group="intermediate", made_by="train",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("baselines.dim", "baselines.dropout"),
        builder=f"{BASELINES}.multimodn:build_multimodn",
    ),
    ModelEntry(
        key="mcat", name="MCAT", group="intermediate", made_by="train", types=MODALITY_TYPES,
        per_modality=False,
        config_keys=("baselines.dim", "baselines.heads", "baselines.dropout", "baselines.mcat"),
        builder=f"{BASELINES}.mcat:build_mcat", misfit=_mcat_misfit,
    ),
    ModelEntry(
        key="healnet", name="HEALNet", group="intermediate", made_by="train",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("baselines.dim", "baselines.heads", "baselines.dropout", "baselines.healnet"),
        builder=f"{BASELINES}.healnet:build_healnet",
    ),
    ModelEntry(
        key="lego_merge", name="LegoMerge", group="lego", made_by="blocks", types=MODALITY_TYPES,
        per_modality=False,
        # merge.adaptive is lego_merge_adaptive's alone: editing it must not rerun lego_merge.
        config_keys=("merge.magnitude", "merge.phase", "merge.head", "merge.eps"),
        builder="mmlego.models.merge:build_lego_merge",
        step="merge", outputs=("model", "predictions", "missing_modality"),
        resources={"mem_mb": 4000, "runtime": 30}, ours=True,
    ),
    ModelEntry(
        key="lego_merge_adaptive", name="LegoMerge (adaptive)", group="lego", made_by="blocks",
        types=MODALITY_TYPES, per_modality=False, config_keys=("merge",),
        builder="mmlego.models.merge:build_lego_merge_adaptive", step="merge_adaptive",
        outputs=("model", "predictions", "merge_weights"),
        resources={"mem_mb": 4000, "runtime": 30}, ours=True,
    ),
    ModelEntry(
        key="naive_mc", name="NaiveMC", group="lego", made_by="blocks", types=MODALITY_TYPES,
        per_modality=False, config_keys=(), builder="mmlego.models.compose:build_naive_mc",
        step="naive_mc", outputs=("model", "predictions"),
        resources={"mem_mb": 4000, "runtime": 30}, ours=True,
    ),
    ModelEntry(
        key="damc", name="DAMC", group="lego", made_by="blocks", types=MODALITY_TYPES,
        per_modality=False, config_keys=("merge.adaptive",),
        builder="mmlego.models.compose:build_naive_mc", step="damc",
        outputs=("model", "predictions", "merge_weights"),
        resources={"mem_mb": 4000, "runtime": 30}, ours=True,
    ),
    ModelEntry(
        key="lego_fuse", name="LegoFuse", group="lego", made_by="blocks", types=MODALITY_TYPES,
        per_modality=False, config_keys=("fuse", "merge.head", "train"),
        builder="mmlego.models.fuse:build_lego_fuse", step="fuse",
        resources={"gpu": 1, "mem_mb": 8000, "runtime": 60}, ours=True,
    ),
    ModelEntry(
        key="coxnet", name="Cox (elastic net)", group="classical", made_by="classical",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("classical.select_on", "classical.coxnet"),
        builder=f"{CLASSICAL}:fit_coxnet", step="classical",
        outputs=("predictions", "selection"), tasks=("survival",), min_modalities=1,
    ),
    ModelEntry(
        key="logistic", name="Logistic regression", group="classical", made_by="classical",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("classical.select_on", "classical.logistic"),
        builder=f"{CLASSICAL}:fit_logistic", step="classical",
        outputs=("predictions", "selection"), tasks=("binary", "multiclass"), min_modalities=1,
    ),
    ModelEntry(
        key="gbm", name="Gradient boosting", group="classical", made_by="classical",
        types=MODALITY_TYPES, per_modality=False,
        config_keys=("classical.select_on", "classical.gbm"),
        builder=f"{CLASSICAL}:fit_gbm", step="classical",
        outputs=("predictions", "selection"), min_modalities=1,
    ),
)  # fmt: skip
CATALOGUE: dict[str, ModelEntry] = {entry.key: entry for entry in ENTRIES}


def model_entry(key: str) -> ModelEntry:
    """The entry of model ``key``; raises naming the known models otherwise."""
    if key not in CATALOGUE:
        raise KeyError(f"unknown model {key!r}; known models: {', '.join(CATALOGUE)}")
    return CATALOGUE[key]


def model_keys(made_by: str | None = None, *, per_modality: bool | None = None) -> list[str]:
    """Keys of the models (made by ``made_by``, running per modality or not), in table order."""
    return [
        e.key
        for e in ENTRIES
        if (made_by is None or e.made_by == made_by)
        and (per_modality is None or e.per_modality == per_modality)
    ]


def get_builder(key: str) -> Callable[..., Any]:
    """The function that builds model ``key``: ``builder(modalities=, n_out=, task=, cfg=)``
    (a classical model's is its fit function: ``builder(split_data, split=, select_on=, **grid)``)."""
    entry = model_entry(key)
    if entry.builder is None:
        raise KeyError(f"model {key!r} is {entry.made_by}-made and has no network to build")
    module, _, function = entry.builder.partition(":")
    return getattr(importlib.import_module(module), function)


# --------------------------------------------------------------------------- runs


def run_name(model: str, modality: str | None = None) -> str:
    """Folder name of one run: ``snn.omics`` for a per-modality model, ``healnet`` else."""
    return f"{model}.{modality}" if modality else model


def parse_run(run: str) -> tuple[str, str | None]:
    """Inverse of :func:`run_name`."""
    model, _, modality = run.partition(".")
    return model, modality or None


def run_label(run: str, types: Sequence[str] = ()) -> str:
    """A run's name in figures: ``SNN (omics)`` for a per-modality run, else its row label
    (``types``: the modality types it takes, which late-fusion labels name)."""
    model, modality = parse_run(run)
    entry = model_entry(model)
    if modality is not None:
        return f"{entry.name} ({modality})"
    return entry.row_label(types).strip()


def listing(mods: Sequence[Modality]) -> str:
    """``name (type), ...`` of a dataset's modalities, for messages."""
    return ", ".join(f"{m.name} ({m.type})" for m in mods)


def model_misfit(key: str, mods: Sequence[Modality], task: str | None = None) -> str | None:
    """Why model ``key`` cannot run on a dataset with modalities ``mods`` (and ``task``, when
    given); None when it can."""
    entry = model_entry(key)
    if task is not None and task not in entry.tasks:
        return f"{key} fits {' or '.join(entry.tasks)} tasks, not {task}"
    if entry.per_modality:
        if not any(m.type in entry.types for m in mods):
            return (
                f"{key} needs a modality of type {' or '.join(entry.types)}; it has {listing(mods)}"
            )
        return None
    if len(mods) < entry.min_modalities:
        return (
            f"{key} fuses modalities and needs at least {entry.min_modalities}; "
            f"it has {listing(mods)}"
        )
    return entry.misfit(mods) if entry.misfit else None


def dataset_runs(
    mods: Sequence[Modality], models: Sequence[str], task: str | None = None
) -> list[str]:
    """Every run of ``models`` that applies to a dataset with modalities ``mods`` (and
    ``task``, when given: a model of other tasks is skipped)."""
    runs: list[str] = []
    for key in models:
        if model_misfit(key, mods, task) is not None:
            continue
        entry = model_entry(key)
        if entry.per_modality:
            runs += [run_name(key, m.name) for m in mods if m.type in entry.types]
        else:
            runs.append(run_name(key))
    return runs


def run_types(run: str, mods: Sequence[Modality]) -> list[str]:
    """The modality types a run takes: its one modality's, or every modality's."""
    _, modality = parse_run(run)
    return [m.type for m in mods if modality is None or m.name == modality]


def config_value(config: Mapping[str, Any], dotted: str) -> Any:
    """The value of a dotted config key (``baselines.late``)."""
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


def job_config(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The config sections a job of model ``key`` reads (only those, so that the params
    rerun trigger of its jobs fires when they change and not otherwise)."""
    entry = model_entry(key)
    dotted = (("train",) if entry.made_by == "train" else ()) + entry.config_keys
    cfg: dict[str, Any] = {}
    for path in dotted:
        *parents, last = path.split(".")
        node = cfg
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = config_value(config, path)
    return cfg


def member_runs(config: Mapping[str, Any], key: str, mods: Sequence[Modality]) -> list[str]:
    """The runs a predictions-made model averages on a dataset with modalities ``mods``."""
    entry = model_entry(key)
    listed = (
        entry.members if isinstance(entry.members, tuple) else config_value(config, entry.members)
    )
    members = [m for m in listed if model_entry(m).per_modality]
    return dataset_runs(mods, members)
