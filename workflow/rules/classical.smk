"""Classical reference models (coxnet, logistic, gbm): one job per (dataset, model, split).

Each job reads the split's files as every trained model does (labels, splits, transforms,
the stores of every modality), fits its grid from ``classical.<model>`` on the train
patients, keeps the setting that scores best on validation and writes the run's
predictions.parquet and selection.json.
"""


rule classical:
    input:
        unpack(split_inputs),
    output:
        predictions=layout.predictions(layout.run_dir(DS, "{model}", "{k}")),
        selection=layout.selection(layout.run_dir(DS, "{model}", "{k}")),
    log:
        layout.log(OUT, "{model}/{ds}/split{k}"),
    benchmark:
        layout.benchmark(OUT, "{model}/{ds}/split{k}")
    wildcard_constraints:
        model="|".join(model_keys("classical")),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda wildcards: as_json(job_config(config, wildcards.model)),
        files=split_args,
        out_dir=output_folder("predictions"),
        seed=config["seed"],
    shell:
        "mmlego --log {log:q} classical {params.files} --model {wildcards.model}"
        " --dataset {wildcards.ds:q} --split {wildcards.k} --cfg {params.cfg:q}"
        " --seed {params.seed} --threads {threads} --out-dir {params.out_dir:q}"
