"""The training loop against the bare block's training step, and the block against the machine.

Goal (issue 16): the loop's samples/s within 1.5x of the bare block's training step at the
same shapes and batch size. Cases, a survival task with a LegoBlock at the reference
defaults (64 x 64 latent, depth 2) on a generated split of ``--patients`` (70/15/15 %):

- tabular: 10 features, batch 32 (a real cohort's clinical table);
- MIMIC time series: 24 steps x 12 variables with a missingness mask, batch 32 and 256.

For each case, in one process and interleaved ``--repeats`` times (the best of each kept):

- **bare step**: forward, the task loss, ``zero_grad``, backward, gradient clipping and the
  AdamW step, on one batch already in memory, exactly the model work of one loop step;
- **loop**: :func:`mmlego.train.loop.fit` for ``--epochs`` epochs: train patients per second
  of epoch, where an epoch includes batch assembly, the validation pass and its metric (the
  first epoch, which also builds the datasets, is left out);
- where the loop's epoch goes: the bare steps' share, batch assembly alone (the loader
  iterated without a model) and the validation pass with its metric;
- samples per CPU second as well as per wall second: CPU time of this process is little
  inflated by other processes on a shared machine, so that ratio is the one to trust;
- achieved GFLOP/s of the bare step (matmul-class FLOPs of forward + backward counted by
  torch's FlopCounterMode, the CPU attention kernel included; the FFTs are not counted)
  against the best square-matmul rate at the same torch thread count, measured in the same run (``machine.matmul_ceiling``), both
  per CPU second;
- optionally the bare step compiled as ``train.compile: true`` compiles it (``--compile``:
  the block's real-valued parts, encoder network, update steps and head, through
  ``torch.compile``; the latent's FFT stays eager, as inductor generates no code for complex
  operators), with its compile time.

Usage: ``python benchmarks/train_loop.py [--out results/benchmarks] [--quick]``; writes
``train_loop.json`` and ``train_loop.md``. The load average at the start and end is reported.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import counted_flops, cpu_info, load_average, matmul_ceiling
from summary import write_report

from mmlego.data.store import ModalityData
from mmlego.data.transforms import SplitData
from mmlego.models.lego import LegoBlock
from mmlego.models.losses import TaskLoss
from mmlego.train.data import PatientDataset
from mmlego.train.loop import compile_for_training, fit, predict
from mmlego.train.monitor import validation_metric


@dataclass(frozen=True)
class Case:
    """One benchmark case: a modality kind, the shape of one patient's input and a batch size."""

    name: str
    kind: str
    shape: tuple[int, ...]
    batch_size: int


CASES = (
    Case("tabular 10 features, batch 32", "vector", (10,), 32),
    Case("time series 24 x 12, batch 32", "series", (24, 12), 32),
    Case("time series 24 x 12, batch 256", "series", (24, 12), 256),
)
TRAIN = {  # the schema's defaults, with patience out of the way
    "lr": 1e-4,
    "weight_decay": 1e-5,
    "patience": 1000,
    "scheduler": "none",
    "grad_clip": 1.0,
    "survival_alpha": 0.4,
    "class_weights": False,
}


