"""The streaming encode loop: reader thread, padding for compiled models, folded BatchNorm."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from mmlego.preprocess.encode import encode_batches, read_ahead
from mmlego.preprocess.encoder import build_encoder, fold_batchnorm


class MeanColour(nn.Module):
    """Features = per-patch channel means."""

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return patches.float().mean(dim=(1, 2))


class RecordingMeanColour(MeanColour):
    """The same, recording the batch sizes it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(patches))
        return super().forward(patches)


def _batches(sizes, side: int = 4) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    return [
        torch.from_numpy(rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)) for n in sizes
    ]


def test_read_ahead_keeps_order_and_raises_the_readers_error():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("slide.svs: the file is corrupt")

    with pytest.raises(ValueError, match=r"slide\.svs: the file is corrupt"):
        list(read_ahead(failing()))


def test_read_ahead_stops_its_thread_when_the_consumer_stops():
    before = threading.active_count()
    stream = read_ahead(iter(range(10_000)), depth=2)
    assert next(stream) == 0
    stream.close()  # what an error in the model loop does to the generator
    assert threading.active_count() == before


def test_padding_fills_every_batch_and_drops_the_blank_features():
    # Batches as a loader makes them: normal tensors, outside inference mode.
    batches = _batches([4, 4, 3])
    expected = torch.cat(batches).float().mean(dim=(1, 2)).numpy()
    for pad_to, sizes in ((None, [4, 4, 3]), (4, [4, 4, 4]), (6, [6, 6, 6])):
        model = RecordingMeanColour()
        out = encode_batches(
            model,
            batches,
            device=torch.device("cpu"),
            dim=3,
            total=11,
            desc="t",
            pad_to=pad_to,
        )
        assert model.sizes == sizes
        np.testing.assert_array_equal(out, expected)


def test_a_compiled_model_is_not_recompiled_for_the_last_batch():
    from torch._dynamo.utils import counters

    def graphs(pad_to: int | None) -> int:
        torch._dynamo.reset()
        counters.clear()
        model = torch.compile(MeanColour(), backend="eager", dynamic=False)
        encode_batches(
            model,
            _batches([4, 4, 3]),
            device=torch.device("cpu"),
            dim=3,
            total=11,
            desc="t",
            pad_to=pad_to,
        )
        torch._dynamo.reset()
        return counters["stats"]["unique_graphs"]

    assert graphs(pad_to=4) == 1
    # Without the buffer the short batch is a new shape: a second compilation.
    assert graphs(pad_to=None) == 2


def test_folded_batchnorm_computes_the_same_features():
    model, _ = build_encoder("resnet18", weights=None, seed=0)
    gen = torch.Generator().manual_seed(1)
    for layer in model.modules():  # running statistics far from the identity
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.normal_(0.0, 0.2, generator=gen)
            layer.running_var.uniform_(0.5, 2.0, generator=gen)
            layer.bias.data.normal_(0.0, 0.2, generator=gen)
    x = _batches([2], side=32)[0]
    with torch.inference_mode():
        before = model(x)
        assert fold_batchnorm(model) == 20  # stem + 2 per basic block x 8 + 3 downsamples
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4 * before.abs().max().item())
