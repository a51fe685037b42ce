"""Recording the latents LegoBlock steps receive and return (for the Eq. 2 handoff tests)."""

from __future__ import annotations

import torch


def record_steps(monkeypatch, blocks):
    """Wrap each block's ``step_parts`` (which ``step`` and the block's own forward both go
    through); returns the list of (latent in, latent out) per call, as complex tensors."""
    calls = []
    for block in blocks:
        original = block.step_parts

        def recorded(i, real, imag, *args, _original=original):
            out = _original(i, real, imag, *args)
            calls.append((torch.complex(real, imag), torch.complex(*out)))
            return out

        monkeypatch.setattr(block, "step_parts", recorded)
    return calls
