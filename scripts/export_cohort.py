"""Write a survival cohort that scikit-survival ships as the raw files of a ``kind: generic`` study.

Two cohorts, each split into two tabular modalities so that the study has something to merge:

- ``gbsg2`` (German Breast Cancer Study Group 2; ``sksurv.datasets.load_gbsg2``; 686 patients
  with primary node-positive breast cancer, recurrence-free survival in days):
  ``clinical`` holds the patient (``age``, ``menostat``) and the treatment (``horTh``);
  ``tumour`` the tumour (``tsize``, ``tgrade``, ``pnodes``, ``progrec``, ``estrec``).
- ``whas500`` (Worcester Heart Attack Study; ``sksurv.datasets.load_whas500``; 500 patients
  after a myocardial infarction, survival in days of follow-up):
  ``patient`` holds who was admitted (``age``, ``gender``, ``bmi``, ``cvd``: history of
  cardiovascular disease); ``hospital`` the admission and the stay (vital signs ``hr``,
  ``sysbp``, ``diasbp``; complications ``afb``, ``av3``, ``chf``, ``sho``; ``miord``,
  ``mitype``; length of stay ``los``).

The script writes ``labels.csv``, one CSV per modality and ``study.yaml`` (the study's config,
every path in it absolute) to ``--out``; then

    python scripts/export_cohort.py --out results/gbsg2/raw --output-dir results/gbsg2
    snakemake --configfile results/gbsg2/raw/study.yaml --cores 2

runs the study. Patient ids are the cohort's letter and the row number (``G001`` … ``G686``,
``W001`` … ``W500``), in the order of the package's table.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import yaml


class Cohort(NamedTuple):
    """A cohort of ``sksurv.datasets``: its loader, outcome fields and modalities."""

    loader: str  # the function of sksurv.datasets that returns (features, outcome)
    event: str  # the outcome's event field (True = event)
    time: str  # the outcome's time field
    prefix: str  # first letter of the patient ids
    labels: tuple[str, str]  # (time, event) column names written to labels.csv
    modalities: dict[str, list[str]]


COHORTS = {
    # GBSG2's ``cens`` is the event indicator (True = recurrence or death), despite its name.
    "gbsg2": Cohort(
        loader="load_gbsg2",
        event="cens",
        time="time",
        prefix="G",
        labels=("days", "recurrence"),
        modalities={
            "clinical": ["age", "menostat", "horTh"],
            "tumour": ["tsize", "tgrade", "pnodes", "progrec", "estrec"],
        },
    ),
    "whas500": Cohort(
        loader="load_whas500",
        event="fstat",
        time="lenfol",
        prefix="W",
        labels=("days", "death"),
        modalities={
            "patient": ["age", "gender", "bmi", "cvd"],
            "hospital": [
                "hr",
                "sysbp",
                "diasbp",
                "afb",
                "av3",
                "chf",
                "sho",
                "miord",
                "mitype",
                "los",
            ],
        },
    ),
}
# GBSG2's modalities, kept under their first name.
MODALITIES = COHORTS["gbsg2"].modalities
# Every model that applies to two tabular modalities, the Lego ones first.
MODELS = [
    "lego_block",
    "lego_merge",
    "lego_fuse",
    "snn",
    "late_concat",
    "ensemble",
    "multimodn",
    "healnet",
]


def cohort_frames(name: str) -> dict[str, pd.DataFrame]:
    """Cohort ``name`` as the study's tables: labels and its modalities, keyed by file stem."""
    cohort = COHORTS[name]
    datasets = importlib.import_module("sksurv.datasets")
    features, outcome = getattr(datasets, cohort.loader)()
    ids = [f"{cohort.prefix}{i:03d}" for i in range(1, len(features) + 1)]
    time, event = cohort.labels
    labels = pd.DataFrame(
        {"pid": ids, time: outcome[cohort.time], event: outcome[cohort.event].astype(int)}
    )
    frames = {"labels": labels}
    for modality, columns in cohort.modalities.items():
        table = features[columns].copy()
        for column in table.select_dtypes("category"):
            table[column] = table[column].astype(str)  # as text, so the CSV keeps the category
        frames[modality] = pd.concat([labels[["pid"]], table.reset_index(drop=True)], axis=1)
    return frames


def gbsg2_frames() -> dict[str, pd.DataFrame]:
    """GBSG2 as the study's three tables (``cohort_frames("gbsg2")``)."""
    return cohort_frames("gbsg2")


def dataset_config(name: str, folder: Path) -> dict:
    """The ``datasets`` entry of cohort ``name`` whose files are in ``folder``."""
    cohort = COHORTS[name]
    time, event = cohort.labels
    modalities = {
        modality: {"type": "tabular", "path": str(folder / f"{modality}.csv"), "id": "pid"}
        for modality in cohort.modalities
    }
    # Text columns (GBSG2's tgrade I < II < III, menostat, horTh) are one-hot encoded; WHAS500's
    # 0/1 flags are read as numbers.
    return {
        "kind": "generic",
        "task": "survival",
        "labels": {"path": str(folder / "labels.csv"), "id": "pid", "time": time, "event": event},
        "modalities": modalities,
    }


def study_config(
    folder: Path, output_dir: Path, epochs: int, repeats: int, cohort: str = "gbsg2"
) -> dict:
    """The generic study of cohort ``cohort``'s files in ``folder``, writing to ``output_dir``."""
    return {
        "output_dir": str(output_dir),
        "seed": 0,
        "device": "cpu",
        "splits": {"repeats": repeats, "train": 0.7, "val": 0.15, "test": 0.15},
        "datasets": {cohort: dataset_config(cohort, folder)},
        "models": MODELS,
        "lego": {"latent_len": 16, "latent_dim": 32, "heads": 4, "dim_head": 16, "encoder_dim": 64},
        "train": {"epochs": epochs, "batch_size": 32, "patience": 5},
        "fuse": {"epochs": 2},
    }


def write_cohort(name: str, folder: Path) -> None:
    """Write cohort ``name``'s labels and modality CSVs to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in cohort_frames(name).items():
        frame.to_csv(folder / f"{stem}.csv", index=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", choices=sorted(COHORTS), default="gbsg2")
    parser.add_argument("--out", type=Path, help="folder for the raw files (results/<cohort>/raw)")
    parser.add_argument("--output-dir", type=Path, help="the study's output_dir (results/<cohort>)")
    parser.add_argument("--epochs", type=int, default=20, help="train.epochs of the study")
    parser.add_argument("--repeats", type=int, default=5, help="splits.repeats of the study")
    args = parser.parse_args(argv)
    folder = (args.out or Path("results") / args.cohort / "raw").resolve()
    output_dir = (args.output_dir or Path("results") / args.cohort).resolve()
    write_cohort(args.cohort, folder)
    config = study_config(folder, output_dir, args.epochs, args.repeats, args.cohort)
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    stems = ",".join(["labels", *COHORTS[args.cohort].modalities])
    print(f"wrote {folder}/{{{stems}}}.csv and {folder}/study.yaml")


if __name__ == "__main__":
    main()
