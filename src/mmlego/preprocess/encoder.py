"""Patch encoders: MONAI ResNets that load torchvision-format weights, ready for inference.

The encoder takes uint8 patches (B, H, W, 3) straight from the loader and normalises them
itself, so the loader ships 4x fewer bytes and a compiled model fuses the normalisation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmlego.utils.logs import warn_loudly
from mmlego.utils.provenance import file_sha256
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)

ARCH_DIMS = {"resnet18": 512, "resnet50": 2048, "resnet50_trunc": 1024}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderInfo:
    """What produced a set of features (recorded in every feature file)."""

    arch: str
    dim: int
    weights: str  # the weights file, or "" for a random initialisation
    weights_sha256: str
    random_init: bool
    precision: str

    def attrs(self) -> dict[str, Any]:
        """The h5 attributes describing the encoder."""
        return {
            "encoder": self.arch,
            "feature_dim": self.dim,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "random_init": self.random_init,
            "precision": self.precision,
        }


class PatchEncoder(nn.Module):
    """uint8 patches (B, H, W, 3) -> features (B, D): normalise, then a ResNet trunk."""

    def __init__(
        self,
        trunk: nn.Module,
        *,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        # Folded normalisation: (x / 255 - mean) / std == x * scale + shift.
        scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, 3, 1, 1)
        shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)]).view(1, 3, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        # (B, H, W, 3) -> (B, 3, H, W) as a view: the memory is already channels_last.
        x = patches.permute(0, 3, 1, 2).to(self.scale.dtype)
        return self.trunk(x * self.scale + self.shift)


def build_trunk(arch: str) -> nn.Module:
    """A 2-d MONAI ResNet laid out like torchvision's (7x7 stride-2 stem, no fc head)."""
    from monai.networks.nets import resnet18, resnet50

    if arch not in ARCH_DIMS:
        raise ValueError(
            f"config key 'encoder.arch': unknown {arch!r}; choose one of {list(ARCH_DIMS)}"
        )
    factory = resnet18 if arch == "resnet18" else resnet50
    net = factory(
        spatial_dims=2,
        n_input_channels=3,
        conv1_t_size=7,
        conv1_t_stride=2,
        bias_downsample=False,
        feed_forward=False,
    )
    if arch == "resnet50_trunc":
        # CLAM's truncation: stop after layer 3 and average-pool its 1024 channels.
        net.layer4 = nn.Identity()
    return net


def _state_dict_from(path: Path) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path}: not a loadable torch state dict ({type(err).__name__}: {err}); "
            "config key 'encoder.weights' must name a torchvision-format ResNet state dict"
        ) from err
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise ValueError(
            f"{path}: expected a dict of tensors (a state dict), got {type(payload).__name__}"
        )
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in payload.items()}


def load_torchvision_weights(trunk: nn.Module, path: str | Path, arch: str) -> None:
    """Load a torchvision-format ResNet state dict into ``trunk``; raise naming any mismatch.

    The classification head (``fc``) is ignored, and so is ``layer4`` for the truncated
    ResNet-50. Every remaining key must be present with the right shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: encoder weights file not found (config key 'encoder.weights')"
        )
    state = _state_dict_from(path)
    ignored = ("fc.",) + (("layer4.",) if arch == "resnet50_trunc" else ())
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}
    expected = trunk.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs {arch} {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensors of the wrong shape (first: {wrong[0]})")
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
        raise ValueError(
            f"{path}: does not fit encoder.arch={arch}: "
            + "; ".join(parts)
            + ". Check that the file is a torchvision ResNet of the configured architecture"
        )
    trunk.load_state_dict(state, strict=True)


def build_encoder(
    arch: str,
    *,
    weights: str | Path | None,
    seed: int,
    precision: str = "fp32",
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> tuple[PatchEncoder, EncoderInfo]:
    """The encoder in eval mode on the CPU, and the record of what it is.

    Without weights the trunk is initialised from a seed derived from ``seed`` and the
    architecture, so two runs give the same random features; a loud warning says so.
    """
    torch.manual_seed(derive_seed(seed, "encoder", arch))
    trunk = build_trunk(arch)
    if weights:
        load_torchvision_weights(trunk, weights, arch)
        digest = file_sha256(weights)
        log.info("encoder %s: loaded %s (sha256 %s)", arch, weights, digest[:16])
    else:
        digest = ""
        warn_loudly(
            log,
            f"encoder {arch} has NO pretrained weights (config key encoder.weights is null): "
            "features come from a seeded RANDOM initialisation. Set encoder.weights to a "
            "torchvision-format state dict for meaningful features.",
        )
    model = PatchEncoder(trunk, mean=tuple(mean), std=tuple(std)).eval()
    info = EncoderInfo(
        arch=arch,
        dim=ARCH_DIMS[arch],
        weights=str(weights) if weights else "",
        weights_sha256=digest,
        random_init=not weights,
        precision=precision,
    )
    return model, info


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that follows a convolution into it; returns the count.

    MONAI's ResNets pair ``convK`` with ``bnK`` in each block (and ``conv1``/``bn1`` in the
    stem) and put ``(conv, bn)`` in ``downsample``. At inference a BatchNorm is an affine map
    per channel, so folding it into the convolution's weights and bias gives the same function
    with one pass over the activations less (about a fifth of an eager ResNet's time on CPU).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(module.modules()):
        if isinstance(parent, nn.Sequential):
            pairs = [(str(i), str(i + 1)) for i in range(len(parent) - 1)]
        else:
            pairs = [(n, "bn" + n[4:]) for n, _ in parent.named_children() if n.startswith("conv")]
        for conv_name, bn_name in pairs:
            conv, bn = getattr(parent, conv_name, None), getattr(parent, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
                setattr(parent, bn_name, nn.Identity())
                folded += 1
    return folded


def prepare_for_inference(
    model: PatchEncoder,
    *,
    device: torch.device,
    precision: str,
    channels_last: bool,
    compile_model: bool,
) -> nn.Module:
    """Fold BatchNorm, move, cast and optionally compile the encoder for fast inference.

    BatchNorm is folded into the convolutions in fp32, before any cast. bf16 casts the weights
    (not autocast): on CPUs with AMX the convolutions then run on the matrix units.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"config key 'encoder.precision': {precision!r}; choose fp32 or bf16")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fold_batchnorm(model.eval())
    model = model.to(device=device, dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for param in model.parameters():
        param.requires_grad_(False)
    if compile_model:
        import torch._inductor.config as inductor_config

        if device.type == "cpu":
            # Freezing turns weights into constants, so BN folds into conv and oneDNN
            # pre-packs the weights: the main CPU speed-up of compiling an inference model.
            inductor_config.freezing = True
        return torch.compile(model, dynamic=False)
    return model
