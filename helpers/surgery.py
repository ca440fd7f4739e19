"""Graph surgery that makes the exported INT8 ONNX graph acceptable to TensorRT's ONNX parser.

Introduced in notebook 03, which calls each pass on its own and shows its source.

PyTorch's TorchScript exporter writes an eager-mode INT8 model (notebook 02) as a Q/DQ graph that
TensorRT's parser rejects:

* every activation goes ``QuantizeLinear -> Cast(to uint8) -> DequantizeLinear``;
* activations are uint8 with zero point 128 (the qnnpack recipe of notebook 02);
* each Conv/Gemm bias is ``DequantizeLinear(int32 bias, scale, zero point)``, its zero point
  computed at run time by ``ConstantOfShape -> Cast``.

Each pass below takes an onnx-graphsurgeon ``gs.Graph``, edits it in place (the file it was loaded
from is never touched), returns one line per change it made, and returns ``[]`` when run again
(the passes are idempotent). ``save_graph`` writes the result with the source's metadata and
checks it with ``onnx.checker`` and full shape inference.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from .config import TutorialError, written_atomically
from .data import sha256_of as file_sha256  # noqa: F401  (re-exported: reports name the exact files they used)
from .onnx_export import load_onnx, read_metadata, set_metadata
from .onnx_inspect import count_ops

PRECISION = "int8-qdq-tensorrt"
PRODUCED_BY = "03_graph_surgery"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


# ---------------------------------------------------------------------------------------------
# Loading, saving, reading constants
# ---------------------------------------------------------------------------------------------

def load_graph(path: Path) -> gs.Graph:
    """An onnx-graphsurgeon graph of an ONNX file (clear error for missing or corrupt files)."""
    return gs.import_onnx(load_onnx(Path(path)))


def constant_value(tensor: gs.Tensor) -> np.ndarray | None:
    """The value of ``tensor`` if it is a constant, else None.

    Understands initializers, ``Constant`` nodes, and the ``ConstantOfShape -> Cast`` chain the
    exporter uses for bias zero points; anything else counts as not constant.
    """
    if isinstance(tensor, gs.Constant):
        return np.asarray(tensor.values)
    if len(tensor.inputs) != 1:
        return None
    producer = tensor.inputs[0]
    if producer.op == "Constant" and isinstance(producer.attrs.get("value"), gs.Constant):
        return np.asarray(producer.attrs["value"].values)
    if producer.op == "ConstantOfShape":
        shape = constant_value(producer.inputs[0])
        fill = producer.attrs.get("value")
        fill_value = np.asarray(fill.values).reshape(-1)[0] if isinstance(fill, gs.Constant) else np.float32(0)
        return None if shape is None else np.full(shape.astype(np.int64), fill_value, dtype=fill_value.dtype)
    if producer.op == "Cast":
        source = constant_value(producer.inputs[0])
        target = onnx.helper.tensor_dtype_to_np_dtype(producer.attrs["to"])
        return None if source is None else source.astype(target)
    return None


def _producer(tensor: gs.Tensor) -> gs.Node | None:
    return tensor.inputs[0] if len(tensor.inputs) == 1 else None


def _qdq_nodes(graph: gs.Graph) -> list[gs.Node]:
    return [node for node in graph.nodes if node.op in QDQ_OPS]


def _zero_point_dtype(quantize: gs.Node) -> np.dtype:
    """The output type of a QuantizeLinear: its zero point's type (uint8 when it has none)."""
    if len(quantize.inputs) < 3 or quantize.inputs[2].is_empty():
        return np.dtype(np.uint8)
    value = constant_value(quantize.inputs[2])
    if value is None:
        raise TutorialError(f"{quantize.name}: the zero point is not a constant, so its type is unknown.")
    return value.dtype


def fixed_metadata(source_metadata: dict[str, str]) -> dict[str, str]:
    """The source model's metadata, marked as the TensorRT-ready INT8 graph of notebook 03."""
    return {**source_metadata, "precision": PRECISION, "produced_by": PRODUCED_BY}


