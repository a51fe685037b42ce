"""Slides and images -> per-item patch features (CLAM h5 layout) -> patient bag stores.

One job per slide (so a cluster spreads them), one job per `preprocess.images_per_job` images,
then one job per (dataset, bag modality) joining the items into the patient bag store. The
items come from the `manifest` checkpoint of preprocess.smk.

A slide's feature file depends only on the slide file: a CLAM or TRIDENT h5 placed at its
path (newer than the slide) is used as is, and the QC images then show its patches.
"""

import functools
import math
from pathlib import Path

from mmlego.preprocess.bags import read_manifest
from mmlego.preprocess.pipeline import feature_tag, image_settings

FEATURE_TAG = feature_tag(config["encoder"])
FEATURE_CFG = as_json(
    {key: config[key] for key in ("encoder", "preprocess", "seed", "device")}
)
IMAGES_PER_JOB = config["preprocess"]["images_per_job"]


def bag_modalities_of_type(ds, mod_type):
    """Bag modalities of dataset ``ds`` with data type ``mod_type`` (wsi or image)."""
    return [m for m in manifest_modalities(ds) if modality_type(ds, m) == mod_type]


def all_bag_modalities(mod_type):
    """Names of the bag modalities of ``mod_type`` over every dataset (for wildcards)."""
    return sorted({m for ds in DATASETS for m in bag_modalities_of_type(ds, mod_type)})


def feature_dir(ds, mod):
    """Folder of the per-item feature files of one bag modality."""
    return f"{OUT}/{ds}/features/{mod}/{FEATURE_TAG}"


@functools.cache
def _read_manifest(path, mtime):
    return read_manifest(path)


def manifest(wildcards):
    """The checkpointed manifest of (ds, mod) as a DataFrame (re-read when it changes)."""
    path = checkpoints.manifest.get(ds=wildcards.ds, mod=wildcards.mod).output.manifest
    return _read_manifest(path, Path(path).stat().st_mtime)


def manifest_file(wildcards):
    """Path of the checkpointed manifest of (ds, mod)."""
    return checkpoints.manifest.get(ds=wildcards.ds, mod=wildcards.mod).output.manifest


def manifest_row(wildcards):
    """The manifest row of one slide; raises naming the item when it is not listed."""
    frame = manifest(wildcards).set_index("item_id")
    if wildcards.item not in frame.index:
        raise WorkflowError(
            f"item {wildcards.item!r} is not in the {wildcards.ds}/{wildcards.mod} manifest"
        )
    return frame.loc[wildcards.item]


def slide_mpp(wildcards):
    """The manifest's mpp of a slide ('' when blank: metadata or fallback then)."""
    mpp = manifest_row(wildcards)["mpp"]
    return "" if mpp != mpp else str(mpp)


def mpp_fallback(wildcards):
    """The dataset's mpp fallback, else the preprocess section's ('' when neither)."""
    value = config["datasets"][wildcards.ds].get("mpp_fallback")
    if value is None:
        value = config["preprocess"]["mpp_fallback"]
    return "" if value is None else str(value)


def shard_count(wildcards):
    """Number of image jobs of (ds, mod)."""
    return max(1, math.ceil(len(manifest(wildcards)) / IMAGES_PER_JOB))


def shard_images(wildcards):
    """Image files of one shard."""
    n = int(wildcards.shard)
    rows = manifest(wildcards).iloc[n * IMAGES_PER_JOB : (n + 1) * IMAGES_PER_JOB]
    return rows["path"].tolist()


def item_features(wildcards):
    """Every feature file (slides) or shard folder (images) of (ds, mod)."""
    folder = feature_dir(wildcards.ds, wildcards.mod)
    if modality_type(wildcards.ds, wildcards.mod) == "wsi":
        return [f"{folder}/{item}.h5" for item in manifest(wildcards)["item_id"]]
    return [f"{folder}/shard{n}" for n in range(shard_count(wildcards))]


def slide_files(wildcards):
    """Every slide file of (ds, mod)."""
    return manifest(wildcards)["path"].tolist()


