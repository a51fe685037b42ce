"""The demo study's raw data: synthetic TCGA-, MIMIC-III- and ISIC-like releases.

Runs only when ``demo.enabled``; one rule per source so they run in parallel. The truth
sidecars (true per-patient factors) are for tests; no model reads them.
"""

RAW = f"{OUT}/raw"

if config["demo"]["enabled"]:

    rule generate_demo_tcga:
        output:
            slides=directory(f"{RAW}/tcga/slides"),
            table=f"{RAW}/tcga/tcga_demo_all_clean.csv.zip",
            truth=f"{RAW}/truth/tcga.parquet",
        log:
            f"{OUT}/logs/generate_demo_tcga.log",
        benchmark:
            f"{OUT}/benchmarks/generate_demo_tcga.tsv"
        # The slides start the study's longest chain (encode, bags, blocks, merge): first.
        priority: 10
        conda:
            "../../envs/data.yaml"
        threads: 2
        resources:
            mem_mb=2000,
        params:
            demo=demo_params("tcga"),
            seed=config["seed"],
            out_dir=lambda wildcards, output: os.path.dirname(output.table),
        shell:
            "mmlego --log {log:q} generate-demo tcga --demo {params.demo:q} --seed {params.seed}"
            " --out-dir {params.out_dir:q} --truth {output.truth:q} --workers {threads}"

    rule generate_demo_mimic:
        output:
            tables=directory(f"{RAW}/mimic-iii"),
            truth=f"{RAW}/truth/mimic.parquet",
        log:
            f"{OUT}/logs/generate_demo_mimic.log",
        benchmark:
            f"{OUT}/benchmarks/generate_demo_mimic.tsv"
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            demo=demo_params("mimic"),
            seed=config["seed"],
        shell:
            "mmlego --log {log:q} generate-demo mimic --demo {params.demo:q} --seed {params.seed}"
            " --out-dir {output.tables:q} --truth {output.truth:q}"

    rule generate_demo_isic:
        output:
            images=directory(f"{RAW}/isic/train"),
            table=f"{RAW}/isic/train.csv",
            truth=f"{RAW}/truth/isic.parquet",
        log:
            f"{OUT}/logs/generate_demo_isic.log",
        benchmark:
            f"{OUT}/benchmarks/generate_demo_isic.tsv"
        conda:
            "../../envs/data.yaml"
        threads: 2
        resources:
            mem_mb=2000,
        params:
            demo=demo_params("isic"),
            seed=config["seed"],
            out_dir=lambda wildcards, output: os.path.dirname(output.table),
        shell:
            "mmlego --log {log:q} generate-demo isic --demo {params.demo:q} --seed {params.seed}"
            " --out-dir {params.out_dir:q} --truth {output.truth:q} --workers {threads}"

    ALL_TARGETS.extend(rules.generate_demo_tcga.output)
    ALL_TARGETS.extend(rules.generate_demo_mimic.output)
    ALL_TARGETS.extend(rules.generate_demo_isic.output)
