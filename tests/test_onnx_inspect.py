"""helpers.onnx_inspect, the one graph reader: on a real export of a tiny eager-mode INT8 model, on hand-made graphs
and on the real ResNet18 graphs, each answer checked against a reading made here with onnx alone."""

import numpy as np
import onnx
import onnx_graphsurgeon as gs
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
    input_of,
    load_graph,
    producer,
    qdq_placement_by_op,
    quantization_parameters,
    residual_add_inputs,
    residual_branch_input,
    source_before_qdq,
    stored_value,
)
from helpers.quantization import calibrate, convert_to_int8, prepare_for_calibration, tensorrt_qconfig, use_qnnpack
from qdq_graphs import exporter_like_model, qdq, qdq_conv_model, residual_graph


def stored_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializers and Constant-node outputs, read with onnx alone."""
    values = {initializer.name: numpy_helper.to_array(initializer) for initializer in model.graph.initializer}
    values.update({node.output[0]: numpy_helper.to_array(node.attribute[0].t) for node in model.graph.node
                   if node.op_type == "Constant" and node.attribute[0].name == "value"})
    return values


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
    assert {chain.quantize.outputs[0].name for chain in chains} == {node.output[0] for node in quantize_nodes}
    # a tensor read twice (the residual's input feeds a conv and the add) gives one chain per reader
    constants = stored_constants(tiny_int8_onnx)
    activation_dequantize = [node for node in tiny_int8_onnx.graph.node
                             if node.op_type == "DequantizeLinear" and node.input[0] not in constants]
    assert sorted(chain.dequantize.outputs[0].name for chain in chains) == sorted(node.output[0] for node in activation_dequantize)
    assert {chain.cast_to for chain in chains} == {"UINT8"}


def test_each_conv_and_gemm_bias_is_an_int32_dequantize_with_computed_zero_point(tiny_int8_onnx):
    found = find_int32_bias_dequantize(tiny_int8_onnx)
    assert sorted(item.reader.op for item in found) == ["Conv", "Conv", "Gemm"]
    for item in found:
        assert item.reader.inputs[2] is item.dequantize.outputs[0]
        assert item.zero_point_nodes == ("Cast", "ConstantOfShape")
        zero_point = constant_value(item.dequantize.inputs[2])
        assert zero_point.dtype == np.int32 and zero_point.shape == constant_value(item.dequantize.inputs[0]).shape and not zero_point.any()


def test_residual_add_reads_two_dequantized_tensors(tiny_int8_onnx):
    (add,) = find_adds_of_dequantized_inputs(tiny_int8_onnx)
    assert add.op == "Add" and [tensor.inputs[0].op for tensor in add.inputs] == ["DequantizeLinear"] * 2


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
    tensors = load_graph(_hand_made_graph(with_cast=True)).tensors()
    assert constant_value(tensors["dq"]) is None and constant_value(tensors["x"]) is None
    assert constant_value(tensors["scale"]) == pytest.approx(0.1)
    assert constant_value(None) is None


# --- the reader: load_graph, producer, input_of, constant_value ------------------------------------

def test_load_graph_types_the_tensors_only_when_asked_and_leaves_a_graph_as_it_is():
    model = qdq_conv_model()
    untyped, typed = load_graph(model), load_graph(model, types=True)
    assert untyped.tensors()["in_q"].dtype is None and typed.tensors()["in_q"].dtype == np.int8  # shape inference
    assert typed.tensors()["conv_out"].dtype == np.float32 and typed.opset == 17
    assert load_graph(untyped) is untyped
    retyped = load_graph(untyped, types=True)
    assert retyped is not untyped and retyped.tensors()["in_q"].dtype == np.int8 and untyped.tensors()["in_q"].dtype is None


def test_a_type_the_graph_leaves_undefined_is_unknown_once_typed():
    model = qdq_conv_model()
    model.graph.input.append(helper.make_tensor_value_info("undefined", TensorProto.UNDEFINED, None))
    assert load_graph(model).tensors()["undefined"].dtype == TensorProto.UNDEFINED  # as onnx-graphsurgeon reads it
    tensors = load_graph(model, types=True).tensors()
    assert tensors["undefined"].dtype is None and tensors["x"].dtype == np.float32 and tensors["w"].dtype == np.int8


def test_producer_follows_a_chain_of_writers_through_input_0():
    graph, add = residual_graph("qdq")
    branch = add.inputs[0]  # x -> Q/DQ -> Conv -> Q/DQ
    assert producer(branch).name == producer(branch, "DequantizeLinear").name == "branch/DQ"
    assert producer(branch, "DequantizeLinear", "QuantizeLinear").name == "branch/Q"
    assert producer(branch, "DequantizeLinear", "QuantizeLinear", "Conv").name == "conv"
    assert producer(branch, "DequantizeLinear", "QuantizeLinear", "Conv", "DequantizeLinear", "QuantizeLinear").name == "x/Q"
    assert producer(branch, "DequantizeLinear", "QuantizeLinear", "Conv", "DequantizeLinear", "QuantizeLinear", "Relu") is None
    assert producer(branch, "QuantizeLinear") is None and producer(branch, "DequantizeLinear", "Conv") is None
    assert producer(graph.inputs[0]) is None and producer(None) is None and producer(None, "Conv") is None
    constant = gs.Variable("constant")
    gs.Node("Constant", "constant_node", attrs={"value": gs.Constant("one", np.ones(1, dtype=np.float32))}, outputs=[constant])
    assert producer(constant, "Constant").name == "constant_node" and producer(constant, "Constant", "Constant") is None


def test_input_of_is_none_for_an_absent_or_empty_input():
    quantize = next(node for node in load_graph(qdq_conv_model(omit_zero_point=True)).nodes if node.op == "QuantizeLinear")
    assert input_of(quantize, 0).name == "x" and input_of(quantize, 1).name == "in_scale" and input_of(quantize, 2) is None
    quantize.inputs.append(gs.Variable.empty())  # an optional input left empty
    assert len(quantize.inputs) == 3 and input_of(quantize, 2) is None


def test_constant_value_reads_constantofshape_and_cast_and_nothing_computed():
    shape = gs.Constant("shape", np.array([3], dtype=np.int64))
    filled, zeros, computed, cast = (gs.Variable(name) for name in ("filled", "zeros", "computed", "cast"))
    dynamic_shape = gs.Variable("dynamic_shape", dtype=np.int64, shape=[1])
    gs.Node("ConstantOfShape", "fill_7", inputs=[shape], outputs=[filled], attrs={"value": gs.Constant("seven", np.array([7], dtype=np.int32))})
    gs.Node("ConstantOfShape", "fill_default", inputs=[shape], outputs=[zeros])  # no value: ONNX's default is float32 0
    gs.Node("ConstantOfShape", "fill_dynamic", inputs=[dynamic_shape], outputs=[computed])
    gs.Node("Cast", "cast_computed", inputs=[computed], outputs=[cast], attrs={"to": TensorProto.INT32})
    value = constant_value(filled)
    assert value.dtype == np.int32 and value.tolist() == [7, 7, 7]
    value = constant_value(zeros)
    assert value.dtype == np.float32 and value.tolist() == [0.0, 0.0, 0.0]
    assert constant_value(computed) is None and constant_value(cast) is None


def test_constant_value_computes_the_exporters_zero_points_and_stored_value_does_not():
    tensors = load_graph(exporter_like_model()).tensors()
    zero_point = constant_value(tensors["b_zp"])  # Cast(ConstantOfShape(shape))
    assert zero_point.dtype == np.int32 and zero_point.tolist() == [0, 0]
    assert constant_value(tensors["b_zp_raw"]).tolist() == [0, 0]
    assert stored_value(tensors["b_zp"]) is None and stored_value(tensors["b_zp_raw"]) is None
    assert stored_value(tensors["b_zp_shape"]).tolist() == [2] == constant_value(tensors["b_zp_shape"]).tolist()  # a Constant node
    assert stored_value(tensors["in_scale"]) == pytest.approx(0.05) and constant_value(tensors["in_q"]) is None
    assert stored_value(tensors["in_q"]) is None and stored_value(None) is None
    cast = next(node for node in load_graph(exporter_like_model()).nodes if node.op == "Cast" and node.name == "in/Cast")
    assert constant_value(cast.outputs[0]) is None  # a Cast of a computed tensor


def test_constant_value_reads_every_form_of_constant_node():
    outputs = {name: gs.Variable(name) for name in ("tensor", "float", "ints")}
    gs.Node("Constant", "as_tensor", attrs={"value": gs.Constant("v", np.array([1, 2], dtype=np.int8))}, outputs=[outputs["tensor"]])
    gs.Node("Constant", "as_float", attrs={"value_float": 1.5}, outputs=[outputs["float"]])
    gs.Node("Constant", "as_ints", attrs={"value_ints": [3, 4]}, outputs=[outputs["ints"]])
    assert constant_value(outputs["tensor"]).dtype == np.int8 and constant_value(outputs["tensor"]).tolist() == [1, 2]
    assert stored_value(outputs["float"]) == 1.5 and constant_value(outputs["ints"]).tolist() == [3, 4]
    assert stored_value(gs.Constant("initializer", np.full(2, 7, dtype=np.uint8))).tolist() == [7, 7]


# --- residual Adds ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, expected", [("qdq", 0), ("downsample", 0), ("downsample-qdq", 0), ("dequantized-input", 0),
                                            ("relu-shortcut", 0), ("dequantized-constant", 0), ("constant", None),
                                            ("unrelated", None)])
def test_the_residual_branch_is_found_whichever_input_it_is(kind, expected):
    assert residual_branch_input(residual_graph(kind)[1]) == expected
    assert residual_branch_input(residual_graph(kind, swapped=True)[1]) == (None if expected is None else 1 - expected)
    assert residual_branch_input(residual_graph(kind, op="Mul")[1]) is None  # only an Add is a residual Add


def test_residual_add_inputs_say_which_inputs_come_through_qdq():
    assert residual_add_inputs(residual_graph("qdq")[0]) == {"add": "both"}
    assert residual_add_inputs(residual_graph("downsample")[0]) == {"add": "none"}
    assert residual_add_inputs(residual_graph("dequantized-constant", swapped=True)[0]) == {"add": "shortcut"}
    assert residual_add_inputs(residual_graph("constant")[0]) == {}  # a constant input: no residual Add
    assert residual_add_inputs(residual_graph("qdq", op="Mul")[0]) == {}
    graph, add = residual_graph("relu-shortcut")
    add.inputs[1] = add.inputs[1].inputs[0].inputs[0].inputs[0]  # the shortcut's float Relu output, before its Q/DQ
    assert residual_add_inputs(graph) == {"add": "branch"}
    graph, add = residual_graph("unrelated")  # two Convs of two graph inputs: no branch to tell apart
    graph.nodes += qdq("y_conv", add.inputs[1])
    add.inputs[1] = graph.nodes[-1].outputs[0]
    assert residual_add_inputs(graph) == {"add": "one"}


def test_residual_add_inputs_of_the_real_graphs(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    adds = {node.name for node in onnx.load(str(resnet18_int8_fixed_onnx)).graph.node if node.op_type == "Add"}
    assert residual_add_inputs(resnet18_int8_fixed_onnx) == {name: "both" for name in adds} and len(adds) == 8
    assert residual_add_inputs(resnet18_int8_fused.path) == {name: "shortcut" for name in adds}


# --- Q/DQ placement per op type (notebook 05) ----------------------------------------------------------

def test_qdq_placement_by_op_counts_activations_weights_and_outputs_into_quantize():
    rows = qdq_placement_by_op(qdq_conv_model())
    assert rows["Conv"] == {"nodes": 1, "dequantized_inputs": 1, "float_inputs": 0, "quantized_weights": 1, "outputs_into_quantize": 0}
    assert rows["Relu"] == {"nodes": 1, "dequantized_inputs": 0, "float_inputs": 1, "quantized_weights": 0, "outputs_into_quantize": 1}
    assert list(rows) == ["Constant", "Conv", "Relu"] and rows["Constant"]["outputs_into_quantize"] == 4  # scales, zero points
    # a weight quantized the ModelOpt way (float constant -> Q -> DQ), a float bias, an empty optional input
    graph = load_graph(qdq_conv_model())
    conv = next(node for node in graph.nodes if node.op == "Conv")
    weight_dq = conv.inputs[1].inputs[0]
    weight_q = gs.Node("QuantizeLinear", "w_Q", inputs=[gs.Constant("w_float", np.ones((2, 2, 3, 3), dtype=np.float32)),
                                                        *weight_dq.inputs[1:]], outputs=[gs.Variable("w_q", dtype=np.int8)])
    weight_dq.inputs[0] = weight_q.outputs[0]
    graph.nodes.append(weight_q)
    relu = next(node for node in graph.nodes if node.op == "Relu")
    relu.inputs.append(gs.Variable.empty())
    rows = qdq_placement_by_op(graph)
    assert rows["Conv"] == {"nodes": 1, "dequantized_inputs": 1, "float_inputs": 0, "quantized_weights": 1, "outputs_into_quantize": 0}
    assert rows["Relu"]["float_inputs"] == 1


def test_qdq_placement_by_op_on_the_real_graphs(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    fixed, fused = qdq_placement_by_op(resnet18_int8_fixed_onnx), qdq_placement_by_op(resnet18_int8_fused.path)
    assert "QuantizeLinear" not in fixed and "DequantizeLinear" not in fixed
    assert fixed["Conv"]["nodes"] == fixed["Conv"]["dequantized_inputs"] == fixed["Conv"]["quantized_weights"] == 20
    assert fixed["Add"] == {"nodes": 8, "dequantized_inputs": 16, "float_inputs": 0, "quantized_weights": 0, "outputs_into_quantize": 0}
    assert fused["Add"] == {"nodes": 8, "dequantized_inputs": 8, "float_inputs": 8, "quantized_weights": 0, "outputs_into_quantize": 0}
    assert fixed["Conv"]["outputs_into_quantize"] - fused["Conv"]["outputs_into_quantize"] == 8  # conv2 of each block


# --- edges found by `make mutation` ---------------------------------------------------------------------

def test_count_ops_sorts_equal_counts_by_name():
    x, y, z = (gs.Variable(name, dtype=np.float32, shape=[2]) for name in ("x", "y", "z"))
    nodes = [gs.Node("Relu", "relu", inputs=[x], outputs=[y]), gs.Node("Abs", "abs", inputs=[y], outputs=[z])]
    assert list(count_ops(gs.Graph(nodes=nodes, inputs=[x], outputs=[z], opset=17)).items()) == [("Abs", 1), ("Relu", 1)]


def test_only_dequantizelinear_inputs_make_an_add_of_dequantized_inputs():
    assert [node.name for node in find_adds_of_dequantized_inputs(residual_graph("qdq")[0])] == ["add"]
    assert find_adds_of_dequantized_inputs(residual_graph("dequantized-constant")[0]) == []  # a Conv and a DQ
    assert find_adds_of_dequantized_inputs(residual_graph("downsample")[0]) == []  # two Convs


def test_a_chain_ends_in_a_dequantizelinear_that_reads_the_cast_as_its_data():
    model = _hand_made_graph(with_cast=True)
    model.graph.node.append(helper.make_node("Identity", ["c"], ["c_copy"], name="copy"))  # another reader of the Cast
    model.graph.node.append(helper.make_node("DequantizeLinear", ["q", "scale", "c"], ["odd"], name="odd_dq"))  # c as zero point
    (chain,) = find_q_cast_dq_chains(model)
    assert chain.dequantize.name == "dq"


def test_quantization_parameters_of_a_bias_a_quantize_of_a_constant_and_absent_parameters():
    rows = {row["node"]: row for row in quantization_parameters(exporter_like_model())}
    assert rows["conv/DequantizeLinear_bias"] == {"node": "conv/DequantizeLinear_bias", "op_type": "DequantizeLinear", "role": "bias",
                                                  "scale_shape": (2,), "axis": 0, "zero_point_dtype": "int32", "zero_points": [0]}
    assert rows["in/QuantizeLinear"]["axis"] == 1  # ONNX's default when the node has no axis attribute
    rows = {row["node"]: row for row in quantization_parameters(qdq_conv_model(omit_zero_point=True, scale_from_graph_input=True))}
    assert rows["in/QuantizeLinear"] == {"node": "in/QuantizeLinear", "op_type": "QuantizeLinear", "role": "activation",
                                         "scale_shape": None, "axis": 1, "zero_point_dtype": None, "zero_points": None}
    # the roles are those of DequantizeLinear inputs: a QuantizeLinear is listed as an activation whatever it reads
    graph = load_graph(qdq_conv_model())
    weight_dq = next(node for node in graph.nodes if node.name == "conv/DequantizeLinear_weight")
    weight_q = gs.Node("QuantizeLinear", "w_Q", inputs=[gs.Constant("w_float", np.ones((2, 2, 3, 3), dtype=np.float32)),
                                                        *weight_dq.inputs[1:]], outputs=[gs.Variable("w_q", dtype=np.int8)], attrs={"axis": 0})
    weight_dq.inputs[0] = weight_q.outputs[0]
    graph.nodes.append(weight_q)
    rows = {row["node"]: row for row in quantization_parameters(graph)}
    assert rows["w_Q"]["role"] == "activation" and rows["w_Q"]["scale_shape"] == (2,) and rows["w_Q"]["axis"] == 0


def test_qdq_placement_counts_only_stored_constants_as_weights():
    """The exporter's zero-point Cast reads a ConstantOfShape output: computed at run time, so a float input."""
    rows = qdq_placement_by_op(exporter_like_model())
    assert rows["Cast"] == {"nodes": 3, "dequantized_inputs": 0, "float_inputs": 3, "quantized_weights": 0, "outputs_into_quantize": 0}
    assert rows["ConstantOfShape"]["float_inputs"] == 0  # its shape is a Constant node's output


