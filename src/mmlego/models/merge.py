"""LegoMerge: N trained LegoBlocks combined without any training.

Latents: each block's final frequency-domain latent Z_m = |Z_m| e^{iφ_m} is combined
elementwise over the blocks a patient has:

- magnitude ``harmonic`` (default): N / Σ_m 1/max(|Z_m|, ε), the N-way harmonic mean; or
  ``mean``, ``sum``, ``product``, ``max`` (for the interference study);
- phase ``circular`` (default): angle(Σ_m e^{iφ_m}), so π−δ and −π+δ average to π, not 0;
  ``weighted``: angle(Σ_m |Z_m| e^{iφ_m}) = angle(Σ_m Z_m), the circular mean weighted by the
  magnitudes; or the arithmetic ``mean`` of the angles (paper Eq. 3 and the released code, whose
  wrap-around the circular mean fixes).

Heads: every head parameter tensor is flattened and split into norm and direction. ``slerp``
interpolates the directions on the unit sphere and the norms linearly: two heads by
:func:`slerp` at t = ½ (t = 0 gives the first, t = 1 the second; parallel and antiparallel
vectors are handled), N > 2 by the spherical (Karcher) mean of the directions with equal
weights, which is order-invariant and equals the SLERP midpoint for N = 2; ``linear`` averages
the parameters.

Missing modalities: a patient is predicted from the merge of the blocks whose modality it has
(one block: exactly that block). A patient with none of them gets the merge of all blocks,
each seeing an empty modality (the blocks' learned priors).

Variants on the same blocks (an ablation): :meth:`LegoMerge.block_latents` once, then
:func:`merged_logits` per (magnitude, phase, head) combination; no block is run twice.

Adaptive weights (:class:`LegoMergeAdaptive`, DAMC-style): one weight λ_m ≥ 0 per modality,
renormalised over the modalities a patient has. The aggregations take the weights where they
take the presence mask (``present`` may be the (N, B) weights :func:`block_weights` makes), so
the harmonic mean becomes Σλ / Σ λ_m/|Z_m|, the circular mean angle(Σ λ_m e^{iφ_m}) and the
heads' spherical mean a weighted one. Equal weights are exactly the presence mask, so they go
through LegoMerge's arithmetic bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.lego import LegoBlock, build_lego_block, head_forward

MAGNITUDES = ("harmonic", "mean", "sum", "product", "max")
PHASES = ("circular", "weighted", "mean")
HEAD_METHODS = ("slerp", "linear")
# The magnitude aggregations with a weighted form (sum, product and max have none).
WEIGHTED_MAGNITUDES = ("harmonic", "mean")


def _weights(values: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
    """Presence or weights (N, B) broadcast to ``values`` (N, B, ...) as floats; ones if None."""
    if present is None:
        return torch.ones_like(values)
    shape = present.shape + (1,) * (values.dim() - present.dim())
    return present.reshape(shape).to(values.dtype).expand_as(values)


def aggregate_magnitude(
    mags: torch.Tensor,
    present: torch.Tensor | None = None,
    *,
    mode: str = "harmonic",
    eps: float = 1e-8,
) -> torch.Tensor:
    """Combine magnitudes (N, ...) over the first axis, counting only ``present`` blocks."""
    w = _weights(mags, present)
    count = w.sum(0)
    if mode == "harmonic":
        return count / (w / mags.clamp_min(eps)).sum(0)
    if mode == "mean":
        return (w * mags).sum(0) / count
    if mode == "sum":
        return (w * mags).sum(0)
    if mode == "product":
        return torch.where(w > 0, mags, torch.ones_like(mags)).prod(0)
    if mode == "max":
        return torch.where(w > 0, mags, torch.full_like(mags, -math.inf)).amax(0)
    raise ValueError(f"unknown magnitude aggregation {mode!r}; choose one of {MAGNITUDES}")


def aggregate_phase(
    phases: torch.Tensor,
    present: torch.Tensor | None = None,
    *,
    mode: str = "circular",
    magnitudes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Combine phases (N, ...) in radians over the first axis, counting only ``present`` blocks.

    ``weighted`` weighs each block's unit phasor by its magnitude (``magnitudes``, same shape).
    """
    w = _weights(phases, present)
    if mode == "weighted":
        if magnitudes is None:
            raise ValueError("the magnitude-weighted phase needs the magnitudes")
        w = w * magnitudes
    if mode in ("circular", "weighted"):
        return torch.atan2((w * torch.sin(phases)).sum(0), (w * torch.cos(phases)).sum(0))
    if mode == "mean":
        return (w * phases).sum(0) / w.sum(0)
    raise ValueError(f"unknown phase aggregation {mode!r}; choose one of {PHASES}")