def save_graph(graph: gs.Graph, path: Path, metadata: dict[str, str], source_path: Path | None = None) -> Path:
    """Write ``graph`` to ``path`` with ``metadata``, after ``onnx.checker`` with full shape inference.

    Refuses to overwrite ``source_path`` (the passes never edit their input file). The file is
    written under a temporary name first, so a failed check leaves nothing half-written.
    """
    path = Path(path)
    if source_path is not None and path.resolve() == Path(source_path).resolve():
        raise TutorialError(f"Refusing to overwrite the input model {path}; write the fixed graph to another file.")
    model = gs.export_onnx(graph)
    set_metadata(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # onnx.checker.ValidationError, shape inference errors
        raise TutorialError(f"The edited graph is not valid ONNX, nothing was written to {path}: {error}") from error
    with written_atomically(path) as partial:
        onnx.save(model, str(partial))
    return path


# ---------------------------------------------------------------------------------------------
# The passes (notebook 03 runs them in this order)
# ---------------------------------------------------------------------------------------------

def remove_cast_between_q_and_dq(graph: gs.Graph) -> list[str]:
    """Remove each ``Cast`` that sits between a QuantizeLinear and the DequantizeLinear(s) it feeds.

    The exporter's Cast converts uint8 to uint8, so removing it changes no value; a Cast that
    would change the type is refused instead of removed.
    """
    changes = []
    for cast in [node for node in graph.nodes if node.op == "Cast"]:
        quantize = _producer(cast.inputs[0])
        consumers = list(cast.outputs[0].outputs)
        if quantize is None or quantize.op != "QuantizeLinear" or not consumers:
            continue
        if any(consumer.op != "DequantizeLinear" for consumer in consumers) or cast.outputs[0] in graph.outputs:
            continue
        from_dtype = _zero_point_dtype(quantize)
        to_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(cast.attrs["to"]))
        if from_dtype != to_dtype:
            raise TutorialError(
                f"{cast.name} casts {quantize.name}'s {from_dtype} output to {to_dtype}; removing it would "
                "change the values. Fix the quantization recipe (notebook 02) instead of this graph."
            )
        for consumer in consumers:
            consumer.inputs[0] = quantize.outputs[0]
        graph.nodes.remove(cast)
        cast.inputs.clear()
        cast.outputs.clear()
        names = ", ".join(consumer.name for consumer in consumers)
        changes.append(f"{cast.name}: removed Cast(to {to_dtype}) between {quantize.name} and {names}")
    return changes


def _dequantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    """DequantizeLinear as ONNX defines it: float32((x - zero_point)) * scale, per channel on ``axis``."""
    if scale.ndim == 1 and values.ndim > 0:
        shape = [1] * values.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    shifted = values.astype(np.int64) - zero_point.astype(np.int64)
    return (shifted.astype(np.float32) * scale.astype(np.float32)).astype(np.float32)


def replace_bias_dequantize_with_float(graph: gs.Graph) -> list[str]:
    """Give each Conv and Gemm whose bias is ``DequantizeLinear(int32 ...)`` a float32 bias constant.

    TensorRT rejects int32 DequantizeLinear. The new bias holds exactly what that node computes,
    so the function is unchanged; the old DequantizeLinear and its ConstantOfShape/Cast zero point
    are left unused for ``cleanup_and_sort``.
    """
    changes = []
    for node in [node for node in graph.nodes if node.op in ("Conv", "Gemm")]:
        if len(node.inputs) < 3 or node.inputs[2].is_empty():
            continue
        dequantize = _producer(node.inputs[2])
        if dequantize is None or dequantize.op != "DequantizeLinear":
            continue
        values = constant_value(dequantize.inputs[0])
        if values is None or values.dtype != np.int32:
            continue
        scale = constant_value(dequantize.inputs[1])
        has_zero_point = len(dequantize.inputs) > 2 and not dequantize.inputs[2].is_empty()
        zero_point = constant_value(dequantize.inputs[2]) if has_zero_point else np.zeros_like(values[:1])
        if scale is None or zero_point is None:
            raise TutorialError(f"{dequantize.name}: the bias scale or zero point is not constant, so it cannot be folded.")
        axis = dequantize.attrs.get("axis", 1)
        axis = axis + values.ndim if axis < 0 else axis
        if values.ndim == 1:
            axis = 0
        bias = gs.Constant(f"{node.name}/bias_float", _dequantize(values, scale, zero_point, axis))
        node.inputs[2] = bias
        changes.append(
            f"{node.name}: bias {dequantize.name}(int32 {list(values.shape)}, zero point "
            f"{np.unique(zero_point).tolist()}) -> float32 constant {bias.name}"
        )
    return changes


