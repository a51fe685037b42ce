"""Do the multimodal baselines combine modalities? A label planted across two modalities.

label = [tab_0 + sum of the bag's first feature over real instances / sqrt(bag length) > 0]:
each modality alone explains about half of it (the best one-modality score, the true half
signal itself, reaches AUC ~0.85), so a model that really fuses both beats that ceiling.
Each baseline trains 80 full-batch Adam steps on 256 samples and is scored on 256 new ones.

Run: ``.venv/bin/python benchmarks/baselines_learning.py`` -> results/benchmarks/baselines_learning.{json,md}
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from mmlego.config import fill_defaults
from mmlego.models.base import InputSpec, ModalityBatch
from mmlego.models.catalogue import get_builder
from mmlego.utils.atomic import write_json_atomic, write_text_atomic

MODELS = ["perceiver_early", "late_concat", "late_bilinear", "multimodn", "mcat", "healnet"]
OUT = Path("results/benchmarks")


def planted(n: int, seed: int) -> tuple[dict[str, ModalityBatch], torch.Tensor, list[torch.Tensor]]:
    """A batch with ragged bags, the label, and each modality's half of the signal."""
    gen = torch.Generator().manual_seed(seed)
    tab = torch.randn(n, 6, generator=gen)
    bag = torch.randn(n, 8, 4, generator=gen)
    lengths = torch.randint(2, 9, (n,), generator=gen)
    mask = torch.arange(8)[None, :] < lengths[:, None]
    bag = bag * mask[..., None]
    bag_signal = bag[:, :, 0].sum(1) / lengths.sqrt()
    label = (tab[:, 0] + bag_signal > 0).long()
    present = torch.ones(n, dtype=torch.bool)
    batch = {"tab": ModalityBatch(tab, present), "bag": ModalityBatch(bag, present, mask)}
    return batch, label, [tab[:, 0], bag_signal]


def main() -> None:
    cfg = fill_defaults(
        {"datasets": {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}}
    )
    cfg["baselines"].update(dim=16, heads=2, dropout=0.0)
    cfg["baselines"]["late"]["bilinear_dim"] = 4
    train, label, _ = planted(256, seed=0)
    test, test_label, halves = planted(256, seed=1)
    ceiling = max(roc_auc_score(test_label, h) for h in halves)
    results = {"one_modality_ceiling_auc": ceiling, "models": {}}
    for model in MODELS:
        torch.manual_seed(0)
        net = get_builder(model)(
            modalities={"tab": InputSpec("vector", 6), "bag": InputSpec("bag", 4)},
            n_out=2,
            task="binary",
            cfg=cfg,
        )
        optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
        start = time.perf_counter()
        net.train()
        for _ in range(80):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(net(train), label).backward()
            optimiser.step()
        seconds = time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            score = torch.softmax(net(test), dim=1)[:, 1].numpy()
        auc = roc_auc_score(test_label.numpy(), score)
        results["models"][model] = {"test_auc": auc, "train_seconds": seconds}
        print(f"{model:16s} AUC {auc:.3f} (ceiling {ceiling:.3f}) {seconds:.1f}s", flush=True)
    write_json_atomic(OUT / "baselines_learning.json", results)
    lines = [
        "| model | test AUC | beats one-modality ceiling | train s |",
        "| --- | --- | --- | --- |",
    ]
    for model, r in results["models"].items():
        lines.append(
            f"| {model} | {r['test_auc']:.3f} | {r['test_auc'] > ceiling} | {r['train_seconds']:.1f} |"
        )
    lines.append(f"\nOne-modality ceiling AUC: {ceiling:.3f}\n")
    write_text_atomic(OUT / "baselines_learning.md", "\n".join(lines))


if __name__ == "__main__":
    main()