def generated_split(case: Case, patients: int, seed: int = 0) -> SplitData:
    """A survival split of ``patients`` with one modality of ``case``'s kind and shape."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(patients)])
    values = rng.normal(size=(patients, *case.shape)).astype(np.float32)
    mask = rng.random(values.shape) > 0.3 if case.kind == "series" else None
    if mask is not None:
        values[~mask] = 0.0
    names = [f"f{j}" for j in range(case.shape[-1])]
    mod = ModalityData("m", case.kind, ids, np.ones(patients, bool), values, names, mask=mask)
    time_ = rng.exponential(10.0, patients)
    event = (rng.random(patients) < 0.6).astype(int)
    labels = pd.DataFrame({"patient_id": ids, "time": time_, "event": event})
    inner = np.quantile(time_[event == 1], [0.25, 0.5, 0.75]).tolist()
    a, b = int(0.7 * patients), int(0.85 * patients)
    sets = {"train": ids[:a].tolist(), "val": ids[a:b].tolist(), "test": ids[b:].tolist()}
    return SplitData("survival", 4, [0.0, *inner, float("inf")], None, labels, sets, {"m": mod})


def new_block(case: Case) -> LegoBlock:
    torch.manual_seed(0)
    return LegoBlock(modality="m", kind=case.kind, in_dim=case.shape[-1], n_out=4)


class BareStep:
    """The loop's model work on one in-memory batch: forward, loss, backward, clip, AdamW."""

    def __init__(self, case: Case, data: SplitData, *, compiled: bool = False) -> None:
        self.block = new_block(case).train()
        if compiled:
            compile_for_training(self.block)  # what train.compile does in the loop
        self.forward = self.block
        self.optimizer = torch.optim.AdamW(
            self.block.parameters(), lr=TRAIN["lr"], weight_decay=TRAIN["weight_decay"]
        )
        dataset = PatientDataset(data, data.sets["train"])
        self.batch, self.targets, _ = dataset.collate(range(case.batch_size))
        self.loss_fn = TaskLoss("survival", alpha=TRAIN["survival_alpha"])
        self.size = case.batch_size

    def __call__(self) -> None:
        loss = self.loss_fn(self.forward(self.batch), self.targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.block.parameters(), TRAIN["grad_clip"])
        self.optimizer.step()

    def flops(self) -> float:
        """Matmul-class FLOPs of one forward + backward (2 per multiply-add)."""
        flops = counted_flops(lambda: self.loss_fn(self.block(self.batch), self.targets).backward())
        self.optimizer.zero_grad(set_to_none=True)
        return flops


def timed(op, samples: int) -> dict[str, float]:
    """Samples per wall second and per CPU second of this process for one call of ``op``."""
    wall, cpu = time.perf_counter(), time.process_time()
    op()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": samples / wall, "cpu": samples / max(cpu, 1e-9)}


def best(rates: list[dict[str, float]]) -> dict[str, float]:
    return {key: max(r[key] for r in rates) for key in ("wall", "cpu")}


def bare_pass(step: BareStep, steps: int) -> dict[str, float]:
    def run() -> None:
        for _ in range(steps):
            step()

    return timed(run, steps * step.size)


def loop_epochs(case: Case, data: SplitData, epochs: int) -> list[dict[str, float]]:
    """Train patients per wall and CPU second of each epoch after the first."""
    marks: list[tuple[float, float]] = []

    def mark(*_: object) -> None:
        marks.append((time.perf_counter(), time.process_time()))

    block = new_block(case)
    cfg = {**TRAIN, "epochs": epochs, "batch_size": case.batch_size}
    fit(block, data, cfg, require=["m"], seed=0, on_epoch_end=mark)
    n_train = len(data.sets["train"])
    return [
        {"wall": n_train / (w1 - w0), "cpu": n_train / max(c1 - c0, 1e-9)}
        for (w0, c0), (w1, c1) in itertools.pairwise(marks)
    ]


def epoch_parts(case: Case, data: SplitData) -> dict[str, float]:
    """Wall seconds per epoch of batch assembly alone and of the validation pass + metric."""
    train = PatientDataset(data, data.sets["train"])
    start = time.perf_counter()
    for _ in train.loader(case.batch_size, shuffle=True, seed=0):
        pass
    assembly = time.perf_counter() - start
    block = new_block(case)
    val = PatientDataset(data, data.sets["val"])
    loss_fn = TaskLoss("survival", alpha=TRAIN["survival_alpha"])
    start = time.perf_counter()
    logits, targets, _ = predict(block, val)
    float(loss_fn(logits, targets))
    validation_metric("survival", logits, targets)
    return {"assembly_s": assembly, "validation_s": time.perf_counter() - start}


