"""Images (ISIC and generic image modalities): patch grid or whole image, same encoder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmlego.config import ConfigError, check_config, fill_defaults
from mmlego.preprocess.features_io import read_features
from mmlego.preprocess.naming import image_settings
from mmlego.preprocess.patches import ImagePatches, image_grid
from mmlego.preprocess.pipeline import encode_images
from tests.unit.features_support import config

QUADRANTS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]


def quadrant_jpeg(path, size: int = 96) -> None:
    """An image with four flat quadrants: top-left red, top-right green, bottom-left blue."""
    image = np.zeros((size, size, 3), np.uint8)
    half = size // 2
    for k, colour in enumerate(QUADRANTS):
        y, x = divmod(k, 2)
        image[y * half : (y + 1) * half, x * half : (x + 1) * half] = colour
    Image.fromarray(image).save(path, quality=95)


def test_image_grid_is_row_major():
    np.testing.assert_array_equal(image_grid(64, 32), [[0, 0], [32, 0], [0, 32], [32, 32]])
    with pytest.raises(ValueError, match="larger than the image size"):
        image_grid(32, 64)


def test_grid_patches_match_the_quadrants_and_whole_is_one_instance(tmp_path):
    path = tmp_path / "q.jpg"
    quadrant_jpeg(path)
    grid = ImagePatches([path], mode="grid", image_size=64, patch_size=32)
    patches = grid[0]
    assert patches.shape == (4, 32, 32, 3)
    for patch, colour in zip(patches, QUADRANTS, strict=True):
        np.testing.assert_allclose(patch[8:24, 8:24].reshape(-1, 3).mean(0), colour, atol=8)
    whole = ImagePatches([path], mode="whole", image_size=48, patch_size=32)
    assert whole[0].shape == (1, 48, 48, 3) and whole.coords.tolist() == [[0, 0]]


def test_encode_images_writes_one_bag_per_image(tmp_path):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"img{k}.jpg")
        quadrant_jpeg(paths[-1])
    out = tmp_path / "shard0"
    items = [(f"ISIC_{k}", p) for k, p in enumerate(paths)]
    cfg = config(encoder={"patch_size": 32, "batch_size": 5})
    encode_images(items, out, config=cfg, image={"mode": "grid", "size": 64})
    feats = [read_features(out / f"ISIC_{k}.h5") for k in range(3)]
    assert all(f.features.shape == (4, 512) for f in feats)
    # Same picture, same features: batches that split an image's patches change nothing.
    assert np.array_equal(feats[0].features, feats[2].features)
    assert feats[0].attrs["image_mode"] == "grid" and feats[0].attrs["source"] == str(paths[0])


def test_a_bad_image_fails_naming_it_and_leaves_no_shard(tmp_path):
    good = tmp_path / "good.jpg"
    quadrant_jpeg(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "shard0"
    with pytest.raises(ValueError, match=r"bad\.jpg: not a readable image"):
        encode_images(
            [("good", good), ("bad", bad)],
            out,
            config=config(encoder={"patch_size": 32}),
            image={"mode": "whole", "size": 32},
        )
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))


def _generic(**modalities) -> dict:
    return {
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "l.csv", "label": "y"},
                "modalities": modalities,
            }
        }
    }


def test_a_generic_image_modality_sets_its_mode_and_size(tmp_path):
    config_ = _generic(
        derm={"type": "image", "manifest": "d.csv", "image_mode": "whole", "image_size": 48},
        photo={"type": "image", "manifest": "p.csv"},
    )
    check_config(config_)
    ds = fill_defaults(config_)["datasets"]["mine"]
    assert image_settings(ds, "derm") == {"mode": "whole", "size": 48}
    assert image_settings(ds, "photo") == {"mode": "grid", "size": 512}
    # The settings reach the encoder: one 48-px instance per image, recorded in the file.
    path = tmp_path / "q.jpg"
    quadrant_jpeg(path)
    out = tmp_path / "shard0"
    encode_images(
        [("q", path)],
        out,
        config=config(encoder={"patch_size": 32}),
        image=image_settings(ds, "derm"),
    )
    feats = read_features(out / "q.h5")
    assert feats.features.shape == (1, 512)
    assert feats.attrs["image_mode"] == "whole" and feats.attrs["patch_size"] == 48


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"type": "image", "manifest": "d.csv", "image_mode": "tiles"}, "image_mode"),
        ({"type": "image", "manifest": "d.csv", "image_size": 8}, "image_size"),
        ({"type": "wsi", "manifest": "s.csv", "image_size": 256}, "image_size"),
    ],
)
def test_bad_image_settings_are_named(spec, key):
    with pytest.raises(ConfigError) as info:
        check_config(_generic(m=spec))
    assert "datasets.mine.modalities.m" in str(info.value) and key in str(info.value)
