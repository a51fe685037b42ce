"""MIMIC-III v1.4 raw tables -> cohort, static and vitals stores, labels, QC.

One `mimic_extract_<key>` job per distinct database and extraction settings streams
CHARTEVENTS and LABEVENTS once into `{OUT}/_mimic/<key>/`. One `mimic_cohort_<key>` job per
database and cohort settings (min_hours, min_age: not the vitals window `hours`) writes the
cohort alone from the four small tables into `{OUT}/_mimic/cohort/<key>/`. Per dataset, the
cheap `mimic_dataset_<ds>` job writes its labels (icd9 or mortality) and static store from the
cohort, and `mimic_vitals_<ds>` its vitals store and QC tables from the extraction: changing
`hours` then leaves the labels and the static store, and so the static blocks, as they were.
"""

import os

from mmlego.data.mimic.extract import (
    COHORT_FILES,
    EXTRACT_FILES,
    cohort_key,
    cohort_settings,
    extraction_key,
    extraction_settings,
)
from mmlego.data.mimic.tables import TABLES

MIMIC_DATASETS = [ds for ds in DATASETS if spec(ds)["kind"] == "mimic"]
MIMIC_KEYS = {ds: extraction_key(spec(ds)) for ds in MIMIC_DATASETS}
COHORT_KEYS = {ds: cohort_key(spec(ds)) for ds in MIMIC_DATASETS}
# The tables the cohort is built from: not the event tables.
COHORT_TABLES = ("PATIENTS", "ADMISSIONS", "ICUSTAYS", "DIAGNOSES_ICD")
# The keys of a dataset's section its labels are made with (the cohort's are in its folder).
LABEL_KEYS = ("kind", "task", "target", "icd9_range")


def mimic_tables(mimic_dir, tables=TABLES):
    """The raw tables of a database: the gzipped file when present, else the plain CSV."""
    paths = []
    for table in tables:
        gz = Path(mimic_dir, f"{table}.csv.gz")
        paths.append(str(gz) if gz.exists() else str(Path(mimic_dir, f"{table}.csv")))
    return paths


def mimic_inputs(ds, tables=TABLES):
    """What the extraction (or the cohort) of `ds` depends on: the folder when a rule writes
    it as a whole (the demo generator), else its tables."""
    mimic_dir = spec(ds)["mimic_dir"]
    if demo_writes(mimic_dir):
        return [mimic_dir]
    return mimic_tables(mimic_dir, tables)


def mimic_dir_of(input):
    """The database folder, from the extraction's input (the folder itself, or its tables)."""
    first = input[0]
    return first if os.path.isdir(first) else os.path.dirname(first)


def mimic_extract_minutes(paths):
    """Time limit in minutes of a shared extraction: benchmarks/mimic_extract.py measured
    ~32 MB/s of CSV with 2 threads (docs/scaling.md); budget 5 MB/s, gzip counted at 8x its
    size (the paper's 35 GB of event tables -> about 2 h)."""
    mb = (
        sum(
            os.path.getsize(p) * (8 if p.endswith(".gz") else 1)
            for p in paths
            if os.path.exists(p)
        )
        / 1e6
    )
    return max(30, int(mb / 300))


def mimic_extract_files(key):
    """Every file the shared extraction `key` writes."""
    folder = layout.mimic_extract_dir(OUT, key)
    return {name: f"{folder}/{fname}" for name, fname in EXTRACT_FILES.items()}


def mimic_cohort_files(key):
    """Every file the cohort job `key` writes."""
    folder = layout.mimic_cohort_dir(OUT, key)
    return {name: f"{folder}/{fname}" for name, fname in COHORT_FILES.items()}


