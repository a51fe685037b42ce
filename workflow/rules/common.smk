"""Config helpers, path templates, input functions and the final targets of the workflow."""

import json
import shlex
from pathlib import Path

from mmlego import layout
from mmlego.data.build import table_outputs
from mmlego.data.splits import n_splits
from mmlego.data.kinds import (
    bag_modalities,
    dataset_kind,
    dataset_modalities,
    missing_raw_inputs,
    missing_raw_inputs_message,
    reads_tables_per_modality,
    table_job_config,
    table_modalities,
)
from mmlego.demo.sources import SOURCES as DEMO_GENERATORS
from mmlego.evaluate.composition import WEIGHTED as COMPOSITION_WEIGHTED
from mmlego.evaluate.composition import composition_runs
from mmlego.evaluate.outputs import paper_outputs, toy_figures
from mmlego.models.catalogue import (
    dataset_runs,
    job_config,
    member_runs,
    model_entry,
    model_keys,
    parse_run,
)
from mmlego.train.tuning import shares_latent_shape, tuned_job_config, tuned_models
from mmlego.train.tuning.settings import SHARED_MODEL
from mmlego.utils.config_arg import fragment_file
from mmlego.utils.executables import ensure_mmlego_on_path

# Every rule calls `mmlego`, also under an unactivated .venv/bin/snakemake.
ensure_mmlego_on_path()

OUT = config["output_dir"]
DATASETS = list(config["datasets"])
SPLITS = list(range(n_splits(config["splits"])))
# One train job per (dataset, run) for all its splits (start-up paid once), or one per split.
BATCH_SPLITS = config["batch_splits"]
DEMO = config["demo"]["enabled"]
# Trained models whose runs are tuned (tune.trials > 0): rule train_tuned trains them and
# declares their tuning.json; none with tune.trials: 0, so then rule train is as before.
TUNED_MODELS = tuned_models(config, model_keys("train"))
# The `demo` config keys each source's generator reads.
DEMO_SOURCE_KEYS = {source: keys for source, (_, keys, _) in DEMO_GENERATORS.items()}

# Path templates with the rules' wildcards.
DS = layout.dataset_dir(OUT, "{ds}")
RUN = layout.run_dir(DS, "{run}", "{k}")


wildcard_constraints:
    ds="[A-Za-z][A-Za-z0-9_]*",
    mod="[A-Za-z][A-Za-z0-9_]*",
    k="[0-9]+",
    run="[A-Za-z][A-Za-z0-9_]*(\\.[A-Za-z][A-Za-z0-9_]*)?",
    slide="[^/]+",


def demo_writes(path):
    """Whether the demo generator writes ``path`` (one of its outputs, or inside its folders)."""
    if not DEMO:
        return False
    target = Path(path).resolve()
    return any(
        target.is_relative_to(Path(output).resolve())
        for source in DEMO_GENERATORS
        for output in layout.demo_source(OUT, source).outputs.values()
    )


# Every raw input the generator does not write must exist, with the demo on or off: a study
# with a missing file stops here, before any job.
_missing = missing_raw_inputs_message(
    missing_raw_inputs(config["datasets"], demo_writes), CONFIG_PATHS
)
if _missing:
    raise WorkflowError(_missing)


def spec(ds):
    """The config section of dataset ``ds``."""
    return config["datasets"][ds]


def ds_dir(ds):
    """The output folder of dataset ``ds``."""
    return layout.dataset_dir(OUT, ds)


def modalities(ds):
    """Modality names of dataset ``ds``."""
    return [m.name for m in dataset_modalities(spec(ds))]


def runs(ds, made_by=None):
    """The model runs on dataset ``ds`` (of the models made by ``made_by``); a model of
    another task is skipped (coxnet on a binary dataset)."""
    models = [m for m in config["models"] if made_by in (None, model_entry(m).made_by)]
    return dataset_runs(dataset_modalities(spec(ds)), models, spec(ds)["task"])


def as_json(value):
    """A config fragment for a rule's ``--cfg``: ``@path`` of the JSON file holding it,
    written now (at DAG-build time) under the output folder and named by the hash of its
    content. As a plain ``cfg`` param it reruns a job exactly when its fragment changes, and
    a failing job's printed command stays short (quote it with ``:q`` in the shell)."""
    return f"@{fragment_file(layout.config_fragments(OUT), value)}"


