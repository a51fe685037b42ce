"""Slides and images -> per-item patch features (CLAM h5 layout) -> patient bag stores.

One job per slide (so a cluster spreads them), or per `preprocess.slides_per_job` slides when
that is above 1 (small slides, where starting a job costs more than encoding); one job per
`preprocess.images_per_job` images; then one job per (dataset, bag modality) joining the
items into the patient bag store. The items come from the `manifest` checkpoint of
preprocess.smk; the input functions are in mmlego.preprocess.rules.

With one job per slide, a slide's feature file depends only on the slide file: a CLAM or
TRIDENT h5 placed at its path (newer than the slide) is used as is, and the QC images then
show its patches.
"""

from mmlego.preprocess.rules import FeatureInputs

# The items come from the manifest checkpoint of preprocess.smk.
FEATURES = FeatureInputs(config, checkpoints)
# The number of patch-reader workers decides how patches are read, never the features: it
# reaches the encode jobs as a resource (not a rerun trigger), so moving a study from a laptop
# (0 workers) to a cluster node (4) does not re-encode every slide.
FEATURE_CFG = as_json(
    {
        "encoder": {k: v for k, v in config["encoder"].items() if k != "num_workers"},
        **{key: config[key] for key in ("preprocess", "seed", "device")},
    }
)
READERS = config["encoder"]["num_workers"]
TAG = FEATURES.tag


rule encode_slide:
    input:
        slide=FEATURES.slide_path,
    output:
        layout.item_features(DS, "{mod}", TAG, "{item}"),
    log:
        layout.log(OUT, "{ds}/features/{mod}/{item}"),
    benchmark:
        layout.benchmark(OUT, "{ds}/features/{mod}/{item}")
    wildcard_constraints:
        mod=FEATURES.pattern("wsi"),
        item="[^/]+",
    # Encoding is the longest chain of the study: start it before the small jobs.
    priority: 10
    conda:
        "../../envs/encode.yaml"
    threads: 1 + READERS
    resources:
        mem_mb=4000,
        gpu=1,
        readers=READERS,
    params:
        cfg=FEATURE_CFG,
        mpp=FEATURES.slide_mpp,
        fallback=FEATURES.mpp_fallback,
    shell:
        "mmlego --log {log:q} encode-slide --cfg {params.cfg:q} --slide {input.slide:q}"
        " --item-id {wildcards.item:q} --mpp {params.mpp:q} --fallback-mpp {params.fallback:q}"
        " --threads {threads} --readers {resources.readers} --out {output:q}"


rule encode_shard:
    input:
        manifest=FEATURES.manifest_file,
        files=FEATURES.shard_files,
    output:
        directory(layout.feature_shard(DS, "{mod}", TAG, "{shard}")),
    log:
        layout.log(OUT, "{ds}/features/{mod}/shard{shard}"),
    benchmark:
        layout.benchmark(OUT, "{ds}/features/{mod}/shard{shard}")
    wildcard_constraints:
        mod=FEATURES.pattern("wsi", "image"),
        shard="[0-9]+",
    # Encoding is the longest chain of the study: start it before the small jobs.
    priority: 10
    conda:
        "../../envs/encode.yaml"
    threads: 1 + READERS
    resources:
        mem_mb=4000,
        gpu=1,
        readers=READERS,
    params:
        cfg=FEATURE_CFG,
        per_shard=FEATURES.per_job,
        mod_type=FEATURES.mod_type,
        mode=FEATURES.image_setting("mode"),
        size=FEATURES.image_setting("size"),
        fallback=FEATURES.mpp_fallback,
    shell:
        "mmlego --log {log:q} encode-shard --cfg {params.cfg:q} --type {params.mod_type}"
        " --manifest {input.manifest:q} --shard {wildcards.shard} --per-shard {params.per_shard}"
        " --mode {params.mode} --size {params.size} --fallback-mpp {params.fallback:q}"
        " --threads {threads} --readers {resources.readers} --out-dir {output:q}"


rule tissue_qc:
    input:
        manifest=FEATURES.manifest_file,
        slides=FEATURES.item_files,
        features=FEATURES.features,
    output:
        directory(layout.qc_tissue(DS, "{mod}")),
    log:
        layout.log(OUT, "{ds}/tissue_qc_{mod}"),
    wildcard_constraints:
        mod=FEATURES.pattern("wsi"),
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=FEATURE_CFG,
        fallback=FEATURES.mpp_fallback,
    shell:
        "mmlego --log {log:q} tissue-qc --cfg {params.cfg:q} --manifest {input.manifest:q}"
        " --features {input.features:q} --fallback-mpp {params.fallback:q}"
        " --out-dir {output:q}"


rule build_bags:
    input:
        labels=layout.labels(DS),
        manifest=FEATURES.manifest_file,
        features=FEATURES.features,
    output:
        store=layout.modality_store(DS, "{mod}"),
        qc=layout.qc_features(DS, "{mod}"),
    log:
        layout.log(OUT, "{ds}/build_bags_{mod}"),
    benchmark:
        layout.benchmark(OUT, "{ds}/build_bags_{mod}")
    wildcard_constraints:
        mod=FEATURES.pattern("wsi", "image"),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cfg=FEATURE_CFG,
        mod_type=FEATURES.mod_type,
    shell:
        "mmlego --log {log:q} build-bags --cfg {params.cfg:q} --labels {input.labels:q}"
        " --manifest {input.manifest:q} --features {input.features:q}"
        " --dataset {wildcards.ds:q} --modality {wildcards.mod:q} --type {params.mod_type}"
        " --out {output.store:q} --out-qc {output.qc:q}"
