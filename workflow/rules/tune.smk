"""Tuning on validation (``tune.trials`` > 0): the train jobs' settings, and the stage that
tunes the keys the LegoBlocks of a dataset and split share (their latent shape), so that
LegoMerge and LegoFuse can combine the tuned blocks.

With ``tune.trials: 0`` (the default) no job of this file runs, and the train jobs' inputs and
params are exactly those without tuning (common.smk: ``train_job_config``, ``shared_tuning_of``).
Rule ``tuning_table`` (``tables/tuning.{csv,md}``, in the report) exists only in a tuned study:
it reads every tuned run's ``tuning.json`` (declared by rule ``train_tuned``, train.smk) and
the shared stage's.
"""


rule tune_shared:
    input:
        unpack(split_inputs),
    output:
        tuning=layout.tuning(layout.run_dir(DS, SHARED_MODEL, "{k}")),
    log:
        layout.log(OUT, f"tune/{{ds}}/{SHARED_MODEL}/split{{k}}"),
    benchmark:
        layout.benchmark(OUT, f"tune/{{ds}}/{SHARED_MODEL}/split{{k}}")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        cfg=lambda wc: as_json(tuned_job_config(config, SHARED_MODEL)),
        files=split_args,
        runs=block_runs,
        out_dir=output_folder("tuning"),
        seed=config["seed"],
        device=config["device"],
    shell:
        "mmlego --log {log:q} tune-shared {params.files} --dataset {wildcards.ds:q}"
        " --split {wildcards.k} --runs {params.runs} --out-dir {params.out_dir:q}"
        " --cfg {params.cfg:q} --seed {params.seed} --device {params.device:q} --threads {threads}"


if TUNING_FILES:

    rule tuning_table:
        input:
            tuning=[path for _, path in TUNING_FILES],
        output:
            csv=report(
                layout.table(OUT, "tuning.csv"),
                caption="../report/table_tuning.rst",
                category="Tables",
                labels={"table": "Tuned parameters (chosen on validation)"},
            ),
            md=layout.table(OUT, "tuning.md"),
        log:
            layout.log(OUT, "tuning_table"),
        retries: 0
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        params:
            tuning=lambda wildcards, input: pair_args(
                "tuning", [ds for ds, _ in TUNING_FILES], input.tuning
            ),
            out_dir=output_folder("csv"),
        shell:
            "mmlego --log {log:q} tuning-table {params.tuning} --out-dir {params.out_dir:q}"
