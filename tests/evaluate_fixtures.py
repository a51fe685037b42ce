"""Hand-made predictions, labels and splits written per docs/contracts.md (for evaluation tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mmlego import layout
from mmlego.data.labels import write_labels
from mmlego.data.store import ModalityData, write_modality
from mmlego.models.catalogue import parse_run
from mmlego.predictions import write_predictions as write_package_predictions
from mmlego.utils.provenance import provenance

# The stores of a fixture study whose runs name no modality (they are all multimodal).
MODALITIES = ("static", "vitals")


def write_predictions(path: Path, frame: pd.DataFrame, **meta) -> Path:
    """Write ``frame`` as a predictions.parquet with the ``mmlego`` metadata (the package's
    writer, with a provenance record)."""
    write_package_predictions(path, frame, {"provenance": provenance(None, seed=0), **meta})
    return path


def write_stores(
    root: Path, ids: list[str], runs, missing: dict[str, list[str]] | None = None
) -> dict[str, Path]:
    """One vector store per modality that the ``runs`` name (``snn.static``: static), else per
    modality of :data:`MODALITIES`, plus those of ``missing``, under ``root/modalities``; the
    patients ``missing[modality]`` lack that modality, every other patient has it."""
    missing = missing or {}
    named = [m for m in (parse_run(run)[1] for run in runs) if m] or list(MODALITIES)
    paths = {}
    for modality in dict.fromkeys([*named, *missing]):
        absent = set(missing.get(modality, []))
        present = np.array([i not in absent for i in ids])
        values = np.where(present, 1.0, np.nan).astype(np.float32)[:, None]
        data = ModalityData(modality, "vector", ids, present, values, ["x"], type="tabular")
        paths[modality] = Path(layout.modality_store(str(root), modality))
        write_modality(paths[modality], data, provenance=provenance(None))
    return paths


def store_args(root: Path, dataset: str | None = None) -> list[str]:
    """``--store modality=path`` arguments of every store of the dataset folder ``root``
    (``--store dataset.modality=path`` given the ``dataset``, as ``mmlego tables`` takes them)."""
    stores = sorted((Path(root) / "modalities").glob("*.h5"))
    prefix = f"{dataset}." if dataset else ""
    return [arg for path in stores for arg in ("--store", f"{prefix}{path.stem}={path}")]


def _splits(root: Path, ids: list[str], rng: np.random.Generator, repeats: int) -> list[dict]:
    n = len(ids)
    splits = []
    for _ in range(repeats):
        order = rng.permutation(n)
        n_tr, n_va = int(0.6 * n), int(0.2 * n)
        splits.append(
            {
                "train": [ids[i] for i in order[:n_tr]],
                "val": [ids[i] for i in order[n_tr : n_tr + n_va]],
                "test": [ids[i] for i in order[n_tr + n_va :]],
            }
        )
    (root / "splits.json").write_text(json.dumps({"dataset": root.name, "splits": splits}))
    return splits


def survival_study(
    root: Path,
    n: int = 40,
    seed: int = 0,
    *,
    runs: dict[str, float] | None = None,
    repeats: int = 1,
    missing: dict[str, list[str]] | None = None,
    stores: bool = True,
) -> dict:
    """A survival dataset of ``n`` patients, ``repeats`` splits and predictions of ``runs``.

    ``runs`` maps a run name to its signal: the risk is the true log-hazard plus standard
    normal noise divided by the signal. Survival per bin is exp(-cumulative hazard) at the
    bins' right edges, so risk and survival agree. The modality stores (``paths["stores"]``)
    are those of :func:`write_stores` (none without ``stores``).
    """
    runs = runs or {"lego_merge": 3.0}
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    log_hazard = rng.normal(scale=2.0, size=n)
    time = rng.exponential(np.exp(-log_hazard)) * 10 + 0.1
    censor = rng.uniform(0, 30, size=n)
    event = (time <= censor).astype(int)
    time = np.minimum(time, censor)
    labels = pd.DataFrame({"patient_id": ids, "time": time, "event": event})
    write_labels(root / "labels.parquet", labels, "survival", provenance=provenance(None))
    splits = _splits(root, ids, rng, repeats)
    edges = [0.0, *np.quantile(time[event == 1], [0.25, 0.5, 0.75]).tolist(), float("inf")]
    paths = {"labels": root / "labels.parquet", "splits": root / "splits.json"}
    paths["stores"] = write_stores(root, ids, runs, missing) if stores else {}
    for run, signal in runs.items():
        for k, sets in enumerate(splits):
            risk = log_hazard + rng.normal(size=n) / max(signal, 1e-9)
            rows = []
            for name in ("val", "test"):
                for pid in sets[name]:
                    i = ids.index(pid)
                    surv = np.exp(-np.exp(risk[i]) * np.array([*edges[1:-1], edges[-2] * 2]) / 10)
                    surv = np.clip(surv, 1e-6, 1.0)
                    hazard = 1 - surv / np.concatenate([[1.0], surv[:-1]])
                    rows.append(
                        {
                            "patient_id": pid,
                            "set": name,
                            "split": k,
                            "time": time[i],
                            "event": event[i],
                            "risk": -surv.sum(),
                            **{f"hazard_{j}": h for j, h in enumerate(hazard)},
                            **{f"surv_{j}": s for j, s in enumerate(surv)},
                        }
                    )
            paths[(run, k)] = write_predictions(
                root / run / f"split{k}" / "predictions.parquet",
                pd.DataFrame(rows),
                task="survival",
                bins=edges,
                classes=None,
                run=run,
                dataset=root.name,
            )
    paths["predictions"] = paths[(next(iter(runs)), 0)]
    return paths


def classification_study(
    root: Path,
    n_classes: int = 2,
    n: int = 60,
    seed: int = 0,
    *,
    runs: dict[str, float] | None = None,
    repeats: int = 1,
    missing: dict[str, list[str]] | None = None,
    stores: bool = True,
) -> dict:
    """A classification dataset with ``repeats`` splits and softmax predictions of ``runs``.

    ``runs`` maps a run name to the logit margin of the true class (its signal); the modality
    stores (``paths["stores"]``) are those of :func:`write_stores` (none without ``stores``).
    """
    runs = runs or {"lego_merge": 1.5}
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    label = np.arange(n) % n_classes
    labels = pd.DataFrame({"patient_id": ids, "label": label})
    classes = [f"c{c}" for c in range(n_classes)]
    task = "binary" if n_classes == 2 else "multiclass"
    write_labels(
        root / "labels.parquet", labels, task, provenance=provenance(None), classes=classes
    )
    splits = _splits(root, ids, rng, repeats)
    paths = {"labels": root / "labels.parquet", "splits": root / "splits.json"}
    paths["stores"] = write_stores(root, ids, runs, missing) if stores else {}
    for run, signal in runs.items():
        for k, sets in enumerate(splits):
            logits = rng.normal(size=(n, n_classes))
            logits[np.arange(n), label] += signal
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            rows = [
                {
                    "patient_id": pid,
                    "set": name,
                    "split": k,
                    "label": int(label[ids.index(pid)]),
                    **{f"prob_{c}": probs[ids.index(pid), c] for c in range(n_classes)},
                }
                for name in ("val", "test")
                for pid in sets[name]
            ]
            paths[(run, k)] = write_predictions(
                root / run / f"split{k}" / "predictions.parquet",
                pd.DataFrame(rows),
                task=task,
                classes=classes,
                run=run,
                dataset=root.name,
            )
    paths["predictions"] = paths[(next(iter(runs)), 0)]
    return paths


def write_metrics(root: Path, ds: str, run: str, k: int, task: str, val: dict, test: dict) -> Path:
    """A hand-made metrics.json (values chosen by the test)."""
    path = root / ds / run / f"split{k}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "dataset": ds,
        "run": run,
        "split": k,
        "task": task,
        "val": val,
        "test": test,
        "n": {"val": 10, "test": 10},
        "provenance": provenance(None),
    }
    path.write_text(json.dumps(doc))
    return path