def run_case(case: Case, args: argparse.Namespace, ceiling: float) -> dict:
    data = generated_split(case, args.patients)
    n_train = len(data.sets["train"])
    steps = max(3, int(args.bare_samples // case.batch_size))
    step = BareStep(case, data)
    flops_per_sample = step.flops() / case.batch_size
    for _ in range(3):
        step()  # warm-up
    bare, loop, parts = [], [], []
    for _ in range(args.repeats):
        bare.append(bare_pass(step, steps))
        loop += loop_epochs(case, data, args.epochs)
        parts.append(epoch_parts(case, data))
    bare_best, loop_best = best(bare), best(loop)
    result = {
        "case": case.name,
        "kind": case.kind,
        "shape": list(case.shape),
        "batch_size": case.batch_size,
        "train_patients": n_train,
        "val_patients": len(data.sets["val"]),
        "bare_samples_per_s": bare_best,
        "loop_samples_per_s": loop_best,
        "ratio_wall": bare_best["wall"] / loop_best["wall"],
        "ratio_cpu": bare_best["cpu"] / loop_best["cpu"],
        "epoch_s": n_train / loop_best["wall"],
        "bare_steps_s": n_train / bare_best["wall"],
        "assembly_s": min(p["assembly_s"] for p in parts),
        "validation_s": min(p["validation_s"] for p in parts),
        "gflop_per_sample": flops_per_sample / 1e9,
        "achieved_gflops": flops_per_sample * bare_best["cpu"] / 1e9,
        "ceiling_fraction": flops_per_sample * bare_best["cpu"] / 1e9 / ceiling,
    }
    if args.compile and case.kind == "series":
        start = time.perf_counter()
        compiled = BareStep(case, data, compiled=True)
        for _ in range(3):
            compiled()
        result["compile_s"] = time.perf_counter() - start
        eager, comp = [], []
        for _ in range(args.repeats):
            eager.append(bare_pass(step, steps))
            comp.append(bare_pass(compiled, steps))
        result["compiled_samples_per_s"] = best(comp)
        result["compiled_speedup_cpu"] = best(comp)["cpu"] / best(eager)["cpu"]
    return result


def markdown(report: dict) -> str:
    rows = report["cases"]
    lines = [
        f"Training loop vs the bare block's training step ({report['patients']:,} generated "
        f"patients, survival, LegoBlock 64 x 64 latent, depth 2, fp32, {report['threads']} torch "
        f"thread(s); best of {report['repeats']} interleaved repeats; load average "
        f"{report['load_average_start']:.1f} at the start, {report['load_average_end']:.1f} at "
        "the end). Ratio = bare samples/s over loop samples/s (goal <= 1.5); per CPU second is "
        "the figure a shared machine inflates least.",
        "",
        "| case | bare samples/s (wall / CPU) | loop samples/s (wall / CPU) | ratio wall | "
        "ratio CPU | epoch s: bare steps / assembly / validation / whole |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        b, lp = r["bare_samples_per_s"], r["loop_samples_per_s"]
        lines.append(
            f"| {r['case']} | {b['wall']:,.0f} / {b['cpu']:,.0f} | {lp['wall']:,.0f} / "
            f"{lp['cpu']:,.0f} | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} | "
            f"{r['bare_steps_s']:.1f} / {r['assembly_s']:.2f} / {r['validation_s']:.2f} / "
            f"{r['epoch_s']:.1f} |"
        )
    lines += [
        "",
        f"Achieved GFLOP/s of the bare step against the matmul ceiling "
        f"({report['matmul_ceiling_gflops']:.1f} GFLOP/s fp32 at {report['threads']} "
        "thread(s), same run); both per CPU second:",
        "",
        "| case | GFLOP per sample (fwd + bwd) | achieved GFLOP/s | fraction of ceiling | "
        "torch.compile: speed-up / compile s |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        compiled = (
            f"{r['compiled_speedup_cpu']:.2f}x / {r['compile_s']:.0f}"
            if "compiled_speedup_cpu" in r
            else "not measured"
        )
        lines.append(
            f"| {r['case']} | {r['gflop_per_sample']:.4f} | {r['achieved_gflops']:.1f} | "
            f"{r['ceiling_fraction']:.1%} | {compiled} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (first not timed)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; best kept")
    parser.add_argument("--bare-samples", type=int, default=2048, help="samples per bare pass")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train jobs: 1)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--quick", action="store_true", help="2,000 patients, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.patients, args.repeats, args.epochs, args.bare_samples = 2000, 1, 2, 512
    torch.set_num_threads(args.threads)
    report = {
        "patients": args.patients,
        "threads": args.threads,
        "repeats": args.repeats,
        "load_average_start": load_average(),
        "cpu": cpu_info(),
        "matmul_ceiling_gflops": matmul_ceiling(torch.float32, args.threads, time.process_time),
    }
    report["cases"] = []
    for case in CASES:
        result = run_case(case, args, report["matmul_ceiling_gflops"])
        print(result, flush=True)
        report["cases"].append(result)
    report["load_average_end"] = load_average()
    write_report(args.out, "train_loop", report, markdown(report))


if __name__ == "__main__":
    main()
