"""Streaming encoder loop: a DataLoader feeds uint8 batches, the model returns features.

Memory is bounded by a few batches in flight (``prefetch_factor`` per worker) plus the
(N, D) float32 output, whatever the slide size.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

log = logging.getLogger(__name__)


class LogStream(io.StringIO):
    """A file-like object that sends tqdm's progress lines to the log."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def write(self, text: str) -> int:
        line = text.strip("\r\n ")
        if line:
            self.logger.info(line)
        return len(text)


def _collate(items: list[np.ndarray]) -> torch.Tensor:
    # Stacking numpy first and wrapping once is cheaper than default_collate's per-item tensors.
    return torch.from_numpy(np.stack(items))


def make_loader(dataset: Dataset, *, batch_size: int, num_workers: int) -> DataLoader:
    """In-order batches of uint8 patches; workers read ahead while the model runs."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        persistent_workers=False,
        prefetch_factor=2 if num_workers > 0 else None,
    )


@torch.inference_mode()
def encode_batches(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device,
    dim: int,
    total: int,
    desc: str,
) -> np.ndarray:
    """Features (total, dim) float32 of every patch the loader yields, in order.

    A batch may carry several instances per item, (B, K, H, W, 3); they are flattened.
    """
    out = np.empty((total, dim), dtype=np.float32)
    done = 0
    with tqdm(
        total=total, desc=desc, unit="patch", file=LogStream(log), mininterval=10, ascii=True
    ) as bar:
        for batch in loader:
            patches = batch.reshape(-1, *batch.shape[-3:]).to(device, non_blocking=True)
            features = model(patches).float().cpu().numpy()
            out[done : done + len(features)] = features
            done += len(features)
            bar.update(len(features))
    if done != total:
        raise RuntimeError(f"{desc}: the loader yielded {done} patches, expected {total}")
    return out
