"""Metrics per (dataset, run, split) from the saved predictions (one job per run and split, or
per run over every split when ``batch_splits`` batches them); tables and figures."""

METRICS_FILES = [f for ds in DATASETS for f in run_files(ds, layout.metrics)]
PREDICTION_FILES = [f for ds in DATASETS for f in run_files(ds, layout.predictions)]
# (dataset, run, train_log.csv) of every run and split whose job writes a training log.
TRAIN_LOGS = [
    (ds, run, layout.train_log(layout.run_dir(ds_dir(ds), run, k)))
    for ds in DATASETS
    for run in runs(ds)
    if "train_log" in model_entry(parse_run(run)[0]).outputs
    for k in SPLITS
]
LABEL_FILES = [layout.labels(ds_dir(ds)) for ds in DATASETS]
# The config sections whose values paper_comparison.md lists as setup differences.
PAPER_SETUP_KEYS = ("lego", "encoder", "tune", "train", "splits")
# (dataset.modality, store) of every modality: the presence flags define the complete cases.
STORE_FILES = [
    (f"{ds}.{mod}", layout.modality_store(ds_dir(ds), mod))
    for ds in DATASETS
    for mod in modalities(ds)
]
MISSING_MODALITY_FILES = [
    layout.missing_modality(layout.run_dir(ds_dir(ds), "lego_merge", k))
    for ds in DATASETS
    if "lego_merge" in runs(ds)
    for k in SPLITS
]


METRICS_LOG = "metrics/{ds}/{run}/split{k}"


rule metrics:
    input:
        unpack(over_splits(metrics_inputs)),
    output:
        metrics=split_job(layout.metrics(RUN)),
    log:
        split_job(layout.log(OUT, METRICS_LOG)),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        command=split_command(metrics_step, METRICS_LOG, metrics_inputs),
    shell:
        "mmlego {params.command}"


# Several runs' metrics per job (runs_per_job.metrics): a rule per job, ranked before the rule
# of one run. The job is rerun when any of its runs' predictions change; scoring the others
# again costs seconds and gives the same scores.
METRICS_CHUNKS = {
    f"metrics_{ds}_{i}": chunk_steps(ds, chunk)
    for ds in DATASETS
    for i, chunk in enumerate(
        run_chunks(ds, runs(ds), RUNS_PER_JOB["metrics"], key=lambda run: ())
    )
}

for _name, _steps in METRICS_CHUNKS.items():

    rule:
        name:
            _name
        input:
            **chunk_files(_steps, metrics_files),
        output:
            metrics=[
                layout.metrics(layout.run_dir(ds_dir(s.ds), s.run, s.k))
                for s in _steps
            ],
        log:
            [layout.log(OUT, METRICS_LOG.format(**vars(s))) for s in _steps],
        retries: 0
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        params:
            command=chunk_command(_steps, metrics_step, METRICS_LOG, metrics_files),
        shell:
            "mmlego {params.command}"


chunk_rules("metrics", METRICS_CHUNKS)


rule tables:
    input:
        metrics=METRICS_FILES,
        predictions=PREDICTION_FILES,
        labels=LABEL_FILES,
        stores=[path for _, path in STORE_FILES],
        missing=MISSING_MODALITY_FILES,
    output:
        table2=report(
            layout.table(OUT, "table2.html"),
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "Table 2 (main results)"},
        ),
        table2_csv=layout.table(OUT, "table2.csv"),
        table2_md=layout.table(OUT, "table2.md"),
        table2_tex=layout.table(OUT, "table2.tex"),
        secondary=report(
            layout.table(OUT, "secondary.csv"),
            caption="../report/table_secondary.rst",
            category="Tables",
            labels={"table": "Secondary metrics"},
        ),
        secondary_md=layout.table(OUT, "secondary.md"),
        secondary_tex=layout.table(OUT, "secondary.tex"),
        paired=report(
            layout.table(OUT, "paired.csv"),
            caption="../report/table_paired.rst",
            category="Tables",
            labels={"table": "Paired comparison with the best baseline"},
        ),
        paired_md=layout.table(OUT, "paired.md"),
        paired_tex=layout.table(OUT, "paired.tex"),
        long=report(
            layout.table(OUT, "metrics_long.csv"),
            caption="../report/table_long.rst",
            category="Tables",
            labels={"table": "Every metric (long format)"},
        ),
        missing=report(
            layout.table(OUT, "missing_modality.csv"),
            caption="../report/table_missing_modality.rst",
            category="Tables",
            labels={
                "table": "Every test patient, and LegoMerge without each modality"
            },
        ),
        missing_md=layout.table(OUT, "missing_modality.md"),
    log:
        layout.log(OUT, "tables"),
    benchmark:
        layout.benchmark(OUT, "tables")
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        labels=lambda wildcards, input: pair_args("labels", DATASETS, input.labels),
        stores=lambda wildcards, input: pair_args(
            "store", [name for name, _ in STORE_FILES], input.stores
        ),
        missing=lambda wildcards, input: " ".join(
            f"--missing-modality {shlex.quote(path)}" for path in input.missing
        ),
        cfg=as_json(
            {
                "datasets": config["datasets"],
                "evaluate": config["evaluate"],
                "splits": config["splits"],
            }
        ),
        seed=config["seed"],
        out_dir=output_folder("table2"),
    shell:
        "mmlego --log {log:q} tables --metrics {input.metrics:q}"
        " --predictions {input.predictions:q} {params.labels} {params.stores}"
        " {params.missing} --cfg {params.cfg:q}"
        " --seed {params.seed} --out-dir {params.out_dir:q}"


