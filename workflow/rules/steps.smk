"""The per-split steps of the rules that ``batch_splits`` batches (train, combine, ensemble,
classical, evaluate's metrics, merge_ablation): each rule's inputs of one split
(``over_splits`` gathers them) and one split's ``mmlego`` argument list (``split_command``
runs one, or every split's under ``mmlego batch``). Functions only: the rules stay in their
own files."""


# Rules of train.smk.
def train_inputs(wildcards):
    """The split's own train inputs: the transforms the run loads (``run_transforms``), and a
    tuned LegoBlock's shared tuning."""
    transforms = run_transforms(wildcards.ds, wildcards.run, wildcards.k)
    return {"transforms": transforms, **shared_tuning_of(wildcards)}


def train_step(wildcards, input, output, threads):
    """One split's ``mmlego train`` arguments (a tuned block's with its own shared tuning)."""
    args = [
        "train",
        *split_file_list(input, run_modalities(wildcards.ds, wildcards.run)),
    ]
    args += ["--dataset", wildcards.ds, "--split", wildcards.k, "--run", wildcards.run]
    args += ["--out-dir", str(Path(output.model).parent)]
    args += ["--cfg", train_job_config(wildcards)]
    args += ["--seed", str(config["seed"]), "--device", config["device"]]
    args += ["--threads", str(threads)]
    if hasattr(input, "shared_tuning"):
        args += ["--shared-tuning", input.shared_tuning]
    return args


# Rules of combine.smk.
def combine_step(entry):
    """One split's arguments of the ``mmlego`` step of the combination ``entry`` (its
    catalogue entry: merge, fuse, ...)."""

    def arguments(wildcards, input, output, threads):
        args = [entry.step, *split_file_list(input, modalities(wildcards.ds))]
        args += ["--dataset", wildcards.ds, "--split", wildcards.k]
        args += ["--out-dir", str(Path(output.model).parent)]
        args += ["--cfg", as_json(job_config(config, entry.key))]
        args += ["--seed", str(config["seed"]), "--device", config["device"]]
        args += ["--threads", str(threads), *block_list(wildcards, input.blocks)]
        return args

    return arguments


# Rules of ensemble.smk.
def ensemble_step(wildcards, input, output, threads):
    """One split's ``mmlego ensemble`` arguments."""
    members = members_of(wildcards)
    args = ["ensemble", *pair_list("member", members, input.predictions)]
    args += [*pair_list("store", members, input.stores), "--run", wildcards.model]
    args += ["--survival-mean", model_entry(wildcards.model).survival_mean]
    args += ["--dataset", wildcards.ds, "--split", wildcards.k]
    args += ["--cfg", as_json(job_config(config, wildcards.model))]
    return [*args, "--seed", str(config["seed"]), "--out", output.predictions]


# Rules of classical.smk.
def classical_step(wildcards, input, output, threads):
    """One split's ``mmlego classical`` arguments."""
    args = ["classical", *split_file_list(input, modalities(wildcards.ds))]
    args += [
        "--model",
        wildcards.model,
        "--dataset",
        wildcards.ds,
        "--split",
        wildcards.k,
    ]
    args += ["--cfg", as_json(job_config(config, wildcards.model))]
    args += ["--seed", str(config["seed"]), "--threads", str(threads)]
    return [*args, "--out-dir", str(Path(output.predictions).parent)]


# Rules of evaluate.smk.
def metrics_inputs(wildcards):
    """The split's own inputs of the run's metrics: its predictions and training log."""
    return {
        "predictions": layout.predictions(
            layout.run_dir(ds_dir(wildcards.ds), wildcards.run, wildcards.k)
        ),
        "train_log": train_log_of(wildcards),
    }


def metrics_step(wildcards, input, output, threads):
    """One split's ``mmlego metrics`` arguments."""
    args = ["metrics", "--predictions", input.predictions]
    args += ["--labels", input.labels, "--splits", input.splits, "--split", wildcards.k]
    args += [arg for path in input.train_log for arg in ("--train-log", path)]
    args += pair_list("store", modalities(wildcards.ds), input.stores)
    return [*args, "--out", output.metrics]


# Rules of merge_ablation.smk.
def ablation_step(wildcards, input, output, threads):
    """One split's ``mmlego merge-ablation`` arguments."""
    args = ["merge-ablation", *split_file_list(input, modalities(wildcards.ds))]
    args += ["--dataset", wildcards.ds, "--split", wildcards.k]
    # LegoMerge's own options (not `merge.adaptive`, the λ search's).
    args += ["--cfg", as_json(job_config(config, "lego_merge"))]
    args += ["--seed", str(config["seed"]), "--threads", str(threads)]
    return [*args, *block_list(wildcards, input.blocks), "--out", output.ablation]


# The inputs of one step of a multi-run job (runs_per_job): the rules train_<ds>_<i> and
# metrics_<ds>_<i> join them over the job's steps.
def train_files(wildcards):
    """One step's inputs: the run's dataset files and the split's own."""
    return {**run_dataset_files(wildcards), **train_inputs(wildcards)}


def metrics_files(wildcards):
    """One step's inputs: the dataset's files and the split's own."""
    return {**dataset_files(wildcards), **metrics_inputs(wildcards)}
