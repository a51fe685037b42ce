"""Every path the workflow writes, one function each (docs/contracts.md lists their contents).

The rules build their inputs and outputs from these functions and the package writes to the
same functions, so a path is spelled once. A function takes the folder its file lives in:
``predictions(run_dir(dataset_dir(out, ds), run, k))``. The rules call them with wildcard
placeholders (``dataset_dir(out, "{ds}")``), so the arguments are text, and a split index
may be an ``int`` or a ``"{k}"``. Nothing here reads a path back into its parts.
"""

from __future__ import annotations

from typing import NamedTuple

Key = str | int


# --------------------------------------------------------------------------- the study


def resolved_config(out: str) -> str:
    """The validated config with its defaults and provenance."""
    return f"{out}/config.resolved.yaml"


def config_fragments(out: str) -> str:
    """The folder of the config fragments the rules pass as ``--cfg @file``, one JSON file
    per distinct fragment, named by the hash of its content (``mmlego.utils.config_arg``)."""
    return f"{out}/.config"


def log(out: str, name: str) -> str:
    """A rule's log, ``name`` being its job's name (``train/{ds}/{run}/split{k}``)."""
    return f"{out}/logs/{name}.log"


def benchmark(out: str, name: str) -> str:
    """A rule's benchmark table."""
    return f"{out}/benchmarks/{name}.tsv"


def table(out: str, name: str) -> str:
    """A result table, ``name`` with its extension (``table2.csv``)."""
    return f"{out}/tables/{name}"


def figure(out: str, name: str) -> str:
    """A figure, ``name`` with its extension (``fig2_merge_vs_ensemble.png``)."""
    return f"{out}/figures/{name}"


def study_overview(out: str) -> str:
    """The report's study overview page."""
    return f"{out}/report/study_overview.html"


# --------------------------------------------------------------------------- the demo's raw data


class DemoSource(NamedTuple):
    """What the demo generator writes for one source: its folder, its files, its truth sidecar."""

    folder: str
    outputs: dict[str, str]
    truth: str


def demo_source(out: str, source: str) -> DemoSource:
    """The raw files of demo source ``source`` (tcga, mimic or isic), in the releases' layout."""
    raw = f"{out}/raw"
    truth = f"{raw}/truth/{source}.parquet"
    if source == "tcga":
        folder = f"{raw}/tcga"
        outputs = {"slides": f"{folder}/slides", "table": f"{folder}/tcga_demo_all_clean.csv.zip"}
        return DemoSource(folder, outputs, truth)
    if source == "mimic":
        folder = f"{raw}/mimic-iii"
        return DemoSource(folder, {"tables": folder}, truth)
    if source == "isic":
        folder = f"{raw}/isic"
        outputs = {"images": f"{folder}/train", "table": f"{folder}/train.csv"}
        return DemoSource(folder, outputs, truth)
    raise KeyError(f"unknown demo source {source!r}; choose one of: tcga, mimic, isic")


# --------------------------------------------------------------------------- the MIMIC extraction


def mimic_extract_dir(out: str, key: str) -> str:
    """The extraction shared by the MIMIC datasets of one database and settings."""
    return f"{out}/_mimic/{key}"


def mimic_cohort_dir(out: str, key: str) -> str:
    """The cohort alone (no vitals) shared by the MIMIC datasets of one database and cohort
    settings."""
    return f"{out}/_mimic/cohort/{key}"


# --------------------------------------------------------------------------- one dataset


def dataset_dir(out: str, ds: str) -> str:
    """The folder of dataset ``ds``."""
    return f"{out}/{ds}"


def labels(ds_dir: str) -> str:
    """The dataset's labels (``patient_id`` and the task's columns)."""
    return f"{ds_dir}/labels.parquet"


def splits(ds_dir: str) -> str:
    """The repeated patient-level splits."""
    return f"{ds_dir}/splits.json"


def transforms(ds_dir: str, k: Key) -> str:
    """The transforms fitted on split ``k``'s train patients, of every modality (the join of
    its ``modality_transforms``): what a run taking every modality loads."""
    return f"{ds_dir}/transforms/split{k}.json"


def modality_transforms(ds_dir: str, k: Key, mod: str) -> str:
    """The transforms of split ``k`` with modality ``mod``'s alone: what a unimodal run loads,
    so that adding a modality to the dataset leaves its inputs as they were."""
    return f"{ds_dir}/transforms/split{k}/{mod}.json"


def modality_store(ds_dir: str, mod: str) -> str:
    """The packed store of one modality."""
    return f"{ds_dir}/modalities/{mod}.h5"


def manifest(ds_dir: str, mod: str) -> str:
    """The items (slides, images) of a bag modality, per patient."""
    return f"{ds_dir}/manifests/{mod}.csv"


