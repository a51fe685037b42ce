"""Raw tables -> labels, vector/series modality stores, and manifests of slides and images.

MIMIC-III datasets are extracted by mimic.smk. An ISIC dataset gets one `read_tables_<ds>` job
(labels and every vector/series store from one read of its raw table). A generic or TCGA
dataset gets one job per part: `read_tables_<ds>` for the labels, `read_table_<ds>_<mod>` for
each tabular or time-series modality (a generic dataset's own file, or a TCGA omics group's
columns of the table), and `table_qc_<ds>` joining their QC rows; adding a modality to its
config (a TCGA `omics` group) then leaves the labels and the other stores untouched, so
nothing trained on them reruns. A manifest job reads only its kind's keys of the section. Each bag
modality gets a `manifest` checkpoint that the features stage expands into one job per slide
or image.
"""

from mmlego.preprocess.rules import mpp_fallback

TABLE_DATASETS = [
    ds
    for ds in DATASETS
    if dataset_kind(spec(ds)).read_tables is not None
    and not reads_tables_per_modality(spec(ds))
]
SEPARATE_TABLE_DATASETS = [ds for ds in DATASETS if reads_tables_per_modality(spec(ds))]
MANIFEST_DATASETS = [ds for ds in DATASETS if bag_modalities(spec(ds))]
# wsi or image, per dataset and bag modality: what the manifest step opens each file as.
BAG_TYPES = {
    ds: {m.name: m.type for m in bag_modalities(spec(ds))} for ds in MANIFEST_DATASETS
}

for _ds in TABLE_DATASETS:

    rule:
        name:
            f"read_tables_{_ds}"
        input:
            dataset_kind(spec(_ds)).table_inputs(spec(_ds)),
        output:
            list(table_outputs(ds_dir(_ds), spec(_ds)).values()),
        log:
            layout.log(OUT, f"{_ds}/tables"),
        benchmark:
            layout.benchmark(OUT, f"{_ds}/tables")
        # Not retried, even where the profile retries (profiles/slurm): its failures are the
        # user's files or config (docs/reliability.md), which fail again the same way.
        retries: 0
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            ds=_ds,
            # Only the keys the reader reads: the image settings are not among them.
            cfg=as_json(table_reader_config(spec(_ds))),
            seed=config["seed"],
            out_dir=output_folder(0),
        shell:
            "mmlego --log {log:q} read-tables --dataset {params.ds:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --out-dir {params.out_dir:q}"


for _ds in SEPARATE_TABLE_DATASETS:

    rule:
        name:
            f"read_tables_{_ds}"
        input:
            dataset_kind(spec(_ds)).labels_inputs(spec(_ds)),
        output:
            labels=layout.labels(ds_dir(_ds)),
            qc=layout.qc_labels_tables(ds_dir(_ds)),
        log:
            layout.log(OUT, f"{_ds}/tables"),
        benchmark:
            layout.benchmark(OUT, f"{_ds}/tables")
        # Reading the user's tables fails only on their content: a retry fails again.
        retries: 0
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            ds=_ds,
            # Only the keys the labels are read with: a modality's entry is not among them.
            cfg=as_json(table_job_config(spec(_ds))),
            seed=config["seed"],
            out_dir=output_folder("labels"),
        shell:
            "mmlego --log {log:q} read-tables --dataset {params.ds:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --out-dir {params.out_dir:q} --part labels"

    for _mod in table_modalities(spec(_ds)):

        rule:
            name:
                f"read_table_{_ds}_{_mod.name}"
            input:
                labels=layout.labels(ds_dir(_ds)),
                table=dataset_kind(spec(_ds)).modality_inputs(spec(_ds), _mod.name),
            output:
                store=layout.modality_store(ds_dir(_ds), _mod.name),
                qc=layout.qc_modality_tables(ds_dir(_ds), _mod.name),
            log:
                layout.log(OUT, f"{_ds}/tables_{_mod.name}"),
            benchmark:
                layout.benchmark(OUT, f"{_ds}/tables_{_mod.name}")
            retries: 0
            conda:
                "../../envs/data.yaml"
            threads: 1
            resources:
                mem_mb=4000,
            params:
                ds=_ds,
                mod=_mod.name,
                # This modality's entry and the keys it is read with, no other modality's.
                cfg=as_json(table_job_config(spec(_ds), _mod.name)),
                seed=config["seed"],
                # The dataset folder, which holds the labels it reads.
                out_dir=input_folder("labels"),
            shell:
                "mmlego --log {log:q} read-tables --dataset {params.ds:q} --cfg {params.cfg:q}"
                " --seed {params.seed} --out-dir {params.out_dir:q} --part {params.mod:q}"
                " --labels {input.labels:q}"

    rule:
        name:
            f"table_qc_{_ds}"
        input:
            # The labels job's excluded patients first, as the one-job reader writes them.
            [layout.qc_labels_tables(ds_dir(_ds))]
            + [
                layout.qc_modality_tables(ds_dir(_ds), m.name)
                for m in table_modalities(spec(_ds))
            ],
        output:
            layout.qc_tables(ds_dir(_ds)),
        log:
            layout.log(OUT, f"{_ds}/table_qc"),
        retries: 0
        localrule: True
        conda:
            "../../envs/data.yaml"
        params:
            parts=lambda wildcards, input: " ".join(
                f"--part {shlex.quote(path)}" for path in input
            ),
        shell:
            "mmlego --log {log:q} table-qc {params.parts} --out {output:q}"


checkpoint manifest:
    input:
        labels=layout.labels(DS),
        sources=lambda wildcards: dataset_kind(spec(wildcards.ds)).manifest_sources(
            spec(wildcards.ds), wildcards.mod
        ),
    output:
        manifest=layout.manifest(DS, "{mod}"),
        skipped=layout.skipped_items(DS, "{mod}"),
    log:
        layout.log(OUT, "{ds}/manifest_{mod}"),
    wildcard_constraints:
        ds="|".join(MANIFEST_DATASETS) or "(?!)",
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        # The keys the kind's manifest reads: editing a table modality leaves it as it was.
        cfg=lambda wildcards: as_json(manifest_job_config(spec(wildcards.ds))),
        # The manifest step opens every slide, so a slide with no resolution anywhere fails
        # there, once, not in its (retried) encoding job.
        fallback=lambda wildcards: mpp_fallback(config, wildcards.ds),
        type=lambda wildcards: BAG_TYPES[wildcards.ds][wildcards.mod],
    shell:
        "mmlego --log {log:q} manifest --dataset {wildcards.ds:q} --cfg {params.cfg:q}"
        " --modality {wildcards.mod:q} --labels {input.labels:q}"
        " --out {output.manifest:q} --out-skipped {output.skipped:q}"
        " --type {params.type} --fallback-mpp {params.fallback:q}"
