"""When PTQ is not enough (notebook 07): per-layer sensitivity, mixed precision and quantization-aware training, in
the setting where PTQ hurts: one scale per weight tensor, weights on 5 bits, still an int8 Q/DQ graph for TensorRT."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.intrinsic import ConvReLU2d
from torch.ao.nn.intrinsic.qat import freeze_bn_stats
from torch.ao.quantization import (DeQuantStub, FakeQuantize, MinMaxObserver, MovingAverageMinMaxObserver, QConfig,
                                   QuantStub, QuantWrapper, disable_observer, prepare_qat)

from . import quantization as quant
from .config import REPO_ROOT, TutorialError
from .data import Split, batches, normalize, sha256_of, to_tensor
from .training import strict_fp32, train_step

WEIGHT_BITS = 5
# The QAT model shipped for the laptop path: made by `python tools/train_qat.py` on a GPU (provenance inside).
QAT_MODEL_PATH = REPO_ROOT / "models" / "resnet18_cifar10_qat_int8.pt"
QAT_MODEL_SHA256 = "36d47bc8caf4426d1348075d1c0c43a1c3bbf115fb615896b7c2d57dc2c2cc83"


def weight_range(bits: int) -> dict:
    """The integer range of symmetric weights on ``bits`` bits, stored as int8: -2**(bits-1) .. 2**(bits-1) - 1."""
    return {"quant_min": -(2 ** (bits - 1)), "quant_max": 2 ** (bits - 1) - 1}


def narrow_weights_qconfig(bits: int = WEIGHT_BITS) -> QConfig:
    """Notebook 02's TensorRT qconfig with one scale per weight tensor and weights on ``bits`` bits."""
    return QConfig(activation=MinMaxObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric),
                   weight=MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric,
                                                   **weight_range(bits)))


def qat_qconfig(bits: int = WEIGHT_BITS) -> QConfig:
    """The same, for training: fake quantization with moving-average observers. No range on the activations: the
    default quint8 range keeps zero point 128 (an explicit 0..255, as torch's default fake-quant passes, gives 127)."""
    return QConfig(
        activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, dtype=torch.quint8,
                                          qscheme=torch.per_tensor_symmetric),
        weight=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, dtype=torch.qint8,
                                      qscheme=torch.per_tensor_symmetric, **weight_range(bits)))


def paired_difference(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 of ``candidate`` minus ``reference`` on the same images, in points, with its 95 % interval (normal
    approximation on the images only one of them gets right), and how many images each one alone gets right."""
    lost = int(np.sum((reference == labels) & (candidate != labels)))
    gained = int(np.sum((reference != labels) & (candidate == labels)))
    count = len(labels)
    difference = (gained - lost) / count
    spread = 1.96 * math.sqrt(max(lost + gained - (gained - lost) ** 2 / count, 0.0)) / count
    return {"points": 100 * difference, "interval_95": [100 * (difference - spread), 100 * (difference + spread)],
            "lost": lost, "gained": gained}


def weight_layers(fused: nn.Module) -> list[str]:
    """The Conv and Linear layers of a fused model, in the order they run (a fused ConvReLU2d counts once)."""
    fused_pairs = {name for name, module in fused.named_modules() if isinstance(module, ConvReLU2d)}
    return [name for name, module in fused.named_modules() if isinstance(module, ConvReLU2d)
            or (isinstance(module, (nn.Conv2d, nn.Linear)) and name.rpartition(".")[0] not in fused_pairs)]


def levels_used(fused: nn.Module, name: str, bits: int = WEIGHT_BITS) -> list[int]:
    """How many of the 2**bits levels each output channel of layer ``name`` uses with one scale for the tensor."""
    weight = fused.get_submodule(name)
    weight = (weight[0] if isinstance(weight, nn.Sequential) else weight).weight.detach()
    low, high = weight_range(bits).values()
    codes = torch.clamp(torch.round(weight / (weight.abs().max() / ((high - low) / 2))), low, high)
    return [len(torch.unique(channel)) for channel in codes]


@torch.inference_mode()
def logits(model: nn.Module, images: Split, batch_size: int = 256) -> torch.Tensor:
    """The model's float logits for every image (INT8 models on the CPU)."""
    device = next((parameter.device for parameter in model.parameters()), torch.device("cpu"))
    outputs = [model.eval()(normalize(to_tensor(images.images[start:start + batch_size], device)))
               for start in range(0, len(images), batch_size)]
    return torch.cat([output.dequantize() if output.is_quantized else output.float() for output in outputs]).cpu()


def kl_divergence(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """Mean KL(reference || candidate) of the two models' softmax outputs: how far apart their predictions are, even
    where their top-1 agrees (on training images a model gets almost every top-1 right)."""
    return float(F.kl_div(F.log_softmax(candidate, 1), F.log_softmax(reference, 1), log_target=True,
                          reduction="batchmean"))


def quantize_only(fused: nn.Module, name: str, qconfig: QConfig, calibration: Split) -> nn.Module:
    """A copy of the fused FP32 model in which only layer ``name`` is INT8 (QuantStub -> layer -> DeQuantStub)."""
    model = copy.deepcopy(fused).eval()
    parent, _, attribute = name.rpartition(".")
    wrapper = QuantWrapper(model.get_submodule(name))
    wrapper.qconfig = qconfig  # on the wrapper only: prepare and convert touch nothing else
    setattr(model.get_submodule(parent), attribute, wrapper)
    model.qconfig = None
    prepared = quant.prepare_for_calibration(model, None)
    quant.calibrate(prepared, calibration)
    return quant.convert_to_int8(prepared)


def layer_sensitivity(fused: nn.Module, layers: list[str], qconfig: QConfig, calibration: Split,
                      held_out: Split) -> dict[str, dict]:
    """For each layer, quantized alone: how far its logits move from FP32's on held-out images (KL and SQNR)."""
    reference = logits(fused, held_out)
    found = {}
    for name in layers:
        candidate = logits(quantize_only(fused, name, qconfig, calibration), held_out)
        found[name] = {"kl": kl_divergence(reference, candidate), "sqnr_db": quant.sqnr_db(reference, candidate)}
    return found


def keep_float(fused: nn.Module, names: list[str]) -> nn.Module:
    """A copy of the fused model whose layers ``names`` stay FP32: DeQuantStub -> layer -> QuantStub (no stub on the
    model's own side for the first layer, conv1, or the last, fc: its QuantStub / DeQuantStub goes instead)."""
    model = copy.deepcopy(fused)
    for name in names:
        layer = model.get_submodule(name)
        layer.qconfig = None  # the stubs take the model's qconfig; the layer none
        before, after = [DeQuantStub()], [QuantStub()]
        if name == "conv1":
            model.quant, before = nn.Identity(), []
        if name == "fc":
            model.dequant, after = nn.Identity(), []
        parent, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent), attribute, nn.Sequential(*before, layer, *after))
    return model


