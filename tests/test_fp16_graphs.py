"""helpers.fp16: the FP16-typed ONNX model for TensorRT's FP16 engine (notebook 04)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto
from torch import nn

from helpers import fp16_graphs as fp16
from helpers.config import TutorialError
from helpers.onnx_export import export_onnx, model_metadata, read_metadata
from helpers.onnx_runtime import onnxruntime_session, predict_onnx


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


def test_clamping_is_counted_value_by_value(tmp_path):
    """Issue 12, item 13: the converter warns once per tensor and sign; the report counts the values it moves,
    tiny ones (raised to +-1e-7) apart from large ones (lowered to +-1e4), and checks them against its output."""
    from onnx import helper, numpy_helper

    moved = np.array([1e-8, 2e-8, 3e-8, -1e-8, -2e-8, 2e4, 1.0, 0.0, 1e-7, -3e4], dtype=np.float32)
    kept = np.array([0.5, -4e-9, 0.25] + [0.1] * 7, dtype=np.float32)
    constant = helper.make_node("Constant", [], ["offset"], value=numpy_helper.from_array(
        np.array([5e-9] + [0.5] * 9, dtype=np.float32), "offset_value"))  # Constant nodes are converted too
    graph = helper.make_graph(
        [constant, helper.make_node("Add", ["input", "moved"], ["sum"]), helper.make_node("Add", ["sum", "offset"], ["shifted"]),
         helper.make_node("Mul", ["shifted", "kept"], ["logits"])],
        "clamp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(moved, "moved"), numpy_helper.from_array(kept, "kept")])
    source = tmp_path / "clamp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
    report = fp16.convert_onnx_to_fp16(source, tmp_path / "clamp_fp16.onnx")
    assert report["values_raised_to_min"] == 7  # 1e-8, 2e-8, 3e-8, -1e-8, -2e-8, -4e-9, 5e-9 (1e-7 itself stays)
    assert report["values_lowered_to_max"] == 2 and report["tensors_with_moved_values"] == ["kept", "moved", "offset"]
    converted = {init.name: numpy_helper.to_array(init).astype(np.float32)
                 for init in onnx.load(str(tmp_path / "clamp_fp16.onnx")).graph.initializer}
    changed = int(np.sum(np.abs(converted["moved"][:5]) == np.float32(np.float16(1e-7))))
    assert changed == 5 and converted["moved"][5] == 1e4 and converted["moved"][9] == -1e4  # what was counted happened


def test_the_int8_fp16_variant_has_fp16_scales_and_the_same_rules(resnet18_int8_fixed_onnx, tmp_path):
    """Issue 12, item 7: INT8 + FP16 for a strongly typed build - opset 19, every scale and float tensor FP16,
    int8 zero points, the checker's verdict unchanged, ONNX Runtime (as written) close to the INT8 graph."""
    from onnx import numpy_helper

    from helpers import qdq_rules
    from synthetic import varied_images

    path = tmp_path / "int8_fp16.onnx"
    report = fp16.convert_qdq_onnx_to_int8_fp16(resnet18_int8_fixed_onnx, path, produced_by="tests/test_fp16.py")
    model = onnx.load(str(path))
    assert max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")) == fp16.QDQ_FP16_OPSET
    initializers = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    qdq = [node for node in model.graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) >= 60
    assert {initializers[node.input[1]].dtype for node in qdq} == {np.dtype(np.float16)}
    assert {initializers[node.input[2]].dtype for node in qdq} == {np.dtype(np.int8)}
    assert report["tensors_not_fp16"] == ["input", "logits"] and read_metadata(path)["precision"] == "int8-fp16"
    before = qdq_rules.check_tensorrt_rules(resnet18_int8_fixed_onnx)
    after = qdq_rules.check_tensorrt_rules(path)
    assert not qdq_rules.errors(after) and qdq_rules.count_by_rule(after) == qdq_rules.count_by_rule(before)
    metadata = read_metadata(resnet18_int8_fixed_onnx)
    from helpers.onnx_export import preprocess_from_metadata

    inputs = preprocess_from_metadata(varied_images(32, seed=2), metadata)
    int8 = onnxruntime_session(resnet18_int8_fixed_onnx).run(None, {"input": inputs})[0]
    int8_fp16 = onnxruntime_session(path).run(None, {"input": inputs})[0]
    assert int8_fp16.dtype == np.float32
    sqnr = 10 * np.log10(np.sum(int8 ** 2) / np.sum((int8 - int8_fp16) ** 2))
    assert sqnr >= 20, sqnr  # float16 rounding between exact int8 steps; a wrong scale or a dropped node is far below
