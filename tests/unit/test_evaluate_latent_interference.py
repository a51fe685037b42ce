"""Interference on learned latents: energy retained per aggregation and phase coherence."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mmlego.evaluate.latent_interference import (
    energy_retained,
    interference_figure,
    interference_row,
    phase_coherence,
    shuffled,
)
from mmlego.models.base import ModalityBatch
from mmlego.models.lego import LegoBlock


def _complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(
        torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
    ).double()


def test_identical_blocks_keep_everything_and_are_coherent():
    z = _complex(5, 4, 3)
    latents = torch.stack([z, z])
    kept = energy_retained(latents)
    for how in ("raw mean", "harmonic", "mean", "max"):
        assert kept[how] == pytest.approx(1.0)
    assert kept["sum"] == pytest.approx(4.0)  # magnitudes add: 2|Z|
    assert phase_coherence(latents) == pytest.approx(1.0)


def test_opposite_blocks_cancel_under_the_raw_mean_only():
    z = _complex(5, 4, 3)
    latents = torch.stack([z, -z])
    kept = energy_retained(latents)
    assert kept["raw mean"] == pytest.approx(0.0, abs=1e-12)
    assert kept["harmonic"] == pytest.approx(1.0)  # equal magnitudes survive
    assert phase_coherence(latents) == pytest.approx(0.0, abs=1e-12)


def test_shuffling_breaks_the_pairing_of_patients():
    z = _complex(16, 4, 3)
    paired = torch.stack([z, z * torch.exp(torch.tensor(0.1j))])
    assert phase_coherence(paired) > 0.99
    assert phase_coherence(shuffled(paired)) < 0.8
    assert torch.equal(shuffled(paired)[0], paired[0])


def test_real_lego_blocks_give_a_finite_row_and_figure():
    torch.manual_seed(0)
    a = LegoBlock(
        modality="a", kind="vector", in_dim=6, n_out=2, latent_len=4, latent_dim=8, heads=2
    )
    b = LegoBlock(
        modality="b", kind="vector", in_dim=3, n_out=2, latent_len=4, latent_dim=8, heads=2
    )
    present = torch.ones(10, dtype=torch.bool)
    with torch.no_grad():
        latents = torch.stack(
            [
                a.embed(ModalityBatch(x=torch.randn(10, 6), present=present)),
                b.embed(ModalityBatch(x=torch.randn(10, 3), present=present)),
            ]
        )
    row = interference_row("toy", latents)
    assert row["patients"] == 10 and row["blocks"] == 2
    assert all(v > 0 for k, v in row.items() if k.startswith("energy_"))
    assert 0 <= row["phase_coherence"] <= 1
    fig = interference_figure(pd.DataFrame([row, {**row, "dataset": "toy2"}]))
    assert len(fig.axes[0].patches) == 2 * 6
