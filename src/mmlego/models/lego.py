"""LegoBlock: a modality encoder wrapped around a learned latent updated in the frequency domain.

Paper Eq. 2, with context h = g_m(x) (B, M, e) and the learned spatial latent L_0 (c, d):

    Z_0     = FFT(L_0)                             # fft="2d": both axes (paper); "1d": latent axis
    R       = Re Z_t + CrossAttn(LN(Re Z_t), LN(h), mask)   # query = real part; keys/values = h
    R       = R + FF(LN(R))
    Z_t+1   = R + i · Im Z_t                       # the imaginary part is re-attached
    L_t+1   = iFFT(Z_t+1)                          # complex: the next step's FFT sees Z_t+1

The spatial latent stays complex between steps, as in the paper and the released code, so the
next step's FFT returns exactly Z_t+1: F(F⁻¹(Z)) = Z. Neither transform is therefore computed
between steps; the steps chain on the frequency latent itself, carried as its real and
imaginary parts (two real tensors: no complex autograd on the hot path). Z_0 is the same for
every sample, so the first step's latent norm and query projection run once per batch. With
``weight_sharing`` every step attends to the same context with the same weights, so its keys
and values are projected once per forward, not once per step. (Taking the real part of
L_t+1 instead, as this package once did, keeps only the Hermitian part of Z_t+1; with
``fft: 2d`` the update breaks that symmetry, so part of every update was lost. On the demo's
validation sets the two did not differ measurably: config/README.md, "lego".)

``l2_normalise`` (the released code normalises the latent before every FFT) is applied here to
the complex frequency latent entering each step: Z / ‖Z‖ with ‖Z‖ = sqrt(Σ_c |Z_cd|²) over the
latent axis, one positive scale per latent dimension d, shared by the real and imaginary parts
(so phases are kept). With ``fft: 1d`` and ``fft_norm: ortho`` this equals the released code's
normalisation of the complex spatial latent (Parseval along the transformed axis); with
``fft: 2d`` it is its frequency-domain form. The last step's output is not normalised.

What the imaginary part is. The steps update only the real part, so with no normalisation the
imaginary part of every step's latent is Im FFT(L_0): a learned constant, the same for every
input. With ``l2_normalise`` each column d of it is that constant times a positive factor, the
product of the later steps' normalisation scales, which depends on the input through the real
part; its signs and its ratios within a column are still fixed by L_0. In both cases the input
speaks through the real part, and through the magnitudes and phases that LegoMerge reads.

A property of ``fft: 1d`` worth knowing: Re FFT(L_0) along the latent axis is even in that
axis, and the update acts on every latent row alike, so at inference rows i and c − i stay
equal through every step (only ⌊c/2⌋ + 1 latents differ). With ``fft: 2d`` the symmetry pairs
(i, j) with (−i, −j), and the update, which mixes the d axis, does not keep it.

After the last step the complex latent is the block's embedding (:meth:`LegoBlock.embed`) and
the head reads it: mean over the c latents of the real part → LayerNorm → Linear.

``weight_sharing``: one update step ψ_m applied ``depth`` times (Eq. 1 indexes ψ by modality
only) or ``depth`` steps of their own. The released code meant the first (``weight_sharing=True``
by default) but its flag is inverted, so it trained separate steps.

Encoders g_m: an SNN for vectors, gated-attention MIL for bags and series (context = the pooled
token plus every instance embedding, with the padding masked), or none (identity: the raw
vector, the raw instances as tokens). A vector gives ``vector_tokens`` = k context tokens: the
SNN's last layer emits k × ``encoder_dim`` features read as k tokens (each with its own output
weights; with ``encoder: none`` the raw vector is cut into k zero-padded chunks). With one token
the softmax over the keys is 1 and every latent receives the same update, whatever its query.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmlego.models.base import Batch, InputSpec, ModalityBatch, MultimodalModel
from mmlego.models.dropout import Dropout
from mmlego.models.encoders import SNN, GatedAttentionMIL

FFT_MODES = ("2d", "1d")
# Where lego.small_attention beats torch's CPU flash kernel (forward and backward, measured at
# 1 and 2 threads): always up to SHORT_ROWS tokens, where the kernel's softmax along short rows
# is slow (8 tokens: 0.43-0.68 of its time); up to SHORT_CONTEXT tokens once the scores are
# large (25 tokens at batch 256: 0.75), not for a small batch (the layout copies cost more
# than they save); never beyond (a bag of 1,000 patches: 2.2 times the flash kernel's time).
SHORT_ROWS = 16
SHORT_CONTEXT = 32
LARGE_SCORES = 1 << 18


class CrossAttention(nn.Module):
    """Multi-head attention of the latents (queries) over the context (keys/values), masked.

    Masked context tokens get exactly zero weight; a sample with no valid token (an absent
    modality) gets a zero update. Dropout acts on the output projection, not on the attention
    weights (which would cost a random draw per latent × token × head).
    """

    def __init__(
        self, dim: int, context_dim: int, *, heads: int, dim_head: int, dropout: float
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), Dropout(dropout))

    def project_context(self, context: torch.Tensor) -> torch.Tensor:
        """Keys and values of the (normalised) context, side by side: (B, M, 2 · inner)."""
        return self.to_kv(context)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        shared_queries: bool = False,
        kv: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``shared_queries``: every sample's queries ``x`` are the same (the first step's
        latent), so they are projected once and broadcast over the batch. ``kv``: the
        context's :meth:`project_context`, when the caller has it already (a step applied
        ``depth`` times sees the same context every time)."""
        b, n, _ = x.shape
        m = context.shape[1]
        q = self.to_q(x[:1] if shared_queries else x)
        q = q.reshape(len(q), n, self.heads, -1).transpose(1, 2)  # (1 or b) h n k
        kv = self.project_context(context) if kv is None else kv
        k, v = kv.view(b, m, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        has_any = None if mask is None else mask.any(dim=1)
        # Rows without any valid token attend everywhere (finite), then are zeroed.
        allowed = None if mask is None else mask | ~has_any[:, None]
        if _bmm_is_faster(q, k):
            out = small_attention(q, k, v, allowed)
        else:
            out = sdpa_attention(q.expand(b, -1, -1, -1), k, v, allowed)
        if has_any is not None:
            out = out * has_any[:, None, None, None].to(out.dtype)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


def _bmm_is_faster(q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether :func:`small_attention` is the faster kernel for queries ``q`` (B or 1, h, n, d)
    over keys ``k`` (B, h, M, d) (see :data:`SHORT_ROWS`)."""
    b, h, tokens, _ = k.shape
    if q.device.type != "cpu" or tokens > SHORT_CONTEXT:
        return False
    return tokens <= SHORT_ROWS or b * h * q.shape[2] * tokens >= LARGE_SCORES


def sdpa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None
) -> torch.Tensor:
    """Softmax attention (B, h, n, k) through torch's fused kernels; ``allowed`` (B, M)."""
    attn_mask = None if allowed is None else allowed[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


def small_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None
) -> torch.Tensor:
    """:func:`sdpa_attention` as two batched matmuls around a softmax, for a short context on
    the CPU (where :func:`_bmm_is_faster`).

    The latents attend over a few context tokens (8 for a vector, 25 for a 24-step series)
    with 16-dimensional heads. There the CPU flash kernel, tiled for long sequences, is slow,
    and so is a softmax along short contiguous rows (for 8 tokens, 20 times slower than the
    same softmax across rows). The scores are therefore laid out token × latent, and the
    softmax runs over the tokens with the latents contiguous.
    """
    b, h, m, dk = k.shape
    n = q.shape[2]
    if len(q) == 1 and b > 1:
        return _shared_query_attention(q[0], k, v, allowed)
    # The scale goes on the keys: smaller than the scores whenever dim_head < latent_len.
    keys = k.reshape(b * h, m, dk) * dk**-0.5
    scores = torch.bmm(keys, q.reshape(b * h, n, dk).transpose(1, 2)).view(b, h, m, n)
    if allowed is not None:
        scores = scores.masked_fill_(~allowed[:, None, :, None], float("-inf"))
    weights = scores.softmax(dim=2).view(b * h, m, n)
    return torch.bmm(weights.transpose(1, 2), v.reshape(b * h, m, dk)).view(b, h, n, dk)


def _shared_query_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None
) -> torch.Tensor:
    """:func:`small_attention` for queries ``q`` (h, n, d) that every sample shares (the first
    step's latent): the whole batch's keys against them are one matmul per head, and so is
    their gradient. Broadcasting the queries to the batch instead costs a copy forward and a
    sum over the batch backward (6 % of a time-series training step at batch 256)."""
    b, h, m, dk = k.shape
    n = q.shape[1]
    keys = (k * dk**-0.5).transpose(0, 1).reshape(h, b * m, dk)
    scores = torch.bmm(keys, q.transpose(1, 2)).view(h, b, m, n)
    if allowed is not None:
        scores = scores.masked_fill_(~allowed[None, :, :, None], float("-inf"))
    weights = scores.softmax(dim=2).view(h * b, m, n)
    values = v.transpose(0, 1).reshape(h * b, m, dk)
    return torch.bmm(weights.transpose(1, 2), values).view(h, b, n, dk).transpose(0, 1)


class FeedForward(nn.Sequential):
    """Linear → GELU → Dropout → Linear → Dropout."""

    def __init__(self, dim: int, *, mult: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, dim * mult), nn.GELU(), Dropout(dropout),
            nn.Linear(dim * mult, dim), Dropout(dropout),
        )  # fmt: skip


