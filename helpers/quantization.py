"""Eager-mode post-training static quantization that meets TensorRT's INT8 rules.

Introduced in notebook 02. The notebook shows the source of ``tensorrt_qconfig``: it is the lesson.

TensorRT wants per-channel symmetric int8 weights and per-tensor symmetric int8 activations
(zero point 0). On PyTorch 2.13+ the ``qnnpack`` engine runs only quint8 activations (signed
activations needed XNNPACK, which newer wheels no longer include), so activations use *symmetric
quint8 with the default range*: zero point 128 and scale amax/127.5, whose representable values
scale*(q-128), q in [0, 255], are exactly scale*[-128..127] - the int8 grid with zero point 0.
Notebook 03 rewrites uint8/128 into int8/0 in the ONNX graph, which changes no value.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from tqdm.auto import tqdm

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization is deprecated in 2.10+
    from torch.ao.quantization import (
        HistogramObserver,
        MinMaxObserver,
        PerChannelMinMaxObserver,
        QConfig,
        convert,
        prepare,
    )

from .data import Split, batches, to_tensor

ENGINE = "qnnpack"


def use_qnnpack() -> str:
    """Select the qnnpack quantized engine (the one whose kernels match TensorRT's symmetric scheme)."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"This PyTorch build has no {ENGINE} engine: {torch.backends.quantized.supported_engines}")
    torch.backends.quantized.engine = ENGINE
    return ENGINE


def fuse_for_quantization(model: nn.Module) -> nn.Module:
    """A fused copy of the FP32 model: Conv+BN+ReLU and Conv+BN become single modules."""
    fused = copy.deepcopy(model).cpu().eval()
    fused.fuse_model()
    return fused


def tensorrt_qconfig(activation_observer=MinMaxObserver) -> QConfig:
    """Weights: per-channel symmetric qint8. Activations: per-tensor symmetric quint8, default range
    (zero point 128, i.e. the int8 grid shifted by 128; notebook 03 maps it to int8 / zero point 0)."""
    return QConfig(
        activation=activation_observer.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    )


def prepare_for_calibration(fused_model: nn.Module, qconfig: QConfig) -> nn.Module:
    """A copy of the fused model with observers inserted where activations will be quantized."""
    model = copy.deepcopy(fused_model).eval()
    model.qconfig = qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(model, inplace=False)


@torch.inference_mode()
def calibrate(prepared_model: nn.Module, images: Split, batch_size: int = 128) -> int:
    """Run calibration images through the observers; return how many were seen."""
    prepared_model.eval()
    seen = 0
    inputs = to_tensor(images.images)
    labels = torch.from_numpy(images.labels)
    total = -(-len(images) // batch_size)
    for batch, _ in tqdm(batches(inputs, labels, batch_size), total=total, desc="calibrate", unit="batch", leave=False):
        prepared_model(batch)
        seen += len(batch)
    return seen


def convert_to_int8(prepared_model: nn.Module) -> nn.Module:
    """Replace observed modules by quantized ones (runs on the CPU with the qnnpack engine)."""
    use_qnnpack()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(copy.deepcopy(prepared_model).eval(), inplace=False)


__all__ = [
    "ENGINE", "HistogramObserver", "MinMaxObserver", "use_qnnpack", "fuse_for_quantization",
    "tensorrt_qconfig", "prepare_for_calibration", "calibrate", "convert_to_int8",
]
