"""Streaming encoder loop: a DataLoader feeds uint8 batches, the model returns features.

Patches are read while the model runs: in DataLoader worker processes, or, with no workers,
in one reader thread of the job's process (OpenSlide, PIL and numpy release the GIL while
they decode and resize, so a thread overlaps I/O with the model at no start-up cost).
Memory is bounded by a few batches in flight plus the (N, D) float32 output, whatever the
slide size.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_AHEAD = 2  # batches the reader thread keeps ready


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


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def read_ahead(items: Iterable[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """Yield ``items`` produced by a background thread that stays ``depth`` items ahead.

    An error in the thread is raised here; leaving the loop early stops the thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, which raises it
            put(_Failed(err))

    thread = threading.Thread(target=produce, name="patch-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def stream(loader: DataLoader) -> Iterator[torch.Tensor]:
    """The loader's batches, read ahead: by its worker processes, else by a reader thread."""
    return iter(loader) if loader.num_workers else read_ahead(loader)


@torch.inference_mode()
def encode_batches(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    *,
    device: torch.device,
    dim: int,
    total: int,
    desc: str,
    pad_to: int | None = None,
) -> np.ndarray:
    """Features (total, dim) float32 of every patch in ``batches`` (uint8), in order.

    A batch may carry several instances per item, (B, K, H, W, 3); they are flattened. With
    ``pad_to`` (for a model compiled with ``dynamic=False``: the loader's full batch) every
    batch is copied into one buffer of ``pad_to`` patches, a short one padded with blank
    patches whose features are dropped: the model then always sees the same shape and the
    same kind of tensor, where a new one would cost a second compilation (a minute or more on
    a CPU), far longer than encoding one batch.
    """
    out = np.empty((total, dim), dtype=np.float32)
    done = 0
    buffer: torch.Tensor | None = None
    with tqdm(
        total=total, desc=desc, unit="patch", file=LogStream(log), mininterval=10, ascii=True
    ) as bar:
        for batch in batches:
            patches = batch.reshape(-1, *batch.shape[-3:]).to(device, non_blocking=True)
            n = len(patches)
            if pad_to:
                if n > pad_to:
                    raise RuntimeError(f"{desc}: a batch of {n} patches exceeds pad_to={pad_to}")
                if buffer is None:
                    buffer = patches.new_empty((pad_to, *patches.shape[1:]))
                buffer[:n].copy_(patches)
                buffer[n:].zero_()
                patches = buffer
            features = model(patches)[:n].float().cpu().numpy()
            out[done : done + n] = features
            done += n
            bar.update(n)
    if done != total:
        raise RuntimeError(f"{desc}: the batches held {done} patches, expected {total}")
    return out