for _key in sorted(set(MIMIC_KEYS.values())):
    _ds = next(ds for ds, key in MIMIC_KEYS.items() if key == _key)

    rule:
        name:
            f"mimic_extract_{_key.replace('-', '_').replace('.', '_')}"
        input:
            mimic_inputs(_ds),
        output:
            **mimic_extract_files(_key),
        log:
            layout.log(OUT, f"_mimic/{_key}"),
        benchmark:
            layout.benchmark(OUT, f"_mimic/{_key}")
        conda:
            "../../envs/data.yaml"
        threads: 2
        resources:
            mem_mb=lambda wildcards, attempt: 4000 * attempt,
            runtime=lambda wildcards, input, attempt: mimic_extract_minutes(input)
            * attempt,
        params:
            mimic_dir=lambda wildcards, input: mimic_dir_of(input),
            cfg=as_json(
                {
                    **extraction_settings(spec(_ds)),
                    "chunk_rows": spec(_ds)["chunk_rows"],
                }
            ),
            out_dir=output_folder(0),
        shell:
            "mmlego --log {log:q} mimic-extract --mimic-dir {params.mimic_dir:q}"
            " --cfg {params.cfg:q} --out-dir {params.out_dir:q} --threads {threads}"


for _key in sorted(set(COHORT_KEYS.values())):
    _ds = next(ds for ds, key in COHORT_KEYS.items() if key == _key)

    rule:
        name:
            f"mimic_cohort_{_key.replace('-', '_').replace('.', '_')}"
        input:
            mimic_inputs(_ds, COHORT_TABLES),
        output:
            **mimic_cohort_files(_key),
        log:
            layout.log(OUT, f"_mimic/cohort/{_key}"),
        # Its failures are the tables' content or the cohort rules: a retry fails again.
        retries: 0
        # Seconds on the four small tables (no event table): on the submit host, as the
        # per-dataset jobs are.
        localrule: True
        conda:
            "../../envs/data.yaml"
        threads: 1
        params:
            mimic_dir=lambda wildcards, input: mimic_dir_of(input),
            cfg=as_json(cohort_settings(spec(_ds))),
            out_dir=output_folder(0),
        shell:
            "mmlego --log {log:q} mimic-cohort --mimic-dir {params.mimic_dir:q}"
            " --cfg {params.cfg:q} --out-dir {params.out_dir:q}"


for _ds in MIMIC_DATASETS:

    rule:
        name:
            f"mimic_dataset_{_ds}"
        input:
            **mimic_cohort_files(COHORT_KEYS[_ds]),
        output:
            labels=layout.labels(ds_dir(_ds)),
            static=layout.modality_store(ds_dir(_ds), "static"),
        log:
            layout.log(OUT, f"{_ds}/mimic"),
        retries: 0
        localrule: True
        conda:
            "../../envs/data.yaml"
        params:
            ds=_ds,
            # Only what the labels are made with: not the vitals window.
            cfg=as_json({key: spec(_ds)[key] for key in LABEL_KEYS if key in spec(_ds)}),
            cohort_dir=input_folder(0),
            out_dir=output_folder("labels"),
        shell:
            "mmlego --log {log:q} mimic-dataset --extract-dir {params.cohort_dir:q}"
            " --dataset {params.ds:q} --cfg {params.cfg:q} --out-dir {params.out_dir:q}"
            " --part labels"

    rule:
        name:
            f"mimic_vitals_{_ds}"
        input:
            **mimic_extract_files(MIMIC_KEYS[_ds]),
        output:
            vitals=layout.modality_store(ds_dir(_ds), "vitals"),
            qc_cohort=layout.qc_mimic_cohort(ds_dir(_ds)),
            qc_events=layout.qc_mimic_events(ds_dir(_ds)),
        log:
            layout.log(OUT, f"{_ds}/mimic_vitals"),
        retries: 0
        localrule: True
        conda:
            "../../envs/data.yaml"
        params:
            ds=_ds,
            cfg=as_json({"kind": "mimic"}),
            extract_dir=input_folder(0),
            # The dataset folder (vitals lands in its modalities/, the QC in its qc/).
            out_dir=lambda wildcards, output: str(Path(output.vitals).parent.parent),
        shell:
            "mmlego --log {log:q} mimic-dataset --extract-dir {params.extract_dir:q}"
            " --dataset {params.ds:q} --cfg {params.cfg:q} --out-dir {params.out_dir:q}"
            " --part vitals"
