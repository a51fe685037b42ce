"""Write scikit-survival's GBSG2 cohort as the raw files of a ``kind: generic`` study.

GBSG2 (German Breast Cancer Study Group 2; 686 patients with primary node-positive breast
cancer, recurrence-free survival in days) ships with scikit-survival
(``sksurv.datasets.load_gbsg2``). Its eight columns are split into two tabular modalities, so
that the study has something to merge:

- ``clinical``: the patient (``age``, ``menostat``) and the treatment (``horTh``);
- ``tumour``: the tumour (``tsize``, ``tgrade``, ``pnodes``, ``progrec``, ``estrec``).

The script writes ``labels.csv``, ``clinical.csv``, ``tumour.csv`` and ``study.yaml`` (the
study's config, every path in it absolute) to ``--out``; then

    python scripts/export_cohort.py --out results/gbsg2/raw --output-dir results/gbsg2
    snakemake --configfile results/gbsg2/raw/study.yaml --cores 2

runs the study. Patient ids are ``G001`` … ``G686``, in the order of the package's table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

MODALITIES = {
    "clinical": ["age", "menostat", "horTh"],
    "tumour": ["tsize", "tgrade", "pnodes", "progrec", "estrec"],
}
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


def gbsg2_frames() -> dict[str, pd.DataFrame]:
    """GBSG2 as the study's three tables: labels and the two modalities, keyed by file stem."""
    from sksurv.datasets import load_gbsg2

    features, outcome = load_gbsg2()
    ids = [f"G{i:03d}" for i in range(1, len(features) + 1)]
    # ``cens`` is the event indicator (True = recurrence or death), despite its name.
    labels = pd.DataFrame(
        {"pid": ids, "days": outcome["time"], "recurrence": outcome["cens"].astype(int)}
    )
    frames = {"labels": labels}
    for name, columns in MODALITIES.items():
        table = features[columns].copy()
        for column in table.select_dtypes("category"):
            table[column] = table[column].astype(str)  # as text, so the CSV keeps the category
        frames[name] = pd.concat([labels[["pid"]], table.reset_index(drop=True)], axis=1)
    return frames


def study_config(folder: Path, output_dir: Path, epochs: int, repeats: int) -> dict:
    """The generic study of the files in ``folder``, writing to ``output_dir``."""
    modalities = {
        name: {"type": "tabular", "path": str(folder / f"{name}.csv"), "id": "pid"}
        for name in MODALITIES
    }
    # tgrade (I < II < III) is written as text and so one-hot encoded, like the other strings.
    return {
        "output_dir": str(output_dir),
        "seed": 0,
        "device": "cpu",
        "splits": {"repeats": repeats, "train": 0.7, "val": 0.15, "test": 0.15},
        "datasets": {
            "gbsg2": {
                "kind": "generic",
                "task": "survival",
                "labels": {
                    "path": str(folder / "labels.csv"),
                    "id": "pid",
                    "time": "days",
                    "event": "recurrence",
                },
                "modalities": modalities,
            }
        },
        "models": MODELS,
        "lego": {"latent_len": 16, "latent_dim": 32, "heads": 4, "dim_head": 16, "encoder_dim": 64},
        "train": {"epochs": epochs, "batch_size": 32, "patience": 5},
        "fuse": {"epochs": 2},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("results/gbsg2/raw"), help="folder for the raw files"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("results/gbsg2"), help="the study's output_dir"
    )
    parser.add_argument("--epochs", type=int, default=20, help="train.epochs of the study")
    parser.add_argument("--repeats", type=int, default=5, help="splits.repeats of the study")
    args = parser.parse_args(argv)
    folder = args.out.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in gbsg2_frames().items():
        frame.to_csv(folder / f"{stem}.csv", index=False)
    config = study_config(folder, args.output_dir.resolve(), args.epochs, args.repeats)
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"wrote {folder}/{{labels,clinical,tumour}}.csv and {folder}/study.yaml")


if __name__ == "__main__":
    main()
