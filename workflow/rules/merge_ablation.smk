"""The merge ablation: every LegoMerge aggregation variant of each split's trained blocks (no
training; one job per dataset and split), then tables/merge_ablation.{csv,md}."""

ABLATION_FILES = [
    layout.merge_ablation(ds_dir(ds), k)
    for ds in DATASETS
    if "lego_merge" in runs(ds)
    for k in SPLITS
]


rule merge_ablation:
    input:
        unpack(split_inputs),
        blocks=block_checkpoints,
    output:
        layout.merge_ablation(DS, "{k}"),
    log:
        layout.log(OUT, "merge_ablation/{ds}/split{k}"),
    benchmark:
        layout.benchmark(OUT, "merge_ablation/{ds}/split{k}")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        # LegoMerge's own options (not `merge.adaptive`, the λ search's).
        cfg=as_json(job_config(config, "lego_merge")),
        blocks=block_args,
        files=split_args,
        seed=config["seed"],
    shell:
        "mmlego --log {log:q} merge-ablation {params.files} --dataset {wildcards.ds:q}"
        " --split {wildcards.k} --cfg {params.cfg:q} --seed {params.seed}"
        " --threads {threads} {params.blocks} --out {output:q}"


rule merge_ablation_table:
    input:
        ABLATION_FILES,
    output:
        csv=report(
            layout.table(OUT, "merge_ablation.csv"),
            caption="../report/table_merge_ablation.rst",
            category="Tables",
            labels={"table": "Merge ablation (magnitude, phase, head)"},
        ),
        md=layout.table(OUT, "merge_ablation.md"),
    log:
        layout.log(OUT, "merge_ablation_table"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "mmlego --log {log:q} merge-ablation-table --ablation {input:q}"
        " --out-csv {output.csv:q} --out-md {output.md:q}"