rule encode_slide:
    input:
        slide=lambda wildcards: manifest_row(wildcards)["path"],
    output:
        f"{OUT}/{{ds}}/features/{{mod}}/{FEATURE_TAG}/{{item}}.h5",
    log:
        f"{OUT}/logs/{{ds}}/features/{{mod}}/{{item}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{ds}}/features/{{mod}}/{{item}}.tsv"
    wildcard_constraints:
        mod=match_one_of(all_bag_modalities("wsi")),
        item="[^/]+",
    conda:
        "../../envs/encode.yaml"
    threads: 1 + config["encoder"]["num_workers"]
    resources:
        mem_mb=4000,
        gpu=1,
    params:
        cfg=FEATURE_CFG,
        mpp=slide_mpp,
        fallback=mpp_fallback,
    shell:
        "mmlego --log {log:q} encode-slide --config {params.cfg:q} --slide {input.slide:q}"
        " --item-id {wildcards.item:q} --mpp {params.mpp:q} --fallback-mpp {params.fallback:q}"
        " --threads {threads} --out {output:q}"


rule encode_images:
    input:
        manifest=manifest_file,
        images=shard_images,
    output:
        directory(f"{OUT}/{{ds}}/features/{{mod}}/{FEATURE_TAG}/shard{{shard}}"),
    log:
        f"{OUT}/logs/{{ds}}/features/{{mod}}/shard{{shard}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{ds}}/features/{{mod}}/shard{{shard}}.tsv"
    wildcard_constraints:
        mod=match_one_of(all_bag_modalities("image")),
        shard="[0-9]+",
    conda:
        "../../envs/encode.yaml"
    threads: 1 + config["encoder"]["num_workers"]
    resources:
        mem_mb=4000,
        gpu=1,
    params:
        cfg=FEATURE_CFG,
        per_shard=IMAGES_PER_JOB,
        mode=lambda wildcards: image_settings(
            config["datasets"][wildcards.ds], wildcards.mod
        )["mode"],
        size=lambda wildcards: image_settings(
            config["datasets"][wildcards.ds], wildcards.mod
        )["size"],
    shell:
        "mmlego --log {log:q} encode-images --config {params.cfg:q}"
        " --manifest {input.manifest:q} --shard {wildcards.shard} --per-shard {params.per_shard}"
        " --mode {params.mode} --size {params.size} --threads {threads} --out-dir {output:q}"


rule tissue_qc:
    input:
        manifest=manifest_file,
        slides=slide_files,
        features=item_features,
    output:
        directory(f"{OUT}/{{ds}}/qc/tissue/{{mod}}"),
    log:
        f"{OUT}/logs/{{ds}}/tissue_qc_{{mod}}.log",
    wildcard_constraints:
        mod=match_one_of(all_bag_modalities("wsi")),
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=FEATURE_CFG,
        folder=lambda wildcards: feature_dir(wildcards.ds, wildcards.mod),
        fallback=mpp_fallback,
    shell:
        "mmlego --log {log:q} tissue-qc --config {params.cfg:q} --manifest {input.manifest:q}"
        " --features-dir {params.folder:q} --fallback-mpp {params.fallback:q}"
        " --out-dir {output:q}"


rule build_bags:
    input:
        labels=f"{OUT}/{{ds}}/labels.parquet",
        manifest=manifest_file,
        features=item_features,
    output:
        store=f"{OUT}/{{ds}}/modalities/{{mod}}.h5",
        qc=f"{OUT}/{{ds}}/qc/features_{{mod}}.csv",
    log:
        f"{OUT}/logs/{{ds}}/build_bags_{{mod}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{ds}}/build_bags_{{mod}}.tsv"
    wildcard_constraints:
        mod=match_one_of(all_bag_modalities("wsi") + all_bag_modalities("image")),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cfg=FEATURE_CFG,
        mod_type=lambda wildcards: modality_type(wildcards.ds, wildcards.mod),
    shell:
        "mmlego --log {log:q} build-bags --config {params.cfg:q} --labels {input.labels:q}"
        " --manifest {input.manifest:q} --features {input.features:q}"
        " --dataset {wildcards.ds:q} --modality {wildcards.mod:q} --type {params.mod_type}"
        " --out {output.store:q} --qc {output.qc:q}"


for _ds in DATASETS:
    for _mod in bag_modalities_of_type(_ds, "wsi") + bag_modalities_of_type(_ds, "image"):
        ALL_TARGETS.append(f"{OUT}/{_ds}/modalities/{_mod}.h5")
        ALL_TARGETS.append(f"{OUT}/{_ds}/qc/features_{_mod}.csv")
    for _mod in bag_modalities_of_type(_ds, "wsi"):
        ALL_TARGETS.append(f"{OUT}/{_ds}/qc/tissue/{_mod}")
