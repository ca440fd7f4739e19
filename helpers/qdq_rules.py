"""A checker of TensorRT's explicit-quantization (Q/DQ) rules for ONNX graphs.

Introduced in notebook 03: the raw export of notebook 02 breaks several rules, the graph after
``helpers.surgery`` breaks none. The rules are the ones TensorRT's ONNX parser enforces (see the
TensorRT developer guide, "Explicit Quantization", and onnx-tensorrt's Q/DQ importer).

Each rule is a small function that reads a ``GraphFacts`` and yields ``Finding`` records (node,
rule, message, severity). To add a rule, write such a function and decorate it with ``@rule``;
``check_tensorrt_rules`` runs every registered rule. The checker reads the ONNX protobuf directly
and shares no code with the surgery passes, so it is an independent check of their result.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import onnx
from onnx import numpy_helper

from .onnx_export import load_onnx

ERROR = "error"
WARNING = "warning"
MODEL = "(model)"  # the "node" of findings about the whole model
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Which axis of a layer's weight holds its output channels (where per-channel scales belong).
WEIGHT_OUTPUT_AXIS = {"Conv": lambda node: 0, "ConvTranspose": lambda node: 1,
                      "Gemm": lambda node: 0 if _attribute(node, "transB", 0) else 1}


@dataclass(frozen=True)
class Finding:
    """One broken rule: which node, which rule, what is wrong, and how bad (error or warning)."""

    node: str
    rule: str
    message: str
    severity: str = ERROR


@dataclass
class GraphFacts:
    """What the rules need to know about a model: producers, consumers, constants and types."""

    model: onnx.ModelProto
    nodes: list[onnx.NodeProto]
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    consumers: dict[str, list[onnx.NodeProto]] = field(default_factory=lambda: collections.defaultdict(list))
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, np.dtype] = field(default_factory=dict)

    def constant(self, name: str) -> np.ndarray | None:
        """The value of a tensor that is an initializer or a Constant node's output, else None."""
        return self.constants.get(name)

    def dtype(self, name: str) -> np.dtype | None:
        """The element type of a tensor, where the graph or shape inference knows it."""
        return self.dtypes.get(name)

    def qdq_nodes(self) -> list[onnx.NodeProto]:
        return [node for node in self.nodes if node.op_type in QDQ_OPS]


def _attribute(node: onnx.NodeProto, name: str, default=None):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _input(node: onnx.NodeProto, index: int) -> str:
    """The name of input ``index`` of ``node``, or "" when it is absent."""
    return node.input[index] if len(node.input) > index else ""


