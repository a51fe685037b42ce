"""LegoBlock and LegoMerge cost on this machine: throughput, peak memory, merge time.

Each case runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own. Cases:

- LegoBlock at the reference defaults (64 × 64 latent, depth 2, 8 heads × 16), CPU fp32, on
  the inputs of shared/REFERENCE.md's table (bag 16 × 1000 × 1024, time series 256 × 24 × 12,
  tabular 64 × 2914) and on a 4,000-patch bag; our block (gated-attention MIL / SNN encoder)
  side by side with the naive variant that feeds the raw instances to the cross-attention
  (``encoder: none``, the released default of no encoder);
- LegoMerge of N = 2, 4, 8 blocks: construction + merged-head time, and inference time of
  the merge against running its N blocks alone.

Usage: ``python benchmarks/lego_block.py [--out results/benchmarks] [--quick]``; writes
``lego.json`` and ``lego.md``. The reference figures are copied from REFERENCE.md for the
side-by-side table (released code, same machine kind).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = {  # released LegoBlock on 2 CPU cores, fp32 (shared/REFERENCE.md)
    "bag": {"train": 1.1, "infer": 2.5, "rss_gb": 6.1},
    "series": {"train": 639.0, "infer": 1245.0, "rss_gb": 1.2},
    "vector": {"train": 45.0, "infer": 395.0, "rss_gb": 4.4},
}
DEFAULTS = {
    "latent_len": 64,
    "latent_dim": 64,
    "depth": 2,
    "heads": 8,
    "dim_head": 16,
    "dropout": 0.1,
}
BLOCK_CASES = [
    # name, kind, batch, shape of one sample, encoder
    ("bag 16x1000x1024", "bag", 16, (1000, 1024), "auto"),
    ("bag 16x1000x1024 naive", "bag", 16, (1000, 1024), "none"),
    ("bag 8x4000x1024", "bag", 8, (4000, 1024), "auto"),
    ("bag 8x4000x1024 naive", "bag", 8, (4000, 1024), "none"),
    ("series 256x24x12", "series", 256, (24, 12), "auto"),
    ("vector 64x2914", "vector", 64, (2914,), "auto"),
    ("vector 64x2914 naive", "vector", 64, (2914,), "none"),
]


def _batch(kind: str, batch: int, shape: tuple[int, ...]):
    import torch

    from mmlego.models.base import ModalityBatch

    x = torch.randn(batch, *shape)
    present = torch.ones(batch, dtype=torch.bool)
    mask = torch.ones(batch, shape[0], dtype=torch.bool) if kind != "vector" else None
    return {"m": ModalityBatch(x, present, mask)}


def run_block_case(kind: str, batch: int, shape: tuple[int, ...], encoder: str, steps: int) -> dict:
    """Training and inference samples/s of one LegoBlock configuration (in this process)."""
    import torch

    from mmlego.models.lego import LegoBlock

    torch.manual_seed(0)
    block = LegoBlock(
        modality="m", kind=kind, in_dim=shape[-1], n_out=4, encoder=encoder, **DEFAULTS
    )
    data = _batch(kind, batch, shape)
    target = torch.randint(0, 4, (batch,))
    optimizer = torch.optim.AdamW(block.parameters(), lr=1e-4)

    def train_step() -> None:
        loss = torch.nn.functional.cross_entropy(block(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    block.train()
    train_step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    train_rate = steps * batch / (time.perf_counter() - start)
    block.eval()
    with torch.no_grad():
        block(data)
        start = time.perf_counter()
        for _ in range(steps):
            block(data)
        infer_rate = steps * batch / (time.perf_counter() - start)
    return {
        "params_m": sum(p.numel() for p in block.parameters()) / 1e6,
        "train_samples_per_s": train_rate,
        "infer_samples_per_s": infer_rate,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def run_merge_case(n_blocks: int, repeats: int) -> dict:
    """Merge construction (incl. merged head) and inference time for N vector blocks."""
    import torch

    from mmlego.models.base import ModalityBatch
    from mmlego.models.lego import LegoBlock
    from mmlego.models.merge import LegoMerge

    torch.manual_seed(0)
    names = [f"m{i}" for i in range(n_blocks)]
    blocks = {
        m: LegoBlock(modality=m, kind="vector", in_dim=64, n_out=4, **DEFAULTS).eval()
        for m in names
    }
    batch = {m: ModalityBatch(torch.randn(64, 64), torch.ones(64, dtype=torch.bool)) for m in names}
    start = time.perf_counter()
    for _ in range(repeats):
        merged = LegoMerge(blocks).eval()
        merged.merged_head(names)
    build_ms = (time.perf_counter() - start) / repeats * 1e3
    with torch.no_grad():
        merged(batch)
        start = time.perf_counter()
        for _ in range(repeats):
            merged(batch)
        merged_ms = (time.perf_counter() - start) / repeats * 1e3
        start = time.perf_counter()
        for _ in range(repeats):
            for m in names:
                blocks[m](batch)
        blocks_ms = (time.perf_counter() - start) / repeats * 1e3
    return {
        "blocks": n_blocks,
        "build_ms": build_ms,
        "merged_forward_ms": merged_ms,
        "blocks_forward_ms": blocks_ms,
    }


def _child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(2)
    spec = json.loads(args.child)
    if spec["what"] == "block":
        result = run_block_case(
            spec["kind"], spec["batch"], tuple(spec["shape"]), spec["encoder"], spec["steps"]
        )
    else:
        result = run_merge_case(spec["n"], spec["repeats"])
    print(json.dumps(result))


def _in_subprocess(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", default="results/benchmarks", help="folder for lego.json and lego.md"
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    steps = 2 if args.quick else 5
    rows = []
    for name, kind, batch, shape, encoder in BLOCK_CASES:
        spec = {
            "what": "block",
            "kind": kind,
            "batch": batch,
            "shape": shape,
            "encoder": encoder,
            "steps": steps,
        }
        result = {"case": name, "kind": kind, **_in_subprocess(spec)}
        rows.append(result)
        print(json.dumps(result), flush=True)
    merges = [
        _in_subprocess({"what": "merge", "n": n, "repeats": 5 if args.quick else 20})
        for n in (2, 4, 8)
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lego.json").write_text(
        json.dumps({"blocks": rows, "merge": merges, "reference": REFERENCE}, indent=2)
    )
    lines = [
        "| case | params (M) | train samples/s | infer samples/s | peak RSS (GB) | released: train / infer / RSS |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ref = REFERENCE[r["kind"]] if not r["case"].startswith("bag 8x4000") else None
        ref_text = f"{ref['train']} / {ref['infer']} / {ref['rss_gb']}" if ref else "n/a"
        lines.append(
            f"| {r['case']} | {r['params_m']:.2f} | {r['train_samples_per_s']:.1f} | "
            f"{r['infer_samples_per_s']:.1f} | {r['peak_rss_gb']:.2f} | {ref_text} |"
        )
    lines += [
        "",
        "| blocks merged | build + merged head (ms) | merged forward (ms) | N blocks alone (ms) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {m['blocks']} | {m['build_ms']:.2f} | {m['merged_forward_ms']:.1f} | {m['blocks_forward_ms']:.1f} |"
        for m in merges
    ]
    (out / "lego.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
