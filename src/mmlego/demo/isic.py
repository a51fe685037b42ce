"""A SIIM-ISIC 2020-like challenge: JPEG lesion photographs plus the challenge's ``train.csv``.

Signal. Each patient has an ``atypia_factor`` (standard normal) that shows in every lesion
photographed: larger lesions with more irregular, asymmetric borders and more colour
variegation; the melanoma image of a melanoma patient is more atypical still. The metadata
give a ``meta_score`` from age, sex and body site. A patient has melanoma with probability
``sigmoid(c + 1.3 a + 1.2 m + 0.8 a m)``, with ``c`` solved for so the cohort's share of
melanoma images matches ``melanoma_rate`` (the real challenge: about 2 %).

Format. ``train/<image_name>.jpg`` and ``train.csv`` with ``image_name, patient_id, sex,
age_approx, anatom_site_general_challenge, diagnosis, benign_malignant, target``, one row
per image sorted by image name; missing sex, age and site for a few rows, as in the release.
Artefacts: hairs, vignetting, uneven lighting.
"""

from __future__ import annotations

import functools
import io
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.special import expit

from mmlego.demo.fields import smooth_field, smoothstep
from mmlego.demo.io import write_csv
from mmlego.utils.atomic import atomic_dir
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)

COLUMNS = (
    "image_name",
    "patient_id",
    "sex",
    "age_approx",
    "anatom_site_general_challenge",
    "diagnosis",
    "benign_malignant",
    "target",
)
SITES = {
    "torso": (0.50, 0.3),
    "lower extremity": (0.25, 0.0),
    "upper extremity": (0.15, -0.1),
    "head/neck": (0.06, 0.6),
    "palms/soles": (0.02, -0.5),
    "oral/genital": (0.02, -0.5),
}
BENIGN_DIAGNOSES = {
    "unknown": 0.80,
    "nevus": 0.16,
    "seborrheic keratosis": 0.01,
    "lentigo NOS": 0.01,
    "lichenoid keratosis": 0.01,
    "solar lentigo": 0.005,
    "cafe-au-lait macule": 0.0025,
    "atypical melanocytic proliferation": 0.0025,
}
B_ATYPIA = 1.3
B_META = 1.2
B_INTERACTION = 0.8
JPEG_QUALITY = 90
_BANK = 6


@dataclass(frozen=True)
class IsicChallenge:
    """Per-patient truth, the ``train.csv`` rows, and the drawing plan of every image."""

    truth: pd.DataFrame
    table: pd.DataFrame
    images: pd.DataFrame


def simulate_isic(
    *, patients: int = 1500, seed: int = 0, melanoma_rate: float = 0.02
) -> IsicChallenge:
    """Draw patients, metadata, labels and the per-image drawing parameters in memory."""
    if patients < 10:
        raise ValueError(f"an ISIC-like challenge needs >= 10 patients, got {patients}")
    if not 0.0 < melanoma_rate < 0.5:
        raise ValueError(f"melanoma_rate must be in (0, 0.5), got {melanoma_rate}")
    rng = np.random.default_rng(derive_seed(seed, "isic"))
    patient_ids = _unique_codes(rng, "IP_", patients)
    n_images = 1 + np.minimum(rng.poisson(1.2, patients), 6)
    atypia = rng.standard_normal(patients)
    male = rng.uniform(size=patients) < 0.52
    age = np.clip(5 * np.rint(rng.normal(50.0, 14.0, patients) / 5), 10, 90)
    site_names = list(SITES)
    site_p = np.array([p for p, _ in SITES.values()])
    main_site = rng.choice(len(SITES), patients, p=site_p / site_p.sum())
    site_effect = np.array([e for _, e in SITES.values()])[main_site]
    meta = 0.8 * (age - 50.0) / 14.0 + 0.4 * male + site_effect - 0.2
    eta = B_ATYPIA * atypia + B_META * meta + B_INTERACTION * atypia * meta
    noise = rng.uniform(size=patients)
    intercept = _solve_intercept(eta, noise, n_images, melanoma_rate)
    melanoma = noise < expit(intercept + eta)
    truth = pd.DataFrame(
        {
            "patient_id": patient_ids,
            "atypia_factor": atypia,
            "meta_score": meta,
            "log_odds": intercept + eta,
            "melanoma": melanoma.astype(int),
            "n_images": n_images,
            "age": age,
            "sex": np.where(male, "male", "female"),
            "site": np.array(site_names)[main_site],
        }
    )
    images = _plan_images(rng, truth, site_names, site_p)
    table = _table(rng, images, truth)
    return IsicChallenge(truth=truth, table=table, images=images)


