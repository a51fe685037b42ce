"""Slides and images -> per-item patch features (CLAM h5 layout) -> patient bag stores.

One job per slide (so a cluster spreads them), or per `preprocess.slides_per_job` slides when
that is above 1 (small slides, where starting a job costs more than encoding); one job per
`preprocess.images_per_job` images; then one job per (dataset, bag modality) joining the
items into the patient bag store. The items come from the `manifest` checkpoint of
preprocess.smk.

With one job per slide, a slide's feature file depends only on the slide file: a CLAM or
TRIDENT h5 placed at its path (newer than the slide) is used as is, and the QC images then
show its patches.
"""

import functools
import math
from pathlib import Path

import pandas as pd

from mmlego.preprocess.bags import read_manifest
from mmlego.preprocess.pipeline import feature_tag, image_settings

# Set by preprocess.smk (the manifest checkpoint); absent, this stage has nothing to encode.
MANIFEST_MODALITIES = globals().get("MANIFEST_MODALITIES", {})
RAW_READY = globals().get("RAW_READY", {})
FEATURE_TAG = feature_tag(config["encoder"])
FEATURE_CFG = as_json(
    {key: config[key] for key in ("encoder", "preprocess", "seed", "device")}
)
PER_JOB = {
    "wsi": config["preprocess"]["slides_per_job"],
    "image": config["preprocess"]["images_per_job"],
}


def bag_modalities_of_type(ds, mod_type):
    """Bag modalities of dataset ``ds`` with data type ``mod_type`` (wsi or image)."""
    return [
        m for m in MANIFEST_MODALITIES.get(ds, []) if modality_type(ds, m) == mod_type
    ]


def bag_modality_pattern(*mod_types):
    """Wildcard constraint matching the bag modalities of these types (nothing when none)."""
    names = {
        m for ds in DATASETS for t in mod_types for m in bag_modalities_of_type(ds, t)
    }
    return "|".join(sorted(names)) or "(?!)"


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
    """The manifest's mpp of a slide ('none' when blank: metadata or fallback then)."""
    mpp = manifest_row(wildcards)["mpp"]
    return "none" if pd.isna(mpp) else str(mpp)


def mpp_fallback(wildcards):
    """The dataset's mpp fallback, else the preprocess section's ('none' when neither)."""
    value = config["datasets"][wildcards.ds].get("mpp_fallback")
    if value is None:
        value = config["preprocess"]["mpp_fallback"]
    return "none" if value is None else str(value)


def per_job(wildcards):
    """Items per encode job of (ds, mod)."""
    return PER_JOB[modality_type(wildcards.ds, wildcards.mod)]


def shard_files(wildcards):
    """Slide or image files of one shard."""
    n, size = int(wildcards.shard), per_job(wildcards)
    return manifest(wildcards).iloc[n * size : (n + 1) * size]["path"].tolist()


def item_features(wildcards):
    """Every per-slide feature file, or every shard folder, of (ds, mod)."""
    folder = feature_dir(wildcards.ds, wildcards.mod)
    size = per_job(wildcards)
    if modality_type(wildcards.ds, wildcards.mod) == "wsi" and size == 1:
        return [f"{folder}/{item}.h5" for item in manifest(wildcards)["item_id"]]
    shards = max(1, math.ceil(len(manifest(wildcards)) / size))
    return [f"{folder}/shard{n}" for n in range(shards)]


def image_setting(key):
    """An input function for one of :func:`image_settings`' values (grid for slides)."""
    return lambda wildcards: image_settings(
        config["datasets"][wildcards.ds], wildcards.mod
    )[key]


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
        mod=bag_modality_pattern("wsi"),
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


rule encode_shard:
    input:
        manifest=manifest_file,
        files=shard_files,
    output:
        directory(f"{OUT}/{{ds}}/features/{{mod}}/{FEATURE_TAG}/shard{{shard}}"),
    log:
        f"{OUT}/logs/{{ds}}/features/{{mod}}/shard{{shard}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{ds}}/features/{{mod}}/shard{{shard}}.tsv"
    wildcard_constraints:
        mod=bag_modality_pattern("wsi", "image"),
        shard="[0-9]+",
    conda:
        "../../envs/encode.yaml"
    threads: 1 + config["encoder"]["num_workers"]
    resources:
        mem_mb=4000,
        gpu=1,
    params:
        cfg=FEATURE_CFG,
        per_shard=per_job,
        mod_type=lambda wildcards: modality_type(wildcards.ds, wildcards.mod),
        mode=image_setting("mode"),
        size=image_setting("size"),
        fallback=mpp_fallback,
    shell:
        "mmlego --log {log:q} encode-shard --config {params.cfg:q} --type {params.mod_type}"
        " --manifest {input.manifest:q} --shard {wildcards.shard} --per-shard {params.per_shard}"
        " --mode {params.mode} --size {params.size} --fallback-mpp {params.fallback:q}"
        " --threads {threads} --out-dir {output:q}"


rule tissue_qc:
    input:
        manifest=manifest_file,
        slides=lambda wildcards: manifest(wildcards)["path"].tolist(),
        features=item_features,
    output:
        directory(f"{OUT}/{{ds}}/qc/tissue/{{mod}}"),
    log:
        f"{OUT}/logs/{{ds}}/tissue_qc_{{mod}}.log",
    wildcard_constraints:
        mod=bag_modality_pattern("wsi"),
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=FEATURE_CFG,
        fallback=mpp_fallback,
    shell:
        "mmlego --log {log:q} tissue-qc --config {params.cfg:q} --manifest {input.manifest:q}"
        " --features {input.features:q} --fallback-mpp {params.fallback:q}"
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
        mod=bag_modality_pattern("wsi", "image"),
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


for _ds in (ds for ds in DATASETS if RAW_READY.get(ds)):
    for _mod in bag_modalities_of_type(_ds, "wsi") + bag_modalities_of_type(
        _ds, "image"
    ):
        ALL_TARGETS.append(f"{OUT}/{_ds}/modalities/{_mod}.h5")
        ALL_TARGETS.append(f"{OUT}/{_ds}/qc/features_{_mod}.csv")
    for _mod in bag_modalities_of_type(_ds, "wsi"):
        ALL_TARGETS.append(f"{OUT}/{_ds}/qc/tissue/{_mod}")
