"""One seeding helper for python, numpy and torch."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed python, numpy and torch; on CPU also ask torch for deterministic kernels.

    Returns a numpy ``Generator`` seeded with the same value, which callers should prefer
    over the global numpy state.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        # warn_only: a few CUDA kernels have no deterministic variant; CPU ones all do.
        deterministic_algorithms(torch)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
    return np.random.default_rng(seed)


def derive_seed(seed: int, *parts: object) -> int:
    """A stable sub-seed for one (dataset, split, model, ...) combination.

    Python's ``hash`` is salted per process, so we hash the text with SHA-256 instead.
    """
    import hashlib

    text = "/".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def deterministic_algorithms(torch) -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without importing the
    compiler when nothing has imported it yet.

    That call sets the flag of the kernels and Inductor's ``deterministic`` option, and to set
    the option it imports ``torch._inductor.config``: some 800 modules (sympy, dynamo), about
    1.3 CPU-seconds of every job that seeds. A job that never compiles needs only the flag;
    for one that compiles later, ``TORCHINDUCTOR_DETERMINISTIC=1`` gives the option the same
    value when Inductor's config is first imported.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    torch._C._set_deterministic_algorithms(True, warn_only=True)
