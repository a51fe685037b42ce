"""The unpaired-data study (Fig. 6): two LegoBlocks trained on patient sets whose overlap goes
from 0 (the same patients) to 1 (disjoint), merged and ensembled, scored on paired test patients.

Three rules: draw the sets (every split), one job per split (blocks, merge, ensemble and
metrics for every overlap; ``mmlego.studies.unpaired`` says why not one job per block), and the
table and figure. Outputs under ``{OUT}/{ds}/unpaired/overlap{tag}/{run}/split{k}/``.
"""

from mmlego.data.unpaired import overlap_tag, run_files, study_runs

UNPAIRED = config["evaluate"]["unpaired"]
UNPAIRED_DS = UNPAIRED["dataset"]
UNPAIRED_DIR = f"{OUT}/{UNPAIRED_DS}/unpaired"


# The study's rules exist once its dataset's split transforms and stores can be made.
if UNPAIRED["enabled"] and dataset_ready(UNPAIRED_DS):
    # Every file the study writes for split {k}.
    UNPAIRED_FILES = [
        f"{UNPAIRED_DIR}/overlap{overlap_tag(o)}/{run}/split{{k}}/{name}"
        for o in UNPAIRED["overlaps"]
        for run in study_runs(modalities(UNPAIRED_DS))
        for name in run_files(run)
    ]

    rule unpaired_sets:
        input:
            splits=f"{OUT}/{UNPAIRED_DS}/splits.json",
            stores=[
                f"{OUT}/{UNPAIRED_DS}/modalities/{m}.h5"
                for m in modalities(UNPAIRED_DS)
            ],
        output:
            f"{UNPAIRED_DIR}/sets.json",
        log:
            f"{OUT}/logs/unpaired/sets.log",
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        params:
            stores=lambda wc, input: " ".join(
                f"--store {shlex.quote(f'{m}={p}')}"
                for m, p in zip(modalities(UNPAIRED_DS), input.stores)
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
            sets=f"{UNPAIRED_DIR}/sets.json",
            labels=f"{OUT}/{UNPAIRED_DS}/labels.parquet",
            splits=f"{OUT}/{UNPAIRED_DS}/splits.json",
            transforms=f"{OUT}/{UNPAIRED_DS}/transforms/split{{k}}.json",
            stores=[
                f"{OUT}/{UNPAIRED_DS}/modalities/{m}.h5"
                for m in modalities(UNPAIRED_DS)
            ],
        output:
            UNPAIRED_FILES,
        log:
            f"{OUT}/logs/unpaired/split{{k}}.log",
        benchmark:
            f"{OUT}/benchmarks/unpaired/split{{k}}.tsv"
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
            ds_dir=lambda w, input: Path(input.labels).parent,
            dataset=UNPAIRED_DS,
            out_dir=lambda w, input: Path(input.sets).parent,
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} unpaired-train --dataset-dir {params.ds_dir:q}"
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
                f"{OUT}/tables/unpaired.csv",
                caption="../report/table_unpaired.rst",
                category="Tables",
                labels={"table": "Unpaired-data study (every metric)"},
            ),
            png=report(
                f"{OUT}/figures/fig6_unpaired.png",
                caption="../report/fig6.rst",
                category="Figures",
                subcategory="Results",
                labels={"figure": "Fig. 6 (unpaired training)"},
            ),
            pdf=f"{OUT}/figures/fig6_unpaired.pdf",
        log:
            f"{OUT}/logs/unpaired/figure.log",
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        shell:
            "mmlego --log {log:q} unpaired-figure --metrics {input.metrics:q}"
            " --csv {output.csv:q} --png {output.png:q}"

    ALL_TARGETS += [f"{OUT}/figures/fig6_unpaired.png", f"{OUT}/tables/unpaired.csv"]
