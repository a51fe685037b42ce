"""Fig. 4 and 5: the signal-interference demonstrations, drawn from :mod:`interference`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmlego.evaluate.interference import AGGREGATIONS, Demo, additive_inverse, square_waves
from mmlego.evaluate.plotting import COLORS, new_figure, save
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.provenance import provenance


def latent_figure(demo: Demo):
    """Fig. 4: the latent, its noisy additive inverse, and the three aggregations as heatmaps."""
    fig, axes = new_figure(1, 5, figsize=(11, 2.6), constrained_layout=True)
    panels = [("latent A", demo.inputs[0]), ("−A + noise", demo.inputs[1])]
    panels += [
        (f"{how}\nenergy retained {demo.retained[how]:.1%}", demo.merged[how])
        for how in AGGREGATIONS
    ]
    limit = float(np.abs(demo.inputs).max())
    for ax, (title, values) in zip(axes, panels, strict=True):
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8, label="value")
    fig.suptitle("Fig. 4 — additive inverse: aggregation of a latent with its noisy negation")
    return fig


def wave_figure(demo: Demo):
    """Fig. 5: two square waves and the three aggregations, with the energy retained."""
    fig, axes = new_figure(5, 1, figsize=(7, 6.5), sharex=True, constrained_layout=True)
    traces = [("wave A", demo.inputs[0]), ("wave B", demo.inputs[1])]
    traces += [(how, demo.merged[how]) for how in AGGREGATIONS]
    limit = 1.1 * float(np.abs(demo.inputs).max())
    for i, (ax, (name, values)) in enumerate(zip(axes, traces, strict=True)):
        ax.plot(demo.axis, values, color=COLORS[i], lw=1.2)
        ax.set_ylim(-limit, limit)
        ax.axhline(0, color="0.7", lw=0.6)
        label = name if i < 2 else f"{name}: energy retained {demo.retained[name]:.1%}"
        ax.set_title(label, loc="left")
    axes[-1].set_xlabel("time (window fraction)")
    fig.suptitle("Fig. 5 — square waves with a frequency offset and normally scaled amplitudes")
    return fig


def write_toy_figures(seed: int, fig4: str | Path, fig5: str | Path, numbers: str | Path) -> dict:
    """Draw Fig. 4 and 5 (PNG and PDF) and record the energy retained in ``numbers`` (JSON)."""
    latent = additive_inverse(seed)
    waves = square_waves(seed)
    save(latent_figure(latent), fig4, Path(fig4).with_suffix(".pdf"))
    save(wave_figure(waves), fig5, Path(fig5).with_suffix(".pdf"))
    payload = {"additive_inverse": latent.retained, "square_waves": waves.retained, "seed": seed}
    write_json_atomic(numbers, payload, provenance=provenance(None, seed=seed))
    return payload
