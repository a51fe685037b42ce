"""The report's study overview page; `snakemake --report` collects every report() output."""


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
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "mmlego --log {log:q} study-overview --config {input.config:q} "
        "--labels {input.labels:q} --stores {input.stores:q} --qc {input.qc:q} --out {output:q}"
