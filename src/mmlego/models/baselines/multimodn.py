"""MultiModN: sequential modular fusion (Swamy et al. 2023).

A state vector starts from a learned s_0. Each modality in turn updates it:
s_m = LayerNorm(s_{m-1} + MLP_m([s_{m-1}, e_m])), where e_m is the modality's SNN/ABMIL
embedding; a sample that lacks the modality keeps its state (the module is skipped). One
decoder reads the state after every update, so a prediction exists after any prefix of
modalities; the model's output is the decoder on the final state, and training averages the loss over every step's decoder output
(as MultiModN does), so the model predicts well from any prefix of its modalities.

The released code wraps encoder outputs in a fresh ``nn.Parameter``, which cuts the graph so
the encoders never learn; here the embeddings flow straight into the state update, and the
tests check that every encoder receives a gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.baselines.embed import ModalityEncoder
from mmlego.models.baselines.specs import baseline_params, batch_size, require_kinds
from mmlego.models.dropout import Dropout


class StateUpdate(nn.Module):
    """s -> LayerNorm(s + MLP([s, e]))."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, dim), nn.GELU(), Dropout(dropout), nn.Linear(dim, dim)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, state: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """The next state (B, dim)."""
        return self.norm(state + self.mlp(torch.cat([state, embedding], dim=1)))


class MultiModN(MultimodalModel):
    """Sequential state updates, one per modality, with a decoder after each."""

    def __init__(
        self, inputs: Mapping[str, InputSpec], n_out: int, *, dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.modalities = tuple(inputs)
        self.initial_state = nn.Parameter(torch.zeros(dim))
        self.encoders = nn.ModuleDict(
            {m: ModalityEncoder(s, dim, dropout) for m, s in inputs.items()}
        )
        self.updates = nn.ModuleDict({m: StateUpdate(dim, dropout) for m in inputs})
        self.decoder = nn.Linear(dim, n_out)

    def step_logits(self, batch: Batch) -> list[torch.Tensor]:
        """Decoder logits (B, n_out) after each modality's update, in modality order."""
        state = self.initial_state.expand(batch_size(batch), -1)
        logits = []
        for name in self.modalities:
            updated = self.updates[name](state, self.encoders[name](batch[name]))
            state = torch.where(batch[name].present.bool()[:, None], updated, state)
            logits.append(self.decoder(state))
        return logits

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out) from the final state."""
        return self.step_logits(batch)[-1]

    def training_logits(self, batch: Batch) -> list[torch.Tensor]:
        """The decoder after every update: MultiModN trains each prefix of modalities."""
        return self.step_logits(batch)


def build_multimodn(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> MultiModN:
    """MultiModN over two or more modalities of any kind (in the dataset's modality order)."""
    require_kinds("multimodn", modalities, ("vector", "series", "bag"), count="many")
    params = baseline_params(cfg)
    return MultiModN(modalities, n_out, dim=params["dim"], dropout=params["dropout"])
