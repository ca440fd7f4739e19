"""A checker of the Q/DQ rules TensorRT's ONNX parser enforces (developer guide, "Explicit Quantization"), independent
of ``helpers.surgery``'s logic. A rule, registered by ``@rule``, yields ``Finding`` records from a typed graph."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import onnx_graphsurgeon as gs

from . import onnx_inspect
from .data import sha256_of
from .onnx_inspect import input_of, load_graph, producer, qdq_nodes, stored_value

ERROR, WARNING = "error", "warning"  # a finding's severity: TensorRT rejects the graph, or builds a slower engine
MODEL = "(model)"  # the "node" of findings about the whole model
WEIGHT_OUTPUT_AXIS = {"Conv": lambda layer: 0, "ConvTranspose": lambda layer: 1,  # the weight axis of output channels
                      "Gemm": lambda layer: 0 if layer.attrs.get("transB", 0) else 1}


@dataclass(frozen=True)
class Finding:
    """One broken rule: which node, which rule, what is wrong, and how bad (error or warning)."""

    node: str
    rule: str
    message: str
    severity: str = ERROR


RULES: list[Callable[[gs.Graph], Iterable[Finding]]] = []


def rule(function: Callable[[gs.Graph], Iterable[Finding]]):
    """Register a rule function with ``check_tensorrt_rules``."""
    RULES.append(function)
    return function


@rule
def qdq_types_known(graph: gs.Graph) -> Iterable[Finding]:
    """Every Q/DQ input must have a known element type, or the type rules cannot check it."""
    for node in qdq_nodes(graph):
        if node.inputs[0].dtype is None:
            yield Finding(node.name, "type-unknown", f"the element type of input '{node.inputs[0].name}' is unknown "
                          "(shape inference could not type it), so the type rules cannot check this node")


@rule
def opset_at_least_13(graph: gs.Graph) -> Iterable[Finding]:
    """Per-channel Q/DQ (the ``axis`` attribute) needs ONNX opset 13 or newer."""
    opset = next((entry.version for entry in graph.import_domains or () if entry.domain in ("", "ai.onnx")), None)
    if opset is None or opset < 13:
        yield Finding(MODEL, "opset-below-13",
                      f"the model uses ONNX opset {opset}; TensorRT's Q/DQ support needs 13 or newer")


@rule
def constant_scale(graph: gs.Graph) -> Iterable[Finding]:
    """Scales must be constants (initializers or Constant nodes) that TensorRT can read at build time."""
    for node in qdq_nodes(graph):
        scale = input_of(node, 1)
        if stored_value(scale) is None:
            yield Finding(node.name, "non-constant-scale",
                          f"scale '{'' if scale is None else scale.name}' is computed at run time, not a constant")


@rule
def constant_zero_point(graph: gs.Graph) -> Iterable[Finding]:
    """Zero points, when given, must be constants too."""
    for node in qdq_nodes(graph):
        zero_point = input_of(node, 2)
        if zero_point is not None and stored_value(zero_point) is None:
            writer = producer(zero_point)
            how = f" by {writer.op} node {writer.name}" if writer is not None else ""
            yield Finding(node.name, "non-constant-zero-point",
                          f"zero point '{zero_point.name}' is computed at run time{how}")


@rule
def positive_scale(graph: gs.Graph) -> Iterable[Finding]:
    """Scales must be positive."""
    for node in qdq_nodes(graph):
        scale = stored_value(input_of(node, 1))
        if scale is not None and not np.all(scale > 0):
            yield Finding(node.name, "scale-not-positive", f"scale has values <= 0 (min {float(np.min(scale)):g})")


@rule
def zero_point_is_zero(graph: gs.Graph) -> Iterable[Finding]:
    """TensorRT quantizes symmetrically: every zero point must be 0."""
    for node in qdq_nodes(graph):
        zero_point = stored_value(input_of(node, 2))
        if zero_point is not None and np.any(zero_point != 0):
            values = np.unique(zero_point).tolist()
            yield Finding(node.name, "zero-point-nonzero",
                          f"zero point {values[:4]}{'...' if len(values) > 4 else ''}, TensorRT needs 0")


@rule
def zero_point_is_int8(graph: gs.Graph) -> Iterable[Finding]:
    """Zero points must be int8 (a uint8 zero point makes the quantized tensor uint8)."""
    for node in qdq_nodes(graph):
        zero_point = input_of(node, 2)
        if zero_point is not None and zero_point.dtype == np.uint8:
            yield Finding(node.name, "zero-point-uint8", "uint8 zero point; TensorRT needs int8")
        elif zero_point is None and node.op == "QuantizeLinear":
            yield Finding(node.name, "zero-point-uint8",
                          "no zero point, so ONNX makes the output uint8; give an int8 zero point 0", WARNING)


def _dequantize_input_of_type(graph: gs.Graph, dtype: type, rule_name: str, why: str) -> Iterable[Finding]:
    for node in graph.nodes:
        if node.op == "DequantizeLinear" and node.inputs[0].dtype == dtype:
            yield Finding(node.name, rule_name, f"input '{node.inputs[0].name}' is {np.dtype(dtype).name}; {why}")


@rule
def dequantize_input_not_uint8(graph: gs.Graph) -> Iterable[Finding]:
    """TensorRT rejects a DequantizeLinear whose input is uint8."""
    yield from _dequantize_input_of_type(graph, np.uint8, "dq-input-uint8",
                                         "TensorRT dequantizes only int8 (or fp8/int4)")


@rule
def dequantize_input_not_int32(graph: gs.Graph) -> Iterable[Finding]:
    """TensorRT rejects an int32 DequantizeLinear (the exporter's quantized bias)."""
    yield from _dequantize_input_of_type(graph, np.int32, "dq-input-int32", "give the layer a float bias instead")


@rule
def no_cast_between_q_and_dq(graph: gs.Graph) -> Iterable[Finding]:
    """A QuantizeLinear must feed its DequantizeLinear directly; TensorRT cannot pair them across a Cast."""
    for node in [node for node in graph.nodes if node.op == "Cast"]:
        quantize = producer(node.inputs[0], "QuantizeLinear")
        dequantizers = [reader for reader in node.outputs[0].outputs if reader.op == "DequantizeLinear"]
        if quantize is not None and dequantizers:
            yield Finding(node.name, "cast-between-q-dq", f"Cast between {quantize.name} and {dequantizers[0].name}")


def _is_weight(tensor: gs.Tensor) -> bool:
    """A constant, or a constant quantized by a QuantizeLinear (how ModelOpt writes weights: Q -> DQ)."""
    quantize = producer(tensor, "QuantizeLinear")
    return stored_value(tensor if quantize is None else quantize.inputs[0]) is not None


@rule
def activations_per_tensor(graph: gs.Graph) -> Iterable[Finding]:
    """Activations (anything that is not a constant weight) must be quantized per tensor."""
    for node in qdq_nodes(graph):
        scale = stored_value(input_of(node, 1))
        if not _is_weight(node.inputs[0]) and scale is not None and scale.size > 1:
            yield Finding(node.name, "per-channel-activation",
                          f"activation quantized per channel ({scale.size} scales); TensorRT needs one scale")


@rule
def weight_axis_is_output_channels(graph: gs.Graph) -> Iterable[Finding]:
    """Per-channel weight scales must run along the layer's output channels, one scale per channel."""
    for node in graph.nodes:
        weights = stored_value(node.inputs[0]) if node.op == "DequantizeLinear" else None
        scale = stored_value(input_of(node, 1)) if weights is not None else None
        if scale is None or scale.size <= 1:
            continue
        axis = node.attrs.get("axis", 1)
        axis = axis + weights.ndim if axis < 0 else axis
        for layer in node.outputs[0].outputs:
            expected = WEIGHT_OUTPUT_AXIS[layer.op](layer) if layer.op in WEIGHT_OUTPUT_AXIS else None
            if expected is None or input_of(layer, 1) is not node.outputs[0]:
                continue
            channels = weights.shape[axis] if axis < weights.ndim else "?"
            if axis != expected:
                yield Finding(node.name, "weight-axis", f"per-channel axis {axis} for {layer.op} {layer.name}; "
                              f"its output channels are axis {expected}")
            elif scale.size != channels:
                yield Finding(node.name, "weight-axis", f"{scale.size} scales for {channels} channels on axis {axis}")


def residual_add_placement(add: gs.Node) -> str | None:
    """How a residual Add is quantized, or None when it is no Conv-fed residual Add. "fused": one input straight from a
    Conv that feeds only this Add, the other from a DequantizeLinear (TensorRT runs Conv + Add (+ Relu) as one INT8
    kernel); "unfused": both from DequantizeLinear, one of a Conv's output (Conv and Add stay separate layers)."""
    if add.op != "Add" or len(add.inputs) != 2:  # (a constant input comes from neither a Conv nor a DequantizeLinear)
        return None
    dequantized = [producer(tensor, "DequantizeLinear") is not None for tensor in add.inputs]
    for tensor, other_dequantized in zip(add.inputs, reversed(dequantized)):
        readers = [reader.name for reader in tensor.outputs]
        if producer(tensor, "Conv") is not None and other_dequantized and readers == [add.name]:
            return "fused"
    if all(dequantized) and any(producer(tensor, "DequantizeLinear", "QuantizeLinear", "Conv") is not None
                                for tensor in add.inputs):
        return "unfused"
    return None


@rule
def residual_add_fusible(graph: gs.Graph) -> Iterable[Finding]:
    """A residual Add with Q/DQ on both inputs builds, but TensorRT cannot fuse it with the Conv before it."""
    for node in graph.nodes:
        if residual_add_placement(node) == "unfused":
            yield Finding(node.name, "residual-add-unfused",
                          "Q/DQ on both inputs: TensorRT keeps the Conv and this Add as separate layers; remove the "
                          "Q/DQ between the branch's last Conv and the Add, keep the shortcut's", WARNING)


def residual_add_placements(path_or_model) -> dict[str, str]:
    """{Add node name: "fused" or "unfused"} for every Conv-fed residual Add of a graph."""
    placements = {node.name: residual_add_placement(node) for node in load_graph(path_or_model).nodes}
    return {name: placement for name, placement in placements.items() if placement is not None}


def check_tensorrt_rules(path_or_model, rules: Iterable[Callable] | None = None) -> list[Finding]:
    """Every finding of every rule (default: all registered rules) on a path, ModelProto or ``gs.Graph``."""
    graph = load_graph(path_or_model, types=True)
    return [finding for check in (RULES if rules is None else rules) for finding in check(graph)]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """Only the findings that would make TensorRT reject the graph."""
    return [finding for finding in findings if finding.severity == ERROR]


def count_by_rule(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings each rule produced, e.g. {"cast-between-q-dq": 40}."""
    return dict(sorted(collections.Counter(finding.rule for finding in findings).items()))


def format_findings(findings: list[Finding], examples: int = 2) -> str:
    """A short report: one line per rule with its count, then a few example nodes with messages."""
    if not findings:
        return "No findings: the graph follows every TensorRT Q/DQ rule checked here."
    by_rule = collections.defaultdict(list)
    for finding in findings:
        by_rule[(finding.severity, finding.rule)].append(finding)
    total_errors = len(errors(findings))
    lines = [f"{total_errors} error(s), {len(findings) - total_errors} warning(s)"]
    for (severity, rule_name), group in sorted(by_rule.items()):
        lines.append(f"{severity:<8}{rule_name:<26}{len(group):>4} node(s)")
        lines.extend(f"{'':<12}{finding.node}: {finding.message}" for finding in group[:examples])
    return "\n".join(lines)


def graph_summary(path: Path) -> dict:
    """The facts of one INT8 graph for the tables of notebooks 05 and 06, read from the file alone."""
    model = onnx_inspect.as_model(path)
    graph = load_graph(model)
    counts = onnx_inspect.count_ops(graph)
    findings = check_tensorrt_rules(model)
    fusion = list(residual_add_placements(graph).values())
    inputs = list(onnx_inspect.residual_add_inputs(graph).values())
    return {"file": Path(path).name, "megabytes": round(Path(path).stat().st_size / 1e6, 1), "sha256": sha256_of(path),
            "opset": next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")),
            "nodes": sum(counts.values()), "op_counts": counts, "quantize_linear": counts.get("QuantizeLinear", 0),
            "dequantize_linear": counts.get("DequantizeLinear", 0),
            "tensorrt_rule_errors": count_by_rule(errors(findings)),
            "tensorrt_rule_warnings": count_by_rule(finding for finding in findings if finding.severity == WARNING),
            "residual_adds": {"fused": fusion.count("fused"), "unfused": fusion.count("unfused")},
            "residual_add_inputs": {placement: inputs.count(placement) for placement in sorted(set(inputs))},
            "placement_by_op": onnx_inspect.qdq_placement_by_op(graph)}
