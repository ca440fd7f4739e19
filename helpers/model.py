"""The ResNet18 of this tutorial and its checkpoints.

Introduced in notebook 01.

The model is torchvision's *quantizable* ResNet18 (its residual additions go through
``FloatFunctional`` and it has ``fuse_model()``, so eager-mode quantization works in notebook 02),
with the stem CIFAR-10 needs: a 3x3 stride-1 first convolution and no max-pool, so a 32x32
image keeps its resolution until the first residual stage. torchvision's plain ``resnet18`` cannot
be quantized in eager mode: its ``out += identity`` fails on quantized tensors.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import torch
from torch import nn
from torchvision.models.quantization import resnet18 as quantizable_resnet18

from .config import TutorialError, written_atomically

ARCHITECTURE = "resnet18-cifar10-quantizable"
NUM_CLASSES = 10


def build_resnet18_cifar(num_classes: int = NUM_CLASSES) -> nn.Module:
    """torchvision's quantizable ResNet18 with the 3x3/stride-1 CIFAR stem and no max-pool."""
    model = quantizable_resnet18(weights=None, quantize=False, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def save_checkpoint(path: Path, model: nn.Module, provenance: dict) -> None:
    """Save the weights with a record of how they were made (data, profile, epochs, accuracy...)."""
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    record = {
        "architecture": ARCHITECTURE,
        "state_dict": state,
        # plain JSON types only, so that torch.load(weights_only=True) can read it back
        "provenance": {**json.loads(json.dumps(provenance, default=str)), "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
    }
    with written_atomically(path) as partial:
        torch.save(record, partial)


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """The FP32 model of a checkpoint written by ``save_checkpoint``, and its provenance.

    Refuses, with a clear message, files that are not such checkpoints or that hold
    another architecture's weights.
    """
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"Checkpoint {path} does not exist. Run notebooks/01_train_fp32_resnet18.ipynb first.")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TutorialError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error}).") from error
    if not isinstance(record, dict) or "state_dict" not in record:
        raise TutorialError(f"{path} is not a checkpoint of this tutorial (no 'state_dict' entry).")
    architecture = record.get("architecture")
    if architecture != ARCHITECTURE:
        raise TutorialError(
            f"{path} holds a '{architecture}' model, but this tutorial needs '{ARCHITECTURE}'. "
            f"Retrain with notebooks/01_train_fp32_resnet18.ipynb."
        )
    model = build_resnet18_cifar()
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        raise TutorialError(
            f"{path} says it is '{ARCHITECTURE}', but its weights do not fit that model: {str(error)[:400]}"
        ) from error
    model.eval()
    return model, record.get("provenance", {})


def provenance_summary(provenance: dict) -> str:
    """A readable multi-line summary of a checkpoint's provenance."""
    return json.dumps(provenance, indent=2, sort_keys=True, default=str)
