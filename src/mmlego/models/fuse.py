"""LegoFuse: trained LegoBlocks chained into one model, then briefly fine-tuned.

Both modes run the blocks' update steps on one shared latent, starting from the first block's
learned latent; every step is a block step (FFT → update of the real part from that block's
own context → re-attached imaginary part), followed by the iFFT before the next step:

- ``stack``: block 1's steps, then block 2's, ... (each block's final latent seeds the next);
- ``weave``: the steps interleave layer by layer: step 1 of every block, then step 2, ...
  (blocks of different depth continue alone once the others are exhausted).

The head (mean over latents → LayerNorm → Linear, as in the block) starts from the SLERP /
spherical mean of the blocks' heads and reads the final frequency-domain latent. Everything is
then fine-tuned (encoders too, unless a block was built with ``freeze_encoder``) for
``train.fuse_epochs`` on the patients that have every modality, with ``fuse.lr`` (default:
``train.lr``).

A patient without modality m skips block m's steps: its latent passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, MultimodalModel
from mmlego.models.lego import LatentHead, LegoBlock
from mmlego.models.merge import build_blocks, check_compatible, merge_heads
from mmlego.models.registry import register_model

FUSE_MODES = ("stack", "weave")


class LegoFuse(MultimodalModel):
    """Stacked or woven LegoBlocks with a merged head. ``blocks`` maps modality → LegoBlock."""

    def __init__(self, blocks: dict[str, LegoBlock], *, mode: str = "stack") -> None:
        super().__init__()
        check_compatible(blocks)
        if mode not in FUSE_MODES:
            raise ValueError(f"fuse.mode: {mode!r} is not one of {FUSE_MODES}")
        self.blocks = nn.ModuleDict(blocks)
        self.modalities = tuple(blocks)
        self.mode = mode
        first = blocks[self.modalities[0]]
        self.head = LatentHead(first.latent.shape[1], first.head.linear.out_features)
        merged = merge_heads([dict(b.head.state_dict()) for b in blocks.values()], method="slerp")
        self.head.load_state_dict(merged)

    def schedule(self) -> list[tuple[str, int]]:
        """The order of (modality, step index) the fused model runs."""
        depth = {m: len(self.blocks[m].steps) for m in self.modalities}
        if self.mode == "stack":
            return [(m, i) for m in self.modalities for i in range(depth[m])]
        return [(m, i) for i in range(max(depth.values())) for m in self.modalities if i < depth[m]]

    def embed(self, batch: Batch) -> torch.Tensor:
        """The final complex frequency-domain latent (B, c, d)."""
        first = self.blocks[self.modalities[0]]
        z = first.start_latent(batch[self.modalities[0]].x.shape[0])
        freq = first.to_frequency(z)
        contexts = {m: self.blocks[m].encoder(batch[m]) for m in self.modalities}
        for m, i in self.schedule():
            block = self.blocks[m]
            present = batch[m].present.bool()[:, None, None]
            step_freq = block.step(i, z, *contexts[m])
            freq = torch.where(present, step_freq, freq)
            z = torch.where(present, block.to_spatial(step_freq), z)
        return freq

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.embed(batch))


@register_model("lego_fuse")
def build_lego_fuse(
    *, modalities: dict[str, tuple[str, int]], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoFuse:
    """Registry builder: ``cfg = {"blocks": {modality: block hparams}, "fuse": {"mode": ...}, ...}``."""
    blocks = build_blocks(modalities, n_out, task, cfg["blocks"])
    return LegoFuse(blocks, mode=cfg.get("fuse", {}).get("mode", "stack"))