def _uint8_zero_point(node: gs.Node) -> np.ndarray | None:
    """The node's zero point if it is a uint8 constant, else None."""
    if len(node.inputs) < 3 or node.inputs[2].is_empty():
        return None
    value = constant_value(node.inputs[2])
    if value is None:
        raise TutorialError(f"{node.name}: the zero point is not a constant; this graph cannot be mapped to int8.")
    return value if value.dtype == np.uint8 else None


def map_uint8_qdq_to_int8(graph: gs.Graph) -> list[str]:
    """Turn every uint8 / zero point 128 QuantizeLinear and DequantizeLinear into int8 / zero point 0.

    q_uint8 = q_int8 + 128 and (q_uint8 - 128) * scale == (q_int8 - 0) * scale, so no value changes.
    Refuses, before editing anything, a uint8 zero point other than 128 (it has no int8 twin), a
    QuantizeLinear without a zero point (uint8 with zero point 0), and a QuantizeLinear that still
    feeds something other than a DequantizeLinear (run ``remove_cast_between_q_and_dq`` first).
    """
    planned = []
    for node in _qdq_nodes(graph):
        if node.op == "QuantizeLinear" and (len(node.inputs) < 3 or node.inputs[2].is_empty()):
            raise TutorialError(f"{node.name} has no zero point: it quantizes to uint8 with zero point 0, which int8 cannot represent.")
        zero_point = _uint8_zero_point(node)
        if zero_point is None:
            continue
        if not np.all(zero_point == 128):
            raise TutorialError(
                f"{node.name} has uint8 zero point {np.unique(zero_point).tolist()}; only 128 maps exactly to int8 "
                "with zero point 0. Quantize activations with qscheme=torch.per_tensor_symmetric and the default "
                "quint8 range (helpers.quantization.tensorrt_qconfig, notebook 02)."
            )
        if node.op == "QuantizeLinear":
            others = [consumer.name for consumer in node.outputs[0].outputs if consumer.op != "DequantizeLinear"]
            if others or node.outputs[0] in graph.outputs:
                raise TutorialError(
                    f"{node.name} feeds {others or 'a graph output'}, not only DequantizeLinear nodes; "
                    "run remove_cast_between_q_and_dq first."
                )
        planned.append((node, zero_point))

    changes = []
    for node, zero_point in planned:
        node.inputs[2] = gs.Constant(f"{node.name}/zero_point_int8", np.zeros(zero_point.shape, dtype=np.int8))
        note = ""
        if node.op == "QuantizeLinear" and node.outputs[0].dtype is not None:
            node.outputs[0].dtype = np.int8
        if node.op == "DequantizeLinear":
            values = constant_value(node.inputs[0])
            if values is not None and values.dtype == np.uint8:
                shifted = (values.astype(np.int16) - 128).astype(np.int8)
                node.inputs[0] = gs.Constant(f"{node.name}/x_int8", shifted)
                note = ", constant input shifted by -128"
        changes.append(f"{node.name}: zero point uint8 128 -> int8 0{note}")
    return changes


def fold_constants(graph: gs.Graph) -> list[str]:
    """Compute every remaining constant subgraph once (Constant nodes, ConstantOfShape, Cast...).

    onnx-graphsurgeon evaluates them with ONNX Runtime and never folds QuantizeLinear or
    DequantizeLinear, so the int8 weights keep their DequantizeLinear. Nodes whose outputs became
    constants are left unused for ``cleanup_and_sort``.
    """
    variables = {name: _producer(tensor) for name, tensor in graph.tensors().items() if isinstance(tensor, gs.Variable)}
    graph.fold_constants(error_ok=False)
    folded = collections.Counter()
    for name, tensor in graph.tensors().items():
        if name in variables and isinstance(tensor, gs.Constant):
            producer = variables[name]
            folded[producer.op if producer is not None else "(no producer)"] += 1
    return [f"{count} output(s) of {op} nodes became constants" for op, count in sorted(folded.items())]


