"""Patch-encoding throughput and memory: naive loop vs the pipeline, end to end vs model only.

Run from the repository root (about 20-40 minutes on 2 cores: compiling, the naive loop and
writing the big slide take most of it):

    .venv/bin/python benchmarks/encode_benchmark.py

It writes ``results/benchmarks/encode.json`` and ``encode.md`` with:

- what the CPU has (model, cores, AVX-512 / AMX flags), torch's view of it, and the load
  average at the start and end of the run (numbers on a shared machine are noisy);
- where the time of one patch goes: thread CPU time (little inflated by other processes) of
  the OpenSlide read, the resize and the model on one thread, per precision and with
  BatchNorm folded or not;
- the same patches, read from a generated slide, encoded by (a) a naive loop (one patch at a
  time, fp32, eager, no loader workers) and (b) the pipeline's settings. For each setting the
  end-to-end rate (the DataLoader or reader thread and ``encode_batches`` exactly as
  ``mmlego encode-slide`` runs them, torch threads as ``load_encoder`` sets them) and the
  model alone on the same batches already in memory, same threads, side by side: patches/s,
  the end-to-end fraction of the model-only rate, GFLOP/s and the fraction of the matmul
  ceiling measured in the same run, dtype and number of torch threads, and the model's GFLOP
  per CPU second against one core's ceiling (which holds when other processes share the
  cores). Each rate is the best of ``--repeats`` interleaved runs; the warm-up (and
  compilation) is excluded and reported;
- the ceiling: the best square matmul over a few sizes, per dtype and torch thread count
  (each size warmed up, reusing its output, timed as the best of passes of many calls like
  the model), and a compute-heavy convolution as a reference of the model's own kind of work;
- the compiled bf16 model alone at several batch sizes on one thread, with the system time
  and page faults per patch that make large batches slower on a CPU;
- the peak RSS of ``mmlego encode-slide`` on a >= 40k x 40k px generated slide.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from machine import CEILING_SIZES, cpu_info, matmul_rate, sustained_rate
from torch.utils.flop_counter import FlopCounterMode

from mmlego.demo.slides import write_slide
from mmlego.preprocess.encode import encode_batches, make_loader, stream
from mmlego.preprocess.encoder import build_encoder, prepare_for_inference
from mmlego.preprocess.grid import PatchGrid
from mmlego.preprocess.patches import SlidePatches
from mmlego.preprocess.pipeline import lay_out_slide
from mmlego.preprocess.slide import Slide, resize_rgb
from mmlego.utils.atomic import write_json_atomic, write_text_atomic
from mmlego.utils.provenance import provenance


def conv_rate(dtype: torch.dtype, batch: int) -> float:
    """Sustained GFLOP/s of a compute-heavy convolution (3x3, 256 to 256 channels, 32x32 px).

    A reference in the model's own kind of work: channels_last, oneDNN, same dtype.
    """
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype=dtype).eval()
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 256, 32, 32).to(dtype=dtype, memory_format=torch.channels_last)
    with torch.inference_mode():
        return sustained_rate(lambda: conv(x), 2 * batch * 32 * 32 * 256 * 256 * 9)


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
            patch = torch.from_numpy(np.array(dataset[index]))[None]
            t = time.perf_counter()
            features.append(model(patch).numpy())
            model_time += time.perf_counter() - t
    total = time.perf_counter() - start
    n = len(dataset)
    return {"patches_per_s": n / total, "model_patches_per_s": n / model_time, "seconds": total}


def prepared(arch: str, precision: str, compile_model: bool) -> torch.nn.Module:
    """The encoder as the pipeline prepares it (BatchNorm folded, cast, maybe compiled)."""
    model, _ = build_encoder(arch, weights=None, seed=0)
    return prepare_for_inference(
        model,
        device=torch.device("cpu"),
        precision=precision,
        channels_last=True,
        compile_model=compile_model,
    )


def batch_sweep(model, patches: torch.Tensor, sizes: list[int], repeats: int) -> dict:
    """Model-only CPU per patch of a compiled encoder at each batch size, on one thread.

    ``patches`` (N, H, W, 3) uint8 are tiled to each batch size; each size compiles its own
    graph first (``dynamic=False``). Best of ``repeats`` interleaved passes of >= 64 patches,
    with the user / system split and the minor page faults per patch of that pass: a batch
    whose activations outgrow the C allocator's reuse threshold maps fresh pages every call.
    """
    torch.set_num_threads(1)
    inputs = {b: patches[torch.arange(b) % len(patches)].contiguous() for b in sizes}
    best: dict[int, dict] = {}
    with torch.inference_mode():
        for b in sizes:
            model(inputs[b])
        for _ in range(repeats):
            for b, x in inputs.items():
                calls = max(1, 64 // b)
                before = resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(calls):
                    model(x)
                after = resource.getrusage(resource.RUSAGE_SELF)
                n = calls * b
                run = {
                    "user_ms": 1e3 * (after.ru_utime - before.ru_utime) / n,
                    "sys_ms": 1e3 * (after.ru_stime - before.ru_stime) / n,
                    "minor_faults": (after.ru_minflt - before.ru_minflt) / n,
                }
                run["cpu_ms"] = run["user_ms"] + run["sys_ms"]
                if b not in best or run["cpu_ms"] < best[b]["cpu_ms"]:
                    best[b] = run
    return {str(b): best[b] for b in sizes}


def stage_costs(dataset: SlidePatches, models: dict[str, torch.nn.Module], batch: int) -> dict:
    """Thread CPU ms per patch of each stage, on one thread (see the module docstring).

    ``models`` maps a label to a ready encoder; each runs one batch after a warm-up batch.
    """
    torch.set_num_threads(1)
    n = min(len(dataset), 64)
    size, out = dataset.read_size, dataset.out_size
    costs: dict[str, float] = {}
    with Slide(dataset.path) as slide:
        t = time.thread_time()
        regions = [
            slide.read_region(x, y, dataset.level, size, size) for x, y in dataset.coords[:n]
        ]
        costs["read (OpenSlide decode, RGBA to RGB)"] = (time.thread_time() - t) / n * 1e3
    t = time.thread_time()
    patches = [resize_rgb(r, out, out) for r in regions]
    costs[f"resize {size} to {out} px"] = (time.thread_time() - t) / n * 1e3
    x = torch.from_numpy(np.stack([patches[i % n] for i in range(batch)]))
    for label, model in models.items():
        with torch.inference_mode():
            model(x)
            t = time.thread_time()
            model(x)
            costs[f"model {label}"] = (time.thread_time() - t) / batch * 1e3
    return costs


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (loader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed_encode(
    model, batches, *, n: int, dim: int, pad_to: int | None
) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds to encode ``batches`` (uint8) with ``encode_batches``; features.

    CPU seconds include the loader's worker processes (they exit when the loop ends).
    """
    start, cpu = time.perf_counter(), cpu_seconds()
    features = encode_batches(
        model,
        batches,
        device=torch.device("cpu"),
        dim=dim,
        total=n,
        desc="bench",
        pad_to=pad_to,
    )
    return time.perf_counter() - start, cpu_seconds() - cpu, features