class UpdateStep(nn.Module):
    """Pre-norm cross-attention and feed-forward, with residuals, on the real part."""

    def __init__(
        self, dim: int, context_dim: int, *, heads: int, dim_head: int, dropout: float, ff_mult: int
    ) -> None:
        super().__init__()
        self.norm_latent = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim)
        self.attn = CrossAttention(
            dim, context_dim, heads=heads, dim_head=dim_head, dropout=dropout
        )
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout)

    def context_kv(self, context: torch.Tensor) -> torch.Tensor:
        """The attention's keys and values of ``context`` (what :meth:`forward` takes as
        ``kv``): the same for every application of this step to one context."""
        return self.attn.project_context(self.norm_context(context))

    def forward(
        self,
        real: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        shared_latent: bool = False,
        kv: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``shared_latent``: ``real`` is one latent broadcast over the batch (the first
        step), so its norm and query projection are computed once, not once per sample.
        ``kv``: :meth:`context_kv` of ``context``, when the caller computed it already."""
        queries = self.norm_latent(real[:1] if shared_latent else real)
        queries = queries.expand(real.shape[0], -1, -1)
        kv = self.context_kv(context) if kv is None else kv
        update = self.attn(queries, context, mask, shared_queries=shared_latent, kv=kv)
        real = real + update
        return real + self.ff(self.norm_ff(real))


class LatentHead(nn.Module):
    """Mean over the latents of the real part → LayerNorm → Linear."""

    def __init__(self, dim: int, n_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, n_out)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(latent.real.mean(dim=1)))


def head_forward(latent: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """:class:`LatentHead` with explicit parameters (``norm.weight``, ..., ``linear.bias``)."""
    pooled = latent.real.mean(dim=1)
    normed = F.layer_norm(pooled, pooled.shape[-1:], params["norm.weight"], params["norm.bias"])
    return F.linear(normed, params["linear.weight"], params["linear.bias"])


class ModalityEncoder(nn.Module):
    """g_m: maps one modality's batch to context tokens (B, M, e) and their mask (B, M).

    A vector gives ``vector_tokens`` tokens (M = k); a bag or series the pooled token plus
    one token per instance (M = 1 + N), or the N instances themselves with ``encoder: none``.
    """

    def __init__(
        self,
        kind: str,
        in_dim: int,
        *,
        encoder: str,
        out_dim: int,
        dropout: float,
        vector_tokens: int,
    ) -> None:
        super().__init__()
        if encoder == "auto":
            encoder = "snn" if kind == "vector" else "abmil"
        if encoder == "snn" and kind != "vector":
            raise ValueError(f"an SNN encoder takes a vector modality, not a {kind}")
        if encoder == "abmil" and kind == "vector":
            raise ValueError("an ABMIL encoder takes a bag or series modality, not a vector")
        if vector_tokens < 1:
            raise ValueError(f"lego.vector_tokens must be >= 1, got {vector_tokens}")
        self.kind, self.name = kind, encoder
        self.tokens = vector_tokens if kind == "vector" else 1
        if encoder == "snn":
            width = out_dim * self.tokens
            self.net: nn.Module = SNN(in_dim, width, hidden=max(out_dim, 64), dropout=dropout)
        elif encoder == "abmil":
            self.net = GatedAttentionMIL(in_dim, out_dim, attn_dim=out_dim, dropout=dropout)
        elif encoder == "none":
            self.net = nn.Identity()
        else:
            raise ValueError(f"unknown encoder {encoder!r}; choose auto, snn, abmil or none")
        self.out_dim = math.ceil(in_dim / self.tokens) if encoder == "none" else out_dim

    def forward(self, inputs: ModalityBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Context tokens and their mask; the mask is None when every token is valid, so the
        attention takes its unmasked path (a full batch of complete series or vectors)."""
        present = inputs.present.bool()
        if self.kind == "vector":
            features = self.net(inputs.x)
            pad = self.tokens * self.out_dim - features.shape[-1]  # only for encoder "none"
            tokens = F.pad(features, (0, pad)).view(len(features), self.tokens, self.out_dim)
            return tokens, _unless_full(present[:, None].expand(-1, self.tokens))
        mask = (
            inputs.mask
            if inputs.mask is not None
            else torch.ones(inputs.x.shape[:2], dtype=torch.bool, device=inputs.x.device)
        )
        mask = _unless_full(mask & present[:, None])
        if self.name == "none":
            return inputs.x, mask
        pooled, instances, _ = self.net(inputs.x, mask, return_instances=True)
        tokens = torch.cat([pooled.unsqueeze(1), instances], dim=1)
        if mask is None:
            return tokens, None
        return tokens, torch.cat([mask.any(dim=1, keepdim=True), mask], dim=1)


def _unless_full(mask: torch.Tensor) -> torch.Tensor | None:
    """``mask``, or None when it is all True (which masks nothing)."""
    return None if bool(mask.all()) else mask


class LegoBlock(MultimodalModel):
    """One modality's block: encoder, learned latent c × d, ``depth`` frequency-domain steps, head.

    Keyword-only arguments (the defaults are the config schema's ``lego`` defaults; a test
    keeps them equal):

    Args:
        modality: the modality's name (the key of its batch entry).
        kind: ``vector``, ``series`` or ``bag``.
        in_dim: features per vector, time step or instance.
        n_out: outputs (survival bins or classes).
        latent_len: c, the number of latent vectors.
        latent_dim: d, the latent dimension.
        depth: update steps.
        heads: cross-attention heads.
        dim_head: dimension per head.
        encoder_dim: output dimension of the wrapped SNN/ABMIL encoder (per token).
        encoder: ``auto`` (SNN for vectors, ABMIL otherwise), ``snn``, ``abmil`` or ``none``.
        dropout: dropout in the cross-attention output, feed-forward and encoder.
        ff_mult: width multiplier of each step's feed-forward layer.
        fft: ``2d`` (both latent axes, the paper) or ``1d`` (the latent axis, released code).
        fft_norm: ``torch.fft`` normalisation.
        l2_normalise: scale the frequency latent entering each step to unit L2 norm over the
            latent axis (see the module docstring).
        weight_sharing: one update step applied ``depth`` times, or ``depth`` own steps.
        vector_tokens: context tokens of a vector modality (ignored for bags and series).
        freeze_encoder: requires_grad off for the encoder, which is kept in eval mode.
        init_seed: when an integer, the latent, the update steps and the head start from this
            seed's draw, so every block of a study starts from the same point (None: from the
            global RNG, like the encoder).
    """

    def __init__(
        self,
        *,
        modality: str,
        kind: str,
        in_dim: int,
        n_out: int,
        latent_len: int = 64,
        latent_dim: int = 64,
        depth: int = 2,
        heads: int = 8,
        dim_head: int = 16,
        encoder_dim: int = 128,
        encoder: str = "auto",
        dropout: float = 0.1,
        ff_mult: int = 2,
        fft: str = "2d",
        fft_norm: str = "ortho",
        l2_normalise: bool = False,
        weight_sharing: bool = True,
        vector_tokens: int = 8,
        freeze_encoder: bool = False,
        init_seed: int | None = 0,
    ) -> None:
        super().__init__()
        if fft not in FFT_MODES:
            raise ValueError(f"lego.fft must be one of {FFT_MODES}, got {fft!r}")
        self.modality, self.modalities = modality, (modality,)
        self.fft_mode, self.fft_norm = fft, fft_norm
        self.l2_normalise = bool(l2_normalise)
        self.depth = depth
        self.encoder = ModalityEncoder(
            kind, in_dim, encoder=encoder, out_dim=encoder_dim, dropout=dropout,
            vector_tokens=vector_tokens,
        )  # fmt: skip
        # LegoMerge averages the latents and heads of blocks trained apart. Like any weight
        # merge, that works best when the merged parts share their starting point, so they
        # start from one seed's draw for every modality (the encoders differ in shape anyway).
        shared = init_seed is not None
        with torch.random.fork_rng(devices=[], enabled=shared):
            if shared:
                torch.manual_seed(int(init_seed))
            self.latent = nn.Parameter(torch.randn(latent_len, latent_dim) * 0.02)
            self.steps = nn.ModuleList(
                UpdateStep(latent_dim, self.encoder.out_dim, heads=heads, dim_head=dim_head,
                           dropout=dropout, ff_mult=ff_mult)
                for _ in range(1 if weight_sharing else depth)
            )  # fmt: skip
            self.head = LatentHead(latent_dim, n_out)
        self.frozen_encoder = bool(freeze_encoder)
        if self.frozen_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> LegoBlock:
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()  # a frozen encoder must not even change its dropout behaviour
        return self

    def compile_real_parts(self) -> None:
        """``torch.compile`` the real-valued modules in place: the encoder's network, the update
        steps and the head. The latent's FFT stays eager: inductor generates no code for
        complex operators. Parameters and ``state_dict`` keys are unchanged."""
        for module in (self.encoder.net, *self.steps, self.head):
            module.compile()

    # -- the frequency domain ----------------------------------------------------------------
    def _dims(self) -> tuple[int, ...]:
        return (-2, -1) if self.fft_mode == "2d" else (-2,)

    def to_frequency(self, z: torch.Tensor) -> torch.Tensor:
        """FFT of a spatial latent (B, c, d) over the axes of ``fft``."""
        return torch.fft.fftn(z, dim=self._dims(), norm=self.fft_norm)

    def start_frequency(self, batch_size: int) -> torch.Tensor:
        """Z_0: the FFT of the learned latent, broadcast over the batch (B, c, d)."""
        return self.to_frequency(self.latent).expand(batch_size, -1, -1)

    def step(
        self, i: int, freq: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Update step ``i`` (0-based) on the complex frequency latent; returns Z_{i+1}."""
        real, imag = self.step_parts(i, freq.real, freq.imag, context, mask)
        return torch.complex(real, imag)

    def step_parts(
        self,
        i: int,
        real: torch.Tensor,
        imag: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor | None,
        kv: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` on the real and imaginary parts of Z_i, kept as two real tensors.

        The steps update only the real part, so carrying the parts apart spares the complex
        tensors (and their autograd) that :meth:`step` builds; the values are the same.
        ``kv``: the step's keys and values of ``context`` (:meth:`context_kv`), if known.
        """
        if self.l2_normalise:
            # F.normalize of the complex latent over the latent axis: one scale per column.
            norm = (real.square() + imag.square()).sum(dim=-2, keepdim=True).sqrt()
            scale = norm.clamp_min(1e-12)
            real, imag = real / scale, imag / scale
        update = self.steps[0 if len(self.steps) == 1 else i]
        # A latent not yet updated is the same for every sample (a stride-0 batch view).
        shared = real.dim() == 3 and real.shape[0] > 1 and real.stride(0) == 0
        return update(real, context, mask, shared_latent=shared, kv=kv), imag

    def context_kv(self, context: torch.Tensor) -> torch.Tensor | None:
        """Keys and values of ``context`` for every step when the steps share their weights
        (one projection instead of ``depth``), or None: each step projects its own."""
        return self.steps[0].context_kv(context) if len(self.steps) == 1 else None

    def embed_parts(self, inputs: ModalityBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts of the final frequency latent (each B, c, d)."""
        start = self.start_frequency(inputs.x.shape[0])
        real, imag = start.real, start.imag
        context, mask = self.encoder(inputs)
        kv = self.context_kv(context)
        for i in range(self.depth):
            real, imag = self.step_parts(i, real, imag, context, mask, kv)
        return real, imag

    def run_steps(self, freq: torch.Tensor, inputs: ModalityBatch) -> torch.Tensor:
        """All ``depth`` steps from the frequency latent ``freq``; returns the final one."""
        context, mask = self.encoder(inputs)
        kv = self.context_kv(context)
        real, imag = freq.real, freq.imag
        for i in range(self.depth):
            real, imag = self.step_parts(i, real, imag, context, mask, kv)
        return torch.complex(real, imag)

    def embed(self, batch: Batch | ModalityBatch) -> torch.Tensor:
        """The final complex frequency-domain latent (B, c, d) that the head reads."""
        inputs = batch[self.modality] if isinstance(batch, dict) else batch
        return torch.complex(*self.embed_parts(inputs))

    def forward(self, batch: Batch) -> torch.Tensor:
        # The head reads only the real part, so no complex latent is built.
        real, _ = self.embed_parts(batch[self.modality])
        return self.head(real)


def build_lego_block(
    *, modalities: dict[str, InputSpec], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoBlock:
    """Catalogue builder: one LegoBlock on the single modality of ``modalities``.

    ``cfg["lego"]`` is the validated ``lego`` config section (the schema fills its defaults).
    """
    if len(modalities) != 1:
        raise ValueError(f"a LegoBlock takes exactly one modality, got {list(modalities)}")
    ((name, (kind, dim)),) = modalities.items()
    return LegoBlock(modality=name, kind=kind, in_dim=dim, n_out=n_out, **cfg["lego"])