def merge_latents(
    latents: torch.Tensor,
    present: torch.Tensor | None = None,
    *,
    magnitude: str = "harmonic",
    phase: str = "circular",
    eps: float = 1e-8,
) -> torch.Tensor:
    """Merge complex latents (N, B, ...) into (B, ...) by magnitude and phase aggregation.

    A sample with one block of positive weight gets that block's latent as it is (every
    aggregation of one value is that value; the polar round trip would move it by rounding).
    """
    mags = latents.abs()
    mag = aggregate_magnitude(mags, present, mode=magnitude, eps=eps)
    ang = aggregate_phase(torch.angle(latents), present, mode=phase, magnitudes=mags)
    merged = torch.polar(mag, ang)
    if present is None:
        return latents[0].clone() if len(latents) == 1 else merged
    used = present > 0
    single = (used.sum(0) == 1).reshape(used.shape[1:] + (1,) * (latents.dim() - used.dim()))
    picked = latents[used.to(torch.int8).argmax(0), torch.arange(latents.shape[1])]
    return torch.where(single, picked, merged)


def _orthogonal_unit(u: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to unit ``u``, chosen deterministically (same for u and −u)."""
    j = int(torch.argmin(u.abs()))
    e = torch.zeros_like(u)
    e[j] = 1.0
    w = e - (u @ e) * u
    return w / w.norm()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, *, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b``, linear in their norms.

    t = 0 returns ``a``, t = 1 returns ``b``. Near-parallel directions fall back to normalised
    linear interpolation; antiparallel ones rotate through a fixed orthogonal direction; zero
    vectors fall back to linear interpolation of the raw values. Computed in float64.
    """
    shape, dtype = a.shape, a.dtype
    a64, b64 = a.reshape(-1).double(), b.reshape(-1).double()
    na, nb = a64.norm(), b64.norm()
    if na < eps or nb < eps or a64.numel() == 1:
        return ((1 - t) * a64 + t * b64).reshape(shape).to(dtype)
    ua, ub = a64 / na, b64 / nb
    dot = torch.clamp(ua @ ub, -1.0, 1.0)
    theta = torch.arccos(dot)
    if theta < 1e-4:
        direction = (1 - t) * ua + t * ub
        direction = direction / direction.norm()
    elif math.pi - theta < 1e-4:
        w = _orthogonal_unit(ua)
        direction = math.cos(math.pi * t) * ua + math.sin(math.pi * t) * w
    else:
        direction = (torch.sin((1 - t) * theta) * ua + torch.sin(t * theta) * ub) / torch.sin(theta)
    return (((1 - t) * na + t * nb) * direction).reshape(shape).to(dtype)


def spherical_mean(
    vectors: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
    *,
    iters: int = 100,
    tol: float = 1e-12,
) -> torch.Tensor:
    """Spherical (Karcher) mean of the directions, with the mean of the norms.

    Two vectors: the SLERP point (the midpoint for equal weights). More: fixed-point
    iteration of the Riemannian mean on the unit sphere, started from the normalised
    arithmetic mean of the directions. ``weights`` (positive, one per vector) weigh both
    means; None or equal weights take the unweighted arithmetic.
    """
    if weights is not None and len(set(weights)) == 1:
        weights = None
    if len(vectors) == 1:
        return vectors[0].clone()
    if len(vectors) == 2:
        t = 0.5 if weights is None else weights[1] / (weights[0] + weights[1])
        return slerp(vectors[0], vectors[1], t)
    shape, dtype = vectors[0].shape, vectors[0].dtype
    flat = torch.stack([v.reshape(-1).double() for v in vectors])

    def mean(x: torch.Tensor) -> torch.Tensor:
        if weights is None:
            return x.mean(0)
        w = torch.tensor(weights, dtype=x.dtype)
        return (w.reshape(-1, *([1] * (x.dim() - 1))) * x).sum(0) / w.sum()

    norms = flat.norm(dim=1)
    if norms.min() < 1e-12 or flat.shape[1] == 1:
        return mean(flat).reshape(shape).to(dtype)
    units = flat / norms[:, None]
    start = mean(units)
    m = start / start.norm() if start.norm() > 1e-8 else units[0]
    for _ in range(iters):
        dots = torch.clamp(units @ m, -1.0, 1.0)
        theta = torch.arccos(dots)
        tangent = units - dots[:, None] * m
        tnorm = tangent.norm(dim=1, keepdim=True)
        logs = torch.where(
            tnorm > 1e-12,
            tangent / tnorm.clamp_min(1e-300) * theta[:, None],
            torch.zeros_like(tangent),
        )
        step = mean(logs)
        size = step.norm()
        if size < tol:
            break
        m = torch.cos(size) * m + torch.sin(size) * step / size
        m = m / m.norm()
    return (mean(norms) * m).reshape(shape).to(dtype)


def merge_heads(
    heads: Sequence[dict[str, torch.Tensor]],
    *,
    method: str = "slerp",
    weights: Sequence[float] | None = None,
) -> dict[str, torch.Tensor]:
    """Merge head parameter dicts tensor by tensor (each tensor flattened).

    ``weights`` (one per head, ≥ 0): a weighted spherical or linear mean; heads of weight 0
    are left out, and None or equal weights give the unweighted merge.
    """
    if method not in HEAD_METHODS:
        raise ValueError(f"unknown head merge {method!r}; choose one of {HEAD_METHODS}")
    if weights is not None:
        kept = [(h, float(w)) for h, w in zip(heads, weights, strict=True) if w > 0]
        heads, weights = [h for h, _ in kept], [w for _, w in kept]
        if len(set(weights)) <= 1:
            weights = None
    merged = {}
    for key in heads[0]:
        tensors = [h[key] for h in heads]
        if method == "slerp":
            merged[key] = spherical_mean(tensors, weights)
        elif weights is None:
            merged[key] = torch.stack(tensors).mean(0)
        else:
            w = torch.tensor(weights, dtype=tensors[0].dtype)
            stacked = torch.stack(tensors)
            merged[key] = (w.reshape(-1, *([1] * tensors[0].dim())) * stacked).sum(0) / w.sum()
    return merged


def check_compatible(blocks: dict[str, LegoBlock]) -> None:
    """Blocks must share latent shape, outputs and FFT settings to be merged or fused."""
    if len(blocks) < 2:
        raise ValueError(f"merging needs at least 2 LegoBlocks, got {list(blocks)}")
    signature = {
        name: (
            tuple(b.latent.shape),
            b.head.linear.out_features,
            b.fft_mode,
            b.fft_norm,
            b.l2_normalise,
        )
        for name, b in blocks.items()
    }
    if len(set(signature.values())) > 1:
        raise ValueError(
            "LegoBlocks to combine must share latent shape, number of outputs and FFT settings; got "
            + ", ".join(f"{n}: {s}" for n, s in signature.items())
        )


def presence(batch: Batch, names: Sequence[str]) -> torch.Tensor:
    """(N, B) bool: which sample has which modality; a sample with none counts as having all."""
    present = torch.stack([batch[m].present.bool() for m in names])
    return present | ~present.any(dim=0, keepdim=True)


def merged_logits(
    latents: torch.Tensor,
    present: torch.Tensor,
    heads: dict[str, dict[str, torch.Tensor]],
    *,
    magnitude: str,
    phase: str,
    head: str,
    eps: float,
) -> torch.Tensor:
    """Logits (B, n_out) of the merge of the blocks' final latents (N, B, c, d).

    ``present`` (N, B) as :func:`presence` gives it, or the weights :func:`block_weights`
    gives; ``heads`` maps each block, in the order of ``latents``, to its head's parameters.
    Each presence (or weight) pattern gets the head merged from the blocks it has, weighted.
    """
    merged = merge_latents(latents, present, magnitude=magnitude, phase=phase, eps=eps)
    names = list(heads)
    n_out = next(iter(heads.values()))["linear.bias"].shape[0]
    out = merged.real.new_zeros(merged.shape[0], n_out)
    for pattern in torch.unique(present.T, dim=0):
        rows = (pattern == present.T).all(dim=1)
        have = [(heads[m], p) for m, p in zip(names, pattern.tolist(), strict=True) if p]
        params = merge_heads([h for h, _ in have], method=head, weights=[p for _, p in have])
        out[rows] = head_forward(merged[rows], params)
    return out


class LegoMerge(MultimodalModel):
    """Merged LegoBlocks (no training).

    Keyword-only arguments (the defaults are the config schema's ``merge`` defaults; a test
    keeps them equal):

    Args:
        blocks: modality → trained LegoBlock (at least 2, see :func:`check_compatible`).
        magnitude: aggregation of the latents' magnitudes, one of :data:`MAGNITUDES`.
        phase: aggregation of their phases, one of :data:`PHASES`.
        head: how the heads are merged, one of :data:`HEAD_METHODS`.
        eps: guard against zero magnitudes in the harmonic mean.
    """

    def __init__(
        self,
        blocks: dict[str, LegoBlock],
        *,
        magnitude: str = "harmonic",
        phase: str = "circular",
        head: str = "slerp",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        check_compatible(blocks)
        for value, allowed, key in (
            (magnitude, MAGNITUDES, "magnitude"),
            (phase, PHASES, "phase"),
            (head, HEAD_METHODS, "head"),
        ):
            if value not in allowed:
                raise ValueError(f"merge.{key}: {value!r} is not one of {allowed}")
        self.blocks = nn.ModuleDict(blocks)
        self.modalities = tuple(blocks)
        self.magnitude, self.phase, self.head_method, self.eps = magnitude, phase, head, eps

    def options(self) -> dict[str, Any]:
        """The merge's keyword arguments (the ``merge`` section it was built from)."""
        return {"magnitude": self.magnitude, "phase": self.phase, "head": self.head_method,
                "eps": self.eps}  # fmt: skip

    def merged_head(self, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """The merged head parameters of the blocks ``names``."""
        heads = [dict(self.blocks[m].head.state_dict()) for m in names]
        return merge_heads(heads, method=self.head_method)

    def block_latents(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Every block's final latent (N, B, c, d) and the presence (N, B) of its modality."""
        latents = torch.stack([self.blocks[m].embed(batch[m]) for m in self.modalities])
        return latents, presence(batch, self.modalities)

    def heads(self) -> dict[str, dict[str, torch.Tensor]]:
        """Each block's head parameters, in the order of :attr:`modalities`."""
        return {m: dict(self.blocks[m].head.state_dict()) for m in self.modalities}

    def embed(self, batch: Batch) -> torch.Tensor:
        """The merged complex frequency-domain latent (B, c, d)."""
        latents, present = self.block_latents(batch)
        return merge_latents(latents, present, magnitude=self.magnitude, phase=self.phase,
                             eps=self.eps)  # fmt: skip

    def forward(self, batch: Batch) -> torch.Tensor:
        latents, present = self.block_latents(batch)
        return merged_logits(latents, present, self.heads(), magnitude=self.magnitude,
                             phase=self.phase, head=self.head_method, eps=self.eps)  # fmt: skip


def block_weights(present: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """(N, B) float weights: λ_m where block m is present, 0 where not.

    λ is scaled so that its largest entry is 1 (the merge renormalises, so only the ratios
    count): equal λ then give exactly the presence mask and LegoMerge's arithmetic. A patient
    whose present blocks all have λ = 0 gets equal weights over them (LegoMerge).
    """
    lam = torch.as_tensor(list(weights), dtype=torch.float64)
    lam = lam / lam.max()
    w = present.to(torch.float64) * lam[:, None]
    unweighted = w.sum(0, keepdim=True) == 0
    return torch.where(unweighted, present.to(torch.float64), w)


def check_weights(weights: dict[str, float], modalities: Sequence[str]) -> dict[str, float]:
    """``weights`` as floats summing to 1, one ≥ 0 per modality; raises naming the problem."""
    if sorted(weights) != sorted(modalities):
        raise ValueError(
            f"merge weights name {sorted(weights)}, the blocks are {sorted(modalities)}; "
            "give one weight per block"
        )
    values = {m: float(weights[m]) for m in modalities}
    if any(not math.isfinite(v) or v < 0 for v in values.values()) or sum(values.values()) <= 0:
        raise ValueError(f"merge weights must be finite, ≥ 0 and not all 0; got {values}")
    total = sum(values.values())
    return {m: v / total for m, v in values.items()}


class LegoMergeAdaptive(LegoMerge):
    """LegoMerge with one weight λ_m per modality (DAMC-style adaptive adjustment).

    The weighted harmonic mean of the magnitudes, the weighted circular mean of the phases
    and the weighted spherical (or linear) mean of the heads, over the blocks a patient has
    (see :func:`block_weights`). ``weights`` None means equal weights: LegoMerge exactly.
    The weights are chosen on validation by :mod:`mmlego.train.merge_weights`.
    """

    def __init__(
        self,
        blocks: dict[str, LegoBlock],
        *,
        weights: dict[str, float] | None = None,
        magnitude: str = "harmonic",
        phase: str = "circular",
        head: str = "slerp",
        eps: float = 1e-8,
    ) -> None:
        super().__init__(blocks, magnitude=magnitude, phase=phase, head=head, eps=eps)
        if magnitude not in WEIGHTED_MAGNITUDES:
            raise ValueError(
                f"merge.magnitude: {magnitude!r} takes no weights; lego_merge_adaptive needs "
                f"one of {WEIGHTED_MAGNITUDES}"
            )
        equal = {m: 1.0 / len(self.modalities) for m in self.modalities}
        self.weights = equal if weights is None else check_weights(weights, self.modalities)

    def options(self) -> dict[str, Any]:
        """The merge's keyword arguments, with the weights."""
        return {**super().options(), "weights": dict(self.weights)}

    def block_latents(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Every block's final latent (N, B, c, d) and its weight (N, B) per patient."""
        latents, present = super().block_latents(batch)
        return latents, block_weights(present, [self.weights[m] for m in self.modalities])


def build_blocks(
    modalities: dict[str, InputSpec], n_out: int, task: str, block_cfgs: dict[str, Any]
) -> dict[str, LegoBlock]:
    """One LegoBlock per modality, each from the config it was trained with."""
    missing = [m for m in modalities if m not in block_cfgs]
    if missing:
        raise KeyError(f"no LegoBlock config for modalities {missing}")
    return {
        m: build_lego_block(modalities={m: spec}, n_out=n_out, task=task, cfg=block_cfgs[m])
        for m, spec in modalities.items()
    }


def build_lego_merge(
    *, modalities: dict[str, InputSpec], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoMerge:
    """Catalogue builder: ``cfg = {"blocks": {modality: block hparams}, "merge": {...}}``.

    ``cfg["merge"]`` is the validated ``merge`` section (the schema fills its defaults).
    """
    blocks = build_blocks(modalities, n_out, task, cfg["blocks"])
    return LegoMerge(blocks, **cfg["merge"])


def build_lego_merge_adaptive(
    *, modalities: dict[str, InputSpec], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoMergeAdaptive:
    """Catalogue builder: ``cfg = {"blocks": {...}, "merge": {..., "weights": {modality: λ}}}``."""
    blocks = build_blocks(modalities, n_out, task, cfg["blocks"])
    return LegoMergeAdaptive(blocks, **cfg["merge"])
