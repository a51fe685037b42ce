"""Hand-made predictions, labels and splits written per docs/contracts.md (for evaluation tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmlego.data.labels import write_labels
from mmlego.utils.provenance import provenance


def write_predictions(path: Path, frame: pd.DataFrame, **meta) -> Path:
    """Write ``frame`` as a predictions.parquet with the ``mmlego`` metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    payload = {"provenance": provenance(None, seed=0), **meta}
    table = table.replace_schema_metadata({b"mmlego": json.dumps(payload).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def survival_study(
    root: Path,
    n: int = 40,
    seed: int = 0,
    *,
    signal: float = 1.0,
    run: str = "lego_merge",
    k: int = 0,
) -> dict[str, Path]:
    """A survival dataset of ``n`` patients with one split and a run's predictions.

    The risk is the true log-hazard plus noise scaled by ``1 / signal``; survival per bin is
    exp(-cumulative hazard) at the bins' right edges, so the predictions are consistent.
    """
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    log_hazard = rng.normal(size=n)
    time = rng.exponential(np.exp(-log_hazard)) * 10 + 0.1
    censor = rng.uniform(0, 30, size=n)
    event = (time <= censor).astype(int)
    time = np.minimum(time, censor)
    labels = pd.DataFrame({"patient_id": ids, "time": time, "event": event})
    write_labels(root / "labels.parquet", labels, "survival", provenance=provenance(None))
    order = rng.permutation(n)
    n_tr, n_va = int(0.6 * n), int(0.2 * n)
    sets = {
        "train": [ids[i] for i in order[:n_tr]],
        "val": [ids[i] for i in order[n_tr : n_tr + n_va]],
        "test": [ids[i] for i in order[n_tr + n_va :]],
    }
    (root / "splits.json").write_text(json.dumps({"dataset": "toy", "splits": [sets] * (k + 1)}))
    edges = [0.0, *np.quantile(time[event == 1], [0.25, 0.5, 0.75]).tolist(), float("inf")]
    risk = log_hazard + rng.normal(size=n) / max(signal, 1e-9)
    rows = []
    for name in ("val", "test"):
        for pid in sets[name]:
            i = ids.index(pid)
            surv = np.exp(-np.exp(risk[i]) * np.array([*edges[1:-1], edges[-2] * 2]) / 10)
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
    preds = write_predictions(
        root / run / f"split{k}" / "predictions.parquet",
        pd.DataFrame(rows),
        task="survival",
        bins=edges,
        classes=None,
        run=run,
        dataset="toy",
    )
    return {"labels": root / "labels.parquet", "splits": root / "splits.json", "predictions": preds}


def classification_study(
    root: Path,
    n_classes: int = 2,
    n: int = 60,
    seed: int = 0,
    *,
    run: str = "lego_merge",
    k: int = 0,
) -> dict[str, Path]:
    """A classification dataset with one split and informative softmax predictions."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    label = np.arange(n) % n_classes
    labels = pd.DataFrame({"patient_id": ids, "label": label})
    classes = [f"c{c}" for c in range(n_classes)]
    task = "binary" if n_classes == 2 else "multiclass"
    write_labels(
        root / "labels.parquet", labels, task, provenance=provenance(None), classes=classes
    )
    order = rng.permutation(n)
    sets = {
        "train": [ids[i] for i in order[: n // 2]],
        "val": [ids[i] for i in order[n // 2 : 3 * n // 4]],
        "test": [ids[i] for i in order[3 * n // 4 :]],
    }
    (root / "splits.json").write_text(json.dumps({"dataset": "toy", "splits": [sets] * (k + 1)}))
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), label] += 1.5
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
    preds = write_predictions(
        root / run / f"split{k}" / "predictions.parquet",
        pd.DataFrame(rows),
        task=task,
        classes=classes,
        run=run,
        dataset="toy",
    )
    return {"labels": root / "labels.parquet", "splits": root / "splits.json", "predictions": preds}
