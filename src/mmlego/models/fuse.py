"""LegoFuse: trained LegoBlocks chained into one model, then briefly fine-tuned.

Both modes run the blocks' update steps on one shared frequency latent, starting from the
first block's Z_0 (the FFT of its learned latent). Every step is a block step (update of the
real part from that block's own context, imaginary part re-attached), and the latent one step
leaves is exactly the latent the next step receives (the spatial latent between steps is
complex, and FFT(iFFT(Z)) = Z), within a block and from one block to the next:

- ``stack``: block 1's steps, then block 2's, ... (each block's final latent seeds the next);
- ``weave``: the steps interleave layer by layer: step 1 of every block, then step 2, ...
  (blocks of different depth continue alone once the others are exhausted).

The head (mean over latents → LayerNorm → Linear, as in the block) starts from the blocks'
heads merged as LegoMerge merges them (``merge.head``: SLERP / spherical mean, or linear) and
reads the final frequency-domain latent. Without ``l2_normalise`` its imaginary part is the
first block's Im Z_0 for every input (see :mod:`mmlego.models.lego`). Everything is then
fine-tuned (encoders too, unless a block was built with ``freeze_encoder``) for
``fuse.epochs`` on the patients that have every modality (:func:`mmlego.train.combine.fuse_run`).

A patient without modality m skips block m's steps: its latent passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.lego import LatentHead, LegoBlock
from mmlego.models.merge import build_blocks, check_compatible, merge_heads

FUSE_MODES = ("stack", "weave")
FUSE_SELECT = ("last", "best")  # fuse.select: which fine-tuning epoch's weights are kept


class LegoFuse(MultimodalModel):
    """Stacked or woven LegoBlocks with a merged head.

    Args:
        blocks: modality → trained LegoBlock (at least 2, mergeable: see ``check_compatible``).
        mode: ``stack`` or ``weave`` (schema ``fuse.mode``).
        head: how the blocks' heads are merged into the starting head, ``slerp`` or
            ``linear`` (schema ``merge.head``, shared with LegoMerge).
    """

    def __init__(
        self, blocks: dict[str, LegoBlock], *, mode: str = "stack", head: str = "slerp"
    ) -> None:
        super().__init__()
        check_compatible(blocks)
        if mode not in FUSE_MODES:
            raise ValueError(f"fuse.mode: {mode!r} is not one of {FUSE_MODES}")
        self.blocks = nn.ModuleDict(blocks)
        self.modalities = tuple(blocks)
        self.mode, self.head_method = mode, head
        first = blocks[self.modalities[0]]
        self.head = LatentHead(first.latent.shape[1], first.head.linear.out_features)
        merged = merge_heads([dict(b.head.state_dict()) for b in blocks.values()], method=head)
        self.head.load_state_dict(merged)

    def schedule(self) -> list[tuple[str, int]]:
        """The order of (modality, step index) the fused model runs."""
        depth = {m: self.blocks[m].depth for m in self.modalities}
        if self.mode == "stack":
            return [(m, i) for m in self.modalities for i in range(depth[m])]
        return [(m, i) for i in range(max(depth.values())) for m in self.modalities if i < depth[m]]

    def embed(self, batch: Batch) -> torch.Tensor:
        """The final complex frequency-domain latent (B, c, d)."""
        first = self.blocks[self.modalities[0]]
        freq = first.start_frequency(batch[self.modalities[0]].x.shape[0])
        contexts = {m: self.blocks[m].encoder(batch[m]) for m in self.modalities}
        for m, i in self.schedule():
            present = batch[m].present.bool()[:, None, None]
            freq = torch.where(present, self.blocks[m].step(i, freq, *contexts[m]), freq)
        return freq

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.embed(batch))


def build_lego_fuse(
    *, modalities: dict[str, InputSpec], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoFuse:
    """Catalogue builder: ``cfg = {"blocks": {modality: block hparams}, "fuse": {"mode"},
    "merge": {"head"}}`` (the validated sections, as :func:`~mmlego.train.combine.fuse_run`
    stores them)."""
    blocks = build_blocks(modalities, n_out, task, cfg["blocks"])
    return LegoFuse(blocks, mode=cfg["fuse"]["mode"], head=cfg["merge"]["head"])
