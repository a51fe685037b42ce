"""The report's study overview page; `snakemake --report` collects every report() output."""

OVERVIEW_STORES = [(ds, m) for ds in DATASETS for m in modalities(ds)]
OVERVIEW_QC = [(ds, f) for ds in DATASETS for f in qc_files(ds)]


rule study_overview:
    input:
        config=layout.resolved_config(OUT),
        labels=LABEL_FILES,
        stores=[
            layout.modality_store(ds_dir(ds), m)
            for ds in DATASETS
            for m in modalities(ds)
        ],
        qc=[f for ds in DATASETS for f in qc_files(ds)],
    output:
        report(
            layout.study_overview(OUT),
            caption="../report/study_overview.rst",
            category="Study",
            labels={"page": "Overview: warnings, cohorts, QC, config, provenance"},
        ),
    log:
        layout.log(OUT, "study_overview"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        labels=lambda wildcards, input: pair_args("labels", DATASETS, input.labels),
        stores=lambda wildcards, input: pair_args(
            "store", [f"{ds}.{m}" for ds, m in OVERVIEW_STORES], input.stores
        ),
        qc=lambda wildcards, input: pair_args(
            "qc", [ds for ds, _ in OVERVIEW_QC], input.qc
        ),
    shell:
        "mmlego --log {log:q} study-overview --resolved-config {input.config:q}"
        " {params.labels} {params.stores} {params.qc} --out {output:q}"