def cleanup_and_sort(graph: gs.Graph) -> list[str]:
    """Remove nodes and tensors nothing uses any more, then sort the nodes topologically."""
    before = collections.Counter(node.op for node in graph.nodes)
    order_before = [id(node) for node in graph.nodes]
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    after = collections.Counter(node.op for node in graph.nodes)
    removed = before - after
    changes = [f"removed {count} unused {op} node(s)" for op, count in sorted(removed.items())]
    kept = [id(node) for node in graph.nodes]
    if [node_id for node_id in order_before if node_id in set(kept)] != kept:
        changes.append(f"re-sorted {len(kept)} nodes topologically")
    return changes


SURGERY_PASSES = (
    remove_cast_between_q_and_dq,
    replace_bias_dequantize_with_float,
    map_uint8_qdq_to_int8,
    fold_constants,
    cleanup_and_sort,
)


def fix_for_tensorrt(raw_path: Path, fixed_path: Path) -> dict[str, list[str]]:
    """Run every pass in order on ``raw_path`` and write the result to ``fixed_path``.

    Returns the changes of each pass by pass name. Notebook 03 runs the same passes one at a time.
    """
    graph = load_graph(raw_path)
    changes = {surgery_pass.__name__: surgery_pass(graph) for surgery_pass in SURGERY_PASSES}
    save_graph(graph, fixed_path, fixed_metadata(read_metadata(raw_path)), source_path=raw_path)
    return changes


# ---------------------------------------------------------------------------------------------
# Showing what changed, and proving the function did not
# ---------------------------------------------------------------------------------------------

def op_count_diff(before, after) -> list[tuple[str, int, int]]:
    """(op type, count before, count after) for every op type in either graph, sorted by name."""
    counts_before, counts_after = count_ops(before), count_ops(after)
    ops = sorted(set(counts_before) | set(counts_after))
    return [(op, counts_before.get(op, 0), counts_after.get(op, 0)) for op in ops]


def format_graph_diff(before, after, changes: dict[str, list[str]], changes_shown: int = 3) -> str:
    """A readable diff: node counts by type before/after, then each pass's changes (first few of each)."""
    lines = [f"{'op type':<20}{'before':>8}{'after':>8}{'change':>8}"]
    rows = op_count_diff(before, after)
    for op, count_before, count_after in rows:
        delta = count_after - count_before
        lines.append(f"{op:<20}{count_before:>8}{count_after:>8}{delta:>+8}" if delta else f"{op:<20}{count_before:>8}{count_after:>8}{'':>8}")
    lines.append(f"{'total':<20}{sum(r[1] for r in rows):>8}{sum(r[2] for r in rows):>8}")
    for pass_name, pass_changes in changes.items():
        lines.append("")
        lines.append(f"{pass_name}: {len(pass_changes)} change(s)")
        lines.extend(f"  {line}" for line in pass_changes[:changes_shown])
        if len(pass_changes) > changes_shown:
            lines.append(f"  ... and {len(pass_changes) - changes_shown} more")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Beyond the article: the Q/DQ placement TensorRT fuses around residual Adds (notebook 05)
# ---------------------------------------------------------------------------------------------

FUSED_PRECISION = "int8-qdq-tensorrt-fused-residuals"
FUSED_PRODUCED_BY = "05_qdq_placement_vs_modelopt"


def _conv_behind(tensor: gs.Tensor) -> tuple[gs.Node | None, gs.Node | None, gs.Node | None]:
    """(conv, quantize, dequantize) when ``tensor`` is ``Conv -> Q -> DQ`` or a Conv's own output, else Nones.

    quantize and dequantize are None when the Conv feeds ``tensor`` directly.
    """
    dequantize = _producer(tensor)
    if dequantize is not None and dequantize.op == "Conv":
        return dequantize, None, None
    if dequantize is None or dequantize.op != "DequantizeLinear":
        return None, None, None
    quantize = _producer(dequantize.inputs[0])
    conv = _producer(quantize.inputs[0]) if quantize is not None and quantize.op == "QuantizeLinear" else None
    return (conv, quantize, dequantize) if conv is not None and conv.op == "Conv" else (None, None, None)


