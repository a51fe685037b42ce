"""Atomic writing, provenance, seeding, device selection and id sanitising."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmlego.utils.atomic import atomic_path, write_json_atomic
from mmlego.utils.device import select_device
from mmlego.utils.ids import safe_id
from mmlego.utils.provenance import config_hash, has_provenance, provenance
from mmlego.utils.seeding import derive_seed, seed_everything


def test_interrupted_atomic_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of a file")
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_good_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"auc": 0.7})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("{ broken")
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"auc": 0.7}


def test_json_written_with_provenance_has_every_key(tmp_path):
    target = tmp_path / "m.json"
    write_json_atomic(
        target, {"x": np.float32(1.5)}, provenance=provenance({"a": 1}, seed=3, device="cpu")
    )
    payload = json.loads(target.read_text())
    assert payload["x"] == 1.5
    assert has_provenance(payload["provenance"])
    assert payload["provenance"]["seed"] == 3
    assert payload["provenance"]["packages"]["torch"].startswith("2.13.0")


def test_config_hash_ignores_key_order_but_not_values():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_seeding_is_repeatable():
    import torch

    seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    seed_everything(7)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert derive_seed(0, "tcga", 1) == derive_seed(0, "tcga", 1) != derive_seed(0, "tcga", 2)


def test_seeding_asks_for_deterministic_kernels_without_importing_the_compiler():
    # A fresh process: this one may have imported Inductor already.
    code = (
        "import sys, torch\n"
        "from mmlego.utils.seeding import seed_everything\n"
        "seed_everything(1)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "import torch._inductor.config as inductor\n"
        "assert inductor.deterministic is True\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_DETERMINISTIC"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_device_auto_is_cpu_without_cuda():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        select_device("tpu")


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("TCGA-AB-1234", "TCGA-AB-1234"),
        ("../../etc/passwd", "____etc_passwd"),
        ("a/b", "a_b"),
        (".hidden", "hidden"),
    ],
)
def test_safe_id(raw, safe):
    assert safe_id(raw) == safe
    assert "/" not in safe_id(raw) and not safe_id(raw).startswith(".")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's mallopt only",
)
def test_glibc_keeps_freed_memory_after_keep_freed_memory():
    # In a child, so this test process keeps glibc's defaults. A 4 MiB block, above the default
    # 128 KiB mmap threshold, is mapped afresh on each allocation unless the setting took.
    code = (
        "import ctypes, ctypes.util\n"
        "from mmlego.utils.allocator import keep_freed_memory\n"
        "assert keep_freed_memory()\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "libc.malloc.restype = ctypes.c_void_p\n"
        "libc.free.argtypes = [ctypes.c_void_p]\n"
        "first = libc.malloc(4 << 20); libc.free(first)\n"
        "second = libc.malloc(4 << 20)\n"
        "print(first == second)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