def run_pattern(made_by, exclude=()):
    """Wildcard constraint: the runs of the catalogue's models made by ``made_by`` (but the
    models ``exclude``); one that matches nothing when no model is left."""
    keys = [key for key in model_keys(made_by) if key not in exclude]
    if not keys:
        return "(?!)"
    return f"(?:{'|'.join(keys)})(?:\\.[A-Za-z][A-Za-z0-9_]*)?"


def exact_run_pattern(keys):
    """Wildcard constraint: exactly the runs of the model ``keys``, a per-modality model's
    with its modality (so ``lego_block`` alone, the shared tuning stage's folder, is none).
    """
    modality = "\\.[A-Za-z][A-Za-z0-9_]*"
    parts = [
        f"{key}{modality}" if model_entry(key).per_modality else key for key in keys
    ]
    return f"(?:{'|'.join(parts)})" if parts else "(?!)"


def split_inputs(wildcards):
    """Files ``mmlego.data.transforms.load_split`` reads for one split of a dataset."""
    root = ds_dir(wildcards.ds)
    return {
        "labels": layout.labels(root),
        "splits": layout.splits(root),
        "transforms": layout.transforms(root, wildcards.k),
        "stores": [layout.modality_store(root, m) for m in modalities(wildcards.ds)],
    }


def run_modalities(ds, run):
    """The modalities run ``run`` reads: its own for a unimodal run, every one otherwise."""
    _, modality = parse_run(run)
    return [modality] if modality else modalities(ds)


def run_transforms(ds, run, k):
    """The transforms file run ``run`` loads on split ``k``: its modality's alone for a
    unimodal run (adding a modality leaves it as it was), the joined one otherwise."""
    _, modality = parse_run(run)
    root = ds_dir(ds)
    return (
        layout.modality_transforms(root, k, modality)
        if modality
        else layout.transforms(root, k)
    )


def run_inputs(wildcards):
    """The train job's split files: labels, splits, and the transforms and stores of the
    modalities the run reads (``run_modalities``), of its one split, or of every split when
    ``batch_splits`` makes one job per (dataset, run)."""
    ds, run = wildcards.ds, wildcards.run
    root = ds_dir(ds)
    splits = SPLITS if BATCH_SPLITS else [wildcards.k]
    transforms = [run_transforms(ds, run, k) for k in splits]
    return {
        "labels": layout.labels(root),
        "splits": layout.splits(root),
        "transforms": transforms if BATCH_SPLITS else transforms[0],
        "stores": [layout.modality_store(root, m) for m in run_modalities(ds, run)],
        **shared_tuning_of(wildcards),
    }


def train_job(template):
    """A train output (or log) template with ``{k}``: as it is for one job per split, or
    expanded over every split for one job per (dataset, run)."""
    if not BATCH_SPLITS:
        return template
    return expand(template, k=SPLITS, allow_missing=True)


def train_job_name():
    """The train job's name, for its benchmark file."""
    return "train/{ds}/{run}/splits" if BATCH_SPLITS else "train/{ds}/{run}/split{k}"


def step_command(steps):
    """The ``mmlego`` arguments that run ``steps`` (each one run's argument list): the one
    step itself, or ``batch`` with each step as a JSON list when the job batches splits.
    """
    if not BATCH_SPLITS:
        (step,) = steps
        return shlex.join(step)
    return "batch " + " ".join(shlex.quote(json.dumps(step)) for step in steps)


def train_command(wildcards, input, output, threads):
    """A params function: the ``mmlego`` arguments of the train job, one ``mmlego train``
    argument list per split (each with its own log, transforms and output folder)."""
    if BATCH_SPLITS:
        splits, transforms, models = SPLITS, input.transforms, output.model
    else:
        splits, transforms, models = [wildcards.k], [input.transforms], [output.model]
    # A tuned LegoBlock's step reads its own split's shared tuning.json; untuned, no argument.
    tunings = [[] for _ in splits]
    if "shared_tuning" in input.keys():
        paths = input.shared_tuning if BATCH_SPLITS else [input.shared_tuning]
        tunings = [["--shared-tuning", path] for path in paths]
    stores = zip(run_modalities(wildcards.ds, wildcards.run), input.stores, strict=True)
    shared = ["--labels", input.labels, "--splits", input.splits]
    for mod, store in stores:
        shared += ["--store", f"{mod}={store}"]
    shared += ["--dataset", wildcards.ds, "--run", wildcards.run]
    shared += ["--cfg", train_job_config(wildcards)]
    shared += ["--seed", str(config["seed"]), "--device", config["device"]]
    shared += ["--threads", str(threads)]
    steps = []
    for k, transform, model, tuning in zip(
        splits, transforms, models, tunings, strict=True
    ):
        run_log = layout.log(OUT, f"train/{wildcards.ds}/{wildcards.run}/split{k}")
        own = ["--transforms", transform, "--split", str(k)]
        own += ["--out-dir", str(Path(model).parent)]
        own += tuning
        steps.append(["--log", run_log, "train", *shared, *own])
    return step_command(steps)


