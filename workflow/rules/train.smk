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
