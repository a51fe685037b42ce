"""The merge ablation: every LegoMerge aggregation variant of each split's trained blocks (no
training; one job per dataset and split, or per dataset over every split when ``batch_splits``
batches them), then tables/merge_ablation.{csv,md}."""

ABLATION_FILES = [
    layout.merge_ablation(ds_dir(ds), k)
    for ds in DATASETS
    if "lego_merge" in runs(ds)
    for k in SPLITS
]


ABLATION_LOG = "merge_ablation/{ds}/split{k}"


rule merge_ablation:
    input:
        unpack(over_splits(split_blocks)),
    output:
        ablation=split_job(layout.merge_ablation(DS, "{k}")),
    log:
        split_job(layout.log(OUT, ABLATION_LOG)),
    benchmark:
        layout.benchmark(OUT, split_job_name("merge_ablation/{ds}"))
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        command=split_command(ablation_step, ABLATION_LOG, split_blocks),
        cfg=as_json(job_config(config, "lego_merge")),
        seed=config["seed"],
    shell:
        "mmlego {params.command}"


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