def test_residual_add_inputs_pass_over_an_add_of_a_constant_before_the_residual_add():
    graph, add = residual_graph("qdq")
    offset = gs.Variable("x_offset", dtype=np.float32, shape=[1, 2, 4, 4])
    graph.nodes.insert(0, gs.Node("Add", "offset", inputs=[graph.inputs[0], gs.Constant("one", np.ones(1, dtype=np.float32))],
                                  outputs=[offset]))
    graph.outputs.append(offset)
    assert residual_add_inputs(graph) == {"add": "both"}


def test_the_residual_branch_and_the_float_source_need_the_exact_chain_of_ops():
    x = gs.Variable("x", dtype=np.float32, shape=[1, 2, 4, 4])
    conv = gs.Node("Conv", "conv", inputs=[x, gs.Constant("w", np.ones((2, 2, 1, 1), dtype=np.float32))],
                   outputs=[gs.Variable("conv_out", dtype=np.float32)])
    [quantize] = [node for node in qdq("pair", conv.outputs[0]) if node.op == "QuantizeLinear"]
    relu_of_q = gs.Node("Relu", "relu_of_q", inputs=[quantize.outputs[0]], outputs=[gs.Variable("relu_of_q_out")])
    relu_of_conv = gs.Node("Relu", "relu_of_conv", inputs=[conv.outputs[0]], outputs=[gs.Variable("relu_of_conv_out")])
    scale = gs.Constant("scale", np.array(0.1, dtype=np.float32))
    dq_of_relu = gs.Node("DequantizeLinear", "dq_of_relu", inputs=[relu_of_conv.outputs[0], scale], outputs=[gs.Variable("dq_of_relu_out")])
    for tensor in (relu_of_q.outputs[0], dq_of_relu.outputs[0]):  # X <- Q <- Conv and DQ <- X <- Conv are no Q/DQ pair
        add = gs.Node("Add", "add", inputs=[tensor, x], outputs=[gs.Variable("sum")])
        assert residual_branch_input(add) is None and source_before_qdq(tensor) is tensor