rule paper_comparison:
    input:
        layout.table(OUT, "table2.csv"),
    output:
        csv=report(
            layout.table(OUT, "paper_comparison.csv"),
            caption="../report/table_paper.rst",
            category="Tables",
            labels={"table": "Comparison with the paper's Table 2"},
        ),
        md=layout.table(OUT, "paper_comparison.md"),
    log:
        layout.log(OUT, "paper_comparison"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        cfg=as_json({key: config[key] for key in PAPER_SETUP_KEYS}),
    shell:
        "mmlego --log {log:q} paper-comparison --table2 {input:q} --out-csv {output.csv:q}"
        " --out-md {output.md:q} --cfg {params.cfg:q}"


rule interference_toy:
    output:
        fig4=report(
            layout.figure(OUT, "fig4_interference_latent.png"),
            caption="../report/fig4.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Fig. 4 (additive inverse)"},
        ),
        fig4_pdf=layout.figure(OUT, "fig4_interference_latent.pdf"),
        fig5=report(
            layout.figure(OUT, "fig5_interference_waves.png"),
            caption="../report/fig5.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Fig. 5 (square waves)"},
        ),
        fig5_pdf=layout.figure(OUT, "fig5_interference_waves.pdf"),
        numbers=layout.figure(OUT, "interference_toy.json"),
    log:
        layout.log(OUT, "interference_toy"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        seed=config["evaluate"]["interference_seed"],
    shell:
        "mmlego --log {log:q} interference-toy --seed {params.seed}"
        " --out-fig4 {output.fig4:q} --out-fig5 {output.fig5:q} --out-json {output.numbers:q}"


rule result_figures:
    input:
        long=layout.table(OUT, "metrics_long.csv"),
        predictions=PREDICTION_FILES,
        train_logs=[path for _, _, path in TRAIN_LOGS],
    output:
        fig2=report(
            layout.figure(OUT, "fig2_merge_vs_ensemble.png"),
            caption="../report/fig2.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Fig. 2 (merge/fuse vs ensemble)"},
        ),
        fig3=report(
            layout.figure(OUT, "fig3_blocks_vs_merge.png"),
            caption="../report/fig3.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Fig. 3 (blocks vs merge)"},
        ),
        curves=report(
            layout.figure(OUT, "training_curves.png"),
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
            labels={"figure": "Training curves"},
        ),
        km=report(
            layout.figure(OUT, "km_risk_groups.png"),
            caption="../report/km.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Kaplan-Meier risk groups"},
        ),
        pdfs=[
            layout.figure(OUT, f"{name}.pdf")
            for name in (
                "fig2_merge_vs_ensemble",
                "fig3_blocks_vs_merge",
                "training_curves",
                "km_risk_groups",
            )
        ],
    log:
        layout.log(OUT, "result_figures"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        cfg=as_json({"datasets": config["datasets"]}),
        train_logs=lambda wildcards, input: " ".join(
            f"--train-log {ds} {shlex.quote(run)} {shlex.quote(path)}"
            for (ds, run, _), path in zip(TRAIN_LOGS, input.train_logs, strict=True)
        ),
    shell:
        "mmlego --log {log:q} result-figures --metrics-long {input.long:q}"
        " --predictions {input.predictions:q} {params.train_logs} --cfg {params.cfg:q}"
        " --out-fig2 {output.fig2:q} --out-fig3 {output.fig3:q} --out-curves {output.curves:q}"
        " --out-km {output.km:q}"


LATENT_DATASETS = [ds for ds in DATASETS if "lego_merge" in runs(ds)]
# The figure is drawn on the first split's merged blocks.
LATENT_SPLIT = 0
LATENT_RUNS = [
    layout.run_dir(ds_dir(ds), "lego_merge", LATENT_SPLIT) for ds in LATENT_DATASETS
]


rule latent_interference:
    input:
        models=[layout.model(run) for run in LATENT_RUNS],
        labels=[layout.labels(ds_dir(ds)) for ds in LATENT_DATASETS],
        splits=[layout.splits(ds_dir(ds)) for ds in LATENT_DATASETS],
        transforms=[
            layout.transforms(ds_dir(ds), LATENT_SPLIT) for ds in LATENT_DATASETS
        ],
        stores=[
            layout.modality_store(ds_dir(ds), mod)
            for ds in LATENT_DATASETS
            for mod in modalities(ds)
        ],
    output:
        png=report(
            layout.figure(OUT, "latent_interference.png"),
            caption="../report/latent_interference.rst",
            category="Figures",
            subcategory="Signal interference",
            labels={"figure": "Interference on learned latents"},
        ),
        pdf=layout.figure(OUT, "latent_interference.pdf"),
        csv=layout.table(OUT, "latent_interference.csv"),
    log:
        layout.log(OUT, "latent_interference"),
    benchmark:
        layout.benchmark(OUT, "latent_interference")
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        files=lambda wildcards, input: " ".join(
            pair_args(name, LATENT_DATASETS, input[files])
            for name, files in (
                ("model", "models"),
                ("labels", "labels"),
                ("splits", "splits"),
                ("transforms", "transforms"),
            )
        ),
        stores=lambda wildcards, input: pair_args(
            "store",
            [f"{ds}.{mod}" for ds in LATENT_DATASETS for mod in modalities(ds)],
            input.stores,
        ),
        split=LATENT_SPLIT,
    shell:
        "mmlego --log {log:q} latent-interference {params.files} {params.stores}"
        " --split {params.split} --out-csv {output.csv:q} --out-png {output.png:q}"
