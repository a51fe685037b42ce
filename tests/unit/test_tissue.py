"""Tissue segmentation keeps stained tissue and drops glass, noise and ink."""

from __future__ import annotations

import numpy as np
import pytest

from mmlego.preprocess.tissue import TissueParams, hsv, segment_tissue


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _thumbnail(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 300x400 thumbnail: two H&E blobs on noisy glass, with blue, green, black and red ink."""
    rng = np.random.default_rng(seed)
    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w]
    rgb = (rng.normal(236, 4, (h, w, 3))).clip(0, 255)
    truth = ((xx - 120) ** 2 / 80**2 + (yy - 150) ** 2 / 100**2) < 1
    truth |= ((xx - 290) ** 2 + (yy - 110) ** 2) < 50**2
    pink = np.array([205, 120, 175]) + rng.normal(0, 12, (h, w, 3))
    purple = np.array([140, 90, 170]) + rng.normal(0, 12, (h, w, 3))
    rgb[truth] = np.where(rng.random((h, w, 1)) < 0.3, purple, pink)[truth]
    ink = np.zeros((h, w), dtype=bool)
    ink |= (np.abs(xx - 370) < 3) & (yy > 20) & (yy < 280)  # blue line on glass
    ink |= (np.abs(yy - 150) < 2) & (xx > 60) & (xx < 180)  # green line across tissue
    ink |= ((xx - 40) ** 2 + (yy - 40) ** 2) < 8**2  # black dot
    red = (np.abs(xx - 250 - (yy - 110) // 4) < 3) & (yy > 40) & (yy < 180)  # across tissue, glass
    ink |= red
    rgb[ink & (xx > 300)] = (35, 70, 175)
    rgb[ink & (xx < 300) & (yy > 100)] = (40, 150, 60)
    rgb[ink & (yy < 100) & (xx < 100)] = (25, 25, 30)
    rgb[red] = np.array([200, 40, 55]) + rng.normal(0, 8, (int(red.sum()), 3))
    return rgb.clip(0, 255).astype(np.uint8), truth & ~ink


def test_hsv_known_colours():
    rgb = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [128, 64, 64]]], np.uint8
    )
    hue, sat, val = hsv(rgb)
    np.testing.assert_allclose(hue[0, :3], [0, 120, 240], atol=1e-4)
    np.testing.assert_allclose(sat[0], [1, 1, 1, 0, 0.5], atol=1e-3)
    np.testing.assert_allclose(val[0, 3:], [1.0, 128 / 255], atol=1e-4)


def test_segmentation_matches_truth_and_drops_ink():
    rgb, truth = _thumbnail()
    yy, xx = np.mgrid[:300, :400]
    result = segment_tissue(rgb, mpp=8.0)
    assert iou(result.mask, truth) >= 0.9
    # Ink pixels themselves are never tissue: blue line, green line, black dot.
    assert not result.mask[20:280, 368:373].any()
    assert not result.mask[149:152, 60:180].any()
    assert not result.mask[36:44, 36:44].any()
    red = (np.abs(xx - 250 - (yy - 110) // 4) < 3) & (yy > 40) & (yy < 180)
    assert not (result.mask & red).any() and result.pen[red].all()


def test_saturated_eosin_is_tissue_not_red_ink():
    """Deep pink eosin (hue about 330°, saturation up to 0.6) is tissue; marker red is ink."""
    rng = np.random.default_rng(2)
    rgb = rng.normal(238, 3, (200, 300, 3))
    rgb[40:160, 30:130] = np.array([225, 95, 165]) + rng.normal(
        0, 10, (120, 100, 3)
    )  # intense eosin
    rgb[40:160, 170:270] = np.array([205, 40, 50]) + rng.normal(
        0, 10, (120, 100, 3)
    )  # red marker blot
    result = segment_tissue(rgb.clip(0, 255).astype(np.uint8), mpp=8.0)
    assert result.mask[45:155, 35:125].all() and not result.pen[40:160, 30:130].any()
    assert result.pen[40:160, 170:270].all() and not result.mask[:, 150:].any()


def test_ink_is_kept_when_pen_removal_is_off():
    rgb, _ = _thumbnail()
    result = segment_tissue(rgb, mpp=8.0, params=TissueParams(remove_pen=False))
    assert result.mask[100:200, 368:373].mean() > 0.9  # the blue line counts as tissue then


@pytest.mark.parametrize("level", [236, 250, 255])
def test_blank_glass_has_no_tissue(level):
    rng = np.random.default_rng(1)
    glass = rng.normal(level, 3, (200, 200, 3)).clip(0, 255).astype(np.uint8)
    assert not segment_tissue(glass, mpp=8.0).mask.any()


def test_small_specks_are_removed_and_sizes_scale_with_mpp():
    rgb = np.full((200, 200, 3), 240, np.uint8)
    rgb[10:14, 10:14] = (200, 100, 170)  # 16 px: 1024 µm² at 8 µm/px, under the minimum
    rgb[100:160, 100:160] = (200, 100, 170)
    mask = segment_tissue(rgb, mpp=8.0).mask
    assert not mask[10:14, 10:14].any() and mask[105:155, 105:155].all()
    # At 1 µm/px the same pixels are 64x smaller areas: the big square is now a speck too.
    assert not segment_tissue(rgb, mpp=1.0).mask.any()
