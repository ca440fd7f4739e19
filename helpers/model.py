"""The ResNet18 of this tutorial and its checkpoints (notebook 01): torchvision's *quantizable* ResNet18 (residual adds
through ``FloatFunctional``) with the CIFAR stem: a 3x3 stride-1 first convolution and no max-pool."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import torch
from torch import nn
from torchvision.models.quantization import resnet18 as quantizable_resnet18

from .config import REPO_ROOT, TutorialError, written_atomically
from .data import sha256_of

ARCHITECTURE = "resnet18-cifar10-quantizable"
NUM_CLASSES = 10
# The full profile's model, trained once on a GPU and shipped for laptops (notebook 01), made by tools/ship_model.py.
SHIPPED_MODEL_PATH = REPO_ROOT / "models" / "resnet18_cifar10_fp16.pt"
SHIPPED_MODEL_SHA256 = "d05b1e39ad607fb99e568bc0e7d67aae49a58ae737679264690df2ac16567ee5"


def build_resnet18_cifar(num_classes: int = NUM_CLASSES) -> nn.Module:
    """torchvision's quantizable ResNet18 with the 3x3/stride-1 CIFAR stem and no max-pool."""
    model = quantizable_resnet18(weights=None, quantize=False, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def save_checkpoint(path: Path, model: nn.Module, provenance: dict) -> None:
    """Save the weights with a record of how they were made (data, profile, epochs, accuracy...)."""
    saved_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = {"architecture": ARCHITECTURE,
              "state_dict": {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()},
              # plain JSON types only, so that torch.load(weights_only=True) can read it back
              "provenance": {**json.loads(json.dumps(provenance, default=str)), "saved_at": saved_at}}
    with written_atomically(path) as partial:
        torch.save(record, partial)


def load_shipped_model(path: Path | None = None, expected_sha256: str | None = None) -> tuple[nn.Module, dict]:
    """The FP32 model shipped with the repository (notebook 01's laptop path), after checking its sha256."""
    path = Path(path or SHIPPED_MODEL_PATH)
    expected_sha256 = expected_sha256 or SHIPPED_MODEL_SHA256
    if not path.is_file():
        raise TutorialError(f"The shipped model {path} is missing. Restore it with `git checkout -- {path.name}` "
                            f"in {path.parent}, or train your own with TUTORIAL_PROFILE=full.")
    digest = sha256_of(path)
    if digest != expected_sha256:
        raise TutorialError(f"The shipped model {path} has sha256 {digest[:16]}..., but this repository shipped "
                            f"{str(expected_sha256)[:16]}...: the file is damaged or was replaced. Restore it with "
                            f"`git checkout -- {path.name}` in {path.parent} (a clone made without its large files "
                            "needs them fetched), or train your own with TUTORIAL_PROFILE=full.")
    return load_checkpoint(path)


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """The FP32 model of a checkpoint of this tutorial (float16 weights come back as float32) and its provenance."""
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"Checkpoint {path} does not exist. Run notebooks/01_train_fp32_resnet18.ipynb first.")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TutorialError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: "
                            f"{error}).") from error
    if not isinstance(record, dict) or "state_dict" not in record:
        raise TutorialError(f"{path} is not a checkpoint of this tutorial (no 'state_dict' entry).")
    if record.get("architecture") != ARCHITECTURE:
        raise TutorialError(f"{path} holds a '{record.get('architecture')}' model, but this tutorial needs "
                            f"'{ARCHITECTURE}'. Retrain with notebooks/01_train_fp32_resnet18.ipynb.")
    model = build_resnet18_cifar()
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        raise TutorialError(f"{path} says it is '{ARCHITECTURE}', but its weights do not fit that model: "
                            f"{str(error)[:400]}") from error
    return model.eval(), record.get("provenance", {})


def provenance_summary(provenance: dict) -> str:
    """A readable multi-line summary of a checkpoint's provenance."""
    return json.dumps(provenance, indent=2, sort_keys=True, default=str)
