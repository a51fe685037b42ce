"""Fig. 4 and 5: the signal-interference demonstrations, drawn from :mod:`interference`."""

from __future__ import annotations

import numpy as np

from mmlego.evaluate.interference import AGGREGATIONS, Demo
from mmlego.evaluate.plotting import COLORS, new_figure


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
