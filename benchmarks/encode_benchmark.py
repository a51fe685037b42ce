"""Patch-encoding throughput and memory: naive loop vs the pipeline, against the matmul ceiling.

Run from the repository root (about 10-20 minutes on 2 cores, most of it writing the big slide):

    .venv/bin/python benchmarks/encode_benchmark.py

It writes ``results/benchmarks/encode.json`` and ``encode.md`` with:

- what the CPU has (model, cores, AVX-512 / AMX flags) and torch's view of it;
- the same set of patches, read from a generated slide, encoded by (a) a naive loop (one patch
  at a time, fp32, eager, no loader workers) and (b) the pipeline's settings (batches,
  channels_last, DataLoader workers, bf16, torch.compile with freezing); patches/s end to end
  and of the model alone, and their ratio to the naive loop;
- the model FLOPs per patch (counted by torch), the achieved GFLOP/s, and the matmul ceiling
  measured in the same run, threads and dtype;
- the peak RSS of ``mmlego encode-slide`` on a >= 40k x 40k px generated slide.

Numbers on a shared machine are noisy; the ratios are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmlego.data.synthetic.slides import write_slide
from mmlego.preprocess.encode import encode_batches, make_loader
from mmlego.preprocess.encoder import build_encoder, prepare_for_inference
from mmlego.preprocess.grid import PatchGrid
from mmlego.preprocess.patches import SlidePatches
from mmlego.preprocess.pipeline import lay_out_slide
from mmlego.preprocess.slide import Slide
from mmlego.utils.atomic import write_json_atomic, write_text_atomic
from mmlego.utils.provenance import provenance

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info() -> dict:
    """CPU model, logical cores and the SIMD / matrix-unit flags that decide bf16 speed."""
    flags: set[str] = set()
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
        "amx": "amx_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """Best GFLOP/s of an n x n matmul in ``dtype`` over repeated runs."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def flops_per_patch(model: torch.nn.Module, size: int) -> float:
    """FLOPs of one patch through the encoder, counted by torch (2 per multiply-add)."""
    patch = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(patch)
    return float(counter.get_total_flops())


def sub_grid(grid: PatchGrid, n: int) -> PatchGrid:
    """The first ``n`` patches of a grid."""
    return PatchGrid(
        **{**grid.__dict__, "coords": grid.coords[:n], "tissue_fraction": grid.tissue_fraction[:n]}
    )


def naive(model, dataset: SlidePatches) -> dict:
    """One patch at a time, read in the main process, fp32 eager NCHW."""
    features = []
    start = time.perf_counter()
    model_time = 0.0
    with torch.inference_mode():
        for index in range(len(dataset)):
            patch = torch.from_numpy(dataset[index])[None]
            t = time.perf_counter()
            features.append(model(patch).numpy())
            model_time += time.perf_counter() - t
    total = time.perf_counter() - start
    n = len(dataset)
    return {"patches_per_s": n / total, "model_patches_per_s": n / model_time, "seconds": total}


def pipeline_run(arch: str, dataset: SlidePatches, setting: dict, dim: int) -> dict:
    """The pipeline's streamed encoding with one setting (warm-up excluded from the timing)."""
    model, _ = build_encoder(arch, weights=None, seed=0)
    ready = prepare_for_inference(
        model,
        device=torch.device("cpu"),
        precision=setting["precision"],
        channels_last=True,
        compile_model=setting["compile"],
    )
    batch = setting["batch_size"]
    warm = torch.from_numpy(np.stack([dataset[i % len(dataset)] for i in range(batch)]))
    t = time.perf_counter()
    with torch.inference_mode():
        ready(warm)
    warmup = time.perf_counter() - t
    loader = make_loader(dataset, batch_size=batch, num_workers=setting["num_workers"])
    start = time.perf_counter()
    features = encode_batches(
        ready, loader, device=torch.device("cpu"), dim=dim, total=len(dataset), desc="bench"
    )
    total = time.perf_counter() - start
    # The model alone on batches already in memory: what the loader hides or not.
    batches = [
        torch.from_numpy(np.stack([dataset[i] for i in range(s, min(s + batch, len(dataset)))]))
        for s in range(0, len(dataset) - batch + 1, batch)
    ]
    t = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            ready(x)
    model_only = len(batches) * batch / (time.perf_counter() - t)
    return {
        **setting,
        "patches_per_s": len(dataset) / total,
        "model_patches_per_s": model_only,
        "seconds": total,
        "warmup_seconds": warmup,
        "features": features,
    }


