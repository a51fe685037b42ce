"""Slides and images to per-item feature files: the steps the encode rules run.

A slide: open -> resolution -> thumbnail -> tissue mask -> patch grid -> streamed encoding
-> one h5. An image: read -> resize -> grid or whole -> the same encoder -> one h5.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmlego.preprocess.encode import encode_batches, make_loader, stream
from mmlego.preprocess.encoder import EncoderInfo, build_encoder, prepare_for_inference
from mmlego.preprocess.features_io import STATUS_OK, write_features
from mmlego.preprocess.grid import PatchGrid, tissue_grid
from mmlego.preprocess.patches import ImagePatches, SlidePatches
from mmlego.preprocess.slide import Resolution, Slide
from mmlego.preprocess.tissue import TissueMask, TissueParams, segment_tissue
from mmlego.utils.atomic import atomic_dir
from mmlego.utils.device import select_device
from mmlego.utils.provenance import provenance

log = logging.getLogger(__name__)

# The segmentation thumbnail is made finer than preprocess.thumbnail_mpp when the slide is
# small, so that its longer side has at least this many pixels (small slides, demo data).
MIN_THUMBNAIL_SIDE = 512
STATUS_NO_TISSUE = "skipped: no tissue"


def segmentation_mpp(dimensions: tuple[int, int], base_mpp: float, thumbnail_mpp: float) -> float:
    """Resolution of the segmentation thumbnail (see :data:`MIN_THUMBNAIL_SIDE`)."""
    longest_um = max(dimensions) * base_mpp
    return max(base_mpp, min(thumbnail_mpp, longest_um / MIN_THUMBNAIL_SIDE))


def tissue_params(preprocess: Mapping[str, Any]) -> TissueParams:
    """Segmentation settings from the ``preprocess`` config section."""
    return TissueParams(
        remove_pen=preprocess.get("remove_pen", True),
        min_region_um2=preprocess.get("min_region_um2", TissueParams.min_region_um2),
    )


@dataclass
class SlideLayout:
    """A slide's resolution, tissue mask and patch grid (everything before encoding)."""

    resolution: Resolution
    tissue: TissueMask
    thumbnail: np.ndarray
    grid: PatchGrid


def lay_out_slide(
    slide: Slide,
    *,
    encoder: Mapping[str, Any],
    preprocess: Mapping[str, Any],
    manifest_mpp: float | None,
    fallback_mpp: float | None,
) -> SlideLayout:
    """Segment the tissue and place the patch grid of one open slide."""
    resolution = slide.resolution(manifest_mpp, fallback_mpp)
    seg_mpp = segmentation_mpp(slide.dimensions, resolution.mpp, preprocess["thumbnail_mpp"])
    thumbnail, thumb_mpp = slide.thumbnail(seg_mpp, resolution.mpp)
    tissue = segment_tissue(thumbnail, thumb_mpp, tissue_params(preprocess))
    grid = tissue_grid(
        tissue.mask,
        dimensions=slide.dimensions,
        downsamples=slide.downsamples,
        base_mpp=resolution.mpp,
        target_mpp=encoder["mpp"],
        patch_size=encoder["patch_size"],
        min_tissue_fraction=preprocess["min_tissue_fraction"],
    )
    log.info(
        "%s: %dx%d px at %.4g µm/px (%s); tissue %.1f%% of the thumbnail; %d patches of %d px "
        "at %.4g µm/px read from level %d (%d px there)",
        slide.path.name,
        *slide.dimensions,
        resolution.mpp,
        resolution.source,
        100 * tissue.fraction,
        len(grid),
        grid.patch_size,
        grid.target_mpp,
        grid.level,
        grid.read_size,
    )
    return SlideLayout(resolution, tissue, thumbnail, grid)


def check_tissue(layout: SlideLayout, path: Path, preprocess: Mapping[str, Any]) -> None:
    """Raise naming the slide when it has no patch on tissue, unless config says skip it."""
    if len(layout.grid) == 0 and not preprocess["skip_slides_without_tissue"]:
        raise ValueError(
            f"{path}: no tissue found (no patch has {preprocess['min_tissue_fraction']:.0%} "
            "tissue); check the slide, or set preprocess.skip_slides_without_tissue: true to "
            "list it in the QC table instead of failing"
        )


