"""NaiveMC and DAMC: LegoBlocks composed by averaging their modality-independent parameters.

Model composition for multimodal models (Chen et al. 2024, arXiv 2402.12750), on LegoBlocks.
Every block of a study starts from one draw (``lego.init_seed``), so the parts that do not
depend on the modality are comparable across blocks:

- shared (averaged): the learned latent, every update step apart from its key/value
  projection (``attn.to_kv``) and context norm (``norm_context``), and the head;
- kept per modality: the encoder, and each step's key/value projection and context norm,
  which read that modality's context.

The composed model runs the averaged backbone over the modalities' contexts in LegoFuse's
``stack`` order (start from the averaged Z_0; modality 1's steps, then modality 2's, ...), each
step with its modality's key/value projection; a patient without modality m skips m's steps.
Nothing is trained.

``NaiveMC`` averages with equal weights; ``DAMC`` (:func:`mmlego.train.combine.compose_run`
with weights) uses one weight λ_m per modality, chosen on validation as for
``lego_merge_adaptive``. Equal λ take the unweighted mean, so they reproduce NaiveMC exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import build_blocks, check_weights

# Settings that fix the shapes of the shared parameters: blocks to compose must agree on them.
SHAPE_SETTINGS = (
    "lego.latent_len", "lego.latent_dim", "lego.depth", "lego.weight_sharing", "lego.heads",
    "lego.dim_head", "lego.ff_mult",
)  # fmt: skip
# The step parameters that read the modality's context and stay with their block.
MODALITY_STEP_PARTS = (".attn.to_kv.", ".norm_context.")


def is_shared(key: str) -> bool:
    """Whether a LegoBlock state_dict key is modality-independent (averaged by NaiveMC)."""
    if key == "latent" or key.startswith("head."):
        return True
    return key.startswith("steps.") and not any(part in key for part in MODALITY_STEP_PARTS)


def check_composable(blocks: dict[str, LegoBlock]) -> None:
    """Blocks must share every shared parameter's shape, their outputs and FFT settings."""
    if not blocks:
        raise ValueError("composing needs at least one LegoBlock")
    states = {m: b.state_dict() for m, b in blocks.items()}
    first = next(iter(blocks))
    keys = {m: sorted(k for k in s if is_shared(k)) for m, s in states.items()}
    shapes = {m: [tuple(states[m][k].shape) for k in keys[m]] for m in blocks}
    settings = {m: (b.fft_mode, b.fft_norm, b.l2_normalise, b.depth) for m, b in blocks.items()}
    bad = [
        m
        for m in blocks
        if keys[m] != keys[first] or shapes[m] != shapes[first] or settings[m] != settings[first]
    ]
    if bad:
        raise ValueError(
            f"LegoBlocks {[first, *bad]} cannot be averaged: their latents, update steps or "
            f"heads differ in shape or their FFT settings differ. Train every block with the "
            f"same {', '.join(SHAPE_SETTINGS)}, lego.fft, lego.fft_norm, lego.l2_normalise and "
            "number of outputs (the encoders may differ)"
        )


def average_parameters(
    blocks: dict[str, LegoBlock], weights: Sequence[float] | None = None
) -> dict[str, torch.Tensor]:
    """The blocks' shared parameters, averaged (weighted by ``weights``, one per block, in order).

    None or equal weights: the plain mean (one block: its own parameters).
    """
    check_composable(blocks)
    if weights is not None and len(set(weights)) == 1:
        weights = None
    states = [b.state_dict() for b in blocks.values()]
    averaged = {}
    for key in (k for k in states[0] if is_shared(k)):
        stacked = torch.stack([s[key].detach() for s in states])
        if weights is None:
            averaged[key] = stacked.mean(0)
        else:
            w = torch.tensor(list(weights), dtype=stacked.dtype)
            w = (w / w.sum()).reshape(-1, *([1] * (stacked.dim() - 1)))
            averaged[key] = (w * stacked).sum(0)
    return averaged


class NaiveMC(MultimodalModel):
    """LegoBlocks with their modality-independent parameters averaged (no training).

    Args:
        blocks: modality → trained LegoBlock (see :func:`check_composable`); the blocks are
            copied, the originals are left as they are.
        weights: modality → λ_m ≥ 0 (DAMC); None: equal weights (NaiveMC).
    """

    def __init__(self, blocks: dict[str, LegoBlock], *, weights: dict[str, float] | None = None):
        super().__init__()
        check_composable(blocks)
        self.modalities = tuple(blocks)
        self.blocks = nn.ModuleDict({m: copy.deepcopy(b) for m, b in blocks.items()})
        equal = {m: 1.0 / len(blocks) for m in blocks}
        self.weights = equal if weights is None else check_weights(weights, self.modalities)
        self.load_shared(average_parameters(blocks, [self.weights[m] for m in self.modalities]))

    def options(self) -> dict[str, Any]:
        """The composition's keyword arguments."""
        return {"weights": dict(self.weights)}

    def load_shared(self, averaged: dict[str, torch.Tensor]) -> None:
        """Give every block the shared parameters ``averaged``."""
        with torch.no_grad():
            for block in self.blocks.values():
                params = dict(block.named_parameters()) | dict(block.named_buffers())
                for key, value in averaged.items():
                    params[key].copy_(value)

    def contexts(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each modality's context tokens and mask (its own encoder's)."""
        return {m: self.blocks[m].encoder(batch[m]) for m in self.modalities}

    def embed_contexts(
        self, contexts: dict[str, tuple[torch.Tensor, torch.Tensor]], present: torch.Tensor
    ) -> torch.Tensor:
        """The final latent from given contexts and presence (N, B): the stacked steps."""
        first = self.blocks[self.modalities[0]]
        freq = first.start_frequency(present.shape[1])
        for n, m in enumerate(self.modalities):
            block, keep = self.blocks[m], present[n][:, None, None]
            for i in range(block.depth):
                freq = torch.where(keep, block.step(i, freq, *contexts[m]), freq)
        return freq

    def embed(self, batch: Batch) -> torch.Tensor:
        """The final complex frequency-domain latent (B, c, d)."""
        present = torch.stack([batch[m].present.bool() for m in self.modalities])
        return self.embed_contexts(self.contexts(batch), present)

    def head_logits(self, latent: torch.Tensor) -> torch.Tensor:
        """The averaged head on a final latent."""
        return self.blocks[self.modalities[0]].head(latent)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head_logits(self.embed(batch))


def build_naive_mc(
    *, modalities: dict[str, InputSpec], n_out: int, task: str, cfg: dict[str, Any]
) -> NaiveMC:
    """Catalogue builder: ``cfg = {"blocks": {modality: block hparams}, "compose": {"weights"}}``
    (the checkpoint's weights then replace the freshly built blocks' average)."""
    blocks = build_blocks(modalities, n_out, task, cfg["blocks"])
    return NaiveMC(blocks, **cfg.get("compose", {}))
