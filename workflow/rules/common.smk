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
    "unpaired",
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


def demo_params(source):
    """The `demo` keys one source's generator reads: editing another's size keeps it cached."""
    from mmlego.commands.generate_demo import SOURCES

    return as_json({key: config["demo"][key] for key in SOURCES[source][1].values()})


# Model stages (train.smk, combine.smk).
import shlex

from mmlego.config import parse_run


def trained_runs(ds):
    """Runs of dataset ``ds`` that the generic train rule fits."""
    return [r for r in runs(ds) if parse_run(r)[0] not in NOT_TRAINED]


def split_inputs(wildcards):
    """Files ``mmlego.data.transforms.load_split`` reads for one split of a dataset."""
    ds_dir = f"{OUT}/{wildcards.ds}"
    return {
        "labels": f"{ds_dir}/labels.parquet",
        "splits": f"{ds_dir}/splits.json",
        "transforms": f"{ds_dir}/transforms/split{wildcards.k}.json",
        "stores": [f"{ds_dir}/modalities/{m}.h5" for m in modalities(wildcards.ds)],
    }


def dataset_ready(ds):
    """Whether the earlier stages request every split transform and store of ``ds``."""
    needed = [f"{OUT}/{ds}/transforms/split{k}.json" for k in SPLITS]
    needed += [f"{OUT}/{ds}/modalities/{m}.h5" for m in modalities(ds)]
    return all(path in ALL_TARGETS for path in needed)


def block_checkpoints(wildcards):
    """The split's LegoBlock checkpoints, one per modality of the dataset."""
    return [
        f"{OUT}/{wildcards.ds}/lego_block.{m}/split{wildcards.k}/model.pt"
        for m in modalities(wildcards.ds)
    ]


def block_args(wildcards, input):
    """``--block modality=path`` arguments, in the dataset's modality order."""
    pairs = zip(modalities(wildcards.ds), input.blocks)
    return " ".join(f"--block {shlex.quote(f'{m}={path}')}" for m, path in pairs)
