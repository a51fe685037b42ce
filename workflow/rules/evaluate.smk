"""Metrics per (dataset, run, split) from the saved predictions; tables and figures."""

# Every run's metrics.json, per dataset.
METRICS_FILES = {
    ds: [f"{OUT}/{ds}/{run}/split{k}/metrics.json" for run in runs(ds) for k in SPLITS]
    for ds in DATASETS
}
# Evaluation targets are requested only once a stage provides a rule that writes
# predictions.parquet, so that the workflow still plans while the training stages are absent.
PREDICTIONS_MADE = any(
    str(out).endswith("predictions.parquet") for r in workflow.rules for out in r.output
)


rule metrics:
    input:
        predictions=f"{OUT}/{{ds}}/{{run}}/split{{k}}/predictions.parquet",
        labels=f"{OUT}/{{ds}}/labels.parquet",
        splits=f"{OUT}/{{ds}}/splits.json",
    output:
        f"{OUT}/{{ds}}/{{run}}/split{{k}}/metrics.json",
    log:
        f"{OUT}/logs/metrics/{{ds}}/{{run}}/split{{k}}.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    shell:
        "mmlego --log {log:q} metrics --predictions {input.predictions:q} "
        "--labels {input.labels:q} --splits {input.splits:q} --split {wildcards.k} "
        "--out {output:q}"


if PREDICTIONS_MADE:
    ALL_TARGETS += [f for files in METRICS_FILES.values() for f in files]
