"""Interference on the LEARNED latents (beyond the paper): what survives LegoMerge on real blocks.

For the test patients who have every modality, each trained block's final frequency-domain
latent Z_m (B, c, d) is merged per aggregation and scored by the energy it keeps,
‖merge‖² / mean_m ‖Z_m‖² per patient (Parseval: the same in both domains with orthonormal
FFTs), averaged over patients:

- ``raw mean``: Σ_m Z_m / N, the same as averaging the blocks' latents value by value;
- ``harmonic`` / ``mean`` / ``sum`` / ``product`` / ``max``: the magnitude aggregations of
  :func:`mmlego.models.merge.merge_latents`, each with the circular mean of the phases.

Phase coherence between the blocks is the magnitude-weighted mean resultant length
R = |Σ_m e^{iφ_m}| / N over the latent's elements (1 = aligned phases). As a chance level the
same is computed with the second and later blocks' latents taken from other patients (a fixed
cyclic shift of the batch): coherence that the pairing of a patient's modalities carries shows
as a gap between the two.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmlego.data.transforms import SplitFiles
from mmlego.models.merge import MAGNITUDES, merge_latents

log = logging.getLogger(__name__)

AGGREGATIONS = ("raw mean", *MAGNITUDES)


def energy_retained(latents: torch.Tensor) -> dict[str, float]:
    """Mean fraction of energy kept per aggregation; ``latents`` complex (N, B, ...)."""
    dims = tuple(range(2, latents.dim()))
    reference = latents.abs().square().sum(dim=dims).mean(dim=0)  # (B,)
    out = {}
    for how in AGGREGATIONS:
        if how == "raw mean":
            merged = latents.mean(dim=0)
        else:
            merged = merge_latents(latents, magnitude=how, phase="circular")
        kept = merged.abs().square().sum(dim=tuple(range(1, merged.dim())))
        out[how] = float((kept / reference.clamp_min(1e-12)).mean())
    return out


def phase_coherence(latents: torch.Tensor) -> float:
    """Magnitude-weighted mean resultant length of the blocks' phases; complex (N, B, ...)."""
    unit = torch.polar(torch.ones_like(latents.real), torch.angle(latents))
    resultant = unit.mean(dim=0).abs()
    weight = latents.abs().mean(dim=0)
    return float((resultant * weight).sum() / weight.sum().clamp_min(1e-12))


def shuffled(latents: torch.Tensor) -> torch.Tensor:
    """Blocks 2..N shifted cyclically over the batch, so no latent meets its own patient's."""
    n = latents.shape[1]
    if n < 2:
        return latents
    parts = [latents[0]] + [
        torch.roll(latents[m], shifts=1 + (m - 1) % (n - 1), dims=0)
        for m in range(1, latents.shape[0])
    ]
    return torch.stack(parts)


def interference_row(dataset: str, latents: torch.Tensor) -> dict[str, float | str | int]:
    """Energy retained per aggregation and phase coherence (paired and shuffled) of one dataset."""
    return {
        "dataset": dataset,
        "patients": int(latents.shape[1]),
        "blocks": int(latents.shape[0]),
        **{f"energy_{k.replace(' ', '_')}": v for k, v in energy_retained(latents).items()},
        "phase_coherence": phase_coherence(latents),
        "phase_coherence_shuffled": phase_coherence(shuffled(latents)),
    }


@torch.no_grad()
def block_latents(model_path: str | Path, files: SplitFiles, split: int) -> torch.Tensor | None:
    """The trained blocks' final latents (N, B, c, d) on the split's test patients with every modality.

    ``model_path`` is the split's LegoMerge checkpoint, which holds the trained blocks. Returns
    None when no test patient of the split has every modality (nothing to compare).
    """
    from mmlego.data.transforms import load_split
    from mmlego.train.data import PatientDataset, ids_with_modalities
    from mmlego.train.outputs import load_model

    merged = load_model(model_path)
    merged.eval()
    data = load_split(files, split)
    names = list(merged.modalities)
    ids = ids_with_modalities(data, data.sets["test"], names)
    if not ids:
        log.warning(
            "%s: split %d has no test patient with all of %s; left out", model_path, split, names
        )
        return None
    dataset = PatientDataset(data, ids, names)
    batch, _, _ = dataset.collate(range(len(ids)))
    return torch.stack([merged.blocks[m].embed(batch[m]) for m in names])


def interference_table(
    models: Mapping[str, str | Path], files: Mapping[str, SplitFiles], split: int
) -> pd.DataFrame:
    """One row per dataset (``models``: dataset → its LegoMerge model.pt; ``files``: dataset →
    the split's files)."""
    latents = {ds: block_latents(path, files[ds], split) for ds, path in models.items()}
    rows = [interference_row(ds, lat) for ds, lat in latents.items() if lat is not None]
    if not rows:
        raise ValueError(
            f"split {split}: no dataset of {sorted(models)} has a test patient with every modality"
        )
    return pd.DataFrame(rows)


def interference_figure(table: pd.DataFrame):
    """Bars of the energy retained per aggregation, per dataset, with the phase coherence."""
    from mmlego.evaluate.plotting import COLORS, new_figure

    fig, ax = new_figure(figsize=(max(5.0, 1.6 * len(table) + 2), 3.4), constrained_layout=True)
    width = 0.8 / len(AGGREGATIONS)
    for j, how in enumerate(AGGREGATIONS):
        col = f"energy_{how.replace(' ', '_')}"
        ax.bar(
            np.arange(len(table)) + (j - len(AGGREGATIONS) / 2 + 0.5) * width,
            table[col],
            width,
            color=COLORS[j % len(COLORS)],
            label=how,
        )
    labels = [
        f"{r.dataset}\nR = {r.phase_coherence:.2f} (shuffled {r.phase_coherence_shuffled:.2f})"
        for r in table.itertuples()
    ]
    ax.set_xticks(range(len(table)), labels)
    ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_ylabel("energy retained by the merge")
    ax.legend(ncol=3, frameon=False, fontsize=7)
    ax.set_title("Interference on the learned latents (test patients with every modality)")
    return fig


def write_latent_interference(
    models: Mapping[str, str | Path],
    files: Mapping[str, SplitFiles],
    split: int,
    csv: str | Path,
    png: str | Path,
) -> pd.DataFrame:
    """Compute, write the CSV and draw the figure (PNG and PDF)."""
    from mmlego.evaluate.plotting import save
    from mmlego.utils.atomic import atomic_path

    table = interference_table(models, files, split)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    save(interference_figure(table), png, Path(png).with_suffix(".pdf"))
    return table