def _source_before_qdq(tensor: gs.Tensor) -> gs.Tensor:
    """The float tensor a ``Q -> DQ`` pair was applied to (``tensor`` itself when there is none)."""
    dequantize = _producer(tensor)
    if dequantize is not None and dequantize.op == "DequantizeLinear":
        quantize = _producer(dequantize.inputs[0])
        if quantize is not None and quantize.op == "QuantizeLinear":
            return quantize.inputs[0]
    return tensor


def _upstream_tensors(tensor: gs.Tensor) -> set[str]:
    """Names of every tensor ``tensor`` is computed from (itself included)."""
    seen, stack = set(), [tensor]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for producer in current.inputs:
            stack.extend(producer.inputs)
    return seen


def residual_branch_input(add: gs.Node) -> int | None:
    """Which input (0 or 1) of a residual Add is the main branch's last Conv, or None if it is not a residual Add.

    The branch is an input a Conv produces (directly or through Q/DQ). In a block with a
    downsample Conv on the shortcut both inputs come from Convs; the main branch is then the one
    that is computed from the tensor the shortcut Conv reads (conv2 reads conv1's output, which
    read the block's input) - the longer path, which is also ModelOpt's choice.
    """
    if add.op != "Add" or len(add.inputs) != 2 or any(isinstance(tensor, gs.Constant) for tensor in add.inputs):
        return None
    convs = [_conv_behind(tensor)[0] for tensor in add.inputs]
    if convs[0] is None and convs[1] is None:
        return None
    if convs[0] is None or convs[1] is None:
        return 0 if convs[0] is not None else 1
    for branch, shortcut in ((0, 1), (1, 0)):
        shortcut_source = _source_before_qdq(convs[shortcut].inputs[0])
        if shortcut_source.name in _upstream_tensors(convs[branch].inputs[0]):
            return branch
    return None  # two unrelated Convs: no residual structure to rely on


def remove_qdq_between_conv_and_residual_add(graph: gs.Graph) -> list[str]:
    """In each residual block, remove the Q/DQ pair between the main branch's last Conv and the Add.

    The Q/DQ on the shortcut input stays, so TensorRT can run Conv + Add (+ Relu) as one INT8
    kernel: it needs the Conv's output to go straight into the Add and the other input to be
    dequantized. A pair is removed only when the Conv feeds only that Q, the Q only that DQ,
    and the DQ only that Add (anything else also reads the quantized tensor, so it must stay),
    and only when the shortcut input is dequantized too.
    """
    changes = []
    for add in [node for node in graph.nodes if node.op == "Add"]:
        branch = residual_branch_input(add)
        if branch is None:
            continue
        conv, quantize, dequantize = _conv_behind(add.inputs[branch])
        shortcut = _producer(add.inputs[1 - branch])
        if quantize is None or shortcut is None or shortcut.op != "DequantizeLinear":
            continue
        conv_output = quantize.inputs[0]
        only_this_add = (
            conv_output.outputs == [quantize] and quantize.outputs[0].outputs == [dequantize]
            and dequantize.outputs[0].outputs == [add]
            and not any(tensor in graph.outputs for tensor in (conv_output, quantize.outputs[0], dequantize.outputs[0]))
        )
        if not only_this_add:
            continue
        add.inputs[branch] = conv_output
        for node in (quantize, dequantize):
            graph.nodes.remove(node)
            node.inputs.clear()
            node.outputs.clear()
        changes.append(f"{add.name}: removed {quantize.name} -> {dequantize.name} between {conv.name} and the Add "
                       f"(shortcut keeps {shortcut.name})")
    return changes


def fused_residuals_metadata(source_metadata: dict[str, str]) -> dict[str, str]:
    """The TensorRT-ready graph's metadata, marked as the fused-residual placement of notebook 05."""
    return {**source_metadata, "precision": FUSED_PRECISION, "produced_by": FUSED_PRODUCED_BY}


def fuse_residual_adds(fixed_path: Path, fused_path: Path) -> list[str]:
    """Notebook 03's graph with the fused residual placement, written to ``fused_path``; returns the changes.

    One call for notebook 04 (its extra INT8 engine); notebook 05 runs the same steps one at a time.
    """
    graph = load_graph(fixed_path)
    changes = remove_qdq_between_conv_and_residual_add(graph)
    cleanup_and_sort(graph)
    save_graph(graph, fused_path, fused_residuals_metadata(read_metadata(fixed_path)), source_path=fixed_path)
    return changes
