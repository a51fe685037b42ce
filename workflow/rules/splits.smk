"""Patient-level repeated splits and the per-split transforms fitted on train only."""

import os

from mmlego.config import dataset_modalities

# {dataset: {modality: store kind}}; transforms are fitted for vector and series stores.
STORE_KINDS = {
    ds: {m.name: m.kind for m in dataset_modalities(config["datasets"][ds])}
    for ds in DATASETS
}


rule splits:
    input:
        labels=f"{OUT}/{{ds}}/labels.parquet",
    output:
        f"{OUT}/{{ds}}/splits.json",
    log:
        f"{OUT}/logs/{{ds}}/splits.log",
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
        labels=f"{OUT}/{{ds}}/labels.parquet",
        splits=f"{OUT}/{{ds}}/splits.json",
        stores=lambda wildcards: [
            f"{OUT}/{wildcards.ds}/modalities/{m}.h5"
            for m, kind in STORE_KINDS[wildcards.ds].items()
            if kind != "bag"
        ],
    output:
        f"{OUT}/{{ds}}/transforms/split{{k}}.json",
    log:
        f"{OUT}/logs/{{ds}}/transforms_split{{k}}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=as_json(config["splits"]),
        kinds=lambda wildcards: as_json(STORE_KINDS[wildcards.ds]),
        bins=config["train"]["survival_bins"],
        dataset_dir=lambda wildcards, input: os.path.dirname(input.labels),
    shell:
        "mmlego --log {log:q} transforms --dataset {wildcards.ds:q}"
        " --dataset-dir {params.dataset_dir:q} --split {wildcards.k} --modalities {params.kinds:q}"
        " --cfg {params.cfg:q} --survival-bins {params.bins} --out {output:q}"


# Split the datasets whose labels their stage requests (each stage requests its outputs only
# once its raw inputs can be had).
LABELLED = [ds for ds in DATASETS if f"{OUT}/{ds}/labels.parquet" in ALL_TARGETS]
ALL_TARGETS.extend(f"{OUT}/{ds}/splits.json" for ds in LABELLED)
ALL_TARGETS.extend(
    f"{OUT}/{ds}/transforms/split{k}.json" for ds in LABELLED for k in SPLITS
)
