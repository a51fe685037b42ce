"""The unpaired-data study (Fig. 6): two LegoBlocks trained on patient sets whose overlap goes
from 0 (the same patients) to 1 (disjoint), merged and ensembled, scored on paired test patients.

Three rules: draw the sets (every split), one job per split (blocks, merge, ensemble and
metrics for every overlap; ``mmlego.studies.unpaired`` says why not one job per block), and the
table and figure. Outputs under ``{OUT}/{ds}/unpaired/overlap{tag}/{run}/split{k}/``.
"""

from mmlego.data.unpaired import run_files, study_runs

UNPAIRED = config["evaluate"]["unpaired"]
UNPAIRED_DS = UNPAIRED["dataset"]

# The study's rules exist when it is enabled (its dataset is then checked to have 2 modalities).
if unpaired_enabled():
    UNPAIRED_ROOT = ds_dir(UNPAIRED_DS)
    UNPAIRED_DIR = layout.unpaired_dir(UNPAIRED_ROOT)
    UNPAIRED_STORES = [
        layout.modality_store(UNPAIRED_ROOT, m) for m in modalities(UNPAIRED_DS)
    ]
    # Every file the study writes for split {k}.
    UNPAIRED_FILES = [
        getattr(layout, name)(layout.unpaired_run_dir(UNPAIRED_DIR, o, run, "{k}"))
        for o in UNPAIRED["overlaps"]
        for run in study_runs(modalities(UNPAIRED_DS))
        for name in run_files(run)
    ]

    rule unpaired_sets:
        input:
            splits=layout.splits(UNPAIRED_ROOT),
            stores=UNPAIRED_STORES,
        output:
            layout.unpaired_sets(UNPAIRED_DIR),
        log:
            layout.log(OUT, "unpaired/sets"),
        retries: 0
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        params:
            stores=lambda wc, input: pair_args(
                "store", modalities(UNPAIRED_DS), input.stores
            ),
            overlaps=" ".join(str(float(o)) for o in UNPAIRED["overlaps"]),
            patients=(
                f"--patients {int(UNPAIRED['patients'])}"
                if UNPAIRED["patients"] is not None
                else ""
            ),
            dataset=UNPAIRED_DS,
            seed=config["seed"],
        shell:
            "mmlego --log {log:q} unpaired-sets --splits {input.splits:q} {params.stores}"
            " --dataset {params.dataset:q} --overlaps {params.overlaps} {params.patients}"
            " --seed {params.seed} --out {output:q}"

    rule unpaired_train:
        input:
            sets=layout.unpaired_sets(UNPAIRED_DIR),
            labels=layout.labels(UNPAIRED_ROOT),
            splits=layout.splits(UNPAIRED_ROOT),
            transforms=layout.transforms(UNPAIRED_ROOT, "{k}"),
            stores=UNPAIRED_STORES,
        output:
            UNPAIRED_FILES,
        log:
            layout.log(OUT, "unpaired/split{k}"),
        benchmark:
            layout.benchmark(OUT, "unpaired/split{k}")
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            gpu=1,
            mem_mb=8000,
            runtime=240,
        params:
            cfg=as_json(
                {
                    "train": config["train"],
                    "lego": config["lego"],
                    "merge": config["merge"],
                }
            ),
            files=lambda wildcards, input: split_file_args(
                input, modalities(UNPAIRED_DS)
            ),
            dataset=UNPAIRED_DS,
            out_dir=input_folder("sets"),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} unpaired-train {params.files}"
            " --dataset {params.dataset:q} --split {wildcards.k} --out-dir {params.out_dir:q}"
            " --sets {input.sets:q} --cfg {params.cfg:q} --seed {params.seed}"
            " --device {params.device:q} --threads {threads}"

    rule unpaired_figure:
        input:
            metrics=expand(
                [f for f in UNPAIRED_FILES if f.endswith("metrics.json")], k=SPLITS
            ),
        output:
            csv=report(
                layout.table(OUT, "unpaired.csv"),
                caption="../report/table_unpaired.rst",
                category="Tables",
                labels={"table": "Unpaired-data study (every metric)"},
            ),
            png=report(
                layout.figure(OUT, "fig6_unpaired.png"),
                caption="../report/fig6.rst",
                category="Figures",
                subcategory="Results",
                labels={"figure": "Fig. 6 (unpaired training)"},
            ),
            pdf=layout.figure(OUT, "fig6_unpaired.pdf"),
        log:
            layout.log(OUT, "unpaired/figure"),
        retries: 0
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        shell:
            "mmlego --log {log:q} unpaired-figure --metrics {input.metrics:q}"
            " --out-csv {output.csv:q} --out-png {output.png:q}"
