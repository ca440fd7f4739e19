"""Read-only questions about an ONNX graph: which ops, which Q/DQ patterns, which quantization parameters.

Introduced in notebook 02 (what the TorchScript exporter produced from the eager-mode INT8 model);
notebook 03 asks the same questions before and after its graph surgery.

Every function takes an ``onnx.ModelProto`` or a path and never changes the model. Constants are
looked up both in ``Constant`` nodes (how the TorchScript exporter writes them) and in graph
initializers (how onnx-graphsurgeon and most other tools write them), so the answers stay the same
after a pass moves constants from one form to the other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
from onnx import numpy_helper

from .onnx_export import load_onnx


def as_model(path_or_model) -> onnx.ModelProto:
    """The ModelProto itself, or the model loaded from a path."""
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    return load_onnx(Path(path_or_model))


def count_ops(path_or_model) -> dict[str, int]:
    """How many nodes of each op type the graph has, most frequent first."""
    counts = Counter(node.op_type for node in as_model(path_or_model).graph.node)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that writes it."""
    return {output: node for node in model.graph.node for output in node.output}


def consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it."""
    readers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            if name:
                readers[name].append(node)
    return dict(readers)


def constant_value(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of tensor ``name`` if it is a constant, else None.

    Constants are initializers, ``Constant`` nodes, and the ``Cast(ConstantOfShape(constant))``
    pair the exporter uses for the zero point of each bias.
    """
    for initializer in model.graph.initializer:
        if initializer.name == name:
            return numpy_helper.to_array(initializer)
    node = producers(model).get(name)
    if node is None:
        return None
    if node.op_type == "Constant":
        (attribute,) = node.attribute
        if attribute.name != "value":  # value_float, value_ints... are not written by our exporters
            return np.asarray(onnx.helper.get_attribute_value(attribute))
        return numpy_helper.to_array(attribute.t)
    if node.op_type == "Cast":
        source = constant_value(model, node.input[0])
        if source is None:
            return None
        target = onnx.helper.tensor_dtype_to_np_dtype(onnx.helper.get_attribute_value(node.attribute[0]))
        return source.astype(target)
    if node.op_type == "ConstantOfShape":
        shape = constant_value(model, node.input[0])
        if shape is None:
            return None
        fill = numpy_helper.to_array(node.attribute[0].t) if node.attribute else np.zeros(1, dtype=np.float32)
        return np.full(tuple(int(size) for size in shape), fill.reshape(-1)[0], dtype=fill.dtype)
    return None


def dtype_name(onnx_dtype: int) -> str:
    """ONNX's name for a TensorProto data type number, e.g. 2 -> 'UINT8', 3 -> 'INT8'."""
    return onnx.TensorProto.DataType.Name(onnx_dtype)


def _attribute(node: onnx.NodeProto, name: str, default=None):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


class QCastDQChain(NamedTuple):
    """QuantizeLinear -> Cast -> DequantizeLinear on one activation (the exporter's pattern)."""

    quantize: onnx.NodeProto
    cast: onnx.NodeProto
    dequantize: onnx.NodeProto
    cast_to: str  # e.g. 'UINT8'


def find_q_cast_dq_chains(path_or_model) -> list[QCastDQChain]:
    """Every QuantizeLinear whose output goes through exactly one Cast into a DequantizeLinear.

    The TorchScript exporter writes this pattern for every quantized activation. A Cast with more
    than one reader is still reported once per DequantizeLinear it feeds.
    """
    model = as_model(path_or_model)
    readers = consumers(model)
    chains = []
    for quantize in model.graph.node:
        if quantize.op_type != "QuantizeLinear":
            continue
        for cast in readers.get(quantize.output[0], []):
            if cast.op_type != "Cast":
                continue
            for dequantize in readers.get(cast.output[0], []):
                if dequantize.op_type == "DequantizeLinear" and dequantize.input[0] == cast.output[0]:
                    chains.append(QCastDQChain(quantize, cast, dequantize, dtype_name(_attribute(cast, "to"))))
    return chains


class Int32BiasDequantize(NamedTuple):
    """A DequantizeLinear of an int32 constant (a quantized bias) and the node that reads it."""

    dequantize: onnx.NodeProto
    reader: onnx.NodeProto  # the Conv or Gemm that takes the bias
    bias_name: str  # the int32 constant
    zero_point_nodes: tuple[str, ...]  # op types that compute the zero point, e.g. ('Cast', 'ConstantOfShape')


def find_int32_bias_dequantize(path_or_model) -> list[Int32BiasDequantize]:
    """Every DequantizeLinear whose input is an int32 constant, with the Conv/Gemm it feeds.

    The TorchScript exporter writes each quantized bias this way, with the zero point computed by
    ``ConstantOfShape`` then ``Cast(to=INT32)``. TensorRT's parser rejects int32 DequantizeLinear.
    """
    model = as_model(path_or_model)
    writers = producers(model)
    readers = consumers(model)
    found = []
    for dequantize in model.graph.node:
        if dequantize.op_type != "DequantizeLinear":
            continue
        bias = constant_value(model, dequantize.input[0])
        if bias is None or bias.dtype != np.int32:
            continue
        zero_point_nodes: list[str] = []
        name = dequantize.input[2] if len(dequantize.input) > 2 else ""
        while name in writers and writers[name].op_type in ("Cast", "ConstantOfShape"):
            zero_point_nodes.append(writers[name].op_type)
            name = writers[name].input[0]
        for reader in readers.get(dequantize.output[0], []):
            found.append(Int32BiasDequantize(dequantize, reader, dequantize.input[0], tuple(zero_point_nodes)))
    return found


