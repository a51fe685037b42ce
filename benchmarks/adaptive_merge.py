"""Adaptive LegoMerge: ways of choosing the merge weights λ on validation, against the best block.

Issue 18's goal is an adaptive LegoMerge at or above the best single LegoBlock on every demo
dataset and on a real cohort with one dominant modality, with no training. This benchmark
runs two studies (the demo's four datasets, and scikit-survival's GBSG2 and WHAS500 through
``kind: generic``) with the blocks and every composition the workflow makes, then, on each
split's trained blocks, chooses λ by each variant of :data:`VARIANTS` on the validation
patients only and scores the merge on the test patients. The table gives each model's test
metric and its paired per-split difference from the best block (the block of highest mean
test metric over the splits, a yardstick no variant may use).

    python benchmarks/adaptive_merge.py --out results/adaptive_merge --cores 2

``--study demo`` or ``--study cohorts`` runs one study; ``--dataset`` keeps only the named
datasets in the studies (they alone are trained and scored); ``--repeats N`` sets every study's
``splits.repeats`` (5 by default; give it its own ``--out``, e.g. a GBSG2-only study over 20
splits: ``--study cohorts --dataset gbsg2 --repeats 20 --out results/adaptive_merge_20``);
``--report-only`` rescores finished studies.

Besides single choices on the whole validation set (a margin over equal weights, the metric or
the loss), the variants include ways meant to be steadier on ~100 patients: a bagged λ (the
mean of the λs chosen on bootstrap resamples), a shrunk λ (a·λ* + (1 − a)·equal, with a chosen
on halves of the validation patients), a penalty toward the best validation block, and the fit
of a one-parameter recalibration (blind to the scale of the merged logits). DAMC is rescored
with a subset of them (:data:`DAMC_VARIANTS`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from cohort_studies import COHORTS, REPO, export_cohort, run_study, runs_of
from scipy import stats
from summary import write_report

from mmlego import layout
from mmlego.config import fill_defaults
from mmlego.data.kinds import dataset_modalities
from mmlego.data.transforms import SplitData, SplitFiles, load_split
from mmlego.evaluate.fast_metrics import task_metric
from mmlego.models.compose import NaiveMC, average_parameters
from mmlego.models.losses import TaskLoss, survival_outputs
from mmlego.models.merge import LegoMerge, block_weights, merged_logits
from mmlego.studies.merge_ablation import set_latents
from mmlego.train.combine import load_blocks
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.merge_weights import (
    DEFAULT_STEP,
    Weights,
    choose_weights,
    required_gain,
    simplex_grid,
)
from mmlego.train.monitor import validation_metric
from mmlego.train.outputs import load_model, read_checkpoint
from mmlego.utils.atomic import write_json_atomic

STUDIES = ("demo", "cohorts")
MODELS = ["lego_block", "lego_merge", "lego_merge_adaptive", "naive_mc", "damc", "lego_fuse"]
DEMO_OUT = "../results/demo"  # config/config.yaml's output folder, relative to config/


def demo_study(out: Path) -> dict:
    """The demo's config (config/config.yaml) with its folder moved to ``out`` and the models
    cut to the LegoBlocks and what is made of them."""
    text = (REPO / "config" / "config.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text.replace(DEMO_OUT, str(out)))
    return {**config, "models": MODELS}


def cohort_study(out: Path) -> dict:
    """GBSG2 and WHAS500 through ``kind: generic`` at the README's GBSG2 example settings."""
    base = export_cohort.study_config(out / "raw" / COHORTS[0], out, 20, 5)
    datasets = {c: export_cohort.dataset_config(c, out / "raw" / c) for c in COHORTS}
    return {**base, "datasets": datasets, "models": MODELS}


