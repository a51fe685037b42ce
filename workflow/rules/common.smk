"""Config helpers, path templates, input functions and the final targets of the workflow."""

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

from mmlego import layout
from mmlego.data.build import table_outputs
from mmlego.data.splits import n_splits
from mmlego.data.kinds import (
    bag_modalities,
    dataset_kind,
    dataset_modalities,
    manifest_job_config,
    missing_raw_inputs,
    missing_raw_inputs_message,
    reads_tables_per_modality,
    table_job_config,
    table_modalities,
    table_reader_config,
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
# One job per (dataset, run) for all its splits (start-up paid once), or one per split: train,
# metrics, ensembles, combinations, classical models and the merge ablation.
BATCH_SPLITS = config["batch_splits"]
# With BATCH_SPLITS, the runs of one dataset a train or metrics job takes (runs_per_job).
RUNS_PER_JOB = config["runs_per_job"] if BATCH_SPLITS else {"train": 1, "metrics": 1}
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


def dataset_files(wildcards):
    """The files of the job's dataset that every split reads: labels, splits and the store of
    every modality."""
    root = ds_dir(wildcards.ds)
    return {
        "labels": layout.labels(root),
        "splits": layout.splits(root),
        "stores": [layout.modality_store(root, m) for m in modalities(wildcards.ds)],
    }


def split_transforms(wildcards):
    """The split's fitted transforms (the one file of ``split_inputs`` that is the split's own)."""
    return {"transforms": layout.transforms(ds_dir(wildcards.ds), wildcards.k)}


def split_inputs(wildcards):
    """Files ``mmlego.data.transforms.load_split`` reads for one split of a dataset."""
    return {**dataset_files(wildcards), **split_transforms(wildcards)}


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


def run_dataset_files(wildcards):
    """The dataset files the job's run reads on every split: labels, splits and the stores of
    its modalities (``run_modalities``), so a unimodal run does not see a new modality.
    """
    root = ds_dir(wildcards.ds)
    return {
        "labels": layout.labels(root),
        "splits": layout.splits(root),
        "stores": [
            layout.modality_store(root, m)
            for m in run_modalities(wildcards.ds, wildcards.run)
        ],
    }


# One job per (dataset, run) over every split, or one per split (`batch_splits`). A rule that
# batches declares its per-split files with `split_job` (outputs, log), `over_splits` (inputs)
# and builds its command with `split_command` from one split's argument list.


def job_splits(wildcards):
    """The splits the job runs: every split when ``batch_splits`` batches them, else its own."""
    return SPLITS if BATCH_SPLITS else [int(wildcards.k)]


def split_wildcards(wildcards, k):
    """The job's wildcards for its split ``k`` (a batched job has no ``{k}`` of its own)."""
    return SimpleNamespace(**{**dict(wildcards.items()), "k": str(k)})


def split_job(template):
    """An output (or log) template with ``{k}``: as it is for one job per split, or expanded
    over every split for one job per (dataset, run)."""
    if not BATCH_SPLITS:
        return template
    return expand(template, k=SPLITS, allow_missing=True)


def split_job_name(name):
    """The job's name for its benchmark file: ``name`` and its split, or ``splits`` when the
    job batches them."""
    return f"{name}/splits" if BATCH_SPLITS else f"{name}/split{{k}}"


def _as_list(files):
    return [files] if isinstance(files, str) else list(files)


def over_splits(per_split, shared=dataset_files):
    """An input function: ``shared``'s files (read once by the job) and ``per_split``'s (an
    input function of one split) for the job's split, or, batched, each name's files of
    every split in ``SPLITS`` order."""

    def inputs(wildcards):
        found = dict(shared(wildcards)) if shared else {}
        if not BATCH_SPLITS:
            return {**found, **per_split(wildcards)}
        for k in SPLITS:
            for name, files in per_split(split_wildcards(wildcards, k)).items():
                found.setdefault(name, []).extend(_as_list(files))
        return found

    return inputs


def split_views(wildcards, input, output, per_split):
    """(wildcards, input, output) of each split the job runs, each a namespace: a name of
    ``per_split`` (the rule's ``over_splits`` function) is that split's part of the job's
    input, in the shape ``per_split`` gives it; the other inputs are the job's; an output is
    the split's one file. Taken from the declared files, so they follow a storage plugin.
    """
    views, taken = [], {}
    for i, k in enumerate(job_splits(wildcards)):
        split = split_wildcards(wildcards, k)
        files, outputs = dict(input.items()), dict(output.items())
        if BATCH_SPLITS:
            for name, value in per_split(split).items():
                start = taken.get(name, 0)
                taken[name] = start + len(_as_list(value))
                part = list(input[name][start : taken[name]])
                files[name] = part[0] if isinstance(value, str) else part
            outputs = {name: paths[i] for name, paths in outputs.items()}
        views.append((split, SimpleNamespace(**files), SimpleNamespace(**outputs)))
    return views


def step_command(steps):
    """The ``mmlego`` arguments that run ``steps`` (each one split's argument list): the one
    step itself, or ``batch`` with each step as a JSON list when the job batches splits.
    """
    if not BATCH_SPLITS:
        (step,) = steps
        return shlex.join(step)
    return "batch " + " ".join(shlex.quote(json.dumps(step)) for step in steps)


def split_command(step, log, per_split=lambda wildcards: {}):
    """A params function: the job's ``mmlego`` arguments (``step_command``), one
    ``step(wildcards, input, output, threads)`` argument list per split (from that split's
    ``split_views``), each with its own log ``log`` (a ``layout.log`` name with ``{k}``).
    """

    def command(wildcards, input, output, threads):
        steps = []
        for own, files, outputs in split_views(wildcards, input, output, per_split):
            split_log = layout.log(OUT, log.format(**vars(own)))
            steps.append(["--log", split_log, *step(own, files, outputs, threads)])
        return step_command(steps)

    return command


# Several runs of one dataset in one job (`runs_per_job`): a rule per job, named by dataset and
# number, with the files of every (run, split) step listed; `chunk_rules` ranks it before the
# rule of one run, whose job it replaces.


def reads_bag(ds, run):
    """Whether run ``run`` reads a bag modality (slides, images), whose store is built last."""
    bags = {m.name for m in bag_modalities(spec(ds))}
    return bool(bags.intersection(run_modalities(ds, run)))


def run_chunks(ds, chunk_runs, size, key):
    """``chunk_runs`` of ``ds`` in jobs of at most ``size`` runs; a job's runs share
    ``key(run)`` (and whether they read a bag: a tabular run must not wait for the slides).
    Only jobs of two runs or more: a lone run keeps its own rule's job."""
    groups = {}
    for run in chunk_runs:
        groups.setdefault((key(run), reads_bag(ds, run)), []).append(run)
    chunks = []
    for group in groups.values():
        # As few jobs as ``size`` allows, of near-equal length (8 + 1 runs would leave a lone
        # run to pay a start-up of its own; 5 + 4 do not).
        n = -(-len(group) // size)
        bounds = [len(group) * j // n for j in range(n + 1)]
        chunks += [group[a:b] for a, b in zip(bounds, bounds[1:])]
    return [chunk for chunk in chunks if len(chunk) > 1]


def chunk_steps(ds, chunk):
    """The (dataset, run, split) wildcards of the steps of a job over the runs ``chunk``."""
    return [SimpleNamespace(ds=ds, run=run, k=str(k)) for run in chunk for k in SPLITS]


def chunk_files(steps, per_step):
    """Each name's files of ``per_step`` (a function of one step's wildcards) over ``steps``,
    every file once, in step order: the job's inputs."""
    found = {}
    for own in steps:
        for name, files in per_step(own).items():
            listed = found.setdefault(name, [])
            listed += [f for f in _as_list(files) if f not in listed]
    return found


def chunk_command(steps, step, log, per_step):
    """A params function: ``mmlego batch`` of each of ``steps``'s argument list (``step`` of
    its wildcards, files and outputs), with its own log ``log``. A step's files are looked up
    among the job's declared inputs (so they follow a storage plugin), its outputs are the
    step's entry of each output list."""

    def command(wildcards, input, output, threads):
        declared = {
            name: dict(zip(files, input[name], strict=True))
            for name, files in chunk_files(steps, per_step).items()
        }
        args = []
        for i, own in enumerate(steps):
            files = {
                name: (
                    declared[name][value]
                    if isinstance(value, str)
                    else [declared[name][v] for v in value]
                )
                for name, value in per_step(own).items()
            }
            outputs = {name: paths[i] for name, paths in output.items()}
            step_log = layout.log(OUT, log.format(**vars(own)))
            own_args = step(
                own, SimpleNamespace(**files), SimpleNamespace(**outputs), threads
            )
            args.append(["--log", step_log, *own_args])
        return "batch " + " ".join(shlex.quote(json.dumps(a)) for a in args)

    return command


def chunk_rules(rule_name, chunk_names):
    """Rank each job rule of ``chunk_names`` before ``rule_name``, the rule of one run, which
    could make the same files."""
    for name in chunk_names:
        workflow.ruleorder(name, rule_name)


def pair_list(option, names, paths):
    """``--option name=path`` arguments, one pair per name."""
    return [
        arg
        for n, p in zip(names, _as_list(paths), strict=True)
        for arg in (f"--{option}", f"{n}={p}")
    ]


def pair_args(option, names, paths):
    """``--option name=path`` arguments, quoted for the shell."""
    return shlex.join(pair_list(option, names, paths))


def split_file_list(input, mods):
    """The arguments naming a split's files (``split_inputs``): labels, splits, transforms, and
    the store of each of the modalities ``mods``."""
    files = [
        a
        for n in ("labels", "splits", "transforms")
        for a in (f"--{n}", getattr(input, n))
    ]
    return [*files, *pair_list("store", mods, input.stores)]


def split_file_args(input, mods):
    """``split_file_list``, quoted for the shell."""
    return shlex.join(split_file_list(input, mods))


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


def split_blocks(wildcards):
    """The split's own inputs of a step on its LegoBlocks: its transforms and the blocks."""
    return {**split_transforms(wildcards), "blocks": block_checkpoints(wildcards)}


def block_list(wildcards, blocks):
    """``--block modality=path`` arguments, in the dataset's modality order."""
    return pair_list("block", modalities(wildcards.ds), blocks)


# Tuning (tune.trials > 0; tune.smk): none of these changes an untuned train job.


def train_job_config(wildcards):
    """A params function: the train job's config sections, with ``tune`` when tuned."""
    return as_json(tuned_job_config(config, parse_run(wildcards.run)[0]))


def shared_tuning_of(wildcards):
    """The split's input ``shared_tuning`` for a tuned LegoBlock run: its split's shared
    ``tuning.json``; no input at all otherwise, so an untuned job's inputs are unchanged.
    """
    if not shares_latent_shape(config, parse_run(wildcards.run)[0]):
        return {}
    run_dir = layout.run_dir(ds_dir(wildcards.ds), SHARED_MODEL, wildcards.k)
    return {"shared_tuning": layout.tuning(run_dir)}


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


def member_predictions(wildcards):
    """The split's predictions of each member run."""
    root = ds_dir(wildcards.ds)
    return {
        "predictions": [
            layout.predictions(layout.run_dir(root, run, wildcards.k))
            for run in members_of(wildcards)
        ]
    }


def member_stores(wildcards):
    """Each member run's modality store (for the presence flags), the same for every split."""
    root = ds_dir(wildcards.ds)
    members = members_of(wildcards)
    return {
        "stores": [layout.modality_store(root, parse_run(run)[1]) for run in members]
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
