"""Recording the latents LegoBlock steps receive and return (for the Eq. 2 handoff tests)."""

from __future__ import annotations


def record_steps(monkeypatch, blocks):
    """Wrap each block's ``step``; returns the list of (latent in, latent out) per call."""
    calls = []
    for block in blocks:
        original = block.step

        def recorded(i, freq, *args, _original=original):
            out = _original(i, freq, *args)
            calls.append((freq, out))
            return out

        monkeypatch.setattr(block, "step", recorded)
    return calls
