"""How a study's setup departs from the paper's: the list under ``paper_comparison.md``.

A number next to the paper's means little without the ways the two setups differ, so each
difference is stated from the study's own config (the released code's values are in
``RELEASED``; the paper's protocol is in shared REFERENCE: 5 random 70/15/15 splits, a
hyperparameter sweep per model, patch features from a ResNet pretrained on Kather-100k).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmlego.data.splits import scheme_label

# The released code's LegoBlock defaults (its cross-attention hard-codes dim_head 64; attention
# and feed-forward dropout default to 0; no wrapped encoder, raw inputs as context).
RELEASED = {"dim_head": 64, "dropout": 0.0, "encoder": "none"}
ENCODER_WORDS = {
    "auto": "an SNN for tables, gated-attention MIL for slides, images and series",
    "snn": "an SNN",
    "abmil": "gated-attention MIL",
    "none": "none (raw inputs as context)",
}


def setup_differences(config: Mapping[str, Any]) -> list[str]:
    """One sentence per way this study's setup departs from the paper's (config sections:
    ``lego``, ``encoder``, ``tune``, ``train`` and ``splits``)."""
    lego, train = config["lego"], config["train"]
    notes = [
        f"LegoBlock encoders: {ENCODER_WORDS[lego['encoder']]}; the released code's default "
        f"is {ENCODER_WORDS[RELEASED['encoder']]}.",
        _sweep(config.get("tune", {}), train),
        f"Attention head width dim_head = {lego['dim_head']}; the released code hard-codes "
        f"{RELEASED['dim_head']}.",
        f"LegoBlock dropout {lego['dropout']:g}; the released code's default is "
        f"{RELEASED['dropout']:g}.",
        "± is the sample standard deviation over splits (ddof = 1); the paper does not state "
        "its ddof (with 5 splits, ddof = 0 gives values 0.89× ours).",
        f"Splits: {scheme_label(config['splits'])}, by patient (the released code splits by "
        "row, so one patient's slides can fall in several sets); the paper reports 5 random "
        "70/15/15 splits.",
    ]
    weights = config.get("encoder", {}).get("weights")
    if not weights:
        notes.append(
            "Patch encoder: random initialisation (no pretrained weights given in "
            "encoder.weights); the paper's is pretrained on Kather-100k, so slide and image "
            "features here carry far less signal."
        )
    return notes


def _sweep(tune: Mapping[str, Any], train: Mapping[str, Any]) -> str:
    trials = int(tune.get("trials") or 0)
    if trials:
        return (
            f"Hyperparameters: {trials} Optuna trials per run on the validation set; the paper "
            "swept every model (and the released code selected on test)."
        )
    return (
        f"No hyperparameter sweep: fixed settings (lr {train['lr']:g}, weight decay "
        f"{train['weight_decay']:g}, up to {train['epochs']} epochs); the paper swept every model."
    )


def differences_markdown(notes: list[str]) -> str:
    """The differences as a Markdown list under a heading."""
    return "\n**Setup differences from the paper**\n\n" + "".join(f"- {n}\n" for n in notes)
