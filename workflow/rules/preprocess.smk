"""Raw tables -> labels, vector/series modality stores, and manifests of slides and images.

MIMIC-III datasets are extracted by mimic.smk. Each other dataset gets one `tables_<ds>` job
(labels and every vector/series store from one read of its raw tables); each bag modality gets
a `manifest` checkpoint that the features stage expands into one job per slide or image.
"""

import os

from mmlego.config import dataset_modalities
from mmlego.data.build import manifest_sources, raw_table_inputs, table_outputs

TABLE_DATASETS = [ds for ds in DATASETS if config["datasets"][ds]["kind"] != "mimic"]
# Bag modalities (slides, images) of each dataset: built from a manifest by the features stage.
MANIFEST_MODALITIES = {
    ds: [m.name for m in dataset_modalities(config["datasets"][ds]) if m.kind == "bag"]
    for ds in TABLE_DATASETS
}

# A dataset's outputs are requested once its raw inputs exist or a rule makes them, so the
# workflow still plans while a source's demo generator is not part of it.
RAW_READY = {
    ds: all(
        os.path.exists(path) or any(r.is_producer(path) for r in workflow.rules)
        for path in raw_table_inputs(config["datasets"][ds])
        + [
            p
            for m in MANIFEST_MODALITIES[ds]
            for p in manifest_sources(config["datasets"][ds], m)
        ]
    )
    for ds in TABLE_DATASETS
}

for _ds in TABLE_DATASETS:

    rule:
        name:
            f"tables_{_ds}"
        input:
            raw_table_inputs(config["datasets"][_ds]),
        output:
            [f"{OUT}/{_ds}/{name}" for name in table_outputs(config["datasets"][_ds])],
        log:
            f"{OUT}/logs/{_ds}/tables.log",
        benchmark:
            f"{OUT}/benchmarks/{_ds}/tables.tsv"
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            ds=_ds,
            cfg=as_json(config["datasets"][_ds]),
            seed=config["seed"],
            out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        shell:
            "mmlego --log {log:q} read-tables --dataset {params.ds:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --out-dir {params.out_dir:q}"

    if RAW_READY[_ds]:
        ALL_TARGETS.extend(
            f"{OUT}/{_ds}/{name}" for name in table_outputs(config["datasets"][_ds])
        )


checkpoint manifest:
    input:
        labels=f"{OUT}/{{ds}}/labels.parquet",
        sources=lambda wildcards: manifest_sources(
            config["datasets"][wildcards.ds], wildcards.mod
        ),
    output:
        manifest=f"{OUT}/{{ds}}/manifests/{{mod}}.csv",
        skipped=f"{OUT}/{{ds}}/qc/skipped_{{mod}}.csv",
    log:
        f"{OUT}/logs/{{ds}}/manifest_{{mod}}.log",
    wildcard_constraints:
        ds="|".join(d for d in TABLE_DATASETS if MANIFEST_MODALITIES[d]) or "(?!)",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda wildcards: as_json(config["datasets"][wildcards.ds]),
    shell:
        "mmlego --log {log:q} manifest --dataset {wildcards.ds:q} --cfg {params.cfg:q}"
        " --modality {wildcards.mod:q} --labels {input.labels:q}"
        " --out {output.manifest:q} --skipped {output.skipped:q}"


ALL_TARGETS.extend(
    f"{OUT}/{ds}/manifests/{mod}.csv"
    for ds in TABLE_DATASETS
    if RAW_READY[ds]
    for mod in MANIFEST_MODALITIES[ds]
)
