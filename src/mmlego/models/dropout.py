"""Dropout and alpha dropout with a cheaper random draw on the CPU.

On the CPU, torch draws a dropout mask with ``bernoulli_``: one sequential Mersenne-Twister
draw per element, single-threaded. In the time-series LegoBlock's training step that draw was
the largest single cost (about a quarter of the step at batch 256, more than every matmul of
the forward pass). Here the mask comes from numpy's PCG64 instead: ``random_raw`` gives 64
random bits per call, read as four 16-bit integers, so one draw serves four elements; an
element is kept when its integer is at or above ``round(p · 2¹⁶)``. Keeping it that way costs
about a third of ``bernoulli_``.

What changes against ``nn.Dropout``:
- the drop rate is ``p`` rounded to a multiple of 2⁻¹⁶ (``p = 0.1`` drops 0.100006 of the
  elements), and the kept elements are scaled by the inverse of the exact keep rate, so the
  expectation is kept exactly;
- the random stream. Each call seeds its PCG64 with one 63-bit integer drawn from torch's
  global generator, so ``torch.manual_seed`` still fixes every mask and a run is reproduced
  bit for bit.

On other devices (CUDA), for tensors of fewer than :data:`MIN_ELEMENTS` elements (where the
fixed cost of a numpy generator outweighs the saving: 1.9× slower at 4,096 elements, break-even at
about 50,000, 0.42× at a million, forward and backward, one thread) and in eval mode these are
``nn.Dropout`` and ``nn.AlphaDropout``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 1 << 16
MIN_ELEMENTS = 1 << 16
# SELU's saturation value -λα: where alpha dropout sets a dropped activation (Klambauer et al.).
SELU_SATURATION = -1.7580993408473766


def drop_threshold(p: float) -> int:
    """The 16-bit threshold of drop rate ``p``: an element whose draw is below it is dropped."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a dropout rate must be in [0, 1], got {p}")
    return round(p * LEVELS)


def keep_mask(shape: torch.Size, threshold: int) -> torch.Tensor:
    """A boolean CPU mask of ``shape``: True with probability 1 − threshold / 2¹⁶, independently.

    The seed of the numpy generator is drawn from torch's global generator, so the mask is a
    function of torch's random state, like ``bernoulli_``'s."""
    with torch.profiler.record_function("mmlego::dropout_mask"):  # numpy's time, in profiles
        seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
        count = shape.numel()
        generator = np.random.Generator(np.random.PCG64(seed))
        raw = generator.bit_generator.random_raw(-(-count // 4))
        draws = torch.from_numpy(raw.view(np.uint16)[:count].view(np.int16))
    # int16 holds the draw minus 2¹⁵ (torch has no unsigned 16-bit comparison).
    return (draws >= threshold - LEVELS // 2).view(shape)


def _draws_here(x: torch.Tensor, threshold: int) -> bool:
    """Whether :func:`keep_mask` draws the mask of ``x``, rather than torch: a large CPU tensor,
    a rate below 1, and not under ``torch.compile`` (whose own dropout is fused)."""
    return (
        x.device.type == "cpu"
        and x.numel() >= MIN_ELEMENTS
        and threshold < LEVELS
        and not torch.compiler.is_compiling()
    )


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same arguments and state) with the CPU mask of :func:`keep_mask`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = drop_threshold(self.p)
        if not self.training or threshold == 0:
            return x
        if not _draws_here(x, threshold):
            return F.dropout(x, self.p, training=True, inplace=self.inplace)
        # A float mask holding the scale: the product and its gradient are one plain multiply
        # each (products with a bool mask convert it on every use).
        scale = LEVELS / (LEVELS - threshold)
        return x * keep_mask(x.shape, threshold).to(x.dtype).mul_(scale)


class AlphaDropout(nn.AlphaDropout):
    """``nn.AlphaDropout`` with the CPU mask of :func:`keep_mask`.

    A dropped activation is set to SELU's saturation value, then an affine map a · x + b
    restores zero mean and unit variance for inputs with zero mean and unit variance; a and b
    are torch's, at the rounded rate.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = drop_threshold(self.p)
        if not self.training or threshold == 0:
            return x
        if not _draws_here(x, threshold):
            return F.alpha_dropout(x, self.p, training=True)
        p = threshold / LEVELS
        alpha = -SELU_SATURATION
        a = ((alpha * alpha * p + 1) * (1 - p)) ** -0.5
        kept = torch.where(keep_mask(x.shape, threshold), x, SELU_SATURATION)
        return kept * a + alpha * a * p