def generate_isic(
    out_dir: str | Path,
    *,
    patients: int = 1500,
    image_size: int = 256,
    seed: int = 0,
    melanoma_rate: float = 0.02,
    workers: int = 1,
) -> IsicChallenge:
    """Write ``out_dir/train/*.jpg`` and ``out_dir/train.csv``; return the challenge."""
    if image_size < 64:
        raise ValueError(f"image_size must be >= 64 px, got {image_size}")
    out_dir = Path(out_dir)
    challenge = simulate_isic(patients=patients, seed=seed, melanoma_rate=melanoma_rate)
    jobs = [
        (row, image_size, derive_seed(seed, "isic-image", row["image_name"]))
        for row in challenge.images.to_dict("records")
    ]
    with atomic_dir(out_dir / "train") as tmp:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                encoded = list(pool.map(_encode_one, jobs, chunksize=64))
        else:
            encoded = [_encode_one(job) for job in jobs]
        for (row, _, _), data in zip(jobs, encoded, strict=True):
            (tmp / f"{row['image_name']}.jpg").write_bytes(data)
    write_csv(challenge.table, out_dir / "train.csv")
    log.info(
        "ISIC-like challenge: %d patients, %d images, %.1f%% melanoma images, %d melanoma patients",
        patients,
        len(challenge.table),
        100 * challenge.table["target"].mean(),
        int(challenge.truth["melanoma"].sum()),
    )
    return challenge


def _unique_codes(rng: np.random.Generator, prefix: str, n: int) -> list[str]:
    numbers = rng.choice(10**7, n, replace=False)
    return [f"{prefix}{k:07d}" for k in numbers]


def _solve_intercept(
    eta: np.ndarray, noise: np.ndarray, n_images: np.ndarray, rate: float
) -> float:
    """The intercept whose melanoma-image share on this cohort is closest to ``rate``.

    A melanoma patient has one melanoma image among their images, so the image share is
    (melanoma patients) / (images). It rises with the intercept: bisection, deterministic.
    """
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        share = np.sum(noise < expit(mid + eta)) / n_images.sum()
        lo, hi = (mid, hi) if share < rate else (lo, mid)
    return 0.5 * (lo + hi)


def _plan_images(
    rng: np.random.Generator, truth: pd.DataFrame, site_names: list[str], site_p: np.ndarray
) -> pd.DataFrame:
    """One row per image: its patient, site, whether it is the melanoma, how atypical."""
    total = int(truth["n_images"].sum())
    owner = np.repeat(np.arange(len(truth)), truth["n_images"].to_numpy())
    first = np.r_[0, np.cumsum(truth["n_images"].to_numpy())[:-1]]
    is_melanoma = np.zeros(total, dtype=bool)
    positives = np.flatnonzero(truth["melanoma"].to_numpy())
    pick = first[positives] + rng.integers(0, truth["n_images"].to_numpy()[positives])
    is_melanoma[pick] = True
    # Most lesions of a patient sit on their main site; some elsewhere.
    elsewhere = rng.uniform(size=total) < 0.3
    other = rng.choice(len(site_names), total, p=site_p / site_p.sum())
    site = np.where(elsewhere, np.array(site_names)[other], truth["site"].to_numpy()[owner])
    atypia = truth["atypia_factor"].to_numpy()[owner] + 0.5 * rng.standard_normal(total)
    atypia = np.where(is_melanoma, np.maximum(atypia, 0.0) + 1.5, atypia)
    return pd.DataFrame(
        {
            "image_name": _unique_codes(rng, "ISIC_", total),
            "patient": owner,
            "site": site,
            "melanoma": is_melanoma,
            "atypia": atypia,
            "skin": rng.integers(0, _BANK, total),
            "tone": rng.uniform(0.0, 1.0, total),
            "hairs": rng.poisson(1.2, total),
            "vignette": rng.uniform(size=total) < 0.3,
        }
    )


