"""Device selection: ``auto`` takes CUDA when present, otherwise the CPU."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(requested: str = "auto"):
    """Return the ``torch.device`` for ``requested`` (``auto``, ``cpu`` or ``cuda``)."""
    import torch

    if requested not in DEVICE_CHOICES:
        raise ValueError(
            f"device must be one of {DEVICE_CHOICES}, got {requested!r} (config key: device)"
        )
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config asks for device: cuda but no CUDA device is visible; set device: auto or cpu"
        )
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    log.info("using device %s", requested)
    return torch.device(requested)
