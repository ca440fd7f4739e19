"""Fixtures shared by several test modules; tools/ on sys.path so tests can import the tools they test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from helpers.data import Split
from helpers.model import build_resnet18_cifar
from helpers.onnx_export import export_onnx, model_metadata
from helpers.quantization import calibrate, convert_to_int8, fuse_for_quantization, prepare_for_calibration, tensorrt_qconfig, use_qnnpack


def with_trained_like_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics, as training would: folded into the convolutions they make
    non-zero biases, so the bias passes of notebook 03 have real values to carry (an untrained model's are all 0)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.running_mean.copy_(torch.randn(channels, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(channels, generator=generator) * 0.1)
    return model


@pytest.fixture(scope="session")
def resnet18_int8_raw_onnx(tmp_path_factory):
    """The real INT8 export of the tutorial's ResNet18 (random weights, 16 random calibration images).

    Same recipe and exporter as notebook 02, so the graph has the real export's shape: opset 17,
    Q -> Cast(uint8) -> DQ on every activation, int32 bias DQ with a ConstantOfShape + Cast zero
    point, residual Adds fed by two DQs. About 2 s on 2 cores.
    """
    torch.manual_seed(0)
    use_qnnpack()
    prepared = prepare_for_calibration(fuse_for_quantization(with_trained_like_batchnorm(build_resnet18_cifar().eval())),
                                       tensorrt_qconfig())
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    calibrate(prepared, Split(images, np.zeros(16, dtype=np.int64)), batch_size=16)
    path = tmp_path_factory.mktemp("resnet18_int8") / "resnet18_int8_raw.onnx"
    export_onnx(convert_to_int8(prepared), path, model_metadata(None, None, "int8-qdq-raw", "02_quantize_and_export"))
    return path


@pytest.fixture(scope="session")
def resnet18_int8_fixed_onnx(resnet18_int8_raw_onnx):
    """The raw export after every pass of helpers.surgery (notebook 03)."""
    from qdq_graphs import fix_for_tensorrt

    fixed_path = resnet18_int8_raw_onnx.with_name("resnet18_int8_trt.onnx")
    fix_for_tensorrt(resnet18_int8_raw_onnx, fixed_path)
    return fixed_path


@pytest.fixture(scope="session")
def resnet18_int8_fused(resnet18_int8_fixed_onnx):
    """The fixed graph after notebook 05's fused-residual pass: its path, the pass's changes, and the
    fixed graph's sha256 before and after the pass (the input file must never be edited)."""
    from types import SimpleNamespace

    from helpers.data import sha256_of
    from helpers.surgery import fuse_residual_adds

    source_digest = sha256_of(resnet18_int8_fixed_onnx)
    fused_path = resnet18_int8_fixed_onnx.with_name("resnet18_int8_trt_fused_residuals.onnx")
    changes = fuse_residual_adds(resnet18_int8_fixed_onnx, fused_path)
    return SimpleNamespace(path=fused_path, changes=changes, source_digest_before=source_digest,
                           source_digest_after=sha256_of(resnet18_int8_fixed_onnx))
