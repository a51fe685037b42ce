"""Training of LegoBlocks and every trained baseline: one job per (dataset, run) that trains
every split in one process (``batch_splits``, the local default: Python, torch and the stores
load once), or one job per (dataset, run, split) (profiles/slurm, where a job per GPU-hour is
right). Either way each split has its own log, seed and outputs, bit-identical between the two.

The runs are those of the catalogue's models made by ``train``; the others have their own
rules (combine.smk, ensemble.smk). A tuned model's runs (``tune.trials`` > 0, tune.smk) are
trained by ``train_tuned``, the same job that also declares the study's ``tuning.json``;
with ``tune.trials: 0`` that rule does not exist and ``train`` trains every run, as before.
"""

TRAIN_LOG = "train/{ds}/{run}/split{k}"


rule train:
    input:
        unpack(over_splits(train_inputs, shared=run_dataset_files)),
    output:
        model=split_job(layout.model(RUN)),
        log_csv=split_job(layout.train_log(RUN)),
        predictions=split_job(layout.predictions(RUN)),
    log:
        split_job(layout.log(OUT, TRAIN_LOG)),
    benchmark:
        layout.benchmark(OUT, split_job_name("train/{ds}/{run}"))
    wildcard_constraints:
        run=run_pattern("train", exclude=TUNED_MODELS),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        # Each split's `mmlego --log LOG train ...` (under `mmlego batch` when batched).
        command=split_command(train_step, TRAIN_LOG, train_inputs),
        # Snakemake's params trigger skips params derived from input or output (the command),
        # so the run's own config sections (with `tune` when tuned), seed and device stand
        # here too: editing one model's config reruns only its runs.
        cfg=train_job_config,
        seed=config["seed"],
        device=config["device"],
    shell:
        "mmlego {params.command}"


if TUNED_MODELS:

    use rule train as train_tuned with:
        output:
            model=split_job(layout.model(RUN)),
            log_csv=split_job(layout.train_log(RUN)),
            predictions=split_job(layout.predictions(RUN)),
            tuning=split_job(layout.tuning(RUN)),
        wildcard_constraints:
            run=exact_run_pattern(TUNED_MODELS),


# Several runs of one model and dataset per job (runs_per_job.train > 1): a rule per job,
# ranked before rule train. Its runs share one config fragment, so editing another model's
# config leaves the job as it was; a change to this model's config, or a new modality, reruns
# all of the job's runs (with the same results).
TRAIN_CHUNKS = {
    f"train_{ds}_{i}": chunk_steps(ds, chunk)
    for ds in DATASETS
    for i, chunk in enumerate(
        run_chunks(
            ds,
            [r for r in runs(ds, "train") if parse_run(r)[0] not in TUNED_MODELS],
            RUNS_PER_JOB["train"],
            key=lambda run: parse_run(run)[0],
        )
    )
}

for _name, _steps in TRAIN_CHUNKS.items():
    _dirs = [layout.run_dir(ds_dir(s.ds), s.run, s.k) for s in _steps]

    rule:
        name:
            _name
        input:
            **chunk_files(_steps, train_files),
        output:
            model=[layout.model(d) for d in _dirs],
            log_csv=[layout.train_log(d) for d in _dirs],
            predictions=[layout.predictions(d) for d in _dirs],
        log:
            [layout.log(OUT, TRAIN_LOG.format(**vars(s))) for s in _steps],
        benchmark:
            layout.benchmark(OUT, f"train/{_steps[0].ds}/{_name}")
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            gpu=1,
            mem_mb=8000,
            runtime=120,
        params:
            command=chunk_command(_steps, train_step, TRAIN_LOG, train_files),
            # The one config fragment of the job's model, as rule train's params.
            cfg=train_job_config(_steps[0]),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego {params.command}"


chunk_rules("train", TRAIN_CHUNKS)
