"""Patient-level repeated splits and the per-split transforms fitted on train only."""


rule splits:
    input:
        labels=layout.labels(DS),
    output:
        layout.splits(DS),
    log:
        layout.log(OUT, "{ds}/splits"),
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=as_json(config["splits"]),
        seed=config["seed"],
    shell:
        "mmlego --log {log:q} splits --dataset {wildcards.ds:q} --labels {input.labels:q}"
        " --cfg {params.cfg:q} --seed {params.seed} --out {output:q}"


rule transforms:
    input:
        labels=layout.labels(DS),
        splits=layout.splits(DS),
        stores=lambda wildcards: [
            layout.modality_store(ds_dir(wildcards.ds), m)
            for m in fitted_stores(wildcards.ds)
        ],
    output:
        layout.transforms(DS, "{k}"),
    log:
        layout.log(OUT, "{ds}/transforms_split{k}"),
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda wildcards: as_json(
            {
                "splits": config["splits"],
                "modalities": store_kinds(wildcards.ds),
                "survival_bins": config["train"]["survival_bins"],
            }
        ),
        stores=lambda wildcards, input: pair_args(
            "store", fitted_stores(wildcards.ds), input.stores
        ),
    shell:
        "mmlego --log {log:q} transforms --dataset {wildcards.ds:q} --labels {input.labels:q}"
        " --splits {input.splits:q} {params.stores} --split {wildcards.k}"
        " --cfg {params.cfg:q} --out {output:q}"
