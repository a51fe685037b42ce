"""Everything that depends on a dataset's ``kind`` (tcga, mimic, isic, generic), in one place.

A :class:`DatasetKind` says which modalities a dataset of that kind has, which raw files it
reads (and where to obtain them), and how its tables and bag manifests are read. The config
check, the rules and ``data/build.py`` look a dataset's kind up here instead of branching on it.
MIMIC-III has its own extraction (``data/mimic``), so it has no table or manifest reader here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MODALITY_TYPES = ("tabular", "timeseries", "wsi", "image")
STORE_KIND = {"tabular": "vector", "timeseries": "series", "wsi": "bag", "image": "bag"}
TCGA_OMICS = ("mut", "cnv", "rna")
BAG_TYPES = ("wsi", "image")


@dataclass(frozen=True)
class Modality:
    """One modality of a dataset: its name and data type (tabular, timeseries, wsi, image)."""

    name: str
    type: str

    @property
    def kind(self) -> str:
        """Store kind: vector, series or bag."""
        return STORE_KIND[self.type]


@dataclass(frozen=True)
class RawInput:
    """One raw input of a dataset: its config key (under ``datasets.<name>``) and path."""

    key: str
    path: str


# The result of a table reader: labels, vector/series modalities, excluded patients, and for
# ISIC the downsampling record (the readers' own dataclasses share these fields).
TableReader = Callable[[str, Mapping[str, Any], int], Any]
# (dataset spec, bag modality, labelled patient ids) -> (manifest frame, skipped items)
ManifestReader = Callable[[Mapping[str, Any], str, list[str]], tuple[pd.DataFrame, pd.DataFrame]]
# dataset spec -> (labels sorted by id, class names or None, excluded patients' QC rows)
LabelsReader = Callable[[Mapping[str, Any]], tuple[pd.DataFrame, list[str] | None, pd.DataFrame]]
# (dataset spec, modality, labelled patient ids) -> (its store's data, its QC rows)
ModalityTableReader = Callable[[Mapping[str, Any], str, list[str]], tuple[Any, pd.DataFrame]]


@dataclass(frozen=True)
class DatasetKind:
    """How one kind of dataset is read (see the module docstring)."""

    name: str
    modalities: Callable[[Mapping[str, Any]], list[Modality]]
    raw_inputs: Callable[[Mapping[str, Any]], list[RawInput]]
    where_to_get: Mapping[str, str]
    # The raw files the table reader reads, and the reader (None: MIMIC's own extraction).
    table_inputs: Callable[[Mapping[str, Any]], list[str]] = lambda ds: []
    read_tables: TableReader | None = None
    # The keys of the section the one-job table reader reads (None: the whole section): an
    # option of a bag modality (ISIC's image settings) is then not among its params, and
    # changing it leaves the labels and the table stores as they were.
    table_keys: tuple[str, ...] | None = None
    # A kind whose labels and modalities are separate files reads each in a job of its own
    # (both readers set): adding a modality then leaves the labels and the other stores as
    # they were, so nothing trained on them reruns. ``labels_keys`` and ``modality_keys`` are
    # the keys of the dataset's config section each job reads (a modality job also reads its
    # own ``modalities.<name>`` entry); ``labels_inputs`` and ``modality_inputs`` their raw files.
    read_labels: LabelsReader | None = None
    read_modality_table: ModalityTableReader | None = None
    labels_keys: tuple[str, ...] = ()
    modality_keys: tuple[str, ...] = ()
    labels_inputs: Callable[[Mapping[str, Any]], list[str]] = lambda ds: []
    modality_inputs: Callable[[Mapping[str, Any], str], list[str]] = lambda ds, mod: []
    # The rest of the section a modality's job reads besides ``modality_keys``: by default
    # its own ``modalities.<name>`` entry.
    modality_config: Callable[[Mapping[str, Any], str], dict[str, Any]] = lambda ds, mod: {
        "modalities": {mod: ds["modalities"][mod]}
    }
    # The folders and tables a bag modality's manifest is built from, and the reader;
    # ``manifest_keys`` the keys of the section it reads (None: the whole section).
    manifest_sources: Callable[[Mapping[str, Any], str], list[str]] = lambda ds, mod: []
    manifest_keys: tuple[str, ...] | None = None
    read_manifest: ManifestReader | None = None
    # Whether the table reader also writes the downsampling QC table (ISIC).
    qc_downsampling: bool = False
    # Whether the paper (arXiv 2405.19950) studied data of this kind: only then do its Table 2
    # comparison and, by default, its toy figures belong in the study's outputs.
    in_paper: bool = False


NO_SKIPPED = pd.DataFrame(columns=["item", "reason"])
NO_SKIPPED_QC = pd.DataFrame(columns=["patient_id", "modality", "reason"])


# --------------------------------------------------------------------------- tcga


def _tcga_modalities(ds: Mapping[str, Any]) -> list[Modality]:
    if ds["omics_as"] == "joint":
        return [Modality("slides", "wsi"), Modality("omics", "tabular")]
    return [Modality("slides", "wsi")] + [Modality(group, "tabular") for group in ds["omics"]]


def _tcga_tables(name: str, ds: Mapping[str, Any], seed: int) -> Any:
    from mmlego.data.tcga import read_tcga_table

    return read_tcga_table(ds["table"], ds)


def _tcga_labels(ds: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str] | None, pd.DataFrame]:
    from mmlego.data.tcga import read_tcga_labels

    labels, excluded = read_tcga_labels(ds["table"])
    return labels, None, excluded


def _tcga_modality(ds: Mapping[str, Any], mod: str, ids: list[str]) -> tuple[Any, pd.DataFrame]:
    from mmlego.data.tcga import read_tcga_modality

    return read_tcga_modality(ds["table"], ds, mod, ids), NO_SKIPPED_QC


def _tcga_modality_config(ds: Mapping[str, Any], mod: str) -> dict[str, Any]:
    # A separate omics group reads its own columns only: the section as if it were the
    # only group. The joint modality reads every group and the clinical columns.
    if ds["omics_as"] == "joint":
        return {key: ds[key] for key in ("omics_as", "omics", "clinical") if key in ds}
    return {"omics_as": ds["omics_as"], "omics": [mod]}


def _tcga_manifest(
    ds: Mapping[str, Any], mod: str, ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from mmlego.data.manifests import finalise_manifest
    from mmlego.data.tcga import slide_manifest, table_slide_ids

    frame, skipped = slide_manifest(ds["slides"], ids, table_slide_ids(ds["table"]))
    return finalise_manifest(frame, source=f"TCGA slide folder {ds['slides']}"), skipped


TCGA = DatasetKind(
    name="tcga",
    modalities=_tcga_modalities,
    raw_inputs=lambda ds: [RawInput("slides", ds["slides"]), RawInput("table", ds["table"])],
    where_to_get={
        "slides": (
            "TCGA diagnostic slides: download the project's 'Slide Image' files (diagnostic, DX) "
            "from the NCI GDC data portal with the gdc-client"
        ),
        "table": (
            "the MCAT/PORPOISE tcga_<site>_all_clean.csv.zip table, distributed with the MCAT and "
            "PORPOISE code releases (mahmoodlab) in their dataset_csv folders"
        ),
    },
    table_inputs=lambda ds: [ds["table"]],
    read_tables=_tcga_tables,
    read_labels=_tcga_labels,
    read_modality_table=_tcga_modality,
    labels_keys=("kind", "task", "table"),
    modality_keys=("kind", "table"),
    modality_config=_tcga_modality_config,
    labels_inputs=lambda ds: [ds["table"]],
    modality_inputs=lambda ds, mod: [ds["table"]],
    manifest_sources=lambda ds, mod: [ds["slides"], ds["table"]],
    manifest_keys=("kind", "slides", "table"),
    read_manifest=_tcga_manifest,
    in_paper=True,
)


# --------------------------------------------------------------------------- mimic

MIMIC = DatasetKind(
    name="mimic",
    modalities=lambda ds: [Modality("static", "tabular"), Modality("vitals", "timeseries")],
    raw_inputs=lambda ds: [RawInput("mimic_dir", ds["mimic_dir"])],
    where_to_get={
        "mimic_dir": (
            "MIMIC-III Clinical Database v1.4: credentialed access on PhysioNet (complete the CITI "
            "training, sign the data use agreement), then download the CSV tables"
        ),
    },
    in_paper=True,
)


# --------------------------------------------------------------------------- isic


def _isic_tables(name: str, ds: Mapping[str, Any], seed: int) -> Any:
    from mmlego.data.isic import read_isic_metadata

    return read_isic_metadata(ds["metadata"], ds, seed=seed, dataset=name)


def _isic_manifest(
    ds: Mapping[str, Any], mod: str, ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from mmlego.data.isic import image_manifest
    from mmlego.data.manifests import finalise_manifest

    frame = image_manifest(ds["images"], ids)
    return finalise_manifest(frame, source=f"ISIC image folder {ds['images']}"), NO_SKIPPED


ISIC = DatasetKind(
    name="isic",
    modalities=lambda ds: [Modality("image", "image"), Modality("metadata", "tabular")],
    raw_inputs=lambda ds: [RawInput("images", ds["images"]), RawInput("metadata", ds["metadata"])],
    where_to_get={
        "images": (
            "SIIM-ISIC Melanoma Classification 2020: the training JPEGs from the challenge's "
            "download page (ISIC archive / challenge website)"
        ),
        "metadata": "SIIM-ISIC 2020 train.csv (ground truth) from the challenge's download page",
    },
    table_inputs=lambda ds: [ds["metadata"]],
    read_tables=_isic_tables,
    # The labels and the metadata store come from one read of train.csv: the downsampling
    # picks the labelled images, which are the metadata store's rows. Neither reads the image
    # settings, which only the image bags do (the features stage's params).
    table_keys=("kind", "task", "metadata", "downsample"),
    manifest_sources=lambda ds, mod: [ds["images"]],
    manifest_keys=("kind", "images"),
    read_manifest=_isic_manifest,
    qc_downsampling=True,
    in_paper=True,
)


# --------------------------------------------------------------------------- generic


def _generic_raw_inputs(ds: Mapping[str, Any]) -> list[RawInput]:
    inputs = [RawInput("labels.path", ds["labels"]["path"])]
    for name, spec in ds["modalities"].items():
        key = "manifest" if spec["type"] in BAG_TYPES else "path"
        inputs.append(RawInput(f"modalities.{name}.{key}", spec[key]))
    return inputs


def _generic_tables(name: str, ds: Mapping[str, Any], seed: int) -> Any:
    from mmlego.data.generic import read_generic

    return read_generic(ds)


def _generic_labels(
    ds: Mapping[str, Any],
) -> tuple[pd.DataFrame, list[str] | None, pd.DataFrame]:
    from mmlego.data.generic import read_labels_file

    labels, classes = read_labels_file(ds)  # a bad label row stops the job: none excluded
    return labels, classes, NO_SKIPPED_QC


def _generic_modality(ds: Mapping[str, Any], mod: str, ids: list[str]) -> tuple[Any, pd.DataFrame]:
    from mmlego.data.generic import read_generic_modality

    return read_generic_modality(ds, mod, ids)


def _generic_manifest(
    ds: Mapping[str, Any], mod: str, ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from mmlego.data.generic import labels_source
    from mmlego.data.manifests import read_user_manifest

    spec = ds["modalities"][mod]
    return read_user_manifest(
        spec["manifest"],
        id_column=spec["id"],
        patient_ids=ids,
        labels_source=labels_source(ds),
        extra_ids=ds["extra_ids"],
    )


GENERIC = DatasetKind(
    name="generic",
    modalities=lambda ds: [Modality(n, spec["type"]) for n, spec in ds["modalities"].items()],
    raw_inputs=_generic_raw_inputs,
    where_to_get={},
    table_inputs=lambda ds: (
        [ds["labels"]["path"]]
        + [spec["path"] for spec in ds["modalities"].values() if spec["type"] not in BAG_TYPES]
    ),
    read_tables=_generic_tables,
    read_labels=_generic_labels,
    read_modality_table=_generic_modality,
    labels_keys=("kind", "task", "labels"),
    # The labels' path names the label file in a modality's messages about unknown ids.
    modality_keys=("kind", "labels", "extra_ids"),
    labels_inputs=lambda ds: [ds["labels"]["path"]],
    modality_inputs=lambda ds, mod: [ds["modalities"][mod]["path"]],
    manifest_sources=lambda ds, mod: [ds["modalities"][mod]["manifest"]],
    read_manifest=_generic_manifest,
)


KINDS: dict[str, DatasetKind] = {kind.name: kind for kind in (TCGA, MIMIC, ISIC, GENERIC)}


def dataset_kind(ds: Mapping[str, Any]) -> DatasetKind:
    """The :class:`DatasetKind` of a dataset's config section."""
    kind = ds["kind"]
    if kind not in KINDS:
        raise KeyError(f"unknown dataset kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return KINDS[kind]


def has_paper_dataset(datasets: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any of the study's datasets (name -> config section) is of a kind the paper
    studied (tcga, mimic, isic)."""
    return any(dataset_kind(ds).in_paper for ds in datasets.values())


def dataset_modalities(ds: Mapping[str, Any]) -> list[Modality]:
    """The modalities a dataset's raw data turns into, in a fixed order."""
    return dataset_kind(ds).modalities(ds)


def table_modalities(ds: Mapping[str, Any]) -> list[Modality]:
    """The vector and series modalities, which the table reader (or MIMIC extraction) writes."""
    return [m for m in dataset_modalities(ds) if m.kind != "bag"]


def reads_tables_per_modality(ds: Mapping[str, Any]) -> bool:
    """Whether the dataset's labels and each table modality are read by jobs of their own."""
    kind = dataset_kind(ds)
    return kind.read_labels is not None and kind.read_modality_table is not None


def table_job_config(ds: Mapping[str, Any], mod: str | None = None) -> dict[str, Any]:
    """The part of a dataset's config section that its labels job (``mod`` None) or the
    table job of modality ``mod`` reads: editing another modality leaves it unchanged."""
    kind = dataset_kind(ds)
    keys = kind.labels_keys if mod is None else kind.modality_keys
    cfg = {key: ds[key] for key in keys if key in ds}
    if mod is None:
        return {**cfg, "modalities": {}} if "modalities" in ds else cfg
    return {**cfg, **kind.modality_config(ds, mod)}


def table_reader_config(ds: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a dataset's config section that its one-job table reader reads (the whole
    section unless the kind names ``table_keys``): editing a bag modality's options leaves
    it unchanged."""
    keys = dataset_kind(ds).table_keys
    return dict(ds) if keys is None else {key: ds[key] for key in keys if key in ds}


def manifest_job_config(ds: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a dataset's config section that its manifests read (the whole section
    unless the kind names ``manifest_keys``): editing a table modality leaves it unchanged."""
    keys = dataset_kind(ds).manifest_keys
    return dict(ds) if keys is None else {key: ds[key] for key in keys if key in ds}


def bag_modalities(ds: Mapping[str, Any]) -> list[Modality]:
    """The slide and image modalities, built from a manifest by the features stage."""
    return [m for m in dataset_modalities(ds) if m.kind == "bag"]


# --------------------------------------------------------------------------- raw inputs

OWN_FILE = "your own file, named in your config"


def missing_raw_inputs(
    datasets: Mapping[str, Mapping[str, Any]], generated: Callable[[str], bool]
) -> list[tuple[str, str, str]]:
    """(config key, path, where to get it) of every raw input that does not exist.

    ``generated(path)`` says whether a rule of the workflow writes the path (the demo
    generator); those are not checked, every other file is.
    """
    missing = []
    for name, ds in datasets.items():
        kind = dataset_kind(ds)
        for raw in kind.raw_inputs(ds):
            if not generated(raw.path) and not Path(raw.path).exists():
                source = kind.where_to_get.get(raw.key, OWN_FILE)
                missing.append((f"datasets.{name}.{raw.key}", raw.path, source))
    return missing


def missing_raw_inputs_message(
    missing: list[tuple[str, str, str]], origins: Mapping[str, Any] | None = None
) -> str:
    """One message listing the missing raw inputs (each as an absolute path, with how it was
    written when it was relative: ``origins`` maps a config key to an object whose
    ``describe()`` says so), or an empty string when there are none."""
    if not missing:
        return ""
    origins = origins or {}
    lines = [f"{len(missing)} raw input(s) of this study do not exist:"]
    for key, path, source in missing:
        lines.append(f"  - {key} = {os.path.abspath(path)}")
        if key in origins:
            lines.append(f"      {origins[key].describe()}")
        lines.append(f"      obtain: {source}")
    lines.append(
        "Fill in the paths in your config (see config/README.md), or run the demo: make demo"
    )
    return "\n".join(lines)
