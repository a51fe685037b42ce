"""Shared matplotlib setup: a headless backend, print-readable defaults, atomic PNG + PDF saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from mmlego.utils.atomic import atomic_path

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 150,
    "pdf.fonttype": 42,
}
# Colour-blind-safe palette (Okabe–Ito).
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def new_figure(*args, **kwargs):
    """``plt.subplots`` under the project style."""
    with plt.rc_context(STYLE):
        return plt.subplots(*args, **kwargs)


def save(fig, png: str | Path, pdf: str | Path | None = None) -> None:
    """Write the figure to PNG (and PDF) atomically, then close it."""
    with plt.rc_context(STYLE):
        for path in (png, pdf):
            if path is None:
                continue
            # No creation date in the PDF, so that the same inputs give the same bytes.
            metadata = {"CreationDate": None} if str(path).endswith(".pdf") else None
            with atomic_path(path) as tmp:
                fig.savefig(tmp, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