def _table(rng: np.random.Generator, images: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """``train.csv``: one row per image, the release's columns, a few missing cells."""
    owner = images["patient"].to_numpy()
    n = len(images)
    benign = rng.choice(
        list(BENIGN_DIAGNOSES), n, p=np.array(list(BENIGN_DIAGNOSES.values())) / 1.0
    )
    melanoma = images["melanoma"].to_numpy()
    table = pd.DataFrame(
        {
            "image_name": images["image_name"],
            "patient_id": truth["patient_id"].to_numpy()[owner],
            "sex": pd.Series(truth["sex"].to_numpy()[owner]).mask(rng.uniform(size=n) < 0.01),
            "age_approx": pd.Series(truth["age"].to_numpy()[owner]).mask(
                rng.uniform(size=n) < 0.01
            ),
            "anatom_site_general_challenge": images["site"].mask(rng.uniform(size=n) < 0.02),
            "diagnosis": np.where(melanoma, "melanoma", benign),
            "benign_malignant": np.where(melanoma, "malignant", "benign"),
            "target": melanoma.astype(int),
        }
    )
    return table.sort_values("image_name").reset_index(drop=True)[list(COLUMNS)]


def _encode_one(job: tuple[dict, int, int]) -> bytes:
    row, size, seed = job
    pixels = draw_lesion(
        size=size,
        seed=seed,
        atypia=row["atypia"],
        skin=row["skin"],
        tone=row["tone"],
        hairs=row["hairs"],
        vignette=row["vignette"],
    )
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


_SKIN_LIGHT = np.array([236.0, 196.0, 170.0])
_SKIN_DARK = np.array([170.0, 115.0, 85.0])
_NEVUS = np.array([120.0, 75.0, 45.0])
_VARIEGATION = np.array(
    [[60.0, 35.0, 25.0], [25.0, 20.0, 22.0], [95.0, 100.0, 125.0], [150.0, 75.0, 70.0]],
    dtype=np.float32,
)


@functools.lru_cache(maxsize=4)
def _bank(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed banks for one image size: skin texture (B, S, S) and pigment patches (B, S, S, 4).

    A pigment patch map is a thresholded smooth field: 1 where that colour sits.
    """
    rng = np.random.default_rng([size, 0x151C])
    skin = np.stack([smooth_field(rng, (size, size), size / 40) for _ in range(_BANK)])
    pigment = np.stack(
        [
            np.stack(
                [
                    smoothstep(smooth_field(rng, (size, size), size / 14), 0.6, 1.1)
                    for _ in _VARIEGATION
                ],
                axis=-1,
            )
            for _ in range(_BANK)
        ]
    )
    return skin.astype(np.float32), pigment.astype(np.float32)


def draw_lesion(
    *,
    size: int,
    seed: int,
    atypia: float,
    skin: int = 0,
    tone: float = 0.3,
    hairs: int = 0,
    vignette: bool = False,
) -> np.ndarray:
    """One dermoscopy-like (size, size, 3) uint8 image of a pigmented lesion on skin.

    ``atypia`` (about -3..4) sets how melanoma-like the lesion looks: larger, with an
    irregular, asymmetric, fuzzy border and several colours (dark brown, black, blue-grey,
    red) instead of one even brown. The smooth content is drawn at half resolution and
    upsampled (a quarter of the work); sensor noise is added at full resolution.
    """
    rng = np.random.default_rng(seed)
    work = max(32, size // 2)
    skin_bank, pigment_bank = _bank(work)
    k = int(skin) % _BANK
    turn = int(rng.integers(0, 4))
    skin_noise = np.rot90(skin_bank[k], turn)
    patches = np.rot90(pigment_bank[(k + 1 + int(rng.integers(_BANK - 1))) % _BANK], turn, (0, 1))
    base = (_SKIN_LIGHT * (1 - tone) + _SKIN_DARK * tone).astype(np.float32)
    image = base * (1.0 + 0.04 * skin_noise[..., None])

    weight = float(expit(atypia - 0.5))
    yy, xx = np.mgrid[0:work, 0:work].astype(np.float32) / work - 0.5
    cy, cx = rng.uniform(-0.08, 0.08, 2)
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy, dx)
    radius = 0.16 * np.exp(0.12 * atypia + 0.1 * rng.standard_normal())
    border = np.ones_like(theta)
    for harmonic in range(1, 6):
        amp = (0.03 + 0.16 * weight) / harmonic**0.8 * rng.uniform(0.5, 1.0)
        border += amp * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    # Asymmetry: stretch along a random axis.
    axis = rng.uniform(0, np.pi)
    border *= 1.0 + (0.1 + 0.35 * weight) * np.cos(2 * (theta - axis))
    distance = np.hypot(dy, dx) / (radius * border)
    fuzz = 0.04 + 0.25 * weight
    inside = (1.0 - smoothstep(distance, 1.0 - fuzz, 1.0 + fuzz))[..., None]

    nevus = (_NEVUS * (0.9 + 0.2 * (1 - tone))).astype(np.float32)
    colour = nevus * (1.0 - 0.2 * smoothstep(1.0 - distance, 0.0, 0.8))[..., None]
    # Variegation: up to four pigment patches (dark brown, black, blue-grey, red).
    mix = weight * patches
    total = mix.sum(-1, keepdims=True)
    mix = mix / np.maximum(total, 1.0)
    colour = colour * (1 - np.minimum(total, 1.0)) + mix @ _VARIEGATION
    image = image * (1 - inside) + colour * inside
    for _ in range(int(hairs)):
        _hair(rng, image, work)
    if vignette:
        image *= (1.0 - 0.45 * smoothstep(np.hypot(yy, xx), 0.45, 0.72))[..., None]
    image *= (1.0 + 0.06 * (yy * rng.uniform(-1, 1) + xx * rng.uniform(-1, 1)))[..., None]
    small = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    full = np.asarray(small.resize((size, size), Image.BILINEAR), dtype=np.float32)
    full = full + rng.standard_normal(full.shape, dtype=np.float32) * 2.0
    return np.clip(np.rint(full), 0, 255).astype(np.uint8)


def _hair(rng: np.random.Generator, image: np.ndarray, size: int) -> None:
    """Darken a thin, slightly curved line across the image (a hair), in place."""
    t = np.linspace(0, 1, 4 * size)
    start = rng.uniform(0, size, 2)
    angle = rng.uniform(0, 2 * np.pi)
    bend = rng.uniform(-0.3, 0.3)
    direction = np.stack([np.sin(angle + bend * t), np.cos(angle + bend * t)], axis=1)
    points = start + np.cumsum(direction, axis=0) * (size / (2 * size))
    points = np.rint(points).astype(int)
    keep = (points >= 0).all(1) & (points < size).all(1)
    image[points[keep, 0], points[keep, 1]] *= 0.35
