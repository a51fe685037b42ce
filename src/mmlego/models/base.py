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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn


class InputSpec(NamedTuple):
    """What a model knows of one input modality before seeing data: its store ``kind``
    (vector | series | bag) and feature ``dim`` (F or D). Builders take ``{name: InputSpec}``."""

    kind: str
    dim: int


def input_specs(modalities: Mapping[str, Sequence[str | int]]) -> dict[str, InputSpec]:
    """``{name: [kind, dim]}`` as read from a checkpoint → ``{name: InputSpec}``, in order."""
    return {name: InputSpec(str(kind), int(dim)) for name, (kind, dim) in modalities.items()}


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
