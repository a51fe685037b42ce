"""MCAT: genomic-guided co-attention (Chen et al. 2021).

Inputs: one bag (or time-series) modality, whose instances are the "patches", and one or more
tabular modalities, which give the "genomic groups":

- with several tabular modalities (TCGA's mut, cnv, rna), each modality is one group;
- with a single tabular modality (datasets without omics groups), its features are split
  into ``groups`` contiguous chunks of near-equal size (config ``baselines.mcat.groups``).

Each group is embedded by its own SNN: G query tokens per sample. The queries co-attend over
the sample's own instance tokens (padding masked; never across samples), giving G
genomic-guided instance summaries. Each of the two token sets (co-attended instances, groups)
goes through a self-attention layer and gated-attention pooling; the two pooled vectors are
concatenated and an MLP predicts. A missing group is masked in both branches; a missing bag
leaves the instance branch at zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, ModalityBatch, MultimodalModel
from mmlego.models.baselines.embed import ModalityEncoder
from mmlego.models.baselines.specs import baseline_params
from mmlego.models.baselines.tokens import SelfAttentionBlock, Tokeniser, masked_attend
from mmlego.models.dropout import Dropout
from mmlego.models.encoders import GatedAttentionMIL


def group_slices(inputs: Mapping[str, InputSpec], groups: int) -> list[tuple[str, int, int]]:
    """(modality, start, stop) feature ranges of the genomic groups."""
    tabular = [m for m, s in inputs.items() if s.kind == "vector"]
    if len(tabular) > 1:
        return [(m, 0, inputs[m].dim) for m in tabular]
    (name,) = tabular
    edges = np.linspace(0, inputs[name].dim, min(groups, inputs[name].dim) + 1).round().astype(int)
    return [(name, int(a), int(b)) for a, b in itertools.pairwise(edges)]


def check_mcat_inputs(inputs: Mapping[str, InputSpec]) -> str:
    """The name of the single bag/series modality; raises when the inputs do not fit MCAT."""
    instances = [m for m, s in inputs.items() if s.kind in ("bag", "series")]
    tabular = [m for m, s in inputs.items() if s.kind == "vector"]
    if len(instances) != 1 or not tabular:
        raise ValueError(
            "mcat needs exactly one bag or time-series modality and at least one tabular "
            f"modality; got { ({m: s.kind for m, s in inputs.items()}) }"
        )
    return instances[0]


class MCAT(MultimodalModel):
    """Genomic groups co-attend over instances; two pooled branches; concatenation fusion."""

    def __init__(
        self,
        inputs: Mapping[str, InputSpec],
        n_out: int,
        *,
        dim: int,
        groups: int,
        heads: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.modalities = tuple(inputs)
        self.instances = check_mcat_inputs(inputs)
        self.slices = group_slices(inputs, groups)
        self.group_encoders = nn.ModuleList(
            ModalityEncoder(InputSpec("vector", stop - start), dim, dropout)
            for _, start, stop in self.slices
        )
        self.tokeniser = Tokeniser(inputs[self.instances], dim)
        self.coattention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.path_transformer = SelfAttentionBlock(dim, heads, dropout)
        self.omic_transformer = SelfAttentionBlock(dim, heads, dropout)
        self.path_pool = GatedAttentionMIL(dim, dim, dropout=dropout)
        self.omic_pool = GatedAttentionMIL(dim, dim, dropout=dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * dim, dim), nn.ReLU(), Dropout(dropout), nn.Linear(dim, n_out)
        )

    def group_tokens(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Group embeddings (B, G, dim) and their mask (B, G)."""
        tokens, masks = [], []
        for (name, start, stop), encoder in zip(self.slices, self.group_encoders, strict=True):
            source = batch[name]
            tokens.append(encoder(ModalityBatch(source.x[:, start:stop], source.present)))
            masks.append(source.present.bool())
        return torch.stack(tokens, dim=1), torch.stack(masks, dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        omic, group_mask = self.group_tokens(batch)
        patches, patch_mask = self.tokeniser(batch[self.instances])
        # Queries are the groups; each sample's keys are its own instances only.
        path = masked_attend(self.coattention, omic, patches, patch_mask)
        path_mask = group_mask & patch_mask.any(dim=1)[:, None]
        h_path = _pool(self.path_pool, self.path_transformer(path, path_mask), path_mask)
        h_omic = _pool(self.omic_pool, self.omic_transformer(omic, group_mask), group_mask)
        return self.head(torch.cat([h_path, h_omic], dim=1))


def _pool(pool: nn.Module, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gated-attention pooling over valid tokens; zero for samples without any."""
    pooled = pool(tokens, mask)
    return pooled * mask.any(dim=1).to(pooled.dtype)[:, None]


def build_mcat(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> MCAT:
    """MCAT on one bag/series modality plus tabular modalities (see :func:`group_slices`)."""
    params = baseline_params(cfg)
    return MCAT(
        modalities,
        n_out,
        dim=params["dim"],
        groups=params["mcat"]["groups"],
        heads=params["heads"],
        dropout=params["dropout"],
    )