def pair_args(option, names, paths):
    """``--option name=path`` arguments, quoted for the shell."""
    return " ".join(
        f"--{option} {shlex.quote(f'{n}={p}')}"
        for n, p in zip(names, paths, strict=True)
    )


def split_file_args(input, mods):
    """The arguments naming a split's files (``split_inputs``): labels, splits, transforms, and
    the store of each of the modalities ``mods``."""
    files = " ".join(
        f"--{name} {shlex.quote(str(input[name]))}"
        for name in ("labels", "splits", "transforms")
    )
    return f"{files} {pair_args('store', mods, input.stores)}"


def split_args(wildcards, input):
    """A params function: the arguments naming the job's split files (``split_inputs``)."""
    return split_file_args(input, modalities(wildcards.ds))


def block_checkpoints(wildcards):
    """The split's LegoBlock checkpoints, one per modality of the dataset."""
    root = ds_dir(wildcards.ds)
    return [
        layout.model(layout.run_dir(root, f"lego_block.{m}", wildcards.k))
        for m in modalities(wildcards.ds)
    ]


def block_args(wildcards, input):
    """``--block modality=path`` arguments, in the dataset's modality order."""
    return pair_args("block", modalities(wildcards.ds), input.blocks)


# Tuning (tune.trials > 0; tune.smk): none of these changes an untuned train job.


def train_job_config(wildcards):
    """A params function: the train job's config sections, with ``tune`` when tuned."""
    return as_json(tuned_job_config(config, parse_run(wildcards.run)[0]))


def shared_tuning_of(wildcards):
    """The train job's input ``shared_tuning`` for a tuned LegoBlock run: its split's shared
    ``tuning.json``, or one per split (in ``SPLITS`` order) when the job batches splits;
    no input at all otherwise, so an untuned job's inputs are unchanged."""
    if not shares_latent_shape(config, parse_run(wildcards.run)[0]):
        return {}
    splits = SPLITS if BATCH_SPLITS else [wildcards.k]
    root = ds_dir(wildcards.ds)
    paths = [layout.tuning(layout.run_dir(root, SHARED_MODEL, k)) for k in splits]
    return {"shared_tuning": paths if BATCH_SPLITS else paths[0]}


def tuning_files():
    """(dataset, tuning.json) of every tuned run and split, and of the shared stage of each
    dataset and split with LegoBlocks that share their latent shape; none when untuned.
    """
    files = []
    for ds in DATASETS:
        root = ds_dir(ds)
        tuned = [r for r in runs(ds, "train") if parse_run(r)[0] in TUNED_MODELS]
        if shares_latent_shape(config, SHARED_MODEL) and any(
            parse_run(r)[0] == SHARED_MODEL for r in tuned
        ):
            tuned = [SHARED_MODEL, *tuned]
        files += [
            (ds, layout.tuning(layout.run_dir(root, r, k)))
            for r in tuned
            for k in SPLITS
        ]
    return files


TUNING_FILES = tuning_files()


def block_runs(wildcards):
    """A params function: the dataset's LegoBlock runs, quoted for the shell."""
    blocks = [r for r in runs(wildcards.ds, "train") if parse_run(r)[0] == SHARED_MODEL]
    return " ".join(shlex.quote(r) for r in blocks)


def output_folder(name):
    """A params function: the folder of the rule's output ``name``, into which the step writes
    it and the files beside it (taken from the declared file, so it follows the file when a
    storage plugin moves it)."""
    return lambda wildcards, output: str(Path(output[name]).parent)


def input_folder(name):
    """A params function: the folder of the rule's input ``name``."""
    return lambda wildcards, input: str(Path(input[name]).parent)


