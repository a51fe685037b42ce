"""LegoBlock: a modality encoder wrapped around a learned latent updated in the frequency domain.

One update step on the spatial latent z (B, c, d), with context h = g_m(x) (B, M, e):

    Z   = FFT(z)                                  # fft="2d": both axes (paper); "1d": latent axis
    R   = Re Z + CrossAttn(LN(Re Z), LN(h), mask)  # query = real part; keys/values = context
    R   = R + FF(LN(R))
    Z'  = R + i · Im Z                            # the imaginary part is re-attached
    z'  = Re iFFT(Z')                             # not after the last step

After the last step the complex frequency-domain latent Z' is the block's embedding
(:meth:`LegoBlock.embed`, both parts current) and the head reads it: mean over the c latents of
the real part → LayerNorm → Linear. The real part is what the steps update; LegoMerge combines
magnitudes and phases of Z' and reuses the same head form. The spatial latent stays real: the
update breaks the FFT's Hermitian symmetry, so the iFFT's imaginary part is dropped (with no
update, iFFT(FFT(z)) = z exactly). A consequence worth knowing: the real iFFT keeps the odd,
imaginary part of the spectrum, so without L2 normalisation the final imaginary part equals
that of FFT(latent) — the input speaks through the real part only. ``l2_normalise`` reproduces the released code's L2
normalisation over the latent axis before each FFT.

Encoders g_m: an SNN for vectors (one context token), gated-attention MIL for bags and series
(context = the pooled token plus every instance embedding, with the padding masked), or none
(identity: the raw vector as one token, the raw instances as tokens).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmlego.models.base import Batch, ModalityBatch, MultimodalModel
from mmlego.models.encoders import SNN, GatedAttentionMIL
from mmlego.models.registry import register_model

LEGO_DEFAULTS: dict[str, Any] = {
    "latent_len": 64,
    "latent_dim": 64,
    "depth": 2,
    "heads": 8,
    "dim_head": 16,
    "encoder_dim": 128,
    "encoder": "auto",
    "dropout": 0.1,
    "ff_mult": 2,
    "fft": "2d",
    "fft_norm": "ortho",
    "l2_normalise": False,
    "freeze_encoder": False,
    "init_seed": 0,
}


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
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        b, n, _ = x.shape
        m = context.shape[1]
        q = self.to_q(x).view(b, n, self.heads, -1).transpose(1, 2)  # b h n k
        k, v = self.to_kv(context).view(b, m, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            # Rows without any valid token attend everywhere (finite), then are zeroed.
            has_any = mask.any(dim=1)
            safe = mask | ~has_any[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=safe[:, None, None, :])
            out = out * has_any[:, None, None, None].to(out.dtype)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Sequential):
    """Linear → GELU → Dropout → Linear → Dropout."""

    def __init__(self, dim: int, *, mult: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(dim * mult, dim), nn.Dropout(dropout),
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

    def forward(
        self, real: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        real = real + self.attn(self.norm_latent(real), self.norm_context(context), mask)
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
    """g_m: maps one modality's batch to context tokens (B, M, e) and their mask (B, M)."""

    def __init__(
        self, kind: str, in_dim: int, *, encoder: str, out_dim: int, dropout: float
    ) -> None:
        super().__init__()
        if encoder == "auto":
            encoder = "snn" if kind == "vector" else "abmil"
        if encoder == "snn" and kind != "vector":
            raise ValueError(f"an SNN encoder takes a vector modality, not a {kind}")
        if encoder == "abmil" and kind == "vector":
            raise ValueError("an ABMIL encoder takes a bag or series modality, not a vector")
        self.kind, self.name = kind, encoder
        if encoder == "snn":
            self.net: nn.Module = SNN(in_dim, out_dim, hidden=max(out_dim, 64), dropout=dropout)
        elif encoder == "abmil":
            self.net = GatedAttentionMIL(in_dim, out_dim, attn_dim=out_dim, dropout=dropout)
        elif encoder == "none":
            self.net = nn.Identity()
        else:
            raise ValueError(f"unknown encoder {encoder!r}; choose auto, snn, abmil or none")
        self.out_dim = in_dim if encoder == "none" else out_dim

    def forward(self, inputs: ModalityBatch) -> tuple[torch.Tensor, torch.Tensor]:
        present = inputs.present.bool()
        if self.kind == "vector":
            tokens = self.net(inputs.x).unsqueeze(1)
            return tokens, present.unsqueeze(1)
        mask = (
            inputs.mask
            if inputs.mask is not None
            else torch.ones(inputs.x.shape[:2], dtype=torch.bool, device=inputs.x.device)
        )
        mask = mask & present[:, None]
        if self.name == "none":
            return inputs.x, mask
        pooled, instances, _ = self.net(inputs.x, mask, return_instances=True)
        tokens = torch.cat([pooled.unsqueeze(1), instances], dim=1)
        return tokens, torch.cat([mask.any(dim=1, keepdim=True), mask], dim=1)


