"""Security: weight files never run pickled code, YAML and code loading stay safe, and ids
from data never escape the output folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from mmlego.preprocess.encoder import load_torchvision_weights
from mmlego.train.outputs import load_model, read_checkpoint
from mmlego.utils.ids import safe_id
from tests.conftest import REPO


class _Payload:
    """Unpickling this object runs a shell command that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil_weights(tmp_path: Path) -> tuple[Path, Path]:
    """A torch file whose unpickling would write ``marker`` (plus a real tensor, so that only
    the code payload can be the reason it is refused)."""
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "model": _Payload(marker)}, path)
    return path, marker


def test_the_payload_runs_under_an_unsafe_load(evil_weights):
    # Guards the test itself: the file really carries a working payload.
    path, marker = evil_weights
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "loader", [read_checkpoint, load_model], ids=["read_checkpoint", "load_model"]
)
def test_model_checkpoint_loaders_refuse_a_code_payload(evil_weights, loader):
    path, marker = evil_weights
    with pytest.raises(ValueError, match=re.escape(str(path))):
        loader(path)
    assert not marker.exists()


def test_encoder_weights_loader_refuses_a_code_payload(evil_weights):
    from monai.networks.nets import resnet18

    path, marker = evil_weights
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_torchvision_weights(resnet18(spatial_dims=2, n_input_channels=3), path, "resnet18")
    assert not marker.exists()


# Calls that execute code or data: unsafe YAML loaders, eval/exec, pickle loads, torch.load
# without weights_only=True, and shells built from strings.
_UNSAFE = [
    re.compile(r"yaml\.(load|unsafe_load|full_load|load_all|unsafe_load_all)\s*\("),
    re.compile(r"yaml\.(Unsafe|Full)?Loader\b"),
    re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    re.compile(r"\b(pickle|cPickle|dill|joblib|marshal)\.loads?\s*\("),
    re.compile(r"shell\s*=\s*True"),
    re.compile(r"\bos\.(system|popen)\s*\("),
]
_TORCH_LOAD = re.compile(r"torch\.load\s*\(([^)]*)\)", re.S)


def _sources() -> list[Path]:
    files = [REPO / "Snakefile"]
    for folder, patterns in (("src", ("*.py",)), ("workflow", ("*.smk", "*.py"))):
        for pattern in patterns:
            files += sorted((REPO / folder).rglob(pattern))
    return files


def test_no_unsafe_loader_or_code_execution_in_the_code():
    hits = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            hits += [
                f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                for p in _UNSAFE
                if p.search(code)
            ]
        for call in _TORCH_LOAD.finditer(text):
            if "weights_only=True" not in call.group(1):
                hits.append(f"{path.relative_to(REPO)}: torch.load without weights_only=True")
    assert not hits, "unsafe loading or code execution:\n" + "\n".join(hits)


def test_the_scan_sees_what_it_forbids():
    # Each forbidden form is caught (so a passing scan means something).
    samples = [
        "yaml.load(f)",
        "yaml.load(f, Loader=yaml.FullLoader)",
        "eval(cfg['x'])",
        "pickle.load(f)",
        "subprocess.run(cmd, shell=True)",
        "os.system(cmd)",
    ]
    assert all(any(p.search(s) for p in _UNSAFE) for s in samples)
    assert not any(p.search("model.eval()") or p.search("yaml.safe_load(f)") for p in _UNSAFE)
    assert "weights_only=True" not in _TORCH_LOAD.search(
        "torch.load(path, map_location='cpu')"
    ).group(1)


@pytest.mark.parametrize(
    "raw",
    [
        "../../etc/passwd",
        "/abs/path",
        "a/../../b",
        "..",
        ".hidden",
        "x\\..\\y",
        "a b/c\x00d",
        "~/x",
    ],
)
def test_safe_id_never_leaves_the_folder(tmp_path, raw):
    name = safe_id(raw)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    target = (tmp_path / "out" / name).resolve()
    assert target.parent == (tmp_path / "out").resolve()


def test_safe_id_refuses_an_empty_id():
    with pytest.raises(ValueError, match="empty id"):
        safe_id("  ")


def test_manifest_with_an_escaping_item_id_is_refused(tmp_path):
    from mmlego.data.manifests import read_manifest

    path = tmp_path / "wsi.csv"
    path.write_text(
        "patient_id,item_id,path\np1,slide-1,/data/a.svs\np2,../../etc/evil,/data/b.svs\np3,,/data/c.svs\n"
    )
    with pytest.raises(ValueError) as err:
        read_manifest(path)
    message = str(err.value)
    assert str(path) in message and "data rows 2, 3 (1-based, header not counted)" in message
    assert "'../../etc/evil', ''" in message
    path.write_text("patient_id,item_id,path\np1,slide-1,/data/a.svs\n")
    assert read_manifest(path)["item_id"].tolist() == ["slide-1"]
