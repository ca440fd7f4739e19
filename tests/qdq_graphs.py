"""Small hand-built Q/DQ graphs for the tests of helpers.surgery, helpers.qdq_rules and helpers.onnx_inspect, and
``fix_for_tensorrt``, notebook 03's passes in one call for the tests that need its graph.

``qdq_conv_model()`` with no arguments is a graph TensorRT accepts:

    x -> Q -> DQ -> Conv(DQ(int8 weight, per channel, axis 0), float bias) -> Relu -> Q -> DQ -> y

Each keyword changes one thing, so a test can break exactly one rule, or rebuild the pattern the
TorchScript exporter writes (uint8 zero point 128, a Cast between Q and DQ, an int32 bias DQ whose
zero point comes from ConstantOfShape + Cast).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
from onnx import TensorProto, helper, numpy_helper

from helpers import onnx_inspect, surgery
from helpers.onnx_export import read_metadata

CHANNELS = 2


def _constant(nodes: list, name: str, value: np.ndarray) -> str:
    """Add a Constant node (the exporter's way of writing constants) and return its output name."""
    nodes.append(helper.make_node("Constant", [], [name], name=f"{name}_node", value=numpy_helper.from_array(np.asarray(value), name)))
    return name


def qdq_conv_model(
    *,
    zero_point: int = 0,
    zero_point_dtype=np.int8,
    cast_to: int | None = None,
    bias: str = "float",
    weight_axis: int = 0,
    weight_scale_count: int = CHANNELS,
    activation_scales: int = 1,
    scale: float = 0.05,
    scale_from_graph_input: bool = False,
    omit_zero_point: bool = False,
    opset: int = 17,
    weight_dtype=np.int8,
) -> onnx.ModelProto:
    """A one-Conv Q/DQ model; see the module docstring. ``bias``: "float", "int32" or "int32-computed-zp"."""
    rng = np.random.default_rng(0)
    nodes: list = []
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, 4, 4])]

    def activation_qdq(prefix: str, source: str, output: str | None = None) -> str:
        if scale_from_graph_input:
            scale_name = "scale_input"
        elif activation_scales > 1:
            scale_name = _constant(nodes, f"{prefix}_scale", np.full(activation_scales, scale, dtype=np.float32))
        else:
            scale_name = _constant(nodes, f"{prefix}_scale", np.array(scale, dtype=np.float32))
        zero_shape = activation_scales if activation_scales > 1 else ()
        zero_name = "" if omit_zero_point else _constant(nodes, f"{prefix}_zero_point", np.full(zero_shape, zero_point, dtype=zero_point_dtype))
        axis = {"axis": 1} if activation_scales > 1 else {}
        q_inputs = [source, scale_name] + ([zero_name] if zero_name else [])
        nodes.append(helper.make_node("QuantizeLinear", q_inputs, [f"{prefix}_q"], name=f"{prefix}/QuantizeLinear", **axis))
        quantized = f"{prefix}_q"
        if cast_to is not None:
            nodes.append(helper.make_node("Cast", [quantized], [f"{prefix}_cast"], name=f"{prefix}/Cast", to=cast_to))
            quantized = f"{prefix}_cast"
        dq_output = output or f"{prefix}_dq"
        nodes.append(helper.make_node("DequantizeLinear", [quantized, scale_name] + ([zero_name] if zero_name else []),
                                      [dq_output], name=f"{prefix}/DequantizeLinear", **axis))
        return dq_output

    if scale_from_graph_input:
        inputs.append(helper.make_tensor_value_info("scale_input", TensorProto.FLOAT, []))
    activation = activation_qdq("in", "x")

    weight = rng.integers(-127, 128, (CHANNELS, CHANNELS, 3, 3)).astype(weight_dtype)
    weight_scale = np.linspace(0.01, 0.02, weight_scale_count).astype(np.float32)
    weight_zero = np.zeros(weight_scale_count, dtype=weight_dtype)
    if weight_dtype == np.uint8:
        weight_zero[:] = 128
    nodes.append(helper.make_node(
        "DequantizeLinear",
        [_constant(nodes, "w", weight), _constant(nodes, "w_scale", weight_scale), _constant(nodes, "w_zero_point", weight_zero)],
        ["w_dq"], name="conv/DequantizeLinear_weight", axis=weight_axis,
    ))

    conv_inputs = [activation, "w_dq"]
    bias_int32 = rng.integers(-500, 500, CHANNELS).astype(np.int32)
    bias_scale = (weight_scale[:CHANNELS] * scale).astype(np.float32)
    if bias == "float":
        conv_inputs.append(_constant(nodes, "b", (bias_int32 * bias_scale).astype(np.float32)))
    else:
        if bias == "int32-computed-zp":  # the exporter's ConstantOfShape -> Cast(int32)
            shape = _constant(nodes, "b_zp_shape", np.array([CHANNELS], dtype=np.int64))
            nodes.append(helper.make_node("ConstantOfShape", [shape], ["b_zp_raw"], name="conv/ConstantOfShape",
                                          value=numpy_helper.from_array(np.zeros(1, dtype=np.int32))))
            nodes.append(helper.make_node("Cast", ["b_zp_raw"], ["b_zp"], name="conv/Cast_zero_point", to=TensorProto.INT32))
            bias_zero = "b_zp"
        else:
            bias_zero = _constant(nodes, "b_zp", np.zeros(CHANNELS, dtype=np.int32))
        nodes.append(helper.make_node("DequantizeLinear", [_constant(nodes, "b_int32", bias_int32), _constant(nodes, "b_scale", bias_scale), bias_zero],
                                      ["b_dq"], name="conv/DequantizeLinear_bias", axis=0))
        conv_inputs.append("b_dq")
    nodes.append(helper.make_node("Conv", conv_inputs, ["conv_out"], name="conv/Conv", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["conv_out"], ["relu_out"], name="conv/Relu"))
    activation_qdq("out", "relu_out", output="y")

    graph = helper.make_graph(nodes, "qdq_conv", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, 4, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def exporter_like_model() -> onnx.ModelProto:
    """The TorchScript exporter's pattern in small: uint8 / zero point 128, Cast(uint8) between Q and DQ,
    int32 bias with a ConstantOfShape + Cast zero point."""
    return qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8, cast_to=TensorProto.UINT8, bias="int32-computed-zp")


