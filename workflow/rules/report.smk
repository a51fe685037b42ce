"""The report's study overview page; `snakemake --report` collects every report() output."""

# QC outputs that the other stages register as targets ({ds}/qc/...), and the modality stores.
QC_TARGETS = [t for t in ALL_TARGETS if "/qc/" in t]
STORE_FILES = [
    f"{OUT}/{ds}/modalities/{mod}.h5" for ds in DATASETS for mod in modalities(ds)
]


rule study_overview:
    input:
        config=f"{OUT}/config.resolved.yaml",
        labels=[f"{OUT}/{ds}/labels.parquet" for ds in DATASETS],
        stores=STORE_FILES,
        qc=QC_TARGETS,
    output:
        report(
            f"{OUT}/report/study_overview.html",
            caption="../report/study_overview.rst",
            category="Study",
            labels={"page": "Overview: warnings, cohorts, QC, config, provenance"},
        ),
    log:
        f"{OUT}/logs/study_overview.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "mmlego --log {log:q} study-overview --config {input.config:q} "
        "--labels {input.labels:q} --stores {input.stores:q} --qc {input.qc:q} --out {output:q}"


if PREDICTIONS_MADE:
    ALL_TARGETS += [f"{OUT}/report/study_overview.html"]
