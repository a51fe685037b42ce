"""Tiny hand-made `mmlego.data.transforms.SplitData` for model tests.

Each patient has a latent factor ``z``; the vector modality carries it in its first feature,
the bag modality in the mean of its instances' first feature, and the series in its first
variable. Labels follow ``z`` (survival: earlier events for larger z; binary: z > 0), so a
working model must beat chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mmlego.data.store import ModalityData
from mmlego.data.transforms import SplitData

# Tiny models run fastest single-threaded, and the test machine has 2 shared cores.
torch.set_num_threads(1)


def make_split(
    task: str = "binary",
    *,
    n: int = 60,
    seed: int = 0,
    vec_dim: int = 5,
    bag_dim: int = 4,
    series_shape: tuple[int, int] = (6, 3),
    absent: dict[str, list[int]] | None = None,
    kinds: tuple[str, ...] = ("vector", "bag"),
) -> SplitData:
    """A split of ``n`` patients (60/20/20 %) with the modalities of ``kinds``."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:03d}" for i in range(n)])
    z = rng.normal(size=n)
    absent = absent or {}
    mods: dict[str, ModalityData] = {}
    if "vector" in kinds:
        values = rng.normal(size=(n, vec_dim)).astype(np.float32)
        values[:, 0] += 2 * z
        present = np.ones(n, bool)
        present[absent.get("tab", [])] = False
        values[~present] = 0
        mods["tab"] = ModalityData(
            "tab", "vector", ids, present, values, [f"f{j}" for j in range(vec_dim)]
        )
    if "bag" in kinds:
        sizes = rng.integers(2, 7, size=n)
        present = np.ones(n, bool)
        present[absent.get("img", [])] = False
        sizes[~present] = 0
        values = rng.normal(size=(int(sizes.sum()), bag_dim)).astype(np.float32)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        for i in range(n):
            values[offsets[i] : offsets[i + 1], 0] += 2 * z[i]
        mods["img"] = ModalityData("img", "bag", ids, present, values, [], offsets=offsets)
    if "series" in kinds:
        t, f = series_shape
        values = rng.normal(size=(n, t, f)).astype(np.float32)
        values[:, :, 0] += 2 * z[:, None]
        mask = rng.random(size=(n, t, f)) > 0.2
        present = np.ones(n, bool)
        present[absent.get("ts", [])] = False
        mask[~present] = False
        values[~mask] = 0
        mods["ts"] = ModalityData("ts", "series", ids, present, values, [], mask=mask)
    if task == "survival":
        time = np.exp(-z + 0.3 * rng.normal(size=n)) * 10
        event = (rng.random(n) < 0.7).astype(int)
        labels = pd.DataFrame({"patient_id": ids, "time": time, "event": event})
        train_times = time[: int(0.6 * n)][event[: int(0.6 * n)] == 1]
        inner = np.quantile(train_times, [0.25, 0.5, 0.75]).tolist()
        bins, n_out, classes = [0.0, *inner, float("inf")], 4, None
    elif task == "binary":
        labels = pd.DataFrame({"patient_id": ids, "label": (z > 0).astype(int)})
        bins, n_out, classes = None, 2, ["neg", "pos"]
    else:
        label = np.digitize(z, [-0.5, 0.5])
        labels = pd.DataFrame({"patient_id": ids, "label": label})
        bins, n_out, classes = None, 3, ["a", "b", "c"]
    a, b = int(0.6 * n), int(0.8 * n)
    sets = {"train": ids[:a].tolist(), "val": ids[a:b].tolist(), "test": ids[b:].tolist()}
    return SplitData(task, n_out, bins, classes, labels, sets, mods)


TINY_LEGO = {
    "latent_len": 4,
    "latent_dim": 8,
    "depth": 2,
    "heads": 2,
    "dim_head": 4,
    "encoder_dim": 8,
    "dropout": 0.0,
}
TINY_TRAIN = {
    "epochs": 6,
    "batch_size": 8,
    "lr": 3e-3,
    "weight_decay": 1e-5,
    "patience": 3,
    "scheduler": "none",
    "grad_clip": 1.0,
    "survival_alpha": 0.4,
    "class_weights": False,
}