@dataclass
class LoadedEncoder:
    """An encoder ready for inference, built once per job and reused for every item."""

    model: torch.nn.Module
    info: EncoderInfo
    device: torch.device


def load_encoder(config: Mapping[str, Any], threads: int | None = None) -> LoadedEncoder:
    """Build the configured encoder; the job's threads minus the loader workers go to torch."""
    encoder = config["encoder"]
    if threads:
        torch.set_num_threads(max(1, threads - encoder["num_workers"]))
    device = select_device(config["device"])
    model, info = build_encoder(
        encoder["arch"],
        weights=encoder.get("weights"),
        seed=config["seed"],
        precision=encoder["precision"],
        mean=tuple(encoder["mean"]),
        std=tuple(encoder["std"]),
    )
    ready = prepare_for_inference(
        model,
        device=device,
        precision=encoder["precision"],
        channels_last=encoder["channels_last"],
        compile_model=encoder["compile"],
    )
    return LoadedEncoder(ready, info, device)


def encode_slide(
    path: str | Path,
    out: str | Path,
    *,
    item_id: str,
    config: Mapping[str, Any],
    manifest_mpp: float | None = None,
    fallback_mpp: float | None = None,
    threads: int | None = None,
    loaded: LoadedEncoder | None = None,
) -> int:
    """Segment, patch and encode one slide into ``out``; returns the number of patches.

    ``config`` holds the sections ``encoder`` and ``preprocess`` plus ``seed`` and ``device``;
    ``loaded`` reuses an encoder already built for this config.
    """
    encoder, preprocess = config["encoder"], config["preprocess"]
    path = Path(path)
    with Slide(path) as slide:
        layout = lay_out_slide(
            slide,
            encoder=encoder,
            preprocess=preprocess,
            manifest_mpp=manifest_mpp,
            fallback_mpp=fallback_mpp,
        )
    check_tissue(layout, path, preprocess)
    grid = layout.grid
    loaded = loaded or load_encoder(config, threads)
    model, info, dev = loaded.model, loaded.info, loaded.device
    if len(grid):
        dataset = SlidePatches(path, grid, input_size=encoder.get("input_size"))
        loader = make_loader(
            dataset, batch_size=encoder["batch_size"], num_workers=encoder["num_workers"]
        )
        features = encode_batches(
            model,
            stream(loader),
            device=dev,
            dim=info.dim,
            total=len(grid),
            desc=path.name,
            pad_to=loader.batch_size if encoder["compile"] else None,
        )
        status = STATUS_OK
    else:
        log.warning("%s: %s; listed in the QC table", path, STATUS_NO_TISSUE)
        features, status = np.zeros((0, info.dim), dtype=np.float32), STATUS_NO_TISSUE
    attrs = {
        **info.attrs(),
        "item_id": item_id,
        "source": str(path),
        "status": status,
        "patch_size": grid.patch_size,
        "patch_level": grid.level,
        "read_size": grid.read_size,
        "patch_size_level0": grid.size_level0,
        "mpp": grid.target_mpp,
        "slide_mpp": layout.resolution.mpp,
        "mpp_source": layout.resolution.source,
        "level_mpp": grid.level_mpp,
        "min_tissue_fraction": preprocess["min_tissue_fraction"],
        "tissue_fraction": layout.tissue.fraction,
    }
    write_features(
        out,
        features,
        grid.coords,
        attrs=attrs,
        provenance=provenance(config, seed=config["seed"], device=str(dev)),
    )
    log.info("wrote %s: %d x %d features (%s)", out, *features.shape, status)
    return len(features)


