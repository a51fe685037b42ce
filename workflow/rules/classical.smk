"""Classical reference models (coxnet, logistic, gbm): one job per (dataset, model, split), or
per (dataset, model) over every split when ``batch_splits`` batches them (like train.smk).

Each step reads the split's files as every trained model does (labels, splits, transforms,
the stores of every modality), fits its grid from ``classical.<model>`` on the train
patients, keeps the setting that scores best on validation and writes the run's
predictions.parquet and selection.json.
"""

CLASSICAL_LOG = "{model}/{ds}/split{k}"


rule classical:
    input:
        unpack(over_splits(split_transforms)),
    output:
        predictions=split_job(layout.predictions(layout.run_dir(DS, "{model}", "{k}"))),
        selection=split_job(layout.selection(layout.run_dir(DS, "{model}", "{k}"))),
    log:
        split_job(layout.log(OUT, CLASSICAL_LOG)),
    benchmark:
        layout.benchmark(OUT, split_job_name("{model}/{ds}"))
    wildcard_constraints:
        model="|".join(model_keys("classical")),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        command=split_command(classical_step, CLASSICAL_LOG, split_transforms),
        cfg=lambda wildcards: as_json(job_config(config, wildcards.model)),
        seed=config["seed"],
    shell:
        "mmlego {params.command}"
