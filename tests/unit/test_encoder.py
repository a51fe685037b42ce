"""Encoders: torchvision layout, weights loading, determinism, bf16 agreement, clear errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from mmlego.preprocess.encoder import (
    ARCH_DIMS,
    build_encoder,
    build_trunk,
    load_torchvision_weights,
    prepare_for_inference,
)
from mmlego.utils.provenance import file_sha256

LAYERS = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3)}


def torchvision_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ResNet state dict, written out from its definition."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    bottleneck = arch == "resnet50"
    expansion = 4 if bottleneck else 1
    inplanes = 64
    for i, (blocks, planes) in enumerate(zip(LAYERS[arch], (64, 128, 256, 512), strict=True)):
        for j in range(blocks):
            p = f"layer{i + 1}.{j}"
            stride = 2 if (i > 0 and j == 0) else 1
            if bottleneck:
                convs = [
                    (planes, inplanes, 1, 1),
                    (planes, planes, 3, 3),
                    (planes * 4, planes, 1, 1),
                ]
            else:
                convs = [(planes, inplanes, 3, 3), (planes, planes, 3, 3)]
            for k, shape in enumerate(convs, start=1):
                shapes[f"{p}.conv{k}.weight"] = shape
                bn(f"{p}.bn{k}", shape[0])
            if stride != 1 or inplanes != planes * expansion:
                shapes[f"{p}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    shapes["fc.weight"] = (1000, 512 * expansion)
    shapes["fc.bias"] = (1000,)
    return shapes


def torchvision_state_dict(arch: str, seed: int = 7) -> dict[str, torch.Tensor]:
    """A random state dict in torchvision's format (what a user's weights file holds)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in torchvision_shapes(arch).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = 1 + torch.rand(shape, generator=gen)
        elif key.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=gen)
    return state


def patches(n: int = 4, size: int = 64, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))


def encode(model, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model(x).float().numpy()


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_trunk_has_torchvision_layout(arch):
    expected = {k: v for k, v in torchvision_shapes(arch).items() if not k.startswith("fc.")}
    got = {k: tuple(v.shape) for k, v in build_trunk(arch).state_dict().items()}
    assert got == expected


@pytest.mark.parametrize("arch", sorted(ARCH_DIMS))
def test_feature_dimensions(arch):
    model, info = build_encoder(arch, weights=None, seed=0)
    assert (
        encode(model, patches(2, 32)).shape == (2, ARCH_DIMS[arch]) and info.dim == ARCH_DIMS[arch]
    )


def test_random_init_is_seeded_and_warned(caplog):
    with caplog.at_level(logging.WARNING):
        a, info = build_encoder("resnet18", weights=None, seed=3)
    b, _ = build_encoder("resnet18", weights=None, seed=3)
    c, _ = build_encoder("resnet18", weights=None, seed=4)
    x = patches()
    assert np.array_equal(encode(a, x), encode(b, x))
    assert not np.allclose(encode(a, x), encode(c, x))
    assert info.random_init and info.weights_sha256 == ""
    assert "RANDOM initialisation" in caplog.text and "encoder.weights" in caplog.text


def test_fp32_features_are_bit_identical_across_runs():
    x = patches(6)
    outs = []
    for _ in range(2):
        model, _ = build_encoder("resnet18", weights=None, seed=0)
        ready = prepare_for_inference(
            model,
            device=torch.device("cpu"),
            precision="fp32",
            channels_last=True,
            compile_model=False,
        )
        outs.append(encode(ready, x))
    assert outs[0].tobytes() == outs[1].tobytes()


def test_bf16_agrees_with_fp32():
    x = patches(8)
    model, _ = build_encoder("resnet18", weights=None, seed=0)
    fp32 = encode(model, x)
    model_bf16, _ = build_encoder("resnet18", weights=None, seed=0)
    bf16 = encode(
        prepare_for_inference(
            model_bf16,
            device=torch.device("cpu"),
            precision="bf16",
            channels_last=True,
            compile_model=False,
        ),
        x,
    )
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() >= 0.99, cos


def test_torchvision_weights_load_and_change_the_features(tmp_path):
    path = tmp_path / "resnet18.pth"
    state = torchvision_state_dict("resnet18")
    torch.save(state, path)
    random_model, _ = build_encoder("resnet18", weights=None, seed=0)
    model, info = build_encoder("resnet18", weights=path, seed=0)
    assert info.weights_sha256 == file_sha256(path) and not info.random_init
    assert torch.equal(model.trunk.conv1.weight, state["conv1.weight"])
    x = patches(2, 64)
    assert not np.allclose(encode(model, x), encode(random_model, x))
    # A DataParallel checkpoint wrapped in {"state_dict": ...} loads to the same weights.
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    again, _ = build_encoder("resnet18", weights=wrapped, seed=0)
    assert np.array_equal(encode(again, x), encode(model, x))


def test_truncated_resnet50_takes_full_resnet50_weights(tmp_path):
    path = tmp_path / "resnet50.pth"
    state = torchvision_state_dict("resnet50")
    torch.save(state, path)
    trunk = build_trunk("resnet50_trunc")
    load_torchvision_weights(trunk, path, "resnet50_trunc")  # layer4 and fc are ignored
    assert torch.equal(trunk.layer3[5].conv3.weight, state["layer3.5.conv3.weight"])


def test_wrong_architecture_fails_naming_the_file(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision_state_dict("resnet18"), path)
    with pytest.raises(
        ValueError, match=r"r18\.pth: does not fit encoder.arch=resnet50.*wrong shape"
    ):
        build_encoder("resnet50", weights=path, seed=0)


def test_one_tensor_of_the_wrong_shape_is_named(tmp_path):
    state = torchvision_state_dict("resnet18")
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(
        ValueError, match=r"bad\.pth.*layer2\.0\.conv1\.weight: file \(128, 64, 5, 5\)"
    ):
        load_torchvision_weights(build_trunk("resnet18"), path, "resnet18")


def test_not_a_state_dict_fails_clearly(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(ValueError, match=r"notes\.pth: not a loadable torch state dict"):
        build_encoder("resnet18", weights=text, seed=0)
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        build_encoder("resnet18", weights=tmp_path / "missing.pth", seed=0)
