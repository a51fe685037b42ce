"""Raw tables -> labels, vector/series modality stores, and manifests of slides and images.

MIMIC-III datasets are extracted by mimic.smk. Each other dataset gets one `read_tables_<ds>`
job (labels and every vector/series store from one read of its raw tables); each bag modality
gets a `manifest` checkpoint that the features stage expands into one job per slide or image.
"""

TABLE_DATASETS = [
    ds for ds in DATASETS if dataset_kind(spec(ds)).read_tables is not None
]
MANIFEST_DATASETS = [ds for ds in DATASETS if bag_modalities(spec(ds))]

for _ds in TABLE_DATASETS:

    rule:
        name:
            f"read_tables_{_ds}"
        input:
            dataset_kind(spec(_ds)).table_inputs(spec(_ds)),
        output:
            list(table_outputs(ds_dir(_ds), spec(_ds)).values()),
        log:
            layout.log(OUT, f"{_ds}/tables"),
        benchmark:
            layout.benchmark(OUT, f"{_ds}/tables")
        # Not retried, even where the profile retries (profiles/slurm): its failures are the
        # user's files or config (docs/reliability.md), which fail again the same way.
        retries: 0
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            ds=_ds,
            cfg=as_json(spec(_ds)),
            seed=config["seed"],
            out_dir=output_folder(0),
        shell:
            "mmlego --log {log:q} read-tables --dataset {params.ds:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --out-dir {params.out_dir:q}"


checkpoint manifest:
    input:
        labels=layout.labels(DS),
        sources=lambda wildcards: dataset_kind(spec(wildcards.ds)).manifest_sources(
            spec(wildcards.ds), wildcards.mod
        ),
    output:
        manifest=layout.manifest(DS, "{mod}"),
        skipped=layout.skipped_items(DS, "{mod}"),
    log:
        layout.log(OUT, "{ds}/manifest_{mod}"),
    wildcard_constraints:
        ds="|".join(MANIFEST_DATASETS) or "(?!)",
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda wildcards: as_json(spec(wildcards.ds)),
    shell:
        "mmlego --log {log:q} manifest --dataset {wildcards.ds:q} --cfg {params.cfg:q}"
        " --modality {wildcards.mod:q} --labels {input.labels:q}"
        " --out {output.manifest:q} --out-skipped {output.skipped:q}"
