"""``mmlego encode-slide``, ``encode-images``, ``tissue-qc`` and ``build-bags``."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.atomic import atomic_path
from mmlego.utils.config_arg import load_cfg, optional_float

log = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cfg",
        required=True,
        help="JSON with the encoder and preprocess sections, seed and device (from the rule)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")


def _readers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--readers",
        type=int,
        default=None,
        help="patch-reader worker processes (overrides encoder.num_workers of --cfg)",
    )


def _encode_config(args: argparse.Namespace) -> dict:
    """``--cfg`` with ``encoder.num_workers`` from ``--readers`` (the rules pass it apart)."""
    config = load_cfg(args.cfg)
    if args.readers is not None:
        if args.readers < 0:
            raise ValueError(f"--readers must be >= 0, got {args.readers}")
        config["encoder"]["num_workers"] = args.readers
    config["encoder"].setdefault("num_workers", 0)
    return config


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the feature-extraction subcommands."""
    slide = sub.add_parser("encode-slide", help="segment, patch and encode one slide into an h5")
    _common(slide)
    slide.add_argument("--slide", required=True, help="slide file (any format OpenSlide reads)")
    slide.add_argument("--item-id", required=True, help="the slide's id (its manifest item_id)")
    slide.add_argument("--mpp", type=optional_float, default=None, help="manifest µm/px")
    slide.add_argument(
        "--fallback-mpp", type=optional_float, default=None, help="µm/px when metadata lacks it"
    )
    slide.add_argument("--out", required=True, help="feature h5 to write")
    _readers(slide)
    slide.set_defaults(func=run_encode_slide)

    shard = sub.add_parser("encode-shard", help="encode one shard of a manifest's slides or images")
    _common(shard)
    shard.add_argument("--manifest", required=True, help="manifest CSV of the modality")
    shard.add_argument("--type", choices=("wsi", "image"), required=True)
    shard.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    shard.add_argument("--per-shard", type=int, required=True, help="items per shard")
    shard.add_argument("--mode", choices=("grid", "whole"), default="grid", help="images only")
    shard.add_argument("--size", type=int, default=512, help="side images are resized to")
    shard.add_argument(
        "--fallback-mpp", type=optional_float, default=None, help="slides only: µm/px fallback"
    )
    shard.add_argument("--out-dir", required=True, help="folder of per-item h5 files")
    _readers(shard)
    shard.set_defaults(func=run_encode_shard)

    qc = sub.add_parser("tissue-qc", help="QC PNGs of a manifest's slides")
    _common(qc)
    qc.add_argument("--manifest", required=True)
    qc.add_argument(
        "--features", nargs="+", required=True, help="folders holding the slides' feature h5s"
    )
    qc.add_argument("--fallback-mpp", type=optional_float, default=None)
    qc.add_argument("--out-dir", required=True, help="folder of PNGs to write")
    qc.set_defaults(func=run_tissue_qc)

    bags = sub.add_parser("build-bags", help="join item features into the patient bag store")
    _common(bags)
    bags.add_argument("--labels", required=True, help="the dataset's labels.parquet")
    bags.add_argument("--manifest", required=True)
    bags.add_argument(
        "--features", nargs="+", required=True, help="folders holding the items' feature h5s"
    )
    bags.add_argument("--dataset", required=True)
    bags.add_argument("--modality", required=True)
    bags.add_argument("--type", choices=("wsi", "image"), required=True)
    bags.add_argument("--out", required=True, help="modality store h5 to write")
    bags.add_argument("--out-qc", required=True, help="per-item QC CSV to write")
    bags.set_defaults(func=run_build_bags)


def run_encode_slide(args: argparse.Namespace) -> None:
    """Encode one slide."""
    from mmlego.preprocess.pipeline import encode_slide

    encode_slide(
        args.slide,
        args.out,
        item_id=args.item_id,
        config=_encode_config(args),
        manifest_mpp=args.mpp,
        fallback_mpp=args.fallback_mpp,
        threads=args.threads,
    )


def run_encode_shard(args: argparse.Namespace) -> None:
    """Encode one shard of slides or images."""
    from mmlego.data.manifests import read_manifest
    from mmlego.preprocess.pipeline import encode_images, encode_slides

    manifest = read_manifest(args.manifest)
    rows = manifest.iloc[args.shard * args.per_shard : (args.shard + 1) * args.per_shard]
    if rows.empty:
        raise ValueError(f"{args.manifest}: shard {args.shard} is empty; rerun the workflow")
    config = _encode_config(args)
    if args.type == "wsi":
        encode_slides(
            [(row.item_id, row.path, optional_float(str(row.mpp))) for row in rows.itertuples()],
            args.out_dir,
            config=config,
            fallback_mpp=args.fallback_mpp,
            threads=args.threads,
        )
    else:
        encode_images(
            list(zip(rows["item_id"], rows["path"], strict=True)),
            args.out_dir,
            config=config,
            image={"mode": args.mode, "size": args.size},
            threads=args.threads,
        )


def run_tissue_qc(args: argparse.Namespace) -> None:
    """One QC PNG per slide of the manifest, written into a folder that appears whole."""
    from mmlego.data.manifests import read_manifest
    from mmlego.preprocess.bags import feature_finder
    from mmlego.preprocess.pipeline import slide_qc
    from mmlego.utils.atomic import atomic_dir

    config = load_cfg(args.cfg)
    manifest = read_manifest(args.manifest)
    find = feature_finder(args.features)
    with atomic_dir(args.out_dir) as tmp:
        for row in manifest.itertuples():
            slide_qc(
                row.path,
                find(row.item_id),
                tmp / f"{row.item_id}.png",
                config=config,
                manifest_mpp=optional_float(str(row.mpp)),
                fallback_mpp=args.fallback_mpp,
            )
    log.info("wrote %d QC images to %s", len(manifest), args.out_dir)


def run_build_bags(args: argparse.Namespace) -> None:
    """Write the bag store and the per-item QC table."""
    from mmlego.data.labels import read_labels
    from mmlego.data.manifests import read_manifest
    from mmlego.data.store import write_modality
    from mmlego.preprocess.bags import build_bags, feature_finder
    from mmlego.preprocess.naming import feature_tag
    from mmlego.utils.provenance import provenance

    config = load_cfg(args.cfg)
    labels, _ = read_labels(args.labels)
    manifest = read_manifest(args.manifest)
    build = build_bags(
        labels["patient_id"].astype(str).tolist(),
        manifest,
        feature_finder(args.features),
        name=args.modality,
        type=args.type,
        cap=config["preprocess"]["max_patches_per_patient"],
        seed=config["seed"],
        dataset=args.dataset,
        attrs={"feature_tag": feature_tag(config["encoder"])},
    )
    record = provenance(config, seed=config["seed"], device=config["device"])
    write_modality(args.out, build.data, provenance=record)
    with atomic_path(args.out_qc) as tmp:
        build.qc.to_csv(tmp, index=False)
    data = build.data
    log.info(
        "wrote %s: %d of %d patients with instances, %d instances of dim %d; QC in %s",
        args.out,
        int(data.present.sum()),
        len(data),
        len(data.values),
        data.dim,
        args.out_qc,
    )
    empty = build.qc[build.qc["instances"] == 0]
    for row in empty.itertuples():
        log.warning(
            "%s/%s: item %s has no instances (%s)",
            args.dataset,
            args.modality,
            row.item_id,
            row.status,
        )
