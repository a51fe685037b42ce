"""Our LegoBlock and LegoMerge behind the adapter interface of the anchors' ``bench_official.py``.

``bench_official.py --impl benchmarks/anchors_adapter.py`` times the same cases as it does for
the released code: it calls ``make_block(in_shape, num_classes)``, ``block_forward(block, x)``
with ``x`` of shape ``(batch, *in_shape)``, ``make_merge(blocks, head_method)`` and
``merge_forward(merge, xs)``. The blocks use this project's defaults (an SNN encoder for a
vector, gated-attention MIL for a bag or a series, 64 x 64 latent, depth 2), as the study
trains them.

The anchors give shapes only, so the modality kind is read from them: ``(1, F)`` is a tabular
vector; otherwise the instances are a bag of patch features when they are wide (64 features
or more: 1024 for a ResNet-50 layer-3 encoder) and a time series when narrow (12 vitals).
This project has no optimal-transport head merge, so ``head_method="ot"`` builds the SLERP
merge (its construction time is SLERP's).

``make_block`` applies :func:`mmlego.utils.allocator.keep_freed_memory`, as each of this
project's train, merge and fuse steps does when it starts (``prepare_step``): the released
code's run has no such setting, and ``MMLEGO_ANCHOR_ALLOCATOR=default`` leaves glibc's
defaults in place here too, to measure what the setting is worth.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from mmlego.models.base import Batch, ModalityBatch
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import LegoMerge
from mmlego.utils.allocator import keep_freed_memory

name = "mmlego"
WIDE_INSTANCES = 64
HEADS = {"slerp": "slerp", "linear": "linear", "ot": "slerp"}


def kind_of(in_shape: tuple[int, ...]) -> str:
    """vector, bag or series, from the anchors' input shape of one sample."""
    if in_shape[0] == 1:
        return "vector"
    return "bag" if in_shape[-1] >= WIDE_INSTANCES else "series"


def as_modality(kind: str, x: torch.Tensor) -> ModalityBatch:
    """The anchors' dense input as our batch: every sample present, every instance real."""
    present = torch.ones(x.shape[0], dtype=torch.bool)
    if kind == "vector":
        return ModalityBatch(x.reshape(x.shape[0], -1), present)
    return ModalityBatch(x, present, torch.ones(x.shape[:2], dtype=torch.bool))


class AnchorBlock(nn.Module):
    """A LegoBlock that takes the anchors' dense tensor."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.kind = kind_of(tuple(in_shape))
        self.block = LegoBlock(
            modality=self.kind, kind=self.kind, in_dim=in_shape[-1], n_out=num_classes
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block({self.kind: as_modality(self.kind, x)})


def make_block(in_shape: tuple[int, ...], num_classes: int) -> AnchorBlock:
    if os.environ.get("MMLEGO_ANCHOR_ALLOCATOR") != "default":
        keep_freed_memory()  # as every mmlego train, merge and fuse step does at its start
    return AnchorBlock(in_shape, num_classes)


def block_forward(block: AnchorBlock, x: torch.Tensor) -> torch.Tensor:
    return block(x)


def make_merge(blocks: list[AnchorBlock], head_method: str) -> LegoMerge:
    return LegoMerge({b.kind: b.block for b in blocks}, head=HEADS[head_method])


def merge_forward(merge: LegoMerge, xs: list[torch.Tensor]) -> torch.Tensor:
    batch: Batch = {
        kind: as_modality(kind, x) for kind, x in zip(merge.modalities, xs, strict=True)
    }
    return merge(batch)