def graph_facts(model: onnx.ModelProto) -> GraphFacts:
    """Collect the facts once; rules only read them."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an unusual graph: types from the graph alone are still useful
        inferred = model
    graph = inferred.graph
    facts = GraphFacts(model=model, nodes=list(graph.node))
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
            facts.dtypes[value.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
    for initializer in graph.initializer:
        facts.constants[initializer.name] = numpy_helper.to_array(initializer)
    for node in graph.node:
        for name in node.output:
            facts.producer[name] = node
        for name in node.input:
            if name:
                facts.consumers[name].append(node)
        value = _attribute(node, "value")
        if node.op_type == "Constant" and isinstance(value, onnx.TensorProto):
            facts.constants[node.output[0]] = numpy_helper.to_array(value)
    for name, value in facts.constants.items():
        facts.dtypes[name] = value.dtype
    return facts


# ---------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------

RULES: list[Callable[[GraphFacts], Iterable[Finding]]] = []


def rule(function: Callable[[GraphFacts], Iterable[Finding]]):
    """Register a rule function with ``check_tensorrt_rules``."""
    RULES.append(function)
    return function


@rule
def qdq_types_known(facts: GraphFacts) -> Iterable[Finding]:
    """Every Q/DQ input must have a known element type; otherwise the type rules below cannot check it.

    Shape inference types every tensor of a well-formed graph. Where it cannot (an operator it does not
    know produces the input, or inference failed), this rule says so instead of letting the graph pass.
    """
    for node in facts.qdq_nodes():
        if facts.dtype(node.input[0]) is None:
            yield Finding(node.name, "type-unknown", f"the element type of input '{node.input[0]}' is unknown "
                          "(shape inference could not type it), so the type rules cannot check this node")


@rule
def opset_at_least_13(facts: GraphFacts) -> Iterable[Finding]:
    """Per-channel Q/DQ (the ``axis`` attribute) needs ONNX opset 13 or newer."""
    opset = next((entry.version for entry in facts.model.opset_import if entry.domain in ("", "ai.onnx")), None)
    if opset is None or opset < 13:
        yield Finding(MODEL, "opset-below-13", f"the model uses ONNX opset {opset}; TensorRT's Q/DQ support needs 13 or newer")


@rule
def constant_scale(facts: GraphFacts) -> Iterable[Finding]:
    """Scales must be constants (initializers or Constant nodes) that TensorRT can read at build time."""
    for node in facts.qdq_nodes():
        if facts.constant(_input(node, 1)) is None:
            yield Finding(node.name, "non-constant-scale", f"scale '{_input(node, 1)}' is computed at run time, not a constant")


@rule
def constant_zero_point(facts: GraphFacts) -> Iterable[Finding]:
    """Zero points, when given, must be constants too."""
    for node in facts.qdq_nodes():
        name = _input(node, 2)
        if name and facts.constant(name) is None:
            producer = facts.producer.get(name)
            how = f" by {producer.op_type} node {producer.name}" if producer is not None else ""
            yield Finding(node.name, "non-constant-zero-point", f"zero point '{name}' is computed at run time{how}")


@rule
def positive_scale(facts: GraphFacts) -> Iterable[Finding]:
    """Scales must be positive."""
    for node in facts.qdq_nodes():
        scale = facts.constant(_input(node, 1))
        if scale is not None and not np.all(scale > 0):
            yield Finding(node.name, "scale-not-positive", f"scale has values <= 0 (min {float(np.min(scale)):g})")


@rule
def zero_point_is_zero(facts: GraphFacts) -> Iterable[Finding]:
    """TensorRT quantizes symmetrically: every zero point must be 0."""
    for node in facts.qdq_nodes():
        zero_point = facts.constant(_input(node, 2))
        if zero_point is not None and np.any(zero_point != 0):
            values = np.unique(zero_point).tolist()
            yield Finding(node.name, "zero-point-nonzero", f"zero point {values[:4]}{'...' if len(values) > 4 else ''}, TensorRT needs 0")


@rule
def zero_point_is_int8(facts: GraphFacts) -> Iterable[Finding]:
    """Zero points must be int8 (a uint8 zero point makes the quantized tensor uint8)."""
    for node in facts.qdq_nodes():
        name = _input(node, 2)
        dtype = facts.dtype(name) if name else None
        if dtype == np.uint8:
            yield Finding(node.name, "zero-point-uint8", "uint8 zero point; TensorRT needs int8")
        elif not name and node.op_type == "QuantizeLinear":
            yield Finding(node.name, "zero-point-uint8", "no zero point, so ONNX makes the output uint8; give an int8 zero point 0", WARNING)


def _dequantize_input_of_type(facts: GraphFacts, dtype: type, rule_name: str, why: str) -> Iterable[Finding]:
    for node in facts.nodes:
        if node.op_type == "DequantizeLinear" and facts.dtype(node.input[0]) == dtype:
            yield Finding(node.name, rule_name, f"input '{node.input[0]}' is {np.dtype(dtype).name}; {why}")


@rule
def dequantize_input_not_uint8(facts: GraphFacts) -> Iterable[Finding]:
    """TensorRT rejects a DequantizeLinear whose input is uint8."""
    yield from _dequantize_input_of_type(facts, np.uint8, "dq-input-uint8", "TensorRT dequantizes only int8 (or fp8/int4)")


@rule
def dequantize_input_not_int32(facts: GraphFacts) -> Iterable[Finding]:
    """TensorRT rejects an int32 DequantizeLinear (the exporter's quantized bias)."""
    yield from _dequantize_input_of_type(facts, np.int32, "dq-input-int32", "give the layer a float bias instead")


@rule
def no_cast_between_q_and_dq(facts: GraphFacts) -> Iterable[Finding]:
    """A QuantizeLinear must feed its DequantizeLinear directly; TensorRT cannot pair them across a Cast."""
    for node in facts.nodes:
        if node.op_type != "Cast":
            continue
        quantize = facts.producer.get(node.input[0])
        dequantizers = [consumer for consumer in facts.consumers.get(node.output[0], []) if consumer.op_type == "DequantizeLinear"]
        if quantize is not None and quantize.op_type == "QuantizeLinear" and dequantizers:
            yield Finding(node.name, "cast-between-q-dq", f"Cast between {quantize.name} and {dequantizers[0].name}")


def _is_weight(facts: GraphFacts, name: str) -> bool:
    """A constant, or a constant quantized by a QuantizeLinear (how ModelOpt writes weights: Q -> DQ)."""
    quantize = facts.producer.get(name)
    if quantize is not None and quantize.op_type == "QuantizeLinear":
        name = quantize.input[0]
    return facts.constant(name) is not None


@rule
def activations_per_tensor(facts: GraphFacts) -> Iterable[Finding]:
    """Activations (anything that is not a constant weight) must be quantized per tensor."""
    for node in facts.qdq_nodes():
        scale = facts.constant(_input(node, 1))
        if not _is_weight(facts, node.input[0]) and scale is not None and scale.size > 1:
            yield Finding(node.name, "per-channel-activation", f"activation quantized per channel ({scale.size} scales); TensorRT needs one scale")


@rule
def weight_axis_is_output_channels(facts: GraphFacts) -> Iterable[Finding]:
    """Per-channel weight scales must run along the layer's output channels, one scale per channel."""
    for node in facts.nodes:
        weights = facts.constant(node.input[0]) if node.op_type == "DequantizeLinear" else None
        scale = facts.constant(_input(node, 1)) if weights is not None else None
        if scale is None or scale.size <= 1:
            continue
        axis = _attribute(node, "axis", 1)
        axis = axis + weights.ndim if axis < 0 else axis
        for layer in facts.consumers.get(node.output[0], []):
            if layer.op_type not in WEIGHT_OUTPUT_AXIS or _input(layer, 1) != node.output[0]:
                continue
            expected = WEIGHT_OUTPUT_AXIS[layer.op_type](layer)
            if axis != expected:
                yield Finding(node.name, "weight-axis", f"per-channel axis {axis} for {layer.op_type} {layer.name}; its output channels are axis {expected}")
            elif axis >= weights.ndim or scale.size != weights.shape[axis]:
                yield Finding(node.name, "weight-axis", f"{scale.size} scales for {weights.shape[axis] if axis < weights.ndim else '?'} channels on axis {axis}")


def _produced_by(facts: GraphFacts, name: str, op_type: str) -> onnx.NodeProto | None:
    producer = facts.producer.get(name)
    return producer if producer is not None and producer.op_type == op_type else None


def _conv_through_qdq(facts: GraphFacts, name: str) -> onnx.NodeProto | None:
    """The Conv behind ``DequantizeLinear(QuantizeLinear(Conv output))``, else None."""
    dequantize = _produced_by(facts, name, "DequantizeLinear")
    quantize = _produced_by(facts, dequantize.input[0], "QuantizeLinear") if dequantize is not None else None
    return _produced_by(facts, quantize.input[0], "Conv") if quantize is not None else None


def residual_add_placement(facts: GraphFacts, add: onnx.NodeProto) -> str | None:
    """How a residual Add is quantized: "fused", "unfused", or None when it is not a Conv-fed residual Add.

    * "fused": one input comes straight from a Conv that feeds only this Add, the other from a
      DequantizeLinear - TensorRT can run Conv + Add (+ Relu) as one INT8 kernel;
    * "unfused": both inputs come from DequantizeLinear and at least one of them dequantizes a
      Conv's output - the engine still builds, but the Conv and the Add stay separate layers.
    """
    if add.op_type != "Add" or len(add.input) != 2 or any(facts.constant(name) is not None for name in add.input):
        return None
    dequantized = [_produced_by(facts, name, "DequantizeLinear") is not None for name in add.input]
    direct_convs = [_produced_by(facts, name, "Conv") for name in add.input]
    for conv, other_dequantized, name in zip(direct_convs, reversed(dequantized), add.input):
        if conv is not None and other_dequantized and [node.name for node in facts.consumers.get(name, [])] == [add.name]:
            return "fused"
    if all(dequantized) and any(_conv_through_qdq(facts, name) is not None for name in add.input):
        return "unfused"
    return None


@rule
def residual_add_fusible(facts: GraphFacts) -> Iterable[Finding]:
    """A residual Add with Q/DQ on both inputs builds, but TensorRT cannot fuse it with the Conv before it.

    Remove the Q/DQ pair between the main branch's last Conv and the Add and keep the one on the
    shortcut (``helpers.surgery.remove_qdq_between_conv_and_residual_add``, notebook 05).
    """
    for node in facts.nodes:
        if residual_add_placement(facts, node) == "unfused":
            yield Finding(node.name, "residual-add-unfused",
                          "Q/DQ on both inputs: TensorRT keeps the Conv and this Add as separate layers; remove the "
                          "Q/DQ between the branch's last Conv and the Add, keep the shortcut's", WARNING)


def residual_add_placements(path_or_model) -> dict[str, str]:
    """{Add node name: "fused" or "unfused"} for every Conv-fed residual Add of an ONNX file or ModelProto."""
    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else load_onnx(Path(path_or_model))
    facts = graph_facts(model)
    placements = {node.name: residual_add_placement(facts, node) for node in facts.nodes}
    return {name: placement for name, placement in placements.items() if placement is not None}


# ---------------------------------------------------------------------------------------------
# Running the rules and reading the result
# ---------------------------------------------------------------------------------------------

def check_tensorrt_rules(path_or_model, rules: Iterable[Callable] | None = None) -> list[Finding]:
    """Every finding of every rule (default: all registered rules) on an ONNX file or ModelProto."""
    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else load_onnx(Path(path_or_model))
    facts = graph_facts(model)
    return [finding for check in (RULES if rules is None else rules) for finding in check(facts)]


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
        for finding in group[:examples]:
            lines.append(f"{'':<12}{finding.node}: {finding.message}")
    return "\n".join(lines)