def pipeline_runs(
    model: torch.nn.Module, dataset: SlidePatches, setting: dict, dim: int, repeats: int
) -> tuple[list[dict], np.ndarray]:
    """End to end and model only, for each loader of ``setting``, best of ``repeats`` each.

    End to end: a fresh loader and ``stream`` as in ``encode-slide``. Model only: the same
    batches already in memory through the same ``encode_batches``, same torch threads. Also
    returns the features (for the agreement between precisions).
    """
    batch, n = setting["batch_size"], len(dataset)
    pad_to = batch if setting["compile"] else None
    in_memory = [x for x in make_loader(dataset, batch_size=batch, num_workers=0)]
    cores = os.cpu_count() or 1
    results = []
    for workers in setting["num_workers"]:
        torch.set_num_threads(max(1, cores - workers))  # as load_encoder with --threads = cores
        e2e = alone = e2e_cpu = alone_cpu = float("inf")
        for _ in range(repeats):
            loader = make_loader(dataset, batch_size=batch, num_workers=workers)
            seconds, cpu, _ = timed_encode(model, stream(loader), n=n, dim=dim, pad_to=pad_to)
            e2e, e2e_cpu = min(e2e, seconds), min(e2e_cpu, cpu)
            seconds, cpu, features = timed_encode(model, in_memory, n=n, dim=dim, pad_to=pad_to)
            alone, alone_cpu = min(alone, seconds), min(alone_cpu, cpu)
        results.append(
            {
                "name": f"{setting['name']}, "
                + (f"{workers} loader worker" if workers else "reader thread"),
                "precision": setting["precision"],
                "compile": setting["compile"],
                "batch_size": batch,
                "num_workers": workers,
                "torch_threads": torch.get_num_threads(),
                "patches_per_s": n / e2e,
                "model_patches_per_s": n / alone,
                "fraction_of_model_only": alone / e2e,
                "cpu_ms_per_patch": 1e3 * e2e_cpu / n,
                "model_cpu_ms_per_patch": 1e3 * alone_cpu / n,
            }
        )
        print(results[-1], flush=True)
    return results, features


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
    parser.add_argument(
        "--patches",
        type=int,
        default=96,
        help="patches encoded by each pipeline setting (a compiled model pads a short last "
        "batch: keep this a few batches long, or the padding weighs more than on a slide)",
    )
    parser.add_argument("--naive-patches", type=int, default=16, help="patches of the naive loop")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--sweep-batches",
        default="4,8,16,32,64,128",
        help="batch sizes of the compiled bf16 model-only sweep (empty: skip)",
    )
    parser.add_argument(
        "--workers", default="1,0", help="loader workers to compare (0: the reader thread)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs; best is kept")
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
    report["load_average_start"] = os.getloadavg()[0]
    print(json.dumps(report["cpu"], indent=1), flush=True)
    if "ratios" in parts:
        measure_ratios(args, work, report)
    if "rss" in parts and args.big_slide:
        measure_rss(args, work, report)
    report["load_average_end"] = os.getloadavg()[0]
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
    # The ceiling at every torch thread count a setting runs with (cores minus workers), and
    # on one core (for the efficiency per CPU second).
    cores = os.cpu_count() or 1
    thread_counts = sorted({max(1, cores - int(w)) for w in args.workers.split(",")} | {1, cores})
    # The headline ceiling is the best square matmul over a few sizes: the rate peaks at a
    # different size per dtype and thread count, and one size alone would flatter the model.
    by_size: dict[str, dict[str, dict[str, float]]] = {}
    convs: dict[str, dict[str, float]] = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        by_size[str(threads)] = {
            name: {str(n): matmul_rate(dtype, n) for n in CEILING_SIZES}
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
        }
        convs[str(threads)] = {
            name: conv_rate(dtype, args.batch_size)
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
        }
    ceilings = {t: {d: max(r.values()) for d, r in rates.items()} for t, rates in by_size.items()}
    report["matmul_ceiling_gflops"] = ceilings
    report["matmul_gflops_by_size"] = by_size
    report["conv_gflops"] = convs
    print("matmul by torch threads and size", by_size, "conv", convs, flush=True)

    naive_set = SlidePatches(slide_path, sub_grid(grid, args.naive_patches))
    report["naive"] = naive(model, naive_set)
    report["naive"]["patches"] = len(naive_set)
    report["naive"]["gflops"] = report["naive"]["patches_per_s"] * flops / 1e9
    print("naive", report["naive"], flush=True)
    # The eager model with BatchNorm as separate layers, for the stage costs only.
    unfolded = {
        dtype: build_encoder(args.arch, weights=None, seed=0)[0].to(
            dtype=torch.bfloat16 if dtype == "bf16" else torch.float32,
            memory_format=torch.channels_last,
        )
        for dtype in ("fp32", "bf16")
    }
    stage_models = {f"{d} eager, BatchNorm not folded": m for d, m in unfolded.items()}
    workers = [int(w) for w in args.workers.split(",")]
    settings = [
        {"name": "fp32 eager", "precision": "fp32", "compile": False},
        {"name": "bf16 eager", "precision": "bf16", "compile": False},
        {"name": "bf16 compiled", "precision": "bf16", "compile": True},
    ]
    runs, reference, compiled = [], None, None
    for setting in settings:
        setting = {**setting, "batch_size": args.batch_size, "num_workers": workers}
        ready = prepared(args.arch, setting["precision"], setting["compile"])
        compiled = ready if setting["compile"] else compiled
        warm = [next(iter(make_loader(dataset, batch_size=args.batch_size, num_workers=0)))]
        torch.set_num_threads(os.cpu_count() or 1)
        t = time.perf_counter()
        timed_encode(
            ready,
            warm,
            n=len(warm[0]),
            dim=info.dim,
            pad_to=args.batch_size if setting["compile"] else None,
        )
        warmup = time.perf_counter() - t
        results, features = pipeline_runs(ready, dataset, setting, info.dim, args.repeats)
        reference = features if reference is None else reference
        cos = (features * reference).sum(1) / (
            np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
        )
        dtype = setting["precision"]
        for result in results:
            ceiling = ceilings[str(result["torch_threads"])][dtype]
            result["warmup_seconds"] = warmup
            result["min_cosine_vs_fp32"] = float(cos.min())
            result["speedup_vs_naive"] = result["patches_per_s"] / report["naive"]["patches_per_s"]
            result["gflops"] = result["patches_per_s"] * flops / 1e9
            result["model_gflops"] = result["model_patches_per_s"] * flops / 1e9
            result["fraction_of_ceiling"] = result["gflops"] / ceiling
            result["model_fraction_of_ceiling"] = result["model_gflops"] / ceiling
        runs += results
        stage_models[setting["name"] + (", BatchNorm folded" if not setting["compile"] else "")] = (
            ready
        )
    report["pipeline"] = runs
    report["best"] = max(runs, key=lambda r: r["patches_per_s"])["name"]
    report["stage_cpu_ms_per_patch"] = stage_costs(dataset, stage_models, args.batch_size)
    print("stages", report["stage_cpu_ms_per_patch"], flush=True)
    sizes = [int(b) for b in args.sweep_batches.split(",") if b]
    if sizes:
        patches = torch.cat(list(make_loader(dataset, batch_size=len(dataset), num_workers=0)))
        sweep = batch_sweep(compiled, patches, sizes, args.repeats + 1)
        report["batch_sweep"] = {"setting": "bf16 compiled, model only", "by_batch": sweep}
        print("batch sweep", sweep, flush=True)


