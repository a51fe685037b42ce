"""Patient-level repeated splits and the per-split transforms fitted on train only."""


rule splits:
    input:
        labels=layout.labels(DS),
    output:
        layout.splits(DS),
    log:
        layout.log(OUT, "{ds}/splits"),
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
            for m, kind in store_kinds(wildcards.ds).items()
            if kind != "bag"
        ],
    output:
        layout.transforms(DS, "{k}"),
    log:
        layout.log(OUT, "{ds}/transforms_split{k}"),
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=as_json(config["splits"]),
        kinds=lambda wildcards: as_json(store_kinds(wildcards.ds)),
        bins=config["train"]["survival_bins"],
        dataset_dir=input_folder("labels"),
    shell:
        "mmlego --log {log:q} transforms --dataset {wildcards.ds:q}"
        " --dataset-dir {params.dataset_dir:q} --split {wildcards.k} --modalities {params.kinds:q}"
        " --cfg {params.cfg:q} --survival-bins {params.bins} --out {output:q}"