def skipped_items(ds_dir: str, mod: str) -> str:
    """QC: the items of a bag modality left out of its manifest, with the reason."""
    return f"{ds_dir}/qc/skipped_{mod}.csv"


def qc_tables(ds_dir: str) -> str:
    """QC: patients excluded by the table reader or left without one modality."""
    return f"{ds_dir}/qc/tables.csv"


def qc_modality_tables(ds_dir: str, mod: str) -> str:
    """QC: the rows of ``qc_tables`` of one table modality, for a dataset whose modalities are
    read one job each (``kind: generic`` and ``tcga``)."""
    return f"{ds_dir}/qc/tables_{mod}.csv"


def qc_labels_tables(ds_dir: str) -> str:
    """QC: the rows of ``qc_tables`` of the patients the labels job excluded, for a dataset
    whose modalities are read one job each."""
    return f"{ds_dir}/qc/labels.csv"


def qc_downsampling(ds_dir: str) -> str:
    """QC: the ISIC downsampling of the negative class."""
    return f"{ds_dir}/qc/downsampling.csv"


def qc_mimic_cohort(ds_dir: str) -> str:
    """QC: the MIMIC cohort rules' counts."""
    return f"{ds_dir}/qc/mimic_cohort.csv"


def qc_mimic_events(ds_dir: str) -> str:
    """QC: the MIMIC event extraction's counts."""
    return f"{ds_dir}/qc/mimic_events.csv"


def qc_features(ds_dir: str, mod: str) -> str:
    """QC: one row per item of a bag modality (patches, status)."""
    return f"{ds_dir}/qc/features_{mod}.csv"


def qc_tissue(ds_dir: str, mod: str) -> str:
    """QC: the folder of tissue-mask thumbnails of a slide modality."""
    return f"{ds_dir}/qc/tissue/{mod}"


def features_dir(ds_dir: str, mod: str, tag: str) -> str:
    """The per-item feature files of a bag modality, for one encoder setting ``tag``."""
    return f"{ds_dir}/features/{mod}/{tag}"


def item_features(ds_dir: str, mod: str, tag: str, item: str) -> str:
    """One slide's patch features (CLAM layout)."""
    return f"{features_dir(ds_dir, mod, tag)}/{item}.h5"


def feature_shard(ds_dir: str, mod: str, tag: str, shard: Key) -> str:
    """The folder of one encode job's item feature files."""
    return f"{features_dir(ds_dir, mod, tag)}/shard{shard}"


# --------------------------------------------------------------------------- one run and split


def run_dir(ds_dir: str, run: str, k: Key) -> str:
    """The folder of one run (``lego_block.slides``, ``healnet``) on split ``k``."""
    return f"{ds_dir}/{run}/split{k}"


def model(run: str) -> str:
    """The run's checkpoint (read with ``weights_only=True``)."""
    return f"{run}/model.pt"


def train_log(run: str) -> str:
    """Per-epoch losses and metrics of a trained run."""
    return f"{run}/train_log.csv"


def predictions(run: str) -> str:
    """Val and test predictions of a run."""
    return f"{run}/predictions.parquet"


def tuning(run: str) -> str:
    """A tuned run's study (``tune.trials`` > 0): every trial and the chosen parameters; in
    ``run_dir(ds, "lego_block", k)`` the stage a split's LegoBlocks share."""
    return f"{run}/tuning.json"


def metrics(run: str) -> str:
    """Val and test metrics of a run."""
    return f"{run}/metrics.json"


def selection(run: str) -> str:
    """A classical run's choice on validation: the setting kept and the whole grid's scores."""
    return f"{run}/selection.json"


def missing_modality(run: str) -> str:
    """The merge's test metric with each modality removed."""
    return f"{run}/missing_modality.json"


def merge_weights(run: str) -> str:
    """The adaptive merge's chosen weights λ and their validation curve."""
    return f"{run}/lambda.json"


def merge_ablation(ds_dir: str, k: int | str) -> str:
    """Every LegoMerge aggregation variant's val and test metric on split ``k``."""
    return f"{ds_dir}/merge_ablation/split{k}.json"


# --------------------------------------------------------------------------- the unpaired study


def unpaired_dir(ds_dir: str) -> str:
    """The folder of the unpaired-data study on a dataset."""
    return f"{ds_dir}/unpaired"


def unpaired_sets(study_dir: str) -> str:
    """The two blocks' patient sets per overlap and split."""
    return f"{study_dir}/sets.json"


def overlap_tag(overlap: float) -> str:
    """An overlap as it appears in folder names (``0.50``)."""
    return f"{float(overlap):.2f}"


def unpaired_run_dir(study_dir: str, overlap: float, run: str, k: Key) -> str:
    """One run of the unpaired study: at one overlap, on split ``k``."""
    return f"{study_dir}/overlap{overlap_tag(overlap)}/{run}/split{k}"
