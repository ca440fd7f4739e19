"""Read-only questions about an ONNX graph (notebooks 02, 03, 05, 06): which ops, Q/DQ patterns and parameters, which
residual placement. Each takes a path, an ``onnx.ModelProto`` or a ``gs.Graph``, and never changes it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from .onnx_export import load_onnx

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def as_model(path_or_model) -> onnx.ModelProto:
    """The ModelProto itself, the model a ``gs.Graph`` exports to, or the model loaded from a path."""
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    if isinstance(path_or_model, gs.Graph):
        return gs.export_onnx(path_or_model)
    return load_onnx(Path(path_or_model))


def load_graph(path_or_model, types: bool = False) -> gs.Graph:
    """The ``gs.Graph`` of a path or ModelProto (a graph itself as it is); ``types=True``: a new graph after ONNX
    shape inference, every tensor with its dtype (None where unknown: an unknown operator, an undefined type)."""
    if isinstance(path_or_model, gs.Graph) and not types:
        return path_or_model
    model = as_model(path_or_model)
    if types:
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # an unusual graph: the types the graph itself gives are still useful
            pass
    graph = gs.import_onnx(model)
    for tensor in graph.tensors().values() if types else ():
        if tensor.dtype == onnx.TensorProto.UNDEFINED:  # how onnx-graphsurgeon keeps a type the graph leaves undefined
            tensor.dtype = None
    return graph


def producer(tensor: gs.Tensor | None, *ops: str) -> gs.Node | None:
    """The node that writes ``tensor``, or None. With ``ops``, the chain of writers (each writing input 0 of the one
    before) must have those op types; the last is returned, e.g. the Q of the Q -> DQ pair that writes ``tensor``."""
    for op in ops or (None,):
        writer = tensor.inputs[0] if tensor is not None and len(tensor.inputs) == 1 else None
        if writer is None or (op is not None and writer.op != op):
            return None
        tensor = writer.inputs[0] if writer.inputs else None
    return writer


def qdq_nodes(graph: gs.Graph) -> list[gs.Node]:
    """Every QuantizeLinear and DequantizeLinear node, in graph order."""
    return [node for node in graph.nodes if node.op in QDQ_OPS]


def input_of(node: gs.Node, index: int) -> gs.Tensor | None:
    """Input ``index`` of ``node``, or None when it is absent or left empty (ONNX's optional inputs)."""
    return node.inputs[index] if len(node.inputs) > index and not node.inputs[index].is_empty() else None


def stored_value(tensor: gs.Tensor | None) -> np.ndarray | None:
    """The value of ``tensor`` if the graph stores it: an initializer or a ``Constant`` node's output (what TensorRT's
    parser takes as weights, and so what the rule checker counts as constant), else None."""
    if isinstance(tensor, gs.Constant):
        return np.asarray(tensor.values)
    node = producer(tensor, "Constant")
    if node is None:
        return None
    (value,) = node.attrs.values()  # value, or value_float, value_ints... (not written by our exporters)
    return np.asarray(value.values if isinstance(value, gs.Constant) else value)


def constant_value(tensor: gs.Tensor | None) -> np.ndarray | None:
    """The value of ``tensor`` if it is a constant, else None: a stored one, or a ``Cast`` or ``ConstantOfShape`` of
    constants (the exporter computes each bias zero point so)."""
    node = producer(tensor)
    if node is None or node.op not in ("ConstantOfShape", "Cast"):
        return stored_value(tensor)
    source = constant_value(node.inputs[0])
    if source is None:
        return None
    if node.op == "Cast":
        return source.astype(onnx.helper.tensor_dtype_to_np_dtype(node.attrs["to"]))
    fill = node.attrs.get("value")  # ConstantOfShape: a tensor of shape ``source`` filled with one value
    fill_value = np.asarray(fill.values).reshape(-1)[0] if isinstance(fill, gs.Constant) else np.float32(0)
    return np.full(source.astype(np.int64), fill_value, dtype=fill_value.dtype)


def count_ops(path_or_model) -> dict[str, int]:
    """How many nodes of each op type the graph has, most frequent first."""
    counts = Counter(node.op for node in load_graph(path_or_model).nodes)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class QCastDQChain(NamedTuple):
    """QuantizeLinear -> Cast -> DequantizeLinear on one activation (the exporter's pattern)."""

    quantize: gs.Node
    cast: gs.Node
    dequantize: gs.Node
    cast_to: str  # e.g. 'UINT8'


def find_q_cast_dq_chains(path_or_model) -> list[QCastDQChain]:
    """Every QuantizeLinear -> Cast -> DequantizeLinear chain (the exporter's pattern for every activation)."""
    chains = []
    for quantize in [node for node in load_graph(path_or_model).nodes if node.op == "QuantizeLinear"]:
        for cast in [reader for reader in quantize.outputs[0].outputs if reader.op == "Cast"]:
            for dequantize in cast.outputs[0].outputs:
                if dequantize.op == "DequantizeLinear" and dequantize.inputs[0] is cast.outputs[0]:
                    chains.append(QCastDQChain(quantize, cast, dequantize,
                                               onnx.TensorProto.DataType.Name(cast.attrs["to"])))
    return chains


class Int32BiasDequantize(NamedTuple):
    """A DequantizeLinear of an int32 constant (a quantized bias) and the node that reads it."""

    dequantize: gs.Node
    reader: gs.Node  # the Conv or Gemm that takes the bias
    bias_name: str  # the int32 constant
    zero_point_nodes: tuple[str, ...]  # op types that compute the zero point, e.g. ('Cast', 'ConstantOfShape')


def find_int32_bias_dequantize(path_or_model) -> list[Int32BiasDequantize]:
    """Every DequantizeLinear of an int32 constant, with the Conv/Gemm it feeds. The exporter writes each quantized
    bias so, its zero point computed by ``ConstantOfShape`` then ``Cast``; TensorRT rejects int32 DequantizeLinear."""
    found = []
    for dequantize in [node for node in load_graph(path_or_model).nodes if node.op == "DequantizeLinear"]:
        bias = constant_value(dequantize.inputs[0])
        if bias is None or bias.dtype != np.int32:
            continue
        zero_point_nodes, writer = [], producer(input_of(dequantize, 2))
        while writer is not None and writer.op in ("Cast", "ConstantOfShape"):
            zero_point_nodes.append(writer.op)
            writer = producer(writer.inputs[0])
        for reader in dequantize.outputs[0].outputs:
            found.append(Int32BiasDequantize(dequantize, reader, dequantize.inputs[0].name, tuple(zero_point_nodes)))
    return found


def find_adds_of_dequantized_inputs(path_or_model) -> list[gs.Node]:
    """Every Add whose two inputs both come straight from a DequantizeLinear (the residual additions)."""
    return [node for node in load_graph(path_or_model).nodes if node.op == "Add" and len(node.inputs) == 2
            and all(producer(tensor, "DequantizeLinear") is not None for tensor in node.inputs)]


def quantization_parameters(path_or_model) -> list[dict]:
    """One row per Q / DQ node: role (bias, weight, activation), scale shape, axis, zero point dtype and values."""
    rows = []
    for node in qdq_nodes(load_graph(path_or_model)):
        scale, zero_point = constant_value(node.inputs[1]), constant_value(input_of(node, 2))
        data = constant_value(node.inputs[0]) if node.op == "DequantizeLinear" else None
        rows.append({"node": node.name, "op_type": node.op,
                     "role": "activation" if data is None else "bias" if data.dtype == np.int32 else "weight",
                     "scale_shape": None if scale is None else tuple(scale.shape), "axis": node.attrs.get("axis", 1),
                     "zero_point_dtype": None if zero_point is None else str(zero_point.dtype),
                     "zero_points": None if zero_point is None else sorted({int(v) for v in zero_point.ravel()})})
    return rows


def qdq_placement_by_op(path_or_model) -> dict[str, dict[str, int]]:
    """Where the Q/DQ pairs sit, per op type other than Q/DQ (notebook 05)."""
    def is_weight(tensor: gs.Tensor) -> bool:
        while producer(tensor) is not None and producer(tensor).op in QDQ_OPS:
            tensor = producer(tensor).inputs[0]
        return stored_value(tensor) is not None
    table: dict[str, dict[str, int]] = {}
    for node in [node for node in load_graph(path_or_model).nodes if node.op not in QDQ_OPS]:
        row = table.setdefault(node.op, {"nodes": 0, "dequantized_inputs": 0, "float_inputs": 0,
                                         "quantized_weights": 0, "outputs_into_quantize": 0})
        row["nodes"] += 1
        for tensor in [tensor for tensor in node.inputs if not tensor.is_empty()]:
            from_dequantize = producer(tensor, "DequantizeLinear") is not None
            if is_weight(tensor):
                row["quantized_weights"] += int(from_dequantize)
            else:
                row["dequantized_inputs" if from_dequantize else "float_inputs"] += 1
        row["outputs_into_quantize"] += sum(any(reader.op == "QuantizeLinear" for reader in tensor.outputs)
                                            for tensor in node.outputs)
    return dict(sorted(table.items()))


def source_before_qdq(tensor: gs.Tensor) -> gs.Tensor:
    """The float tensor a ``Q -> DQ`` pair was applied to (``tensor`` itself when there is none)."""
    quantize = producer(tensor, "DequantizeLinear", "QuantizeLinear")
    return tensor if quantize is None else quantize.inputs[0]


def _upstream_tensors(tensor: gs.Tensor) -> set[str]:
    """Names of every tensor ``tensor`` is computed from (itself included)."""
    seen, stack = set(), [tensor]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for writer in current.inputs:
            stack.extend(writer.inputs)
    return seen


def residual_branch_input(add: gs.Node) -> int | None:
    """Which input (0 or 1) of a residual Add comes from the main branch's last Conv, or None if it is no residual Add.
    When both come from Convs (a downsample shortcut), the branch is the one computed from what the shortcut reads."""
    if add.op != "Add" or len(add.inputs) != 2 or any(isinstance(tensor, gs.Constant) for tensor in add.inputs):
        return None
    convs = [producer(tensor, "Conv") or producer(tensor, "DequantizeLinear", "QuantizeLinear", "Conv")
             for tensor in add.inputs]
    if convs[0] is None or convs[1] is None:  # one Conv-fed input at most: that one is the branch
        return None if convs[0] is convs[1] else int(convs[0] is None)
    for branch, shortcut in ((0, 1), (1, 0)):
        if source_before_qdq(convs[shortcut].inputs[0]).name in _upstream_tensors(convs[branch].inputs[0]):
            return branch
    return None  # two unrelated Convs: no residual structure to rely on


def residual_add_inputs(path_or_model) -> dict[str, str]:
    """{Add name: which of its inputs come through Q/DQ} for every Add of two computed inputs: "none", "both",
    "shortcut", "branch", or "one" (one of them, where ``residual_branch_input`` finds no branch)."""
    found = {}
    for add in [node for node in load_graph(path_or_model).nodes if node.op == "Add"]:
        if len(add.inputs) != 2 or any(isinstance(tensor, gs.Constant) for tensor in add.inputs):
            continue
        dequantized = [producer(tensor, "DequantizeLinear") is not None for tensor in add.inputs]
        if all(dequantized) or not any(dequantized):
            found[add.name] = "both" if all(dequantized) else "none"
            continue
        branch = residual_branch_input(add)
        found[add.name] = "one" if branch is None else "branch" if dequantized[branch] else "shortcut"
    return found
