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


rule tables:
    input:
        metrics=[f for files in METRICS_FILES.values() for f in files],
        predictions=[
            f.replace("metrics.json", "predictions.parquet")
            for files in METRICS_FILES.values()
            for f in files
        ],
        labels=[f"{OUT}/{ds}/labels.parquet" for ds in DATASETS],
    output:
        table2=report(
            f"{OUT}/tables/table2.html",
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "Table 2 (main results)"},
        ),
        table2_csv=f"{OUT}/tables/table2.csv",
        table2_md=f"{OUT}/tables/table2.md",
        table2_tex=f"{OUT}/tables/table2.tex",
        secondary=report(
            f"{OUT}/tables/secondary.csv",
            caption="../report/table_secondary.rst",
            category="Tables",
            labels={"table": "Secondary metrics"},
        ),
        secondary_md=f"{OUT}/tables/secondary.md",
        secondary_tex=f"{OUT}/tables/secondary.tex",
        paired=report(
            f"{OUT}/tables/paired.csv",
            caption="../report/table_paired.rst",
            category="Tables",
            labels={"table": "Paired comparison with the best baseline"},
        ),
        paired_md=f"{OUT}/tables/paired.md",
        paired_tex=f"{OUT}/tables/paired.tex",
        long=report(
            f"{OUT}/tables/metrics_long.csv",
            caption="../report/table_long.rst",
            category="Tables",
            labels={"table": "Every metric (long format)"},
        ),
    log:
        f"{OUT}/logs/tables.log",
    benchmark:
        f"{OUT}/benchmarks/tables.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        cfg=as_json(
            {
                "seed": config["seed"],
                "datasets": config["datasets"],
                "evaluate": config["evaluate"],
            }
        ),
        out_dir=lambda w, output: Path(output.table2).parent,
    shell:
        "mmlego --log {log:q} tables --metrics {input.metrics:q} --labels {input.labels:q} "
        "--config-json {params.cfg:q} --out-dir {params.out_dir:q}"


rule paper_comparison:
    input:
        f"{OUT}/tables/table2.csv",
    output:
        csv=report(
            f"{OUT}/tables/paper_comparison.csv",
            caption="../report/table_paper.rst",
            category="Tables",
            labels={"table": "Comparison with the paper's Table 2"},
        ),
        md=f"{OUT}/tables/paper_comparison.md",
    log:
        f"{OUT}/logs/paper_comparison.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "mmlego --log {log:q} paper-comparison --table2 {input:q} --out {output.csv:q}"


rule interference_toy:
    output:
        fig4=report(
            f"{OUT}/figures/fig4_interference_latent.png",
            caption="../report/fig4.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Fig. 4 (additive inverse)"},
        ),
        fig4_pdf=f"{OUT}/figures/fig4_interference_latent.pdf",
        fig5=report(
            f"{OUT}/figures/fig5_interference_waves.png",
            caption="../report/fig5.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Fig. 5 (square waves)"},
        ),
        fig5_pdf=f"{OUT}/figures/fig5_interference_waves.pdf",
        numbers=f"{OUT}/figures/interference_toy.json",
    log:
        f"{OUT}/logs/interference_toy.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        seed=config["evaluate"]["interference_seed"],
    shell:
        "mmlego --log {log:q} interference-toy --seed {params.seed} --fig4 {output.fig4:q} "
        "--fig5 {output.fig5:q} --json {output.numbers:q}"


ALL_TARGETS += [f"{OUT}/figures/fig4_interference_latent.png"]


rule result_figures:
    input:
        long=f"{OUT}/tables/metrics_long.csv",
        predictions=[
            f.replace("metrics.json", "predictions.parquet")
            for files in METRICS_FILES.values()
            for f in files
        ],
    output:
        fig2=report(
            f"{OUT}/figures/fig2_merge_vs_ensemble.png",
            caption="../report/fig2.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Fig. 2 (merge/fuse vs ensemble)"},
        ),
        fig3=report(
            f"{OUT}/figures/fig3_blocks_vs_merge.png",
            caption="../report/fig3.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Fig. 3 (blocks vs merge)"},
        ),
        curves=report(
            f"{OUT}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
            labels={"figure": "Training curves"},
        ),
        km=report(
            f"{OUT}/figures/km_risk_groups.png",
            caption="../report/km.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Kaplan-Meier risk groups"},
        ),
        pdfs=[
            f"{OUT}/figures/{name}.pdf"
            for name in (
                "fig2_merge_vs_ensemble",
                "fig3_blocks_vs_merge",
                "training_curves",
                "km_risk_groups",
            )
        ],
    log:
        f"{OUT}/logs/result_figures.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        cfg=as_json({"datasets": config["datasets"]}),
    shell:
        "mmlego --log {log:q} figures --metrics-long {input.long:q} "
        "--predictions {input.predictions:q} --config-json {params.cfg:q} "
        "--fig2 {output.fig2:q} --fig3 {output.fig3:q} --curves {output.curves:q} --km {output.km:q}"


LATENT_DATASETS = [ds for ds in DATASETS if "lego_merge" in runs(ds)]


rule latent_interference:
    input:
        models=[f"{OUT}/{ds}/lego_merge/split0/model.pt" for ds in LATENT_DATASETS],
        splits=[f"{OUT}/{ds}/splits.json" for ds in LATENT_DATASETS],
        transforms=[f"{OUT}/{ds}/transforms/split0.json" for ds in LATENT_DATASETS],
        stores=[
            f"{OUT}/{ds}/modalities/{mod}.h5"
            for ds in LATENT_DATASETS
            for mod in modalities(ds)
        ],
    output:
        png=report(
            f"{OUT}/figures/latent_interference.png",
            caption="../report/latent_interference.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Interference on learned latents"},
        ),
        pdf=f"{OUT}/figures/latent_interference.pdf",
        csv=f"{OUT}/tables/latent_interference.csv",
    log:
        f"{OUT}/logs/latent_interference.log",
    benchmark:
        f"{OUT}/benchmarks/latent_interference.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        dirs=lambda w, input: [Path(p).parent for p in input.splits],
    shell:
        "mmlego --log {log:q} latent-interference --models {input.models:q} "
        "--dataset-dirs {params.dirs:q} --split 0 --csv {output.csv:q} --png {output.png:q}"


if PREDICTIONS_MADE and LATENT_DATASETS:
    ALL_TARGETS += [f"{OUT}/figures/latent_interference.png"]

if PREDICTIONS_MADE:
    ALL_TARGETS += [
        f"{OUT}/tables/table2.html",
        f"{OUT}/figures/fig2_merge_vs_ensemble.png",
    ]
    # Our numbers next to the paper's only make sense on the real data.
    if not config["demo"]["enabled"]:
        ALL_TARGETS += [f"{OUT}/tables/paper_comparison.csv"]
