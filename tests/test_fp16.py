"""helpers.fp16: the FP16-typed ONNX model for TensorRT's FP16 engine (notebook 04)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto
from torch import nn

from helpers import fp16
from helpers.config import TutorialError
from helpers.onnx_export import export_onnx, model_metadata, onnxruntime_session, predict_onnx, read_metadata


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    ).eval()
    path = tmp_path_factory.mktemp("fp16") / "tiny_fp32.onnx"
    return export_onnx(model, path, model_metadata(None, None, "fp32", "tests/test_fp16.py"))


@pytest.fixture(scope="module")
def converted(fp32_onnx, tmp_path_factory):
    path = tmp_path_factory.mktemp("fp16") / "tiny_fp16.onnx"
    report = fp16.convert_onnx_to_fp16(fp32_onnx, path, produced_by="tests/test_fp16.py")
    return path, report


def test_every_float_tensor_is_fp16_except_the_graph_input_and_output(converted):
    path, report = converted
    types = fp16.float_tensor_types(onnx.load(str(path)))
    assert len(types) >= 8  # weights, biases and activations were all found (the check is not vacuous)
    not_fp16 = {name: TensorProto.DataType.Name(element) for name, element in types.items()
                if element != TensorProto.FLOAT16}
    assert not_fp16 == {"input": "FLOAT", "logits": "FLOAT"}
    assert report["tensors_not_fp16"] == ["input", "logits"]
    assert report["float_tensor_types"]["FLOAT16"] == len(types) - 2


def test_the_source_model_really_was_fp32(fp32_onnx):
    counts = fp16.tensor_type_counts(onnx.load(str(fp32_onnx)))
    assert set(counts["float_tensor_types"]) == {"FLOAT"}
    assert len(counts["tensors_not_fp16"]) >= 8


def test_casts_sit_at_the_input_and_the_output(converted):
    graph = onnx.load(str(converted[0])).graph
    casts = [node for node in graph.node if node.op_type == "Cast"]
    assert len(casts) == 2
    assert any("input" in node.input for node in casts)
    assert any("logits" in node.output for node in casts)


def test_metadata_is_kept_with_precision_fp16(fp32_onnx, converted):
    before, after = read_metadata(fp32_onnx), read_metadata(converted[0])
    assert after["precision"] == "fp16"
    assert after["produced_by"] == "tests/test_fp16.py"
    assert after["fp16_conversion"] == fp16.CONVERTER
    unchanged = {key: value for key, value in before.items() if key not in ("precision", "produced_by")}
    assert {key: after[key] for key in unchanged} == unchanged


def test_the_function_is_kept(fp32_onnx, converted):
    """ONNX Runtime (CPU) computes nearly the same logits from both models."""
    inputs = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    reference = onnxruntime_session(fp32_onnx).run(None, {"input": inputs})[0]
    half = onnxruntime_session(converted[0]).run(None, {"input": inputs})[0]
    assert half.dtype == np.float32  # keep_io_types: the caller still sees float32
    scale = np.abs(reference).max()
    assert np.abs(half - reference).max() <= 2e-2 * scale + 1e-3


def test_the_shipped_model_in_fp16_predicts_what_it_predicts_in_fp32(tmp_path):
    """On a trained model whose predictions vary from image to image (an untrained one predicts one class)."""
    from helpers.model import load_shipped_model
    from synthetic import varied_images

    network, _ = load_shipped_model()
    fp32_path = export_onnx(network, tmp_path / "shipped_fp32.onnx", model_metadata(None, None, "fp32", "tests/test_fp16.py"))
    fp16_path = tmp_path / "shipped_fp16.onnx"
    fp16.convert_onnx_to_fp16(fp32_path, fp16_path)
    images = varied_images(24, seed=1)
    expected = predict_onnx(fp32_path, images)
    assert len(set(expected.tolist())) >= 3
    assert (predict_onnx(fp16_path, images) == expected).mean() >= 0.95


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(TutorialError, match="does not exist"):
        fp16.convert_onnx_to_fp16(tmp_path / "absent.onnx", tmp_path / "out.onnx")
