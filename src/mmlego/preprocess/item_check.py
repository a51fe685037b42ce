"""The slides and images of a manifest, checked before any encoding job is planned.

The manifest step is never retried (it runs on the submit host with ``retries: 0``), while an
encoding job is retried on a cluster (profiles/slurm: transient GPU and node failures). A file
that cannot be read fails the same way on every attempt, so it is found here, once, with every
bad file of the modality named in one message, instead of in one encoding job per file.

The check reads what opening costs and no pixel data: a slide's header and level layout
(OpenSlide) and its resolution (the manifest's mpp, the metadata or the configured fallback);
an image's header and structure (PIL's ``verify``). Damage inside the pixel data of a file
with an intact header is still found by its encoding job.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from mmlego.data.readers import listing
from mmlego.preprocess.slide import Slide, no_mpp_error

# Files named per reason in the message; the rest are counted, so it stays a few lines.
SHOWN = 5


def unreadable_image_error(path: Path, err: Exception) -> ValueError:
    """The error of an image file that PIL cannot read, naming it and the fix."""
    return ValueError(
        f"{path}: not a readable image ({type(err).__name__}: {err}); "
        "remove it from the manifest or replace the file"
    )


def check_image(path: Path) -> None:
    """Raise naming ``path`` when it is not an image PIL can open."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found; check the manifest path")
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise unreadable_image_error(path, err) from err


def check_slide(path: Path, manifest_mpp: float | None, fallback_mpp: float | None) -> None:
    """Raise naming ``path`` when OpenSlide cannot open it or no resolution is known for it."""
    with Slide(path) as slide:
        known = manifest_mpp is not None and math.isfinite(manifest_mpp)
        if not known and fallback_mpp is None and slide.metadata_mpp() is None:
            raise no_mpp_error(path)


def item_problems(
    frame: pd.DataFrame, mod_type: str, fallback_mpp: float | None
) -> dict[str, list[str]]:
    """The files of the manifest that cannot be encoded, grouped by reason, in manifest order."""
    problems: dict[str, list[str]] = {}
    mpps = frame["mpp"] if "mpp" in frame.columns else pd.Series(math.nan, index=frame.index)
    for text, mpp in zip(frame["path"], mpps, strict=True):
        path = Path(text)  # errors name the file as Path prints it
        try:
            if mod_type == "wsi":
                check_slide(path, None if pd.isna(mpp) else float(mpp), fallback_mpp)
            else:
                check_image(path)
        except (ValueError, FileNotFoundError) as err:
            # Each error starts with the file's path; the rest is the reason and its fix, in
            # which a library may quote the path again (PIL does): dropped, so files with one
            # reason share one entry.
            reason = str(err).removeprefix(f"{path}: ").replace(f" '{path}'", "")
            # Named in full, whatever folder the manifest's relative paths start from.
            problems.setdefault(reason, []).append(str(path.absolute()))
    return problems


def check_items(
    frame: pd.DataFrame, mod_type: str, fallback_mpp: float | None, *, source: str
) -> None:
    """Raise one error naming every file of ``frame`` that cannot be encoded, by reason."""
    problems = item_problems(frame, mod_type, fallback_mpp)
    if not problems:
        return
    count = sum(len(paths) for paths in problems.values())
    what = "slides" if mod_type == "wsi" else "images"
    reasons = "; ".join(
        f"{listing(paths, limit=SHOWN)}: {reason}" for reason, paths in problems.items()
    )
    raise ValueError(
        f"{source}: {count} of {len(frame)} {what} cannot be encoded; fix or remove each "
        f"file (and its manifest row), then rerun. {reasons}"
    )