def encode_slides(
    rows: Sequence[tuple[str, str | Path, float | None]],
    out_dir: str | Path,
    *,
    config: Mapping[str, Any],
    fallback_mpp: float | None = None,
    threads: int | None = None,
) -> int:
    """Encode several slides, ``(item_id, path, manifest mpp)``, into ``out_dir/{item_id}.h5``.

    One job for many small slides: the encoder is built once. The folder appears complete or
    not at all, so a failing slide leaves no partial shard (its error names the slide).
    """
    loaded = load_encoder(config, threads)
    total = 0
    with atomic_dir(out_dir) as tmp:
        for item_id, path, mpp in rows:
            total += encode_slide(
                path,
                tmp / f"{item_id}.h5",
                item_id=item_id,
                config=config,
                manifest_mpp=mpp,
                fallback_mpp=fallback_mpp,
                loaded=loaded,
            )
    log.info("wrote %d slides (%d patches) to %s", len(rows), total, out_dir)
    return len(rows)


def image_attrs(info: EncoderInfo, image: Mapping[str, Any], encoder: Mapping[str, Any]) -> dict:
    """Attributes shared by every image feature file of one run."""
    mode = image["mode"]
    return {
        **info.attrs(),
        "status": STATUS_OK,
        "image_mode": mode,
        "image_size": image["size"],
        "patch_size": encoder["patch_size"] if mode == "grid" else image["size"],
        "patch_level": 0,
    }


def encode_images(
    items: Sequence[tuple[str, str | Path]],
    out_dir: str | Path,
    *,
    config: Mapping[str, Any],
    image: Mapping[str, Any],
    threads: int | None = None,
) -> int:
    """Encode images into ``out_dir/{item_id}.h5`` (one bag per image); returns the item count.

    ``image`` holds ``mode`` (grid | whole) and ``size`` (side the image is resized to). The
    folder appears complete or not at all: files are written to a temporary sibling folder
    that is renamed at the end, so a failed image leaves no partial shard.
    """
    encoder = config["encoder"]
    out_dir = Path(out_dir)
    loaded = load_encoder(config, threads)
    model, info, dev = loaded.model, loaded.info, loaded.device
    dataset = ImagePatches(
        [Path(p) for _, p in items],
        mode=image["mode"],
        image_size=image["size"],
        patch_size=encoder["patch_size"],
        input_size=encoder.get("input_size"),
    )
    per_image = len(dataset.coords)
    loader = make_loader(
        dataset,
        batch_size=max(1, math.ceil(encoder["batch_size"] / per_image)),
        num_workers=encoder["num_workers"],
    )
    features = encode_batches(
        model,
        stream(loader),
        device=dev,
        dim=info.dim,
        total=len(items) * per_image,
        desc=f"{len(items)} images",
        pad_to=loader.batch_size * per_image if encoder["compile"] else None,
    )
    attrs = image_attrs(info, image, encoder)
    record = provenance(config, seed=config["seed"], device=str(dev))
    with atomic_dir(out_dir) as tmp:
        for k, (item_id, item_path) in enumerate(items):
            write_features(
                tmp / f"{item_id}.h5",
                features[k * per_image : (k + 1) * per_image],
                dataset.coords,
                attrs={**attrs, "item_id": item_id, "source": str(item_path)},
                provenance=record,
            )
    log.info(
        "wrote %d image feature files (%d instances each) to %s", len(items), per_image, out_dir
    )
    return len(items)


def slide_qc(
    path: str | Path,
    features_file: str | Path,
    out_png: str | Path,
    *,
    config: Mapping[str, Any],
    manifest_mpp: float | None = None,
    fallback_mpp: float | None = None,
) -> None:
    """QC PNG of one slide: its tissue mask and the patches of its feature file.

    The patches drawn are those of the feature file actually used (which may come from CLAM
    or TRIDENT), so the picture shows what the model sees.
    """
    from mmlego.preprocess.features_io import read_features
    from mmlego.preprocess.qc import tissue_qc_image, write_png

    with Slide(path) as slide:
        layout = lay_out_slide(
            slide,
            encoder=config["encoder"],
            preprocess=config["preprocess"],
            manifest_mpp=manifest_mpp,
            fallback_mpp=fallback_mpp,
        )
        width0 = slide.dimensions[0]
    feats = read_features(features_file)
    size0 = float(feats.attrs.get("patch_size_level0", layout.grid.size_level0))
    image = tissue_qc_image(
        layout.thumbnail,
        layout.tissue.mask,
        layout.tissue.pen,
        feats.coords,
        patch_size_level0=size0,
        level0_width=width0,
    )
    write_png(out_png, image)