def study_configs(
    out: Path, repeats: int | None = None, datasets: list[str] | None = None
) -> dict[str, dict]:
    """{study: its config} under ``out``, with ``splits.repeats`` set to ``repeats`` (None: the
    study's own) and the datasets cut to ``datasets`` (None: every one); a study left with no
    dataset is dropped. A name that is in no study is an error."""
    configs = {"demo": demo_study(out / "demo"), "cohorts": cohort_study(out / "cohorts")}
    if datasets is not None:
        known = {ds for config in configs.values() for ds in config["datasets"]}
        unknown = sorted(set(datasets) - known)
        if unknown:
            raise SystemExit(f"unknown dataset(s) {unknown}; the studies have {sorted(known)}")
        for config in configs.values():
            config["datasets"] = {
                ds: spec for ds, spec in config["datasets"].items() if ds in datasets
            }
    if repeats is not None:
        if repeats < 1:
            raise SystemExit(f"--repeats must be at least 1, not {repeats}")
        for config in configs.values():
            config["splits"] = {**config["splits"], "repeats": repeats}
    return {study: config for study, config in configs.items() if config["datasets"]}


def filled(config: dict) -> dict:
    """A copy of ``config`` with the schema's defaults (the demo names no TCGA omics groups)."""
    return fill_defaults(copy.deepcopy(config))


def targets(config: dict) -> list[str]:
    """Every run's metrics.json of every split."""
    return [
        layout.metrics(layout.run_dir(layout.dataset_dir(config["output_dir"], ds), run, k))
        for ds, runs in runs_of(filled(config)).items()
        for run in runs
        for k in range(config["splits"]["repeats"])
    ]


# ---------------------------------------------------------------------------- scoring λ

BOOT = 200  # resamples of the validation patients for the standard-error margins
INNER_REPEATS = 5  # random halvings of the validation set for the inner comparison
BAG = 20  # bootstrap resamples of the validation patients a bagged λ averages over
SHRINK = (0.0, 0.25, 0.5, 0.75, 1.0)  # the weights a on λ* a shrunk λ chooses from
SHRINK_REPEATS = 3  # random halvings of the (inner) validation set that choose a
SEED = 0


def patient_scores(task: str, logits: torch.Tensor) -> np.ndarray:
    """What the metric ranks: the survival risk, or the class probabilities."""
    if task == "survival":
        return survival_outputs(logits)[2].numpy()
    return torch.softmax(logits, dim=1).numpy()


@dataclass
class Cached:
    """The blocks' final latents on one set of patients, and their labels: each λ only
    re-merges them (the blocks run once), and each λ's logits are kept, so that a subset of
    the patients (a resample, half the set) is only an index into them."""

    task: str
    latents: torch.Tensor  # (N, B, c, d)
    present: torch.Tensor  # (N, B) bool
    all_targets: dict[str, torch.Tensor]
    heads: dict[str, dict[str, torch.Tensor]]
    options: dict
    rows: np.ndarray | None = None
    memo: dict = field(default_factory=dict)
    compute: Callable[[Weights], torch.Tensor] | None = None  # λ → logits (DAMC); None: merge

    def subset(self, rows: np.ndarray) -> Cached:
        """The same on the patients at positions ``rows`` (of this subset)."""
        rows = np.asarray(rows) if self.rows is None else self.rows[np.asarray(rows)]
        return Cached(self.task, self.latents, self.present, self.all_targets, self.heads,
                      self.options, rows, self.memo, self.compute)  # fmt: skip

    @property
    def n(self) -> int:
        return int(self.present.shape[1]) if self.rows is None else len(self.rows)

    @property
    def targets(self) -> dict[str, torch.Tensor]:
        if self.rows is None:
            return self.all_targets
        index = torch.as_tensor(self.rows)
        return {k: v[index] for k, v in self.all_targets.items()}

    def _full(self, lam: Weights) -> tuple[torch.Tensor, np.ndarray]:
        key = tuple(round(v, 9) for v in lam)
        if key not in self.memo:
            if self.compute is not None:
                logits = self.compute(lam)
            else:
                weights = block_weights(self.present, lam)
                logits = merged_logits(self.latents, weights, self.heads, **self.options)
            self.memo[key] = (logits, patient_scores(self.task, logits))
        return self.memo[key]

    def logits(self, lam: Weights) -> torch.Tensor:
        logits = self._full(lam)[0]
        return logits if self.rows is None else logits[torch.as_tensor(self.rows)]

    def metric(self, lam: Weights) -> float:
        """The task metric as the training monitor computes it from the logits."""
        return validation_metric(self.task, self.logits(lam), self.targets)

    def quick_metric(self, lam: Weights) -> float:
        """The same metric from the cached scores (for resamples and halves)."""
        scores = self._full(lam)[1]
        targets = {k: v.numpy() for k, v in self.targets.items()}
        return task_metric(self.task, scores if self.rows is None else scores[self.rows], targets)

    def calibrated(self, lam: Weights) -> float:
        """The fit of a one-parameter recalibration of the scores, per patient (higher is
        better): the Cox log partial likelihood of β·z (z the standardised risk, β ≥ 0 on a
        grid) for survival, minus the cross-entropy at the best temperature otherwise. It is
        smooth in λ like the loss but blind to the scale of the merged logits."""
        scores = self._full(lam)[1]
        scores = scores if self.rows is None else scores[self.rows]
        targets = {k: v.numpy() for k, v in self.targets.items()}
        if self.task == "survival":
            return cox_profile(scores, targets["time"], targets["event"])
        return temperature_profile(scores, targets["label"])

    def loss(self, lam: Weights, alpha: float) -> float:
        return float(TaskLoss(self.task, alpha=alpha)(self.logits(lam), self.targets))


