"""Bad slide files through ``mmlego encode-slide`` (the step the feature rules call): exit 1,
one line naming the file, and no feature file (nor a temporary one) left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmlego.cli import main
from tests.unit.features_support import config, write_tiff


@pytest.fixture(scope="module")
def good_slide(tmp_path_factory) -> Path:
    """A 1024-px tissue-like pyramidal TIFF with mpp metadata."""
    rng = np.random.default_rng(0)
    image = np.full((1024, 1024, 3), 235, dtype=np.uint8)
    image[128:896, 128:896] = rng.integers(90, 200, size=(768, 768, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("slides") / "good.tif"
    write_tiff(path, image, mpp=0.5)
    return path


def _truncated(fraction: float):
    def make(folder: Path, good: Path) -> Path:
        path = folder / "cut.tif"
        data = good.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return make


def _text_svs(folder: Path, good: Path) -> Path:
    path = folder / "notes.svs"
    path.write_text("patient notes, not a slide\n")
    return path


def _zero_bytes(folder: Path, good: Path) -> Path:
    path = folder / "empty.svs"
    path.touch()
    return path


def _dangling_link(folder: Path, good: Path) -> Path:
    # Root reads any mode bits, so unreadability is simulated by a path that cannot be opened.
    path = folder / "gone.svs"
    path.symlink_to(folder / "moved-away.svs")
    return path


def _directory(folder: Path, good: Path) -> Path:
    path = folder / "folder.svs"
    path.mkdir()
    return path


CASES = {
    "truncated 5%": (_truncated(0.05), "cut.tif"),
    "truncated 50%": (_truncated(0.5), "cut.tif"),
    "truncated 95%": (_truncated(0.95), "cut.tif"),
    "text named .svs": (_text_svs, "not a slide format OpenSlide can read"),
    "zero bytes": (_zero_bytes, "empty.svs"),
    "unreadable (dangling link)": (_dangling_link, "slide file not found"),
    "directory named .svs": (_directory, "slide file not found"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_slide_fails_with_one_line_and_no_output(tmp_path, capfd, good_slide, case):
    make, expected = CASES[case]
    slide = make(tmp_path, good_slide)
    out = tmp_path / "features" / "item.h5"
    code = main(
        [
            "encode-slide",
            "--cfg",
            json.dumps(config()),
            "--slide",
            str(slide),
            "--item-id",
            "item",
            "--out",
            str(out),
        ]
    )
    err = capfd.readouterr().err
    assert code == 1, err[-2000:]
    lines = [line for line in err.splitlines() if "encode-slide failed" in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert str(slide) in lines[0] and expected in lines[0], lines[0]
    assert not out.parent.exists() or not any(out.parent.iterdir())