def prepare_for_qat(fp32_model: nn.Module, calibration: Split, bits: int = WEIGHT_BITS) -> nn.Module:
    """Fuse for training (Conv+BN(+ReLU) that still learns), insert fake quantization, calibrate its observers on
    ``calibration`` like PTQ, and keep BatchNorm's statistics those of the FP32 model."""
    model = copy.deepcopy(fp32_model).cpu().train()
    model.fuse_model(is_qat=True)
    model.qconfig = qat_qconfig(bits)
    with quant.eager_deprecation_silenced():
        prepare_qat(model, inplace=True)
    quant.calibrate(model.eval(), calibration)
    model.apply(freeze_bn_stats)
    zero_points = {int(module.zero_point) for module in model.modules() if isinstance(module, FakeQuantize)
                   and module.dtype == torch.quint8}
    if zero_points != {128}:
        raise TutorialError(f"activation zero points {zero_points}: only 128 maps exactly to int8 (notebook 03)")
    return model


def fine_tune(model: nn.Module, teacher: nn.Module, train: Split, steps: int, batch_size: int, learning_rate: float,
              device: torch.device, step=train_step, seed: int = 0) -> list[float]:
    """Fine-tune a QAT model for ``steps`` steps towards ``teacher``'s predictions (KL divergence), observers frozen
    half-way, TF32 off so the fake-quantized values stay on their grid; returns the loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    teacher = teacher.to(device).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    images, labels = to_tensor(train.images, device), torch.from_numpy(train.labels).to(device)
    losses = []
    with strict_fp32():
        while len(losses) < steps:
            for inputs, _ in batches(images, labels, batch_size, shuffle=True, augment=True, generator=generator):
                if len(losses) == steps // 2:
                    model.apply(disable_observer)  # the scales stop moving; the weights go on learning
                with torch.no_grad():
                    target = F.log_softmax(teacher(inputs), 1)
                loss, _ = step(model, inputs, lambda out: F.kl_div(F.log_softmax(out, 1), target, log_target=True,
                                                                       reduction="batchmean"), optimizer, scheduler)
                losses.append(loss.item())
                if len(losses) == steps:
                    break
    model.apply(disable_observer)
    return losses


def convert_qat(model: nn.Module) -> nn.Module:
    """The QAT model as an eager INT8 model (CPU, qnnpack): the same module types as PTQ's, so it exports the same."""
    return quant.convert_to_int8(copy.deepcopy(model).cpu())


def load_qat_model(path=None, expected_sha256: str | None = None) -> tuple[nn.Module, dict]:
    """The committed QAT model (laptop path of notebook 07), after checking its sha256; and its provenance."""
    path = path or QAT_MODEL_PATH
    if not path.is_file() or sha256_of(path) != (expected_sha256 or QAT_MODEL_SHA256):
        raise TutorialError(f"The QAT model {path.name} is missing or changed (sha256 check). Restore it with "
                            f"`git checkout -- models/{path.name}`, or make your own with `python tools/train_qat.py`.")
    return quant.load_int8_model(path)
