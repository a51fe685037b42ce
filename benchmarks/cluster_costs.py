"""Per-job costs on this CPU for the paper-scale plan (docs/scaling.md).

Measures, with the project's own modules and the paper config's settings:
- patch encoding: patches/s of the configured encoder on 256-px uint8 patches;
- LegoBlock training: samples/s of a forward + backward + optimiser step per modality kind,
  at the paper datasets' input shapes (omics vector, bag of patch features, 24 x 12 vitals).

    .venv/bin/python benchmarks/cluster_costs.py [--threads 2] [--out results/benchmarks]

Writes cluster_costs.json (figures plus the machine's load while measuring, since a busy
machine slows every figure down).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from mmlego.models.base import ModalityBatch
from mmlego.models.lego import LegoBlock
from mmlego.preprocess.encoder import PatchEncoder, build_trunk
from mmlego.utils.seeding import seed_everything

# Input shapes per modality kind (paper config: 4,096 patches per patient, 1,024-d features).
TRAIN_SHAPES = {
    "vector": {"in_dim": 2000, "x": (32, 2000)},
    "series": {"in_dim": 12, "x": (32, 24, 12)},
    "bag": {"in_dim": 1024, "x": (32, 4096, 1024)},
}


def _rate(step, items: int, *, warmup: int = 1, min_seconds: float = 5.0) -> dict[str, float]:
    """Items per wall second and per CPU second of ``step`` (repeated for ``min_seconds``).

    On a shared machine the wall rate depends on the other processes; the CPU-time rate
    (items per second of this process's CPU time, all threads) much less so.
    """
    for _ in range(warmup):
        step()
    done, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < min_seconds or done == 0:
        step()
        done += items
    cpu = time.process_time() - cpu_start
    return {"per_wall_s": done / elapsed, "per_cpu_s": done / cpu}


def encode_rate(arch: str, patch: int, batch: int) -> dict[str, float]:
    """Patches per second of the patch encoder (fp32, inference)."""
    encoder = PatchEncoder(build_trunk(arch)).eval()
    patches = torch.randint(0, 256, (batch, patch, patch, 3), dtype=torch.uint8)

    def step():
        with torch.inference_mode():
            encoder(patches)

    return _rate(step, batch)


def train_rate(kind: str) -> dict[str, float]:
    """Training samples per second of one LegoBlock (paper defaults) on ``kind`` inputs."""
    shape = TRAIN_SHAPES[kind]
    model = LegoBlock(modality=kind, kind=kind, in_dim=shape["in_dim"], n_out=4)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(shape["x"])
    batch_size = x.shape[0]
    mask = torch.ones(x.shape[:2], dtype=torch.bool) if kind != "vector" else None
    batch = {kind: ModalityBatch(x=x, present=torch.ones(batch_size, dtype=torch.bool), mask=mask)}
    target = torch.randint(0, 4, (batch_size,))

    def step():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch), target)
        loss.backward()
        optimiser.step()

    return _rate(step, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)
    load_before = os.getloadavg()[0]
    figures = {
        "threads": args.threads,
        "encode_patches_per_s": {
            "resnet50_trunc_256px": encode_rate("resnet50_trunc", 256, 16),
            "resnet18_256px": encode_rate("resnet18", 256, 16),
        },
        "train_samples_per_s": {kind: train_rate(kind) for kind in TRAIN_SHAPES},
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "cluster_costs.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