def measure_rss(args: argparse.Namespace, work: Path, report: dict) -> None:
    """Peak RSS of ``mmlego encode-slide`` on the big generated slide, with the best setting."""
    best = next(
        (r for r in report.get("pipeline", []) if r["name"] == report.get("best")),
        {
            "name": "bf16 compiled",
            "precision": "bf16",
            "compile": True,
            "batch_size": 8,
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


def per_cpu_second(run: dict, r: dict) -> float:
    """Model-only GFLOP per CPU second over one core's matmul ceiling (same dtype).

    CPU time counts only the time the model had a core, so this efficiency holds when other
    processes take turns on the cores, which wall-clock rates do not.
    """
    one_core = r["matmul_ceiling_gflops"]["1"][run["precision"]]
    return r["gflop_per_patch"] / (run["model_cpu_ms_per_patch"] / 1e3) / one_core


def markdown(r: dict) -> str:
    """The report as a Markdown page."""
    cpu = r["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none"
    ceilings = r["matmul_ceiling_gflops"]
    ceil = ceilings[str(cpu["torch_threads"])]
    naive_run = r["naive"]
    lines = [
        "# Patch encoding benchmark",
        "",
        f"CPU: {cpu['model']}, {cpu['logical_cores']} logical cores; flags: {flags}; "
        f"AMX: {'yes' if cpu['amx'] else 'no'}; torch {cpu['torch']}. Load average (1 min) "
        f"{r['load_average_start']:.1f} at the start, {r['load_average_end']:.1f} at the end "
        "(other processes share the cores: rates are lower bounds, ratios are measured side by "
        "side).",
        "",
        f"Encoder {r['arch']} (random init), {r['patch_size']} px patches, {r['patches']} patches "
        f"read from a generated slide; {r['gflop_per_patch']:.2f} GFLOP per patch (torch's count).",
        "Matmul ceiling (same run; the best square matmul of sizes "
        + ", ".join(f"{n}²" for n in CEILING_SIZES)
        + ") by torch threads: "
        + "; ".join(
            f"{t} thread(s): fp32 {c['fp32']:.0f}, bf16 {c['bf16']:.0f} GFLOP/s"
            for t, c in ceilings.items()
        )
        + ". Each setting is compared with the ceiling at its own thread count and dtype (with 2 "
        "threads both are wall-clock and depend on whether the other core was free at the "
        "time, so a fraction above 100% means the ceiling ran while another process held a "
        "core; the per-CPU-second column against one core does not depend on the load). "
        "By size (GFLOP/s): "
        + "; ".join(
            f"{t} thread(s) {d} " + ", ".join(f"{n}²: {v:.0f}" for n, v in sizes.items())
            for t, dtypes in r["matmul_gflops_by_size"].items()
            for d, sizes in dtypes.items()
        )
        + f". {cpu.get('threads_per_core')} thread(s) per core as the OS sees it; with "
        f"{cpu['logical_cores']} threads the bf16 matmul ceiling is "
        f"{ceilings[str(cpu['logical_cores'])]['bf16'] / ceilings['1']['bf16']:.1f}x one "
        "thread's (about 2x means each logical core has its own matrix unit, not SMT "
        "siblings sharing one)"
        + ". A compute-heavy convolution of the model's kind (3x3, 256 to 256 channels, "
        "32x32 px, channels_last): "
        + "; ".join(
            f"{t} thread(s): fp32 {c['fp32']:.0f}, bf16 {c['bf16']:.0f} GFLOP/s"
            for t, c in r["conv_gflops"].items()
        )
        + ".",
        "",
        "End to end (read + resize + normalise + model, as `mmlego encode-slide` runs it) and the "
        "model alone on the same batches already in memory, same torch threads:",
        "",
        "| setting | torch threads | end-to-end patches/s | model-only patches/s "
        "| end to end / model only | x naive | end-to-end % of ceiling | model-only % of ceiling "
        "| CPU ms/patch end to end | CPU ms/patch model only | model-only % of one core's ceiling "
        "per CPU second | warm-up s | min cosine vs fp32 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| naive loop (1 patch, fp32, no workers; {naive_run['patches']} patches) | "
        f"{cpu['torch_threads']} | {naive_run['patches_per_s']:.2f} | "
        f"{naive_run['model_patches_per_s']:.2f} | "
        f"{naive_run['model_patches_per_s'] and naive_run['patches_per_s'] / naive_run['model_patches_per_s']:.0%} "
        f"| 1.0 | {naive_run['gflops'] / ceil['fp32']:.0%} | | | | | | |",
    ]
    for run in r["pipeline"]:
        lines.append(
            f"| {run['name']} (batch {run['batch_size']}) | {run['torch_threads']} "
            f"| {run['patches_per_s']:.2f} | {run['model_patches_per_s']:.2f} "
            f"| {run['fraction_of_model_only']:.0%} | {run['speedup_vs_naive']:.1f} "
            f"| {run['fraction_of_ceiling']:.0%} | {run['model_fraction_of_ceiling']:.0%} "
            f"| {run['cpu_ms_per_patch']:.1f} | {run['model_cpu_ms_per_patch']:.1f} "
            f"| {per_cpu_second(run, r):.0%} "
            f"| {run['warmup_seconds']:.0f} | {run['min_cosine_vs_fp32']:.4f} |"
        )
    lines += ["", f"Best setting end to end: **{r['best']}**.", ""]
    compiled = [run for run in r["pipeline"] if run["compile"] and run["precision"] == "bf16"]
    if compiled:
        best = max(per_cpu_second(run, r) for run in compiled)
        conv = r["gflop_per_patch"] / min(run["model_cpu_ms_per_patch"] for run in compiled) * 1e3
        lines += [
            f"bf16 + compile, model only, per CPU second: **{best:.0%}** of one core's bf16 "
            f"matmul ceiling (target 60%: {'met' if best >= 0.6 else 'not met'}), "
            f"{conv / r['conv_gflops']['1']['bf16']:.0%} of one core's bf16 convolution rate.",
            "",
        ]
    lines += [
        "Where the time of one patch goes (thread CPU ms per patch, one torch thread):",
        "",
        "| stage | CPU ms / patch |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in r["stage_cpu_ms_per_patch"].items()]
    if "batch_sweep" in r:
        one_core, one_conv = ceilings["1"]["bf16"], r["conv_gflops"]["1"]["bf16"]
        lines += [
            "",
            f"Batch size, {r['batch_sweep']['setting']}, one torch thread (process CPU per "
            "patch, best pass; minor page faults per patch of that pass):",
            "",
            "| batch | CPU ms / patch | user ms | system ms | minor faults / patch "
            "| GFLOP per CPU second | % of one core's bf16 matmul ceiling "
            "| % of one core's bf16 convolution rate |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for b, s in sorted(r["batch_sweep"]["by_batch"].items(), key=lambda kv: int(kv[0])):
            rate = r["gflop_per_patch"] / (s["cpu_ms"] / 1e3)
            lines.append(
                f"| {b} | {s['cpu_ms']:.2f} | {s['user_ms']:.2f} | {s['sys_ms']:.2f} "
                f"| {s['minor_faults']:.0f} | {rate:.0f} | {rate / one_core:.0%} "
                f"| {rate / one_conv:.0%} |"
            )
    if "big_slide" in r:
        b = r["big_slide"]
        lines += [
            "",
            f"Big slide: {b['slide_px']} x {b['slide_px']} px ({b['slide_bytes'] / 1e9:.2f} GB file), "
            f"{b['patches']} patches read from level {b['read_level']} with {b['setting']}: peak RSS "
            f"{b['peak_rss_main_gb']:.2f} GB (main process), {b['peak_rss_tree_gb']:.2f} GB "
            f"(with loader workers, shared pages counted twice), {b['seconds']:.0f} s.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