def peak_rss_of(cmd: list[str], interval: float = 0.2) -> dict:
    """Run ``cmd``; sample the RSS of it and its children (loader workers) until it exits."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak_tree = peak_main = 0
    start = time.perf_counter()
    while proc.poll() is None:
        try:
            main_rss = ps.memory_info().rss
            tree = main_rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        peak_main, peak_tree = max(peak_main, main_rss), max(peak_tree, tree)
        time.sleep(interval)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return {
        "peak_rss_main_gb": peak_main / 1e9,
        "peak_rss_tree_gb": peak_tree / 1e9,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet50_trunc")
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--mpp", type=float, default=0.5)
    parser.add_argument("--patches", type=int, default=256, help="patches encoded by each method")
    parser.add_argument(
        "--big-slide", type=int, default=40960, help="side of the RSS slide (0 skips)"
    )
    parser.add_argument("--big-mpp", type=float, default=1.0, help="target µm/px on the big slide")
    parser.add_argument("--work", default="results/benchmarks/cache", help="slides are kept here")
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument(
        "--parts",
        default="ratios,rss",
        help="ratios (naive vs pipeline vs ceiling) and/or rss (big slide); a run of one part "
        "keeps the other's results from the previous encode.json",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    previous = out / "encode.json"
    report: dict = json.loads(previous.read_text()) if previous.exists() else {}
    report.update({"cpu": cpu_info(), "arch": args.arch, "patch_size": args.patch_size})
    print(json.dumps(report["cpu"], indent=1), flush=True)
    if "ratios" in parts:
        measure_ratios(args, work, report)
    if "rss" in parts and args.big_slide:
        measure_rss(args, work, report)
    report["provenance"] = provenance(vars(args), seed=0, device="cpu")
    write_json_atomic(out / "encode.json", report)
    write_text_atomic(out / "encode.md", markdown(report))
    print(markdown(report))


def measure_ratios(args: argparse.Namespace, work: Path, report: dict) -> None:
    """Naive loop, pipeline settings and the matmul ceiling on the same patches."""

    slide_path = work / "bench_8192.tif"
    if not slide_path.exists():
        write_slide(slide_path, size=8192, seed=1)
    encoder_cfg = {"mpp": args.mpp, "patch_size": args.patch_size}
    preprocess_cfg = {"thumbnail_mpp": 8.0, "min_tissue_fraction": 0.5}
    with Slide(slide_path) as slide:
        layout = lay_out_slide(
            slide,
            encoder=encoder_cfg,
            preprocess=preprocess_cfg,
            manifest_mpp=None,
            fallback_mpp=None,
        )
    grid = sub_grid(layout.grid, args.patches)
    dataset = SlidePatches(slide_path, grid)
    n = len(dataset)
    report["patches"] = n

    model, info = build_encoder(args.arch, weights=None, seed=0)
    flops = flops_per_patch(model, args.patch_size)
    report["gflop_per_patch"] = flops / 1e9
    report["matmul_ceiling_gflops"] = {
        "fp32": matmul_ceiling(torch.float32),
        "bf16": matmul_ceiling(torch.bfloat16),
    }
    print("ceiling", report["matmul_ceiling_gflops"], flush=True)

    report["naive"] = naive(model, dataset)
    print("naive", report["naive"], flush=True)
    settings = [
        {
            "name": "fp32 batched",
            "precision": "fp32",
            "compile": False,
            "batch_size": 32,
            "num_workers": 1,
        },
        {
            "name": "bf16 batched",
            "precision": "bf16",
            "compile": False,
            "batch_size": 32,
            "num_workers": 1,
        },
        {
            "name": "bf16 compiled",
            "precision": "bf16",
            "compile": True,
            "batch_size": 32,
            "num_workers": 1,
        },
    ]
    runs, reference = [], None
    for setting in settings:
        result = pipeline_run(args.arch, dataset, setting, info.dim)
        features = result.pop("features")
        if reference is None:
            reference = features
        cos = (features * reference).sum(1) / (
            np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
        )
        dtype = setting["precision"]
        result["min_cosine_vs_fp32"] = float(cos.min())
        result["speedup_vs_naive"] = result["patches_per_s"] / report["naive"]["patches_per_s"]
        result["gflops"] = result["patches_per_s"] * flops / 1e9
        result["model_gflops"] = result["model_patches_per_s"] * flops / 1e9
        result["fraction_of_ceiling"] = result["gflops"] / report["matmul_ceiling_gflops"][dtype]
        result["model_fraction_of_ceiling"] = (
            result["model_gflops"] / report["matmul_ceiling_gflops"][dtype]
        )
        print(setting["name"], {k: v for k, v in result.items() if k != "name"}, flush=True)
        runs.append(result)
    report["pipeline"] = runs
    best = max(runs, key=lambda r: r["patches_per_s"])
    report["best"] = best["name"]
    report["naive"]["gflops"] = report["naive"]["patches_per_s"] * flops / 1e9


def measure_rss(args: argparse.Namespace, work: Path, report: dict) -> None:
    """Peak RSS of ``mmlego encode-slide`` on the big generated slide, with the best setting."""
    best = next(
        (r for r in report.get("pipeline", []) if r["name"] == report.get("best")),
        {
            "name": "bf16 compiled",
            "precision": "bf16",
            "compile": True,
            "batch_size": 32,
            "num_workers": 1,
        },
    )
    big = work / f"bench_{args.big_slide}.tif"
    if not big.exists():
        t = time.perf_counter()
        write_slide(big, size=args.big_slide, seed=2, texture_seed=1)
        print(f"wrote {big} in {time.perf_counter() - t:.0f} s", flush=True)
    config = {
        "encoder": {
            "arch": args.arch,
            "weights": None,
            "patch_size": args.patch_size,
            "mpp": args.big_mpp,
            "input_size": None,
            "precision": best["precision"],
            "compile": best["compile"],
            "channels_last": True,
            "batch_size": best["batch_size"],
            "num_workers": best["num_workers"],
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
        "preprocess": {
            "thumbnail_mpp": 8.0,
            "min_tissue_fraction": 0.5,
            "skip_slides_without_tissue": False,
            "max_patches_per_patient": None,
        },
        "seed": 0,
        "device": "cpu",
    }
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "big.h5"
        cmd = [
            str(Path(sys.executable).parent / "mmlego"),
            "encode-slide",
            "--config",
            json.dumps(config),
            "--slide",
            str(big),
            "--item-id",
            "big",
            "--threads",
            str(os.cpu_count()),
            "--out",
            str(h5),
        ]
        rss = peak_rss_of(cmd)
        import h5py

        with h5py.File(h5) as f:
            rss["patches"] = int(f["features"].shape[0])
            rss["read_level"] = int(f.attrs["patch_level"])
    rss["slide_px"] = args.big_slide
    rss["slide_bytes"] = big.stat().st_size
    rss["setting"] = best["name"]
    report["big_slide"] = rss
    print("big slide", rss, flush=True)


def markdown(r: dict) -> str:
    """The report as a Markdown page."""
    cpu = r["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none"
    ceil = r["matmul_ceiling_gflops"]
    lines = [
        "# Patch encoding benchmark",
        "",
        f"CPU: {cpu['model']}, {cpu['logical_cores']} logical cores; flags: {flags}; "
        f"AMX: {'yes' if cpu['amx'] else 'no'}; torch {cpu['torch']} with {cpu['torch_threads']} threads.",
        "",
        f"Encoder {r['arch']} (random init), {r['patch_size']} px patches, {r['patches']} patches "
        f"read from a generated slide; {r['gflop_per_patch']:.2f} GFLOP per patch (torch's count).",
        f"Matmul ceiling (2048², same run and threads): fp32 {ceil['fp32']:.0f} GFLOP/s, "
        f"bf16 {ceil['bf16']:.0f} GFLOP/s.",
        "",
        "| method | patches/s (end to end) | x naive | GFLOP/s | % of ceiling (same dtype) "
        "| model-only patches/s | model-only % of ceiling | min cosine vs fp32 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| naive loop (1 patch, fp32, no workers) | {r['naive']['patches_per_s']:.1f} | 1.0 | "
        f"{r['naive']['gflops']:.0f} | {100 * r['naive']['gflops'] / ceil['fp32']:.0f}% | "
        f"{r['naive']['model_patches_per_s']:.1f} | | |",
    ]
    for run in r["pipeline"]:
        lines.append(
            f"| {run['name']} (batch {run['batch_size']}, {run['num_workers']} worker, channels_last) "
            f"| {run['patches_per_s']:.1f} | {run['speedup_vs_naive']:.1f} | {run['gflops']:.0f} | "
            f"{100 * run['fraction_of_ceiling']:.0f}% | {run['model_patches_per_s']:.1f} | "
            f"{100 * run['model_fraction_of_ceiling']:.0f}% | {run['min_cosine_vs_fp32']:.4f} |"
        )
    lines += ["", f"Best setting: **{r['best']}**."]
    if "big_slide" in r:
        b = r["big_slide"]
        lines += [
            "",
            f"Big slide: {b['slide_px']} x {b['slide_px']} px ({b['slide_bytes'] / 1e9:.2f} GB file), "
            f"{b['patches']} patches read from level {b['read_level']} with the best setting: peak RSS "
            f"{b['peak_rss_main_gb']:.2f} GB (main process), {b['peak_rss_tree_gb']:.2f} GB "
            f"(with loader workers, shared pages counted twice), {b['seconds']:.0f} s.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