def demo_params(source):
    """The `demo` keys one source's generator reads: editing another's size keeps it cached."""
    return as_json(
        {key: config["demo"][key] for key in DEMO_SOURCE_KEYS[source].values()}
    )


def store_kinds(ds):
    """{modality: store kind} of dataset ``ds``; transforms are fitted for vector and series."""
    return {m.name: m.kind for m in dataset_modalities(spec(ds))}


def fitted_stores(ds):
    """The vector and series modalities of ``ds``, whose transforms are fitted on train."""
    return [m for m, kind in store_kinds(ds).items() if kind != "bag"]


def members_of(wildcards):
    """The runs the job's predictions-made model averages on its dataset."""
    return member_runs(config, wildcards.model, dataset_modalities(spec(wildcards.ds)))


def member_inputs(wildcards):
    """Each member run's predictions and its modality store (for the presence flags)."""
    root = ds_dir(wildcards.ds)
    members = members_of(wildcards)
    return {
        "predictions": [
            layout.predictions(layout.run_dir(root, run, wildcards.k))
            for run in members
        ],
        "stores": [layout.modality_store(root, parse_run(run)[1]) for run in members],
    }


def dataset_stores(wildcards):
    """Every modality store of the job's dataset (the presence flags that choose whom a run is
    scored on)."""
    return [
        layout.modality_store(ds_dir(wildcards.ds), m) for m in modalities(wildcards.ds)
    ]


def train_log_of(wildcards):
    """The run's training log, for the runs whose jobs write one (none otherwise)."""
    if "train_log" not in model_entry(parse_run(wildcards.run)[0]).outputs:
        return []
    return [
        layout.train_log(
            layout.run_dir(ds_dir(wildcards.ds), wildcards.run, wildcards.k)
        )
    ]


def run_files(ds, file):
    """``file`` (a layout function of a run folder) of every run and split of dataset ``ds``."""
    root = ds_dir(ds)
    return [file(layout.run_dir(root, run, k)) for run in runs(ds) for k in SPLITS]


def qc_files(ds):
    """The QC tables and folders of dataset ``ds``, for the study overview page."""
    root = ds_dir(ds)
    if spec(ds)["kind"] == "mimic":
        return [layout.qc_mimic_cohort(root), layout.qc_mimic_events(root)]
    files = [layout.qc_tables(root)]
    if dataset_kind(spec(ds)).qc_downsampling:
        files.append(layout.qc_downsampling(root))
    for mod in bag_modalities(spec(ds)):
        files.append(layout.qc_features(root, mod.name))
        if mod.type == "wsi":
            files.append(layout.qc_tissue(root, mod.name))
    return files


def unpaired_enabled():
    """Whether the unpaired-data study (Fig. 6) is part of this study."""
    return config["evaluate"]["unpaired"]["enabled"]


def get_final_output():
    """Every file the study ends in, from the config alone (the rest follows as their inputs)."""
    targets = [layout.resolved_config(OUT)]
    if DEMO:
        for source in DEMO_GENERATORS:
            files = layout.demo_source(OUT, source)
            targets += [*files.outputs.values(), files.truth]
    for ds in DATASETS:
        targets += qc_files(ds)
    targets += [
        layout.table(OUT, "table2.html"),
        layout.figure(OUT, "fig2_merge_vs_ensemble.png"),
        layout.study_overview(OUT),
    ]
    if LATENT_DATASETS:
        targets.append(layout.figure(OUT, "latent_interference.png"))
    if ABLATION_FILES:
        targets.append(layout.table(OUT, "merge_ablation.csv"))
    if COMPOSITION_RUNS:
        targets.append(layout.table(OUT, "composition.csv"))
    # Only a study with a dataset of a kind the paper studied; Fig. 4/5 per evaluate.toy_figures.
    if paper_outputs(config):
        targets.append(layout.table(OUT, "paper_comparison.csv"))
    if toy_figures(config):
        targets.append(layout.figure(OUT, "fig4_interference_latent.png"))
    if unpaired_enabled():
        targets += [
            layout.figure(OUT, "fig6_unpaired.png"),
            layout.table(OUT, "unpaired.csv"),
        ]
    # Only a tuned study (tune.smk): the parameters each run's tuning chose.
    if TUNING_FILES:
        targets.append(layout.table(OUT, "tuning.csv"))
    return targets