def find_adds_of_dequantized_inputs(path_or_model) -> list[onnx.NodeProto]:
    """Every Add whose two inputs both come straight from a DequantizeLinear (the residual additions)."""
    model = as_model(path_or_model)
    writers = producers(model)
    return [
        node for node in model.graph.node
        if node.op_type == "Add" and len(node.input) == 2
        and all(name in writers and writers[name].op_type == "DequantizeLinear" for name in node.input)
    ]


def quantization_parameters(path_or_model) -> list[dict]:
    """One row per QuantizeLinear / DequantizeLinear: its role and its scale and zero point.

    ``role`` is 'bias' (int32 constant input), 'weight' (other constant input) or 'activation'.
    ``zero_points`` lists the distinct zero-point values; ``scale_shape`` is () for per-tensor
    and (channels,) for per-channel, with ``axis`` the channel axis.
    """
    model = as_model(path_or_model)
    rows = []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        scale = constant_value(model, node.input[1])
        zero_point = constant_value(model, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        role = "activation"
        if node.op_type == "DequantizeLinear":
            data = constant_value(model, node.input[0])
            if data is not None:
                role = "bias" if data.dtype == np.int32 else "weight"
        rows.append({
            "node": node.name,
            "op_type": node.op_type,
            "role": role,
            "scale_shape": None if scale is None else tuple(scale.shape),
            "axis": _attribute(node, "axis", 1),
            "zero_point_dtype": None if zero_point is None else str(zero_point.dtype),
            "zero_points": None if zero_point is None else sorted({int(value) for value in zero_point.ravel()}),
        })
    return rows


__all__ = [
    "as_model", "count_ops", "producers", "consumers", "constant_value", "dtype_name",
    "QCastDQChain", "find_q_cast_dq_chains", "Int32BiasDequantize", "find_int32_bias_dequantize",
    "find_adds_of_dequantized_inputs", "quantization_parameters",
]


def qdq_placement_by_op(path_or_model) -> dict[str, dict[str, int]]:
    """Where the Q/DQ pairs sit, per op type: how many nodes, and how many of their inputs/outputs are quantized.

    Introduced in notebook 05 (the project's graphs next to ModelOpt's). For each op type other than
    Q/DQ: ``nodes``; ``dequantized_inputs`` / ``float_inputs`` among inputs that are not constants
    (weights and biases excluded, so a Conv's count is about its activation); ``quantized_weights``
    (a weight input that comes from a DequantizeLinear); ``outputs_into_quantize`` (outputs that a
    QuantizeLinear reads).
    """
    model = as_model(path_or_model)
    writers, readers = producers(model), consumers(model)
    initializers = {initializer.name for initializer in model.graph.initializer}

    def is_weight(name: str) -> bool:  # a constant, or a constant behind Q -> DQ / DQ
        node = writers.get(name)
        while node is not None and node.op_type in ("DequantizeLinear", "QuantizeLinear"):
            name, node = node.input[0], writers.get(node.input[0])
        return name in initializers or (node is not None and node.op_type == "Constant")

    table: dict[str, dict[str, int]] = {}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        row = table.setdefault(node.op_type, {"nodes": 0, "dequantized_inputs": 0, "float_inputs": 0,
                                              "quantized_weights": 0, "outputs_into_quantize": 0})
        row["nodes"] += 1
        for name in node.input:
            if not name:
                continue
            from_dequantize = name in writers and writers[name].op_type == "DequantizeLinear"
            if is_weight(name):
                row["quantized_weights"] += int(from_dequantize)
            else:
                row["dequantized_inputs" if from_dequantize else "float_inputs"] += 1
        row["outputs_into_quantize"] += sum(
            any(reader.op_type == "QuantizeLinear" for reader in readers.get(name, [])) for name in node.output)
    return dict(sorted(table.items()))


def graph_differences(path_or_model_a, path_or_model_b, shown: int = 5) -> list[str]:
    """How two graphs differ as computations, in words; empty when they compute the same thing the same way.

    Nodes are compared in order (sort both first, e.g. with onnx-graphsurgeon's ``toposort``): op type,
    attributes, and each input, which is either a variable tensor (compared by name, the passes keep those) or
    a constant (compared by dtype, shape and values, since two passes may name the same new constant differently).
    Notebook 03 holds the passes you write against the reference passes with it.
    """
    model_a, model_b = as_model(path_or_model_a), as_model(path_or_model_b)

    def describe(model: onnx.ModelProto) -> list[tuple]:
        rows = []
        for node in model.graph.node:
            inputs = []
            for name in node.input:
                value = constant_value(model, name) if name else None
                if value is None:
                    inputs.append(("tensor", name))
                else:
                    inputs.append(("constant", str(value.dtype), value.shape, value.tobytes()))
            attributes = tuple(sorted((attribute.name, onnx.helper.get_attribute_value(attribute).__repr__())
                                      for attribute in node.attribute))
            rows.append((node.op_type, attributes, tuple(inputs), tuple(node.output)))
        return rows

    rows_a, rows_b = describe(model_a), describe(model_b)
    found = []
    if len(rows_a) != len(rows_b):
        found.append(f"{len(rows_a)} nodes against {len(rows_b)}: {count_ops(model_a)} vs {count_ops(model_b)}")
    for index, (row_a, row_b) in enumerate(zip(rows_a, rows_b)):
        if row_a == row_b:
            continue
        what = [label for label, part in zip(("op type", "attributes", "inputs", "outputs"), range(4)) if row_a[part] != row_b[part]]
        name_a, name_b = model_a.graph.node[index].name, model_b.graph.node[index].name
        found.append(f"node {index} ({row_a[0]} {name_a} / {row_b[0]} {name_b}): different {', '.join(what)}")
    if len(found) > shown:
        found = found[:shown] + [f"... and {len(found) - shown} more"]
    return found