class LegoBlock(MultimodalModel):
    """One modality's block: encoder, learned latent c × d, ``depth`` frequency-domain steps, head.

    Args (keyword-only, see :data:`LEGO_DEFAULTS`): ``modality`` name, its ``kind`` (vector,
    series, bag) and feature ``in_dim``; ``n_out`` outputs; ``latent_len`` c; ``latent_dim`` d;
    ``depth`` steps; ``heads``/``dim_head`` of the cross-attention; ``encoder`` (auto, snn,
    abmil, none) with ``encoder_dim``; ``dropout``; ``ff_mult``; ``fft`` ("2d" paper / "1d"
    released code) and ``fft_norm`` (torch.fft norm); ``l2_normalise`` before each FFT;
    ``freeze_encoder`` (requires_grad off and kept in eval mode); ``init_seed``: when an
    integer, the latent, the update steps and the head start from this seed's draw, so every
    block of a study starts from the same point (null: from the global RNG, like the encoder).
    """

    def __init__(
        self, *, modality: str, kind: str, in_dim: int, n_out: int, **options: Any
    ) -> None:
        super().__init__()
        unknown = sorted(set(options) - set(LEGO_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown LegoBlock option(s) {unknown}; known: {sorted(LEGO_DEFAULTS)}"
            )
        opts = {**LEGO_DEFAULTS, **options}
        self.modality, self.modalities = modality, (modality,)
        self.fft_mode, self.fft_norm = opts["fft"], opts["fft_norm"]
        if self.fft_mode not in ("1d", "2d"):
            raise ValueError(f"lego.fft must be '1d' or '2d', got {self.fft_mode!r}")
        self.l2_normalise = bool(opts["l2_normalise"])
        self.encoder = ModalityEncoder(
            kind,
            in_dim,
            encoder=opts["encoder"],
            out_dim=opts["encoder_dim"],
            dropout=opts["dropout"],
        )
        dim = opts["latent_dim"]
        # LegoMerge averages the latents and heads of blocks trained apart. Like any weight
        # merge, that works best when the merged parts share their starting point, so they
        # start from one seed's draw for every modality (the encoders differ in shape anyway).
        shared = opts["init_seed"] is not None
        with torch.random.fork_rng(devices=[], enabled=shared):
            if shared:
                torch.manual_seed(int(opts["init_seed"]))
            self.latent = nn.Parameter(torch.randn(opts["latent_len"], dim) * 0.02)
            self.steps = nn.ModuleList(
                UpdateStep(dim, self.encoder.out_dim, heads=opts["heads"],
                           dim_head=opts["dim_head"], dropout=opts["dropout"],
                           ff_mult=opts["ff_mult"])
                for _ in range(opts["depth"])
            )  # fmt: skip
            self.head = LatentHead(dim, n_out)
        self.frozen_encoder = bool(opts["freeze_encoder"])
        if self.frozen_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> LegoBlock:
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()  # a frozen encoder must not even change its dropout behaviour
        return self

    # -- the frequency domain ----------------------------------------------------------------
    def _dims(self) -> tuple[int, ...]:
        return (-2, -1) if self.fft_mode == "2d" else (-2,)

    def to_frequency(self, z: torch.Tensor) -> torch.Tensor:
        """FFT of the spatial latent (after the optional L2 normalisation over the latent axis)."""
        if self.l2_normalise:
            z = F.normalize(z, dim=-2)
        return torch.fft.fftn(z, dim=self._dims(), norm=self.fft_norm)

    def to_spatial(self, freq: torch.Tensor) -> torch.Tensor:
        """Real part of the inverse FFT."""
        return torch.fft.ifftn(freq, dim=self._dims(), norm=self.fft_norm).real

    def step(
        self, i: int, z: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Update step ``i`` on the spatial latent ``z``; returns the complex frequency latent."""
        freq = self.to_frequency(z)
        real = self.steps[i](freq.real, context, mask)
        return torch.complex(real, freq.imag)

    def start_latent(self, batch_size: int) -> torch.Tensor:
        """The learned latent repeated over the batch (B, c, d)."""
        return self.latent.unsqueeze(0).expand(batch_size, -1, -1)

    def run_steps(self, z: torch.Tensor, inputs: ModalityBatch) -> torch.Tensor:
        """All steps from spatial latent ``z``; returns the final frequency-domain latent."""
        context, mask = self.encoder(inputs)
        for i in range(len(self.steps)):
            freq = self.step(i, z, context, mask)
            if i < len(self.steps) - 1:
                z = self.to_spatial(freq)
        return freq

    def embed(self, batch: Batch | ModalityBatch) -> torch.Tensor:
        """The final complex frequency-domain latent (B, c, d), real and imaginary parts current."""
        inputs = batch[self.modality] if isinstance(batch, dict) else batch
        return self.run_steps(self.start_latent(inputs.x.shape[0]), inputs)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.embed(batch))


def lego_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """LegoBlock options from the ``lego`` config section (unknown schema keys are ignored)."""
    section = cfg.get("lego", {})
    return {k: section[k] for k in LEGO_DEFAULTS if k in section}


@register_model("lego_block")
def build_lego_block(
    *, modalities: dict[str, tuple[str, int]], n_out: int, task: str, cfg: dict[str, Any]
) -> LegoBlock:
    """Registry builder: one LegoBlock on the single modality of ``modalities``."""
    if len(modalities) != 1:
        raise ValueError(f"a LegoBlock takes exactly one modality, got {list(modalities)}")
    ((name, (kind, dim)),) = modalities.items()
    return LegoBlock(modality=name, kind=kind, in_dim=dim, n_out=n_out, **lego_options(cfg))