BETAS = np.linspace(0.0, 4.0, 41)  # slopes of the standardised risk in the Cox profile
SCALES = np.geomspace(0.1, 10.0, 41)  # temperatures (as scales) of the log-probabilities


def cox_profile(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """max over β ∈ :data:`BETAS` of the Cox log partial likelihood (Breslow ties) of β·z,
    z the standardised ``risk``, per event; NaN without an event."""
    event = np.asarray(event).astype(bool)
    if not event.any():
        return math.nan
    sd = float(np.std(risk))
    z = (risk - np.mean(risk)) / sd if sd > 0 else np.zeros_like(risk)
    order = np.argsort(-np.asarray(time), kind="stable")  # the risk set: a prefix
    t, e, eta = np.asarray(time)[order], event[order], BETAS[:, None] * z[order][None, :]
    log_risk = np.logaddexp.accumulate(eta, axis=1)
    last = np.searchsorted(-t, -t, side="right") - 1  # a tie's risk set includes all tied
    ll = (eta[:, e] - log_risk[:, last[e]]).sum(axis=1) / e.sum()
    return float(ll.max())


def temperature_profile(probs: np.ndarray, label: np.ndarray) -> float:
    """max over scales s ∈ :data:`SCALES` of minus the cross-entropy of softmax(s·log p)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    scaled = SCALES[:, None, None] * logp[None]
    norm = scaled - np.logaddexp.reduce(scaled, axis=2, keepdims=True)
    picked = np.take_along_axis(norm, np.asarray(label).astype(int)[None, :, None], axis=2)
    return float(picked[..., 0].mean(axis=1).max())


@torch.no_grad()
def cache(merged: LegoMerge, data: SplitData, ids: list[str]) -> Cached:
    """The blocks' latents and the labels of patients ``ids``."""
    latents, present, targets = set_latents(merged, data, ids, batch_size=256)
    options = {"magnitude": merged.magnitude, "phase": merged.phase,
               "head": merged.head_method, "eps": merged.eps}  # fmt: skip
    return Cached(data.task, latents, present, targets, merged.heads(), options)


@torch.no_grad()
def damc_cache(blocks: dict, data: SplitData, ids: list[str], like: Cached) -> Cached:
    """The DAMC composition on patients ``ids`` (the same patients, in the same order, as
    ``like``): each modality's context is computed once, each λ re-averages the shared
    parameters and reruns the steps and the head (as ``composition_scorer`` does)."""
    composed = NaiveMC(blocks).eval()
    batches = []
    for batch, _, _ in PatientDataset(data, ids).loader(256, shuffle=False):
        present = torch.stack([batch[m].present.bool() for m in composed.modalities])
        batches.append((composed.contexts(batch), present))

    @torch.no_grad()
    def compute(lam: Weights) -> torch.Tensor:
        composed.load_shared(average_parameters(blocks, lam))
        return torch.cat([composed.head_logits(composed.embed_contexts(c, p)) for c, p in batches])

    return dataclasses.replace(like, rows=None, memo={}, compute=compute)


def bootstrap_se(val: Cached, score, lam: Weights, equal: Weights, seed: int) -> float:
    """Standard error of score(λ) − score(equal) over resamples of the validation patients."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOT):
        sub = val.subset(rng.integers(0, val.n, val.n))
        d = score(sub, lam) - score(sub, equal)
        if not math.isnan(d):
            diffs.append(d)
    return float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.inf


def onehot(n: int, m: int) -> Weights:
    return tuple(1.0 if i == m else 0.0 for i in range(n))


def mix(lam: Weights, other: Weights, a: float) -> Weights:
    """a·λ + (1 − a)·other (on the simplex, which is convex)."""
    return tuple(a * x + (1 - a) * y for x, y in zip(lam, other, strict=True))


def _rank(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def choose(variant: str, val: Cached, n: int, *, alpha: float, seed: int = SEED) -> Weights:
    """λ of ``variant`` (:data:`VARIANTS`), from the validation patients ``val`` alone."""
    equal = tuple(1 / n for _ in range(n))
    kind, _, margin = variant.partition(":")

    def metric(c: Cached, lam: Weights) -> float:
        return c.quick_metric(lam)

    def neg_loss(c: Cached, lam: Weights) -> float:
        return -c.loss(lam, alpha)

    def calibrated(c: Cached, lam: Weights) -> float:
        return c.calibrated(lam)

    score = {"loss": neg_loss, "cal": calibrated}.get(kind, metric)
    if kind in ("metric", "loss", "cal") and margin != "se":
        gain = required_gain(float(margin), val.n)
        lam, _ = choose_weights(lambda w: score(val, w), n, step=DEFAULT_STEP, seed=seed,
                                gain=gain)  # fmt: skip
        return lam
    if kind in ("metric", "loss"):  # margin "se": one bootstrap standard error of the gain
        best, _ = choose_weights(lambda w: score(val, w), n, step=DEFAULT_STEP, seed=seed)
        gain = score(val, best) - score(val, equal)
        if best != equal and gain > bootstrap_se(val, score, best, equal, seed):
            return best
        return equal
    if kind == "anchor":
        # Equal weights or one block alone, whichever validates best (equal wins a tie); a
        # mix of blocks is taken only if it beats that anchor by margin / √n.
        anchor = equal
        for m in range(n):
            if metric(val, onehot(n, m)) > metric(val, anchor) + 1e-12:
                anchor = onehot(n, m)
        gain = required_gain(float(margin), val.n)
        best, _ = choose_weights(lambda w: metric(val, w), n, step=DEFAULT_STEP, seed=seed)
        return best if metric(val, best) > metric(val, anchor) + gain + 1e-12 else anchor
    if kind == "bag":  # "bag:<variant>": that variant on BAG resamples, the λs averaged
        rng = np.random.default_rng(seed)
        lams = [
            choose(margin, val.subset(rng.integers(0, val.n, val.n)), n, alpha=alpha, seed=seed)
            for _ in range(BAG)
        ]
        return tuple(float(v) for v in np.mean(lams, axis=0))  # the simplex is convex
    if kind == "shrink":  # "shrink:<variant>": a·λ* + (1 − a)·equal, a chosen on halves
        rng = np.random.default_rng(seed)
        totals = np.zeros(len(SHRINK))
        for _ in range(SHRINK_REPEATS):
            order = rng.permutation(val.n)
            halves = (order[: val.n // 2], order[val.n // 2 :])
            for fit, held in (halves, halves[::-1]):
                star = choose(margin, val.subset(fit), n, alpha=alpha, seed=seed)
                for i, a in enumerate(SHRINK):
                    value = metric(val.subset(held), mix(star, equal, a))
                    totals[i] += 0.0 if math.isnan(value) else value
        a = SHRINK[int(np.argmax(totals))]  # the first (least weight on λ*) wins a tie
        return mix(choose(margin, val, n, alpha=alpha, seed=seed), equal, a)
    if kind == "pen":  # "pen:c": val metric − c/√n · (1 − λ_b), b the best val block
        b = max(range(n), key=lambda m: _rank(metric(val, onehot(n, m))))
        cost = float(margin) / math.sqrt(val.n)
        best, top = onehot(n, b), -math.inf
        for lam in [onehot(n, b), equal, *simplex_grid(n, DEFAULT_STEP)]:
            value = _rank(metric(val, lam)) - cost * (1 - lam[b])
            if value > top + 1e-12:  # the block, then equal weights, win ties
                best, top = lam, value
        return best
    if kind == "block":  # the best validation block alone (a yardstick for the inner score)
        return max((onehot(n, m) for m in range(n)), key=lambda w: metric(val, w))
    raise ValueError(f"unknown variant {variant!r}")


# variant → what it is (metric: the task metric on validation; loss: the merged head's task
# loss; the number after ":" the margin over equal weights, times 1/√n_val; se: one bootstrap
# standard error of the paired validation difference; anchor: equal weights or one block).
VARIANTS = {
    "metric:0.1": "val metric, margin 0.1/√n (the default)",
    "metric:0": "val metric, no margin (argmax)",
    "metric:0.3": "val metric, margin 0.3/√n",
    "metric:se": "val metric, margin one bootstrap SE",
    "loss:0": "val loss (argmin)",
    "loss:0.1": "val loss, margin 0.1/√n (select_on: loss at the default margin)",
    "loss:se": "val loss, margin one bootstrap SE",
    "anchor:0.1": "prior: equal or the best val block, a mix only +0.1/√n",
    "bag:metric:0": f"bagged: the val-metric argmax on {BAG} bootstrap resamples, λs averaged",
    "bag:metric:0.1": f"bagged: `metric:0.1` on {BAG} bootstrap resamples, λs averaged",
    "bag:loss:0": f"bagged: the val-loss argmin on {BAG} bootstrap resamples, λs averaged",
    "shrink:metric:0": "shrunk: a·λ* + (1 − a)·equal, λ* the val-metric argmax, a in "
    "{0, ¼, ½, ¾, 1} chosen on halves of the validation patients",
    "shrink:loss:0": "shrunk: the same with λ* the val-loss argmin",
    "cal:0": "val fit of a one-parameter recalibration (Cox slope; temperature), argmax",
    "cal:0.1": "the same, margin 0.1/√n",
    "shrink:cal:0": "shrunk: a·λ* + (1 − a)·equal with λ* the `cal:0` λ",
    "pen:0.3": "penalty toward the best val block: val metric − 0.3/√n · (1 − λ_block)",
    "pen:1": "penalty toward the best val block: val metric − 1/√n · (1 − λ_block)",
}
# The variants also scored for DAMC (whose λ re-averages the shared parameters).
DAMC_VARIANTS = ("metric:0.1", "loss:0", "cal:0", "bag:metric:0", "bag:loss:0", "shrink:metric:0",
                 "pen:0.3", "pen:1")  # fmt: skip


def inner_score(variant: str, val: Cached, n: int, *, alpha: float, seed: int) -> float:
    """The variant judged on validation alone: λ chosen on one half of the validation
    patients, scored on the other, both ways, over :data:`INNER_REPEATS` random halvings."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(INNER_REPEATS):
        order = rng.permutation(val.n)
        halves = (order[: val.n // 2], order[val.n // 2 :])
        for fit, held in (halves, halves[::-1]):
            lam = choose(variant, val.subset(fit), n, alpha=alpha, seed=seed)
            values.append(val.subset(held).quick_metric(lam))
    return float(np.nanmean(values))


@torch.no_grad()
def model_metric(model, data: SplitData, ids: list[str]) -> float:
    """The task metric of ``model`` on patients ``ids``."""
    model.eval()
    logits, targets = [], []
    for batch, target, _ in PatientDataset(data, ids).loader(256, shuffle=False):
        logits.append(model(batch))
        targets.append(target)
    merged = {k: torch.cat([t[k] for t in targets]) for k in targets[0]}
    return validation_metric(data.task, torch.cat(logits), merged)


def split_rows(config: dict, ds: str, k: int) -> list[dict]:
    """One row per (model, set) of split ``k`` of ``ds``: the blocks, LegoMerge, each variant
    (with its λ and inner validation score), NaiveMC, DAMC and LegoFuse, on the test patients
    with every modality (val: every validation patient)."""
    config = filled(config)
    root = layout.dataset_dir(config["output_dir"], ds)
    names = [m.name for m in dataset_modalities(config["datasets"][ds])]
    files = SplitFiles(layout.labels(root), layout.splits(root), layout.transforms(root, k),
                       {m: layout.modality_store(root, m) for m in names})  # fmt: skip
    data = load_split(files, k)
    block_paths = {m: layout.model(layout.run_dir(root, f"lego_block.{m}", k)) for m in names}
    blocks, _, _ = load_blocks(block_paths, data)
    merge_cfg = read_checkpoint(layout.model(layout.run_dir(root, "lego_merge", k)))
    merged = LegoMerge(blocks, **merge_cfg["hparams"]["merge"]).eval()
    alpha = float(config.get("train", {}).get("survival_alpha", 0.4))
    test_ids = ids_with_modalities(data, data.sets["test"], names)
    val, test = cache(merged, data, data.sets["val"]), cache(merged, data, test_ids)
    n = len(names)
    rows = []

    def add(model: str, lam: Weights | None, test_value: float, **extra) -> None:
        lam_text = (
            ""
            if lam is None
            else json.dumps(dict(zip(names, (round(v, 3) for v in lam), strict=True)))
        )
        rows.append({"dataset": ds, "split": k, "model": model, "test": test_value,
                     "lambda": lam_text, "n_test": test.n, "n_val": val.n, **extra})  # fmt: skip

    for m, name in enumerate(names):
        lam = onehot(n, m)
        add(f"lego_block.{name}", lam, test.metric(lam), val=val.metric(lam))
    equal = tuple(1 / n for _ in range(n))
    add("lego_merge", equal, test.metric(equal), val=val.metric(equal),
        inner=inner_score("metric:1e9", val, n, alpha=alpha, seed=SEED + k))  # fmt: skip
    add("best_block (val)", None, math.nan,
        inner=inner_score("block", val, n, alpha=alpha, seed=SEED + k))  # fmt: skip
    for variant in VARIANTS:
        lam = choose(variant, val, n, alpha=alpha, seed=SEED + k)
        add(f"adaptive {variant}", lam, test.metric(lam), val=val.metric(lam),
            inner=inner_score(variant, val, n, alpha=alpha, seed=SEED + k))  # fmt: skip
    # The workflow's own adaptive merge (its lambda.json), as a check of the default variant.
    own = Path(layout.merge_weights(layout.run_dir(root, "lego_merge_adaptive", k)))
    if own.exists():
        study = json.loads(own.read_text())["lambda"]
        lam = tuple(study[m] for m in names)
        add("lego_merge_adaptive (workflow)", lam, test.metric(lam), val=val.metric(lam))
    add("naive_mc", equal, model_metric(NaiveMC(blocks), data, test_ids))
    weights_file = Path(layout.merge_weights(layout.run_dir(root, "damc", k)))
    damc = json.loads(weights_file.read_text())["lambda"]
    add(
        "damc",
        tuple(damc[m] for m in names),
        model_metric(NaiveMC(blocks, weights=damc), data, test_ids),
    )
    damc_val = damc_cache(blocks, data, data.sets["val"], val)
    damc_test = damc_cache(blocks, data, test_ids, test)
    for variant in DAMC_VARIANTS:
        lam = choose(variant, damc_val, n, alpha=alpha, seed=SEED + k)
        add(f"damc {variant}", lam, damc_test.metric(lam), val=damc_val.metric(lam),
            inner=inner_score(variant, damc_val, n, alpha=alpha, seed=SEED + k))  # fmt: skip
    fuse = load_model(layout.model(layout.run_dir(root, "lego_fuse", k)))
    add("lego_fuse", None, model_metric(fuse, data, test_ids))
    return rows


# ---------------------------------------------------------------------------- the report


def best_block(frame: pd.DataFrame, ds: str) -> str:
    """The block of highest mean **validation** metric (as the composition table picks it)."""
    here = frame[(frame["dataset"] == ds) & frame["model"].str.startswith("lego_block.")]
    return str(here.groupby("model")["val"].mean().idxmax())


TIE = 1e-12  # a paired difference this small is a tie (λ one-hot on the block itself)
HEAVY = 0.9  # the weight on the best block that counts as "λ chose the block"


def paired_tests(diff: pd.Series) -> dict:
    """Per-split paired differences from the best block: the splits above, below and tied, the
    two-sided sign test on the untied ones and the two-sided Wilcoxon signed-rank test (scipy;
    ties dropped, ``zero_method='wilcox'``); NaN p-values when every split ties."""
    diff = diff.dropna()
    above, below = int((diff > TIE).sum()), int((diff < -TIE).sum())
    untied = diff[diff.abs() > TIE]
    sign_p = stats.binomtest(above, above + below).pvalue if above + below else math.nan
    wilcoxon_p = stats.wilcoxon(untied).pvalue if len(untied) else math.nan
    return {"n_above": above, "n_below": below, "n_tied": len(diff) - above - below,
            "sign_p": float(sign_p), "wilcoxon_p": float(wilcoxon_p)}  # fmt: skip


def block_heavy(lambdas: pd.Series, block: str) -> int:
    """The splits whose λ (JSON text) puts at least :data:`HEAVY` on modality ``block``."""
    return sum(
        json.loads(text).get(block, 0.0) >= HEAVY - 1e-9
        for text in lambdas
        if text and text == text
    )


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model): mean ± std of the test metric over splits, the paired difference
    from the best block (mean ± standard error, splits at or above it, :func:`paired_tests`),
    the splits whose λ puts ≥ :data:`HEAVY` on the best block, and the mean inner validation
    score."""
    rows = []
    for ds in dict.fromkeys(frame["dataset"]):
        here = frame[frame["dataset"] == ds]
        block = best_block(frame, ds)
        ref = here[here["model"] == block].set_index("split")["test"]
        for model in dict.fromkeys(here["model"]):
            own = here[here["model"] == model].set_index("split")
            diff = (own["test"] - ref).dropna()
            rows.append({
                "dataset": ds, "model": model, "n_splits": int(own["test"].notna().sum()),
                "test_mean": own["test"].mean(), "test_std": own["test"].std(ddof=1),
                "diff_mean": diff.mean() if len(diff) else math.nan,
                "diff_se": diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.nan,
                "at_or_above": int((diff >= -TIE).sum()) if len(diff) else 0,
                **paired_tests(diff),
                "block_heavy": block_heavy(own["lambda"], block.removeprefix("lego_block.")),
                "inner_mean": own["inner"].mean() if "inner" in own else math.nan,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _cell(mean: float, spread: float, signed: bool = False) -> str:
    if math.isnan(mean):
        return ""
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    return text if math.isnan(spread) else f"{text} ± {spread:.3f}"


def markdown(frame: pd.DataFrame, table: pd.DataFrame, seconds: dict) -> str:
    """Per dataset, a table of every model and a table of the λ chosen per split."""
    lines = [
        "# Adaptive LegoMerge: choosing λ on validation",
        "",
        "Test metric on the test patients with every modality, mean ± std over the splits. "
        "Δ best block: the paired per-split difference from the block of best mean validation "
        "metric, mean ± standard error, and the splits at or above it; + / − / =: the splits "
        "above, below and tied with it; Wilcoxon p: the two-sided signed-rank test of the "
        "differences (ties dropped); sign p: the two-sided sign test of + against −; "
        f"λ ≥ {HEAVY} on block: the splits whose λ gives the best block at least {HEAVY}. "
        "*inner*: the variant "
        "judged on validation only (λ chosen on half the validation patients, scored on the "
        f"other half, both ways, {INNER_REPEATS} random halvings), mean over splits.",
        "",
        "Variants: " + "; ".join(f"`{v}` {text}" for v, text in VARIANTS.items()) + ".",
    ]
    for ds, here in table.groupby("dataset", sort=False):
        block = best_block(frame, ds)
        n_test = frame.loc[frame["dataset"] == ds, "n_test"]
        n_val = frame.loc[frame["dataset"] == ds, "n_val"]
        lines += ["", f"## {ds}", "",
                  f"Best block on validation: `{block}`; test n {n_test.min()}–{n_test.max()}, "
                  f"val n {n_val.min()}–{n_val.max()}.", "",
                  "| model | test | Δ best block | ≥ block | + / − / = | Wilcoxon p | sign p | "
                  f"λ ≥ {HEAVY} on block | inner |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for _, r in here.iterrows():
            if r["model"] == "best_block (val)":
                lines.append(
                    f"| best block, chosen per split on val | | | | | | | | {r['inner_mean']:.3f} |"
                )
                continue
            won = f"{r['at_or_above']}/{r['n_splits']}"
            inner = "" if math.isnan(r["inner_mean"]) else f"{r['inner_mean']:.3f}"
            signs = f"{r['n_above']} / {r['n_below']} / {r['n_tied']}"
            lam = "" if model_has_no_lambda(frame, ds, r["model"]) else str(r["block_heavy"])
            lines.append(
                f"| `{r['model']}` | {_cell(r['test_mean'], r['test_std'])} | "
                f"{_cell(r['diff_mean'], r['diff_se'], signed=True)} | {won} | {signs} | "
                f"{_p(r['wilcoxon_p'])} | {_p(r['sign_p'])} | {lam} | {inner} |"
            )
        chosen = frame[
            (frame["dataset"] == ds) & frame["model"].str.startswith(("adaptive", "damc"))
        ]
        splits = sorted(chosen["split"].unique())
        lines += ["", "| λ per split | " + " | ".join(f"split {k}" for k in splits) + " |",
                  "| --- |" + " --- |" * len(splits)]  # fmt: skip
        for model in dict.fromkeys(chosen["model"]):
            cells = chosen[chosen["model"] == model].set_index("split")["lambda"]
            lines.append(
                f"| `{model}` | " + " | ".join(_lambda_text(cells[k]) for k in splits) + " |"
            )
    lines += ["", "## Wall time (2 shared cores)", ""]
    lines += [f"- {study} study: {sec / 60:.1f} min" for study, sec in seconds.items()]
    return "\n".join(lines) + "\n"


def _p(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2g}"


def model_has_no_lambda(frame: pd.DataFrame, ds: str, model: str) -> bool:
    """True for the rows without a λ (LegoFuse, the NaiveMC of equal weights has one)."""
    here = frame[(frame["dataset"] == ds) & (frame["model"] == model)]["lambda"]
    return not here.fillna("").astype(bool).any()


def _lambda_text(text: str) -> str:
    lam = json.loads(text)
    if all(math.isclose(v, 1 / len(lam), abs_tol=1e-3) for v in lam.values()):
        return "equal"
    return " · ".join(f"{m} {v:g}" for m, v in lam.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/adaptive_merge"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--study", choices=STUDIES, action="append", help="default: both")
    parser.add_argument("--report-only", action="store_true", help="only rescore the studies")
    parser.add_argument(
        "--dataset",
        action="append",
        help="train and score only these datasets (default: every one of the studies)",
    )
    parser.add_argument(
        "--repeats", type=int, help="splits per dataset (default: the study's own, 5)"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    configs = study_configs(out, args.repeats, args.dataset)
    studies = [study for study in args.study or list(STUDIES) if study in configs]
    if not studies:
        raise SystemExit(f"no dataset {args.dataset} in the studies {args.study}")
    seconds_file = out / "seconds.json"
    if not args.report_only:
        for study in studies:
            if study == "cohorts":
                for cohort in configs[study]["datasets"]:
                    export_cohort.write_cohort(cohort, out / "cohorts" / "raw" / cohort)
            took = run_study(
                configs[study], out / f"{study}.yaml", args.cores, targets(configs[study])
            )
            times = json.loads(seconds_file.read_text()) if seconds_file.exists() else {}
            write_json_atomic(seconds_file, {**times, study: round(took, 1)})
    seconds = json.loads(seconds_file.read_text()) if seconds_file.exists() else {}
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = [
        row
        for study in studies
        for ds in configs[study]["datasets"]
        for k in range(configs[study]["splits"]["repeats"])
        for row in split_rows(configs[study], ds, k)
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "adaptive_merge.csv", index=False)
    table = summary(frame)
    table.to_csv(out / "adaptive_merge_summary.csv", index=False)
    scoring = round(time.perf_counter() - start, 1)
    text = markdown(frame, table, {**seconds, "scoring (no training)": scoring})
    payload = {"variants": VARIANTS, "seconds": seconds, "scoring_seconds": scoring,
               "summary": table.to_dict("records"), "rows": frame.to_dict("records")}  # fmt: skip
    write_report(out, "adaptive_merge", payload, text)


if __name__ == "__main__":
    main()
