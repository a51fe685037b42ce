"""Training: one job per (dataset, run, split) for LegoBlocks and every trained baseline.

The runs are those of the catalogue's models made by ``train``; the others have their own
rules (combine.smk, ensemble.smk).
"""


rule train:
    input:
        unpack(split_inputs),
    output:
        model=layout.model(RUN),
        log_csv=layout.train_log(RUN),
        predictions=layout.predictions(RUN),
    log:
        layout.log(OUT, "train/{ds}/{run}/split{k}"),
    benchmark:
        layout.benchmark(OUT, "train/{ds}/{run}/split{k}")
    wildcard_constraints:
        run=run_pattern("train"),
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        cfg=lambda wc: as_json(job_config(config, parse_run(wc.run)[0])),
        files=split_args,
        out_dir=output_folder("model"),
        seed=config["seed"],
        device=config["device"],
    shell:
        "mmlego --log {log:q} train {params.files} --dataset {wildcards.ds:q}"
        " --split {wildcards.k} --run {wildcards.run:q} --out-dir {params.out_dir:q}"
        " --cfg {params.cfg:q} --seed {params.seed} --device {params.device:q} --threads {threads}"
