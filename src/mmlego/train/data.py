"""From a split's prepared data (``mmlego.data.transforms.SplitData``) to model batches.

:class:`PatientDataset` holds one set of patients (train, val or test); its :meth:`collate`
builds a :data:`~mmlego.models.base.Batch` plus the targets:

- vector: ``x`` (B, F); series: ``x`` (B, T, F) with ``mask`` (B, T) True where at least one
  variable was observed in that step; bag: ``x`` (B, N_max, D) zero-padded to the largest bag of
  the batch with ``mask`` (B, N_max) True for real instances.
- targets: survival ``bin`` (index of the train-fitted bin holding the time), ``event``,
  ``time``; classification ``label``.

Batches are drawn by a ``DataLoader`` whose shuffling uses its own seeded generator, so a run
is deterministic on the CPU for a fixed seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmlego.data.store import ModalityData
from mmlego.models.base import Batch, InputSpec, ModalityBatch

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData


def survival_bin_index(time: np.ndarray, bins: Sequence[float]) -> np.ndarray:
    """Index of the bin ``[edge_k, edge_{k+1})`` holding each time; clipped to the first/last bin."""
    edges = np.asarray(bins, dtype=np.float64)
    index = np.searchsorted(edges, np.asarray(time, dtype=np.float64), side="right") - 1
    return np.clip(index, 0, len(edges) - 2)


def modality_spec(data: SplitData) -> dict[str, InputSpec]:
    """``{name: InputSpec(kind, dim)}`` of every modality of a SplitData: what builders take."""
    return {name: InputSpec(mod.kind, mod.dim) for name, mod in data.modalities.items()}


def ids_with_modalities(data: SplitData, ids: Iterable[str], require: Sequence[str]) -> list[str]:
    """The patients of ``ids`` that have every modality of ``require``."""
    ids = [str(i) for i in ids]
    keep = np.ones(len(ids), dtype=bool)
    for name in require:
        mod = data.modalities[name]
        keep &= mod.present[mod.index_of(ids)]
    return [pid for pid, k in zip(ids, keep, strict=True) if k]


class PatientDataset(Dataset):
    """One set of patients of a split; items are positions, :meth:`collate` builds the batch."""

    def __init__(
        self, data: SplitData, ids: Sequence[str], modalities: Sequence[str] | None = None
    ) -> None:
        self.ids = [str(i) for i in ids]
        self.task: str = data.task
        names = list(data.modalities) if modalities is None else list(modalities)
        unknown = [m for m in names if m not in data.modalities]
        if unknown:
            raise KeyError(
                f"modalities {unknown} are not in the split data ({list(data.modalities)})"
            )
        self.modalities: dict[str, ModalityData] = {m: data.modalities[m] for m in names}
        self.rows = {m: mod.index_of(self.ids) for m, mod in self.modalities.items()}
        labels = data.labels.set_index("patient_id").loc[self.ids]
        if self.task == "survival":
            self.targets = {
                "time": torch.tensor(labels["time"].to_numpy(np.float32)),
                "event": torch.tensor(labels["event"].to_numpy(np.float32)),
                "bin": torch.as_tensor(survival_bin_index(labels["time"].to_numpy(), data.bins)),
            }
        else:
            self.targets = {"label": torch.tensor(labels["label"].to_numpy(np.int64))}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, positions: Sequence[int]) -> tuple[Batch, dict[str, torch.Tensor], list[str]]:
        """The batch, targets and patient ids of ``positions``."""
        pos = np.asarray(positions, dtype=np.int64)
        batch = {m: _collate_modality(mod, self.rows[m][pos]) for m, mod in self.modalities.items()}
        targets = {k: v[torch.as_tensor(pos)] for k, v in self.targets.items()}
        return batch, targets, [self.ids[i] for i in pos]

    def loader(self, batch_size: int, *, shuffle: bool, seed: int = 0) -> DataLoader:
        """A single-process DataLoader; shuffling uses a generator seeded with ``seed``."""
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            collate_fn=self.collate,
            num_workers=0,
        )


def _collate_modality(mod: ModalityData, rows: np.ndarray) -> ModalityBatch:
    present = torch.as_tensor(mod.present[rows])
    if mod.kind == "vector":
        x = torch.as_tensor(np.asarray(mod.values[rows], dtype=np.float32))
        return ModalityBatch(x=x * present[:, None], present=present)
    if mod.kind == "series":
        x = torch.as_tensor(np.asarray(mod.values[rows], dtype=np.float32))
        assert mod.mask is not None
        step_mask = torch.as_tensor(np.asarray(mod.mask[rows]).any(axis=-1)) & present[:, None]
        return ModalityBatch(x=x * present[:, None, None], present=present, mask=step_mask)
    bags = [mod.bag(int(r)) for r in rows]
    sizes = [len(b) if p else 0 for b, p in zip(bags, present.tolist(), strict=True)]
    x = torch.zeros(len(rows), max([*sizes, 1]), mod.dim)
    for i, (bag, size) in enumerate(zip(bags, sizes, strict=True)):
        if size:
            x[i, :size] = torch.as_tensor(np.asarray(bag, dtype=np.float32))
    mask = torch.arange(x.shape[1])[None, :] < torch.as_tensor(sizes)[:, None]
    return ModalityBatch(x=x, present=present & mask.any(dim=1), mask=mask)
