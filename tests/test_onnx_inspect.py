"""helpers.onnx_inspect on a real export of a tiny eager-mode INT8 model, and on hand-made graphs."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub, fuse_modules
from torch.ao.nn.quantized import FloatFunctional

from helpers.data import Split
from helpers.onnx_export import export_onnx, model_metadata
from helpers.onnx_inspect import (
    constant_value,
    count_ops,
    find_adds_of_dequantized_inputs,
    find_int32_bias_dequantize,
    find_q_cast_dq_chains,
    quantization_parameters,
)
from helpers.quantization import calibrate, convert_to_int8, prepare_for_calibration, tensorrt_qconfig, use_qnnpack


class TinyResidualNet(nn.Module):
    """Conv+BN+ReLU, Conv+BN, a quantized residual add_relu, pooling and a Linear: ResNet18's patterns in small."""

    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.conv1, self.bn1, self.relu = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.add_relu = FloatFunctional()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)
        self.dequant = DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        first = self.relu(self.bn1(self.conv1(x)))
        second = self.bn2(self.conv2(first))
        x = self.add_relu.add_relu(second, first)
        x = torch.flatten(self.pool(x), 1)
        return self.dequant(self.fc(x))


@pytest.fixture(scope="module")
def tiny_int8_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyResidualNet().eval()
    fuse_modules(model, [["conv1", "bn1", "relu"], ["conv2", "bn2"]], inplace=True)
    use_qnnpack()
    prepared = prepare_for_calibration(model, tensorrt_qconfig())
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    calibrate(prepared, Split(images, np.zeros(8, dtype=np.int64)))
    path = tmp_path_factory.mktemp("onnx") / "tiny_int8.onnx"
    export_onnx(convert_to_int8(prepared), path, model_metadata(None, None, "int8-qdq-raw", "test"))
    return onnx.load(str(path))


def test_count_ops_counts_every_node(tiny_int8_onnx):
    counts = count_ops(tiny_int8_onnx)
    assert sum(counts.values()) == len(tiny_int8_onnx.graph.node)
    assert counts["Conv"] == 2 and counts["Gemm"] == 1 and counts["Add"] == 1
    assert list(counts.values()) == sorted(counts.values(), reverse=True)


def test_every_quantize_goes_through_a_uint8_cast_into_a_dequantize(tiny_int8_onnx):
    chains = find_q_cast_dq_chains(tiny_int8_onnx)
    quantize_nodes = [node for node in tiny_int8_onnx.graph.node if node.op_type == "QuantizeLinear"]
    assert len(quantize_nodes) >= 4  # input, conv1, conv2, add_relu (and more after pooling / fc)
    assert {chain.quantize.output[0] for chain in chains} == {node.output[0] for node in quantize_nodes}
    # a tensor read twice (the residual's input feeds a conv and the add) gives one chain per reader
    activation_dequantize = [node for node in tiny_int8_onnx.graph.node
                             if node.op_type == "DequantizeLinear" and constant_value(tiny_int8_onnx, node.input[0]) is None]
    assert sorted(chain.dequantize.output[0] for chain in chains) == sorted(node.output[0] for node in activation_dequantize)
    assert {chain.cast_to for chain in chains} == {"UINT8"}


def test_each_conv_and_gemm_bias_is_an_int32_dequantize_with_computed_zero_point(tiny_int8_onnx):
    found = find_int32_bias_dequantize(tiny_int8_onnx)
    assert sorted(item.reader.op_type for item in found) == ["Conv", "Conv", "Gemm"]
    for item in found:
        assert item.reader.input[2] == item.dequantize.output[0]
        assert item.zero_point_nodes == ("Cast", "ConstantOfShape")
        zero_point = constant_value(tiny_int8_onnx, item.dequantize.input[2])
        assert zero_point.dtype == np.int32 and not zero_point.any()


def test_residual_add_reads_two_dequantized_tensors(tiny_int8_onnx):
    (add,) = find_adds_of_dequantized_inputs(tiny_int8_onnx)
    assert add.op_type == "Add"


def test_quantization_parameters_show_tensorrt_scheme_before_surgery(tiny_int8_onnx):
    rows = quantization_parameters(tiny_int8_onnx)
    activations = [row for row in rows if row["role"] == "activation"]
    weights = [row for row in rows if row["role"] == "weight"]
    assert activations and len(weights) == 3
    for row in activations:
        assert row["zero_point_dtype"] == "uint8" and row["zero_points"] == [128] and row["scale_shape"] == ()
    for row in weights:
        assert row["zero_point_dtype"] == "int8" and row["zero_points"] == [0]
        assert row["axis"] == 0 and len(row["scale_shape"]) == 1


def _hand_made_graph(with_cast: bool, bias_dtype=TensorProto.INT32) -> onnx.ModelProto:
    """x -> QuantizeLinear -> [Cast] -> DequantizeLinear -> Add(DQ(bias)) with initializers (no Constant nodes)."""
    initializers = [
        numpy_helper.from_array(np.array(0.1, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array(0, dtype=np.int8), "zero"),
        numpy_helper.from_array(np.arange(3, dtype=helper.tensor_dtype_to_np_dtype(bias_dtype)), "bias"),
    ]
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="q")]
    dq_input = "q"
    if with_cast:
        nodes.append(helper.make_node("Cast", ["q"], ["c"], to=TensorProto.INT8, name="cast"))
        dq_input = "c"
    nodes += [
        helper.make_node("DequantizeLinear", [dq_input, "scale", "zero"], ["dq"], name="dq"),
        helper.make_node("DequantizeLinear", ["bias", "scale"], ["bias_dq"], name="bias_dq"),
        helper.make_node("Add", ["dq", "bias_dq"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_chain_needs_the_cast():
    assert find_q_cast_dq_chains(_hand_made_graph(with_cast=False)) == []
    (chain,) = find_q_cast_dq_chains(_hand_made_graph(with_cast=True))
    assert (chain.quantize.name, chain.cast.name, chain.dequantize.name, chain.cast_to) == ("q", "cast", "dq", "INT8")


def test_int32_bias_is_found_in_initializers_and_int8_is_not():
    (item,) = find_int32_bias_dequantize(_hand_made_graph(with_cast=True))
    assert (item.bias_name, item.reader.name, item.zero_point_nodes) == ("bias", "add", ())
    assert find_int32_bias_dequantize(_hand_made_graph(with_cast=True, bias_dtype=TensorProto.INT8)) == []


def test_both_add_inputs_must_be_dequantized():
    model = _hand_made_graph(with_cast=True)
    assert [node.name for node in find_adds_of_dequantized_inputs(model)] == ["add"]
    model.graph.node[-1].input[1] = "x"
    assert find_adds_of_dequantized_inputs(model) == []


def test_constant_value_is_none_for_computed_tensors():
    model = _hand_made_graph(with_cast=True)
    assert constant_value(model, "dq") is None
    assert constant_value(model, "scale") == pytest.approx(0.1)
