"""Signal interference when two signals are aggregated (the paper's Fig. 4 and 5).

Two signals are combined by three aggregations:

- ``raw mean``: (a + b) / 2 of the values; opposite signals cancel;
- ``abs mean``: (|a| + |b|) / 2; no cancellation, but every sign is lost;
- ``frequency merge``: the LegoMerge latent merge (:func:`mmlego.models.merge.merge_latents`,
  harmonic mean of the spectra's magnitudes, circular mean of their phases) of the two
  orthonormal spectra, transformed back.

The score is the fraction of signal energy retained: ‖merged‖² / mean(‖a‖², ‖b‖²). With
orthonormal FFTs energy is the same in both domains (Parseval). Note what it does and does not
say: the frequency merge keeps the magnitude spectrum of the inputs; when the phases are opposite
(the additive-inverse case) the merged phase is set by the noise, so energy survives but not the
sign pattern of either input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

AGGREGATIONS = ("raw mean", "abs mean", "frequency merge")
LATENT_SHAPE = (64, 64)  # the reference LegoBlock latent, c × d
INVERSE_NOISE = 0.1  # std of the noise added to the additive inverse
WAVE_SAMPLES = 512
WAVE_FREQUENCY = 4.0  # cycles over the window
WAVE_OFFSET = 1.5  # frequency offset of the second wave


def energy(x: np.ndarray) -> float:
    """Sum of squares."""
    return float(np.sum(np.square(x)))


def frequency_merge(signals: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Merge real signals (N, ...) in the frequency domain over ``axes`` (of each signal).

    Harmonic mean of magnitudes, circular mean of phases (the LegoMerge defaults), then the
    inverse transform; the result is real because both aggregations keep conjugate symmetry.
    """
    from mmlego.models.merge import merge_latents

    dims = tuple(a + 1 for a in axes)
    spectra = torch.fft.fftn(torch.as_tensor(signals, dtype=torch.float64), dim=dims, norm="ortho")
    merged = merge_latents(spectra.unsqueeze(1), magnitude="harmonic", phase="circular")[0]
    back = torch.fft.ifftn(merged, dim=tuple(a for a in axes), norm="ortho")
    return back.real.numpy()


def aggregate(signals: np.ndarray, how: str, axes: tuple[int, ...]) -> np.ndarray:
    """One of :data:`AGGREGATIONS` applied to the stacked signals (N, ...)."""
    if how == "raw mean":
        return signals.mean(axis=0)
    if how == "abs mean":
        return np.abs(signals).mean(axis=0)
    if how == "frequency merge":
        return frequency_merge(signals, axes)
    raise ValueError(f"unknown aggregation {how!r}; choose one of {AGGREGATIONS}")


@dataclass
class Demo:
    """Inputs, merged outputs and energy retained per aggregation."""

    inputs: np.ndarray  # (2, ...)
    merged: dict[str, np.ndarray]
    retained: dict[str, float]
    axis: np.ndarray | None = None  # time axis of the waves


def _run(inputs: np.ndarray, axes: tuple[int, ...]) -> dict[str, object]:
    reference = np.mean([energy(x) for x in inputs])
    merged = {how: aggregate(inputs, how, axes) for how in AGGREGATIONS}
    retained = {how: energy(m) / reference for how, m in merged.items()}
    return {"inputs": inputs, "merged": merged, "retained": retained}


def additive_inverse(
    seed: int, shape: tuple[int, int] = LATENT_SHAPE, noise: float = INVERSE_NOISE
) -> Demo:
    """Fig. 4: a random normal latent and its additive inverse plus normal noise."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    b = -a + noise * rng.normal(size=shape)
    return Demo(**_run(np.stack([a, b]), axes=(0, 1)))


def square_waves(
    seed: int,
    samples: int = WAVE_SAMPLES,
    frequency: float = WAVE_FREQUENCY,
    offset: float = WAVE_OFFSET,
) -> Demo:
    """Fig. 5: two square waves with a frequency offset, amplitudes scaled by normal draws."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / samples
    amplitude = rng.normal(size=2)
    waves = np.stack(
        [
            amplitude[0] * np.sign(np.sin(2 * np.pi * frequency * t)),
            amplitude[1] * np.sign(np.sin(2 * np.pi * (frequency + offset) * t)),
        ]
    )
    return Demo(**_run(waves, axes=(0,)), axis=t)
