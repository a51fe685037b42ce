"""Config helpers, path templates and input functions shared by every stage."""

import json

from mmlego.config import dataset_modalities, dataset_runs
from mmlego.utils.raw_inputs import missing_raw_inputs_message

STAGES = [
    "study",
    "demo",
    "preprocess",
    "mimic",
    "features",
    "splits",
    "train",
    "combine",
    "baselines",
    "evaluate",
    "report",
]

OUT = config["output_dir"]
DATASETS = list(config["datasets"])
REPEATS = config["splits"]["repeats"]
SPLITS = list(range(REPEATS))

# Every stage appends the final outputs it owns; rule all requests them.
ALL_TARGETS = [f"{OUT}/config.resolved.yaml"]


wildcard_constraints:
    ds="[A-Za-z][A-Za-z0-9_]*",
    mod="[A-Za-z][A-Za-z0-9_]*",
    k="[0-9]+",
    run="[A-Za-z][A-Za-z0-9_]*(\\.[A-Za-z][A-Za-z0-9_]*)?",
    slide="[^/]+",


if not config["demo"]["enabled"]:
    _missing = missing_raw_inputs_message(config)
    if _missing:
        raise WorkflowError(_missing)


def modalities(ds):
    """Modality names of dataset ``ds``."""
    return [m.name for m in dataset_modalities(config["datasets"][ds])]


def modality_type(ds, mod):
    """Type (tabular, timeseries, wsi, image) of modality ``mod`` of dataset ``ds``."""
    return {m.name: m.type for m in dataset_modalities(config["datasets"][ds])}[mod]


def runs(ds):
    """Every model run that applies to dataset ``ds``."""
    return dataset_runs(config["datasets"][ds], config["models"])


def as_json(value):
    """A config section as JSON for a rule's ``params`` (quote it with ``:q`` in the shell)."""
    return json.dumps(value, sort_keys=True)
