"""Raw tables -> labels, vector/series modality stores, and manifests of slides and images.

MIMIC-III datasets are extracted by mimic.smk. Each other dataset gets one `tables_<ds>` job
(labels and every vector/series store from one read of its raw tables); each bag modality gets
a `manifest` checkpoint that the features stage expands into one job per slide or image.
"""

import os
import re

from mmlego.config import STORE_KIND

TABLE_DATASETS = [ds for ds in DATASETS if config["datasets"][ds]["kind"] != "mimic"]


def match_one_of(names):
    """A wildcard constraint that matches exactly one of ``names`` (nothing when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def table_store_modalities(ds):
    """Modalities of ``ds`` whose store this stage or the mimic stage writes (vector, series)."""
    return [m for m in modalities(ds) if STORE_KIND[modality_type(ds, m)] != "bag"]


def manifest_modalities(ds):
    """Modalities of ``ds`` built from a manifest of slides or images."""
    return [m for m in modalities(ds) if STORE_KIND[modality_type(ds, m)] == "bag"]


def table_inputs(ds):
    """The raw files the table reader of ``ds`` reads."""
    spec = config["datasets"][ds]
    if spec["kind"] == "tcga":
        return [spec["table"]]
    if spec["kind"] == "isic":
        return [spec["metadata"]]
    return [spec["labels"]["path"]] + [
        m["path"] for m in spec["modalities"].values() if "path" in m
    ]


def table_outputs(ds):
    """Every file the `tables_<ds>` job writes."""
    outs = [f"{OUT}/{ds}/labels.parquet", f"{OUT}/{ds}/qc/excluded.csv"]
    outs += [f"{OUT}/{ds}/modalities/{m}.h5" for m in table_store_modalities(ds)]
    if config["datasets"][ds]["kind"] == "isic":
        outs.append(f"{OUT}/{ds}/qc/downsampling.csv")
    return outs


def manifest_source(wildcards):
    """The folder or user manifest a bag modality's manifest is built from."""
    spec = config["datasets"][wildcards.ds]
    if spec["kind"] == "tcga":
        return spec["slides"]
    if spec["kind"] == "isic":
        return spec["images"]
    return spec["modalities"][wildcards.mod]["manifest"]


for _ds in TABLE_DATASETS:

    rule:
        name:
            f"tables_{_ds}"
        input:
            table_inputs(_ds),
        output:
            table_outputs(_ds),
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
            "mmlego --log {log:q} tables --dataset {params.ds:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --out-dir {params.out_dir:q}"

    ALL_TARGETS.extend(table_outputs(_ds))


checkpoint manifest:
    input:
        labels=f"{OUT}/{{ds}}/labels.parquet",
        source=manifest_source,
    output:
        manifest=f"{OUT}/{{ds}}/manifests/{{mod}}.csv",
        skipped=f"{OUT}/{{ds}}/qc/skipped_{{mod}}.csv",
    log:
        f"{OUT}/logs/{{ds}}/manifest_{{mod}}.log",
    wildcard_constraints:
        ds=match_one_of(TABLE_DATASETS),
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
    for mod in manifest_modalities(ds)
)