def example_input() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((1, CHANNELS, 4, 4)).astype(np.float32)


def fix_for_tensorrt(raw_path: Path, fixed_path: Path) -> dict[str, list[str]]:
    """Every pass of notebook 03 in order on ``raw_path``, written to ``fixed_path``; the changes by pass name."""
    graph = onnx_inspect.load_graph(raw_path)
    changes = {surgery_pass.__name__: surgery_pass(graph) for surgery_pass in surgery.SURGERY_PASSES}
    surgery.save_graph(graph, fixed_path, surgery.fixed_metadata(read_metadata(raw_path)), source_path=raw_path)
    return changes


# --- small residual blocks for the residual-branch search and the residual passes ---

def small_tensor(name: str) -> gs.Variable:
    return gs.Variable(name, dtype=np.float32, shape=[1, 2, 4, 4])


def conv(name: str, source: gs.Tensor) -> gs.Node:
    weight = gs.Constant(f"{name}_w", np.ones((2, 2, 1, 1), dtype=np.float32))
    return gs.Node("Conv", name, inputs=[source, weight], outputs=[small_tensor(f"{name}_out")])


def qdq(name: str, source: gs.Tensor) -> list[gs.Node]:
    scale, zero_point = gs.Constant(f"{name}_scale", np.array(0.1, dtype=np.float32)), gs.Constant(f"{name}_zp", np.array(0, dtype=np.int8))
    quantized = gs.Variable(f"{name}_q", dtype=np.int8, shape=[1, 2, 4, 4])
    return [gs.Node("QuantizeLinear", f"{name}/Q", inputs=[source, scale, zero_point], outputs=[quantized]),
            gs.Node("DequantizeLinear", f"{name}/DQ", inputs=[quantized, scale, zero_point], outputs=[small_tensor(f"{name}_dq")])]


