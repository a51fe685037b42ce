"""The interface every model shares: a batch of modalities in, task logits out.

A :data:`Batch` maps a modality name to a :class:`ModalityBatch`:

- vector (tabular):   ``x`` (B, F), ``mask`` None
- series (timeseries): ``x`` (B, T, F), ``mask`` (B, T) True where the time step holds data
- bag (wsi, image):   ``x`` (B, N, D) padded, ``mask`` (B, N) True for real instances

``present`` (B,) is False for samples that lack the modality (their ``x`` rows are zeros and
``mask`` rows all False). Models return logits (B, n_out): survival ``n_out`` = number of
time bins (hazard logits), classification ``n_out`` = number of classes (2 for binary).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModalityBatch:
    """One modality's tensors for a batch of samples."""

    x: torch.Tensor
    present: torch.Tensor
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> ModalityBatch:
        """Move every tensor to ``device``."""
        return ModalityBatch(
            x=self.x.to(device),
            present=self.present.to(device),
            mask=None if self.mask is None else self.mask.to(device),
        )

    def select(self, index: torch.Tensor) -> ModalityBatch:
        """The rows ``index`` of this batch."""
        return ModalityBatch(
            x=self.x[index],
            present=self.present[index],
            mask=None if self.mask is None else self.mask[index],
        )


Batch = dict[str, ModalityBatch]


class MultimodalModel(nn.Module):
    """Base class: subclasses set ``modalities`` and implement ``forward(batch) -> logits``."""

    modalities: tuple[str, ...] = ()

    def forward(self, batch: Batch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def training_logits(self, batch: Batch) -> list[torch.Tensor]:
        """Every output the training loss is averaged over; by default just ``forward``.

        Models with intermediate predictions (MultiModN's decoder after each update) return
        all of them, so that every prefix of modalities is trained, not only the last.
        """
        return [self(batch)]
