"""MIMIC-III v1.4 raw tables -> cohort, static and vitals stores, labels, QC.

One `mimic_extract_<key>` job per distinct database and extraction settings streams
CHARTEVENTS and LABEVENTS once into `{OUT}/_mimic/<key>/`; one cheap `mimic_dataset_<ds>` job
per dataset writes its labels (icd9 or mortality), its two stores and its QC tables.
"""

import os

from mmlego.data.mimic.extract import EXTRACT_FILES, extraction_key, extraction_settings
from mmlego.data.mimic.tables import TABLES

MIMIC_DATASETS = [ds for ds in DATASETS if spec(ds)["kind"] == "mimic"]
MIMIC_KEYS = {ds: extraction_key(spec(ds)) for ds in MIMIC_DATASETS}


def mimic_tables(mimic_dir):
    """The raw tables of a database: the gzipped file when present, else the plain CSV."""
    paths = []
    for table in TABLES:
        gz = Path(mimic_dir, f"{table}.csv.gz")
        paths.append(str(gz) if gz.exists() else str(Path(mimic_dir, f"{table}.csv")))
    return paths


def mimic_inputs(ds):
    """What the extraction of `ds` depends on: the folder when a rule writes it as a whole
    (the demo generator), else the six tables."""
    mimic_dir = spec(ds)["mimic_dir"]
    if demo_writes(mimic_dir):
        return [mimic_dir]
    return mimic_tables(mimic_dir)


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


def mimic_dataset_files(ds):
    """Every file the per-dataset job of `ds` writes."""
    root = ds_dir(ds)
    return {
        "labels": layout.labels(root),
        "static": layout.modality_store(root, "static"),
        "vitals": layout.modality_store(root, "vitals"),
        "qc_cohort": layout.qc_mimic_cohort(root),
        "qc_events": layout.qc_mimic_events(root),
    }


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


for _ds in MIMIC_DATASETS:

    rule:
        name:
            f"mimic_dataset_{_ds}"
        input:
            **mimic_extract_files(MIMIC_KEYS[_ds]),
        output:
            **mimic_dataset_files(_ds),
        log:
            layout.log(OUT, f"{_ds}/mimic"),
        retries: 0
        localrule: True
        conda:
            "../../envs/data.yaml"
        params:
            ds=_ds,
            cfg=as_json(spec(_ds)),
            extract_dir=input_folder(0),
            out_dir=output_folder("labels"),
        shell:
            "mmlego --log {log:q} mimic-dataset --extract-dir {params.extract_dir:q}"
            " --dataset {params.ds:q} --cfg {params.cfg:q} --out-dir {params.out_dir:q}"