def residual_graph(kind: str, swapped: bool = False, op: str = "Add") -> tuple[gs.Graph, gs.Node]:
    """Small residual blocks on a graph input x: "qdq" (x -> Q/DQ -> Conv -> Q/DQ, shortcut the Q/DQ of x),
    "downsample" (Conv -> Relu -> Conv, shortcut a Conv reading x itself), "constant" (Conv + a constant),
    "dequantized-constant" (Conv + DQ of an int8 constant), "unrelated" (two Convs of two inputs)."""
    x, y = small_tensor("x"), small_tensor("y")
    nodes: list[gs.Node] = []
    if kind == "qdq":
        nodes += qdq("x", x)
        nodes.append(conv("conv", nodes[-1].outputs[0]))
        nodes += qdq("branch", nodes[-1].outputs[0])
        branch, shortcut = nodes[-1].outputs[0], nodes[1].outputs[0]
    elif kind == "downsample":
        nodes.append(conv("conv1", x))
        nodes.append(gs.Node("Relu", "relu", inputs=[nodes[-1].outputs[0]], outputs=[small_tensor("relu_out")]))
        nodes.append(conv("conv2", nodes[-1].outputs[0]))
        nodes.append(conv("downsample", x))
        branch, shortcut = nodes[2].outputs[0], nodes[3].outputs[0]
    elif kind == "downsample-qdq":  # each Conv of the block reads its own Q/DQ of x
        nodes += qdq("main", x)
        nodes.append(conv("conv1", nodes[-1].outputs[0]))
        nodes.append(gs.Node("Relu", "relu", inputs=[nodes[-1].outputs[0]], outputs=[small_tensor("relu_out")]))
        nodes.append(conv("conv2", nodes[-1].outputs[0]))
        nodes += qdq("shortcut", x)
        nodes.append(conv("downsample", nodes[-1].outputs[0]))
        branch, shortcut = nodes[4].outputs[0], nodes[-1].outputs[0]
    elif kind == "dequantized-input":  # the block input arrives quantized: an int8 graph input, dequantized
        x_int8 = gs.Variable("x_int8", dtype=np.int8, shape=[1, 2, 4, 4])
        nodes.append(gs.Node("DequantizeLinear", "x/DQ", inputs=[x_int8, gs.Constant("x_scale", np.array(0.1, dtype=np.float32))],
                             outputs=[small_tensor("x_dq")]))
        nodes.append(conv("conv1", nodes[0].outputs[0]))
        nodes.append(gs.Node("Relu", "relu", inputs=[nodes[-1].outputs[0]], outputs=[small_tensor("relu_out")]))
        nodes.append(conv("conv2", nodes[-1].outputs[0]))
        nodes.append(conv("downsample", nodes[0].outputs[0]))
        branch, shortcut = nodes[3].outputs[0], nodes[4].outputs[0]
        x = x_int8
    elif kind == "relu-shortcut":  # a quantized Relu of another input on the shortcut
        nodes.append(conv("conv", x))
        nodes += qdq("branch", nodes[-1].outputs[0])
        nodes.append(gs.Node("Relu", "relu_y", inputs=[y], outputs=[small_tensor("relu_y_out")]))
        nodes += qdq("shortcut", nodes[-1].outputs[0])
        branch, shortcut = nodes[2].outputs[0], nodes[-1].outputs[0]
    elif kind == "constant":
        nodes.append(conv("conv", x))
        branch, shortcut = nodes[-1].outputs[0], gs.Constant("offset", np.ones((1, 2, 1, 1), dtype=np.float32))
    elif kind == "dequantized-constant":
        nodes.append(conv("conv", x))
        nodes.append(gs.Node("DequantizeLinear", "offset/DQ", inputs=[gs.Constant("offset_int8", np.ones((1, 2, 1, 1), dtype=np.int8)),
                                                                    gs.Constant("offset_scale", np.array(0.5, dtype=np.float32))],
                             outputs=[small_tensor("offset_dq")]))
        branch, shortcut = nodes[0].outputs[0], nodes[1].outputs[0]
    else:  # "unrelated"
        nodes += [conv("conv_x", x), conv("conv_y", y)]
        branch, shortcut = nodes[0].outputs[0], nodes[1].outputs[0]
    add = gs.Node(op, "add", inputs=[shortcut, branch] if swapped else [branch, shortcut], outputs=[small_tensor("sum")])
    nodes.append(add)
    return gs.Graph(nodes=nodes, inputs=[x, y], outputs=[add.outputs[0]], opset=17), add
