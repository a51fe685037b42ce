"""The composition table and figure: LegoMerge, the adaptive merge, NaiveMC, DAMC, LegoFuse, the
LegoBlock ensemble and the best block per dataset (no training; one local job)."""

# (dataset, run) of every run the table compares, on the datasets that have LegoMerge and
# another composition of its blocks.
COMPOSITION_RUNS = [(ds, run) for ds in DATASETS for run in composition_runs(runs(ds))]
COMPOSITION_DATASETS = list(dict.fromkeys(ds for ds, _ in COMPOSITION_RUNS))
COMPOSITION_DIRS = [
    layout.run_dir(ds_dir(ds), run, k) for ds, run in COMPOSITION_RUNS for k in SPLITS
]
COMPOSITION_WEIGHTS = [
    layout.merge_weights(layout.run_dir(ds_dir(ds), run, k))
    for ds, run in COMPOSITION_RUNS
    if run in COMPOSITION_WEIGHTED
    for k in SPLITS
]
COMPOSITION_STORES = [
    (f"{ds}.{mod}", layout.modality_store(ds_dir(ds), mod))
    for ds in COMPOSITION_DATASETS
    for mod in modalities(ds)
]


rule composition:
    input:
        metrics=[layout.metrics(run) for run in COMPOSITION_DIRS],
        predictions=[layout.predictions(run) for run in COMPOSITION_DIRS],
        weights=COMPOSITION_WEIGHTS,
        stores=[path for _, path in COMPOSITION_STORES],
    output:
        csv=report(
            layout.table(OUT, "composition.csv"),
            caption="../report/table_composition.rst",
            category="Tables",
            labels={"table": "Composition of the blocks (merge, NaiveMC, DAMC, fuse)"},
        ),
        md=layout.table(OUT, "composition.md"),
        png=report(
            layout.figure(OUT, "composition.png"),
            caption="../report/composition.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "Composition of the blocks against LegoMerge"},
        ),
        pdf=layout.figure(OUT, "composition.pdf"),
    log:
        layout.log(OUT, "composition"),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    params:
        stores=lambda wildcards, input: pair_args(
            "store", [name for name, _ in COMPOSITION_STORES], input.stores
        ),
        bootstrap=config["evaluate"]["bootstrap"],
        seed=config["seed"],
    shell:
        "mmlego --log {log:q} composition --metrics {input.metrics:q}"
        " --predictions {input.predictions:q} --weights {input.weights:q} {params.stores}"
        " --bootstrap {params.bootstrap} --seed {params.seed} --out-csv {output.csv:q}"
        " --out-md {output.md:q} --out-png {output.png:q} --out-pdf {output.pdf:q}"
