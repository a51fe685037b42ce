"""Smooth random fields and small image helpers shared by the synthetic slide and lesion makers."""

from __future__ import annotations

import numpy as np


def smooth_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    sigma: float | tuple[float, float],
) -> np.ndarray:
    """Gaussian-filtered white noise, periodic in both axes, standardised to mean 0 and sd 1.

    The filter is applied in Fourier space, so the field wraps around seamlessly: a texture
    made from it can be tiled over any canvas without seams. ``sigma`` (pixels) is the
    correlation length; a pair gives an anisotropic (rows, columns) field.
    """
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    noise = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * np.pi**2 * ((fy * sy) ** 2 + (fx * sx) ** 2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=shape)
    field -= field.mean()
    sd = field.std()
    return field / sd if sd > 0 else field


def periodic_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an (H, W) or (H, W, C) array with periodic borders (Fourier space)."""
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.rfftfreq(image.shape[1])[None, :]
    kernel = np.exp(-2.0 * np.pi**2 * sigma**2 * (fy**2 + fx**2))
    if image.ndim == 3:
        kernel = kernel[..., None]
    spectrum = np.fft.rfft2(image, axes=(0, 1)) * kernel
    return np.fft.irfft2(spectrum, s=image.shape[:2], axes=(0, 1))


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic ramp between."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bilinear(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``grid`` (H, W[, C]) bilinearly at the separable coordinates ``ys`` × ``xs``.

    Coordinates are in grid pixels (pixel centres at integers) and are clamped at the
    border. The grid is separable, so this costs two 1-D interpolations, not a general warp.
    """
    h, w = grid.shape[:2]
    ys = np.clip(ys, 0, h - 1)
    xs = np.clip(xs, 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(np.int64), h - 2) if h > 1 else np.zeros_like(ys, int)
    x0 = np.minimum(np.floor(xs).astype(np.int64), w - 2) if w > 1 else np.zeros_like(xs, int)
    fy = (ys - y0).astype(np.float32)
    fx = (xs - x0).astype(np.float32)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    rows = grid[y0] * _expand(1 - fy, grid.ndim) + grid[y1] * _expand(fy, grid.ndim)
    left = rows[:, x0]
    right = rows[:, x1]
    wx = fx[None, :, None] if grid.ndim == 3 else fx[None, :]
    return left * (1 - wx) + right * wx


def _expand(weights: np.ndarray, ndim: int) -> np.ndarray:
    return weights[:, None, None] if ndim == 3 else weights[:, None]
