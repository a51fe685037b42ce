"""The demo study's raw data: synthetic TCGA-, MIMIC-III- and ISIC-like releases.

The rules exist when ``demo.enabled``; one rule per source so they run in parallel. The truth
sidecars (true per-patient factors) are for tests; no model reads them.
"""

TCGA_DEMO = layout.demo_source(OUT, "tcga")
MIMIC_DEMO = layout.demo_source(OUT, "mimic")
ISIC_DEMO = layout.demo_source(OUT, "isic")

if DEMO:

    rule generate_demo_tcga:
        output:
            slides=directory(TCGA_DEMO.outputs["slides"]),
            table=TCGA_DEMO.outputs["table"],
            truth=TCGA_DEMO.truth,
        log:
            layout.log(OUT, "generate_demo_tcga"),
        benchmark:
            layout.benchmark(OUT, "generate_demo_tcga")
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
            out_dir=output_folder("table"),
        shell:
            "mmlego --log {log:q} generate-demo tcga --cfg {params.demo:q} --seed {params.seed}"
            " --out-dir {params.out_dir:q} --out-truth {output.truth:q} --workers {threads}"

    rule generate_demo_mimic:
        output:
            tables=directory(MIMIC_DEMO.outputs["tables"]),
            truth=MIMIC_DEMO.truth,
        log:
            layout.log(OUT, "generate_demo_mimic"),
        benchmark:
            layout.benchmark(OUT, "generate_demo_mimic")
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            demo=demo_params("mimic"),
            seed=config["seed"],
        shell:
            "mmlego --log {log:q} generate-demo mimic --cfg {params.demo:q} --seed {params.seed}"
            " --out-dir {output.tables:q} --out-truth {output.truth:q}"

    rule generate_demo_isic:
        output:
            images=directory(ISIC_DEMO.outputs["images"]),
            table=ISIC_DEMO.outputs["table"],
            truth=ISIC_DEMO.truth,
        log:
            layout.log(OUT, "generate_demo_isic"),
        benchmark:
            layout.benchmark(OUT, "generate_demo_isic")
        conda:
            "../../envs/data.yaml"
        threads: 2
        resources:
            mem_mb=2000,
        params:
            demo=demo_params("isic"),
            seed=config["seed"],
            out_dir=output_folder("table"),
        shell:
            "mmlego --log {log:q} generate-demo isic --cfg {params.demo:q} --seed {params.seed}"
            " --out-dir {params.out_dir:q} --out-truth {output.truth:q} --workers {threads}"
