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


rule modality_transforms:
    # One job per (dataset, modality) fits that modality's transform on every split (a
    # process's start-up is most of the time); a bag's file holds the split's bins alone.
    input:
        labels=layout.labels(DS),
        splits=layout.splits(DS),
        stores=lambda wildcards: (
            [layout.modality_store(ds_dir(wildcards.ds), wildcards.mod)]
            if wildcards.mod in fitted_stores(wildcards.ds)
            else []
        ),
    output:
        expand(
            layout.modality_transforms(DS, "{k}", "{mod}"),
            k=SPLITS,
            allow_missing=True,
        ),
    log:
        layout.log(OUT, "{ds}/transforms/{mod}"),
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        # The modality's own kind only: adding another modality leaves this job's params,
        # inputs and outputs as they were.
        cfg=lambda wildcards: as_json(
            {
                "splits": config["splits"],
                "modalities": {
                    wildcards.mod: store_kinds(wildcards.ds)[wildcards.mod]
                },
                "survival_bins": config["train"]["survival_bins"],
            }
        ),
        stores=lambda wildcards, input: pair_args(
            "store", [wildcards.mod] * len(input.stores), input.stores
        ),
        splits=" ".join(str(k) for k in SPLITS),
        out=lambda wildcards, output: " ".join(shlex.quote(path) for path in output),
    shell:
        "mmlego --log {log:q} transforms --dataset {wildcards.ds:q} --labels {input.labels:q}"
        " --splits {input.splits:q} {params.stores} --split {params.splits}"
        " --cfg {params.cfg:q} --out {params.out}"


rule transforms:
    # Split k's modality files joined, for the runs that take every modality.
    input:
        parts=lambda wildcards: [
            layout.modality_transforms(ds_dir(wildcards.ds), wildcards.k, m)
            for m in modalities(wildcards.ds)
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
        parts=lambda wildcards, input: " ".join(
            f"--part {shlex.quote(path)}" for path in input.parts
        ),
    shell:
        "mmlego --log {log:q} join-transforms --dataset {wildcards.ds:q} {params.parts}"
        " --out {output:q}"
