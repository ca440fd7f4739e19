"""Graph surgery that makes notebook 02's INT8 ONNX graph acceptable to TensorRT's parser (notebook 03), and the
residual Q/DQ placements of notebooks 05 and 06. The exporter writes ``QuantizeLinear -> Cast(to uint8) ->
DequantizeLinear`` with uint8 zero point 128, and each bias as ``DequantizeLinear(int32 ...)``: TensorRT rejects both.
Each pass edits a ``gs.Graph`` in place, returns one line per change, and ``[]`` when run again."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from .config import TutorialError, written_atomically
from .onnx_export import read_metadata, set_metadata
from .onnx_inspect import (constant_value, count_ops, input_of, load_graph, producer, qdq_nodes, residual_branch_input,
                           source_before_qdq)

PRECISION = "int8-qdq-tensorrt"
PRODUCED_BY = "03_graph_surgery"
FUSED_PRECISION = "int8-qdq-tensorrt-fused-residuals"
FUSED_PRODUCED_BY = "05_qdq_placement_vs_modelopt"
PLACEMENTS = ("none", "both", "shortcut", "branch")  # which inputs of each residual Add keep their Q/DQ (notebook 06)


def fixed_metadata(source_metadata: dict[str, str]) -> dict[str, str]:
    """The source model's metadata, marked as the TensorRT-ready INT8 graph of notebook 03."""
    return {**source_metadata, "precision": PRECISION, "produced_by": PRODUCED_BY}


def save_graph(graph: gs.Graph, path: Path, metadata: dict[str, str], source_path: Path | None = None) -> Path:
    """Write ``graph`` to ``path`` with ``metadata`` after a full ``onnx.checker`` pass; never over ``source_path``."""
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


def _zero_point(node: gs.Node) -> np.ndarray | None:
    """The node's constant zero point, None when it has none; a computed one is refused."""
    if input_of(node, 2) is None:
        return None
    value = constant_value(node.inputs[2])
    if value is None:
        raise TutorialError(f"{node.name}: the zero point is not a constant, so its type is unknown.")
    return value


def _detach(graph: gs.Graph, node: gs.Node) -> None:
    graph.nodes.remove(node)
    node.inputs.clear()
    node.outputs.clear()


def remove_casts(graph: gs.Graph) -> list[str]:
    """Remove each ``Cast`` between a QuantizeLinear and the DequantizeLinear(s) it feeds. The exporter's Cast is
    uint8 to uint8, so no value changes; a Cast that would change the type is refused."""
    changes = []
    for cast in [node for node in graph.nodes if node.op == "Cast"]:
        quantize = producer(cast.inputs[0], "QuantizeLinear")
        readers = list(cast.outputs[0].outputs)
        if (quantize is None or not readers or cast.outputs[0] in graph.outputs
                or any(reader.op != "DequantizeLinear" for reader in readers)):
            continue
        zero_point = _zero_point(quantize)
        from_dtype = np.dtype(np.uint8) if zero_point is None else zero_point.dtype
        to_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(cast.attrs["to"]))
        if from_dtype != to_dtype:
            raise TutorialError(f"{cast.name} casts {quantize.name}'s {from_dtype} output to {to_dtype}; removing it "
                                "would change the values. Fix the quantization recipe (notebook 02) instead.")
        for reader in readers:
            reader.inputs[0] = quantize.outputs[0]
        _detach(graph, cast)
        changes.append(f"{cast.name}: removed Cast(to {to_dtype}) between {quantize.name} and "
                       f"{', '.join(reader.name for reader in readers)}")
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
    """Give each Conv and Gemm whose bias is ``DequantizeLinear(int32 ...)`` (which TensorRT rejects) a float32 bias
    constant holding exactly what that node computes; ``cleanup_and_sort`` drops the old nodes."""
    changes = []
    for node in [node for node in graph.nodes if node.op in ("Conv", "Gemm")]:
        dequantize = producer(input_of(node, 2), "DequantizeLinear")
        values = constant_value(dequantize.inputs[0]) if dequantize is not None else None
        if values is None or values.dtype != np.int32:
            continue
        scale = constant_value(dequantize.inputs[1])
        zero_point = constant_value(dequantize.inputs[2]) if input_of(dequantize, 2) is not None else np.int64(0)
        if scale is None or zero_point is None:
            raise TutorialError(f"{dequantize.name}: the bias scale or zero point is not constant; cannot fold it.")
        axis = 0 if values.ndim == 1 else dequantize.attrs.get("axis", 1)  # a negative axis counts from the end
        bias = gs.Constant(f"{node.name}/bias_float", _dequantize(values, scale, zero_point, axis))
        node.inputs[2] = bias
        changes.append(f"{node.name}: bias {dequantize.name}(int32 {list(values.shape)}, zero point "
                       f"{np.unique(zero_point).tolist()}) -> float32 constant {bias.name}")
    return changes


def zero_points_to_int8(graph: gs.Graph) -> list[str]:
    """Turn every uint8 / zero point 128 Q and DQ into int8 / zero point 0: (q_uint8 - 128) * scale == (q_int8 - 0) *
    scale, so no value changes. Refuses, before editing, zero points with no int8 twin and Q nodes not feeding DQ."""
    planned = []
    for node in qdq_nodes(graph):
        if node.op == "QuantizeLinear" and input_of(node, 2) is None:
            raise TutorialError(f"{node.name} has no zero point: it quantizes to uint8 with zero point 0, which int8 "
                                "cannot represent.")
        zero_point = _zero_point(node)
        if zero_point is None or zero_point.dtype != np.uint8:
            continue
        if not np.all(zero_point == 128):
            raise TutorialError(
                f"{node.name} has uint8 zero point {np.unique(zero_point).tolist()}; only 128 maps exactly to int8 "
                "with zero point 0. Quantize activations with qscheme=torch.per_tensor_symmetric and the default "
                "quint8 range (helpers.quantization.tensorrt_qconfig, notebook 02).")
        if node.op == "QuantizeLinear":
            others = [reader.name for reader in node.outputs[0].outputs if reader.op != "DequantizeLinear"]
            if others or node.outputs[0] in graph.outputs:
                raise TutorialError(f"{node.name} feeds {others or 'a graph output'}, not only DequantizeLinear nodes; "
                                    "run remove_casts first.")
        planned.append((node, zero_point))
    changes = []
    for node, zero_point in planned:
        node.inputs[2] = gs.Constant(f"{node.name}/zero_point_int8", np.zeros(zero_point.shape, dtype=np.int8))
        note = ""
        if node.op == "QuantizeLinear" and node.outputs[0].dtype is not None:
            node.outputs[0].dtype = np.int8
        values = constant_value(node.inputs[0])  # uint8 weights of a DequantizeLinear (a QuantizeLinear reads floats)
        if values is not None and values.dtype == np.uint8:
            node.inputs[0] = gs.Constant(f"{node.name}/x_int8", (values.astype(np.int16) - 128).astype(np.int8))
            note = ", constant input shifted by -128"
        changes.append(f"{node.name}: zero point uint8 128 -> int8 0{note}")
    return changes


def fold_constants(graph: gs.Graph) -> list[str]:
    """Compute every remaining constant subgraph once; onnx-graphsurgeon never folds Q or DQ."""
    writers = {name: producer(tensor) for name, tensor in graph.tensors().items() if isinstance(tensor, gs.Variable)}
    graph.fold_constants(error_ok=False)
    folded = collections.Counter()
    for name, tensor in graph.tensors().items():
        if name in writers and isinstance(tensor, gs.Constant):
            folded[writers[name].op if writers[name] is not None else "(no producer)"] += 1
    return [f"{count} output(s) of {op} nodes became constants" for op, count in sorted(folded.items())]


def cleanup_and_sort(graph: gs.Graph) -> list[str]:
    """Remove nodes and tensors nothing uses any more, then sort the nodes topologically."""
    before = collections.Counter(node.op for node in graph.nodes)
    order_before = [id(node) for node in graph.nodes]
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    removed = before - collections.Counter(node.op for node in graph.nodes)
    changes = [f"removed {count} unused {op} node(s)" for op, count in sorted(removed.items())]
    kept = [id(node) for node in graph.nodes]
    if [node_id for node_id in order_before if node_id in set(kept)] != kept:
        changes.append(f"re-sorted {len(kept)} nodes topologically")
    return changes


SURGERY_PASSES = (remove_casts, replace_bias_dequantize_with_float, zero_points_to_int8, fold_constants,
                  cleanup_and_sort)


def graph_differences(path_or_model_a, path_or_model_b, shown: int = 5) -> list[str]:
    """How two graphs differ as computations, in words; empty when they compute the same thing the same way. Nodes
    are compared in order; constants by value, since two passes may name the same new constant differently."""
    graph_a, graph_b = load_graph(path_or_model_a), load_graph(path_or_model_b)

    def described(tensor: gs.Tensor) -> str | tuple:  # a variable by its name, a constant by its value
        value = constant_value(tensor)
        return tensor.name if value is None else (str(value.dtype), value.shape, value.tobytes())

    def rows(graph: gs.Graph) -> list[tuple]:
        return [(node.op, tuple(sorted((name, described(value) if isinstance(value, gs.Constant) else repr(value))
                                       for name, value in node.attrs.items())),
                 tuple(described(tensor) for tensor in node.inputs), tuple(tensor.name for tensor in node.outputs))
                for node in graph.nodes]
    rows_a, rows_b = rows(graph_a), rows(graph_b)
    found = []
    if len(rows_a) != len(rows_b):
        found.append(f"{len(rows_a)} nodes against {len(rows_b)}: {count_ops(graph_a)} vs {count_ops(graph_b)}")
    for index, (row_a, row_b) in enumerate(zip(rows_a, rows_b)):
        if row_a != row_b:
            what = [label for label, part_a, part_b in zip(("op type", "attributes", "inputs", "outputs"), row_a, row_b)
                    if part_a != part_b]
            found.append(f"node {index} ({row_a[0]} {graph_a.nodes[index].name} / {row_b[0]} "
                         f"{graph_b.nodes[index].name}): different {', '.join(what)}")
    return found[:shown] + [f"... and {len(found) - shown} more"] if len(found) > shown else found


def op_count_diff(before, after) -> list[tuple[str, int, int]]:
    """(op type, count before, count after) for every op type in either graph, sorted by name."""
    counts_before, counts_after = count_ops(before), count_ops(after)
    return [(op, counts_before.get(op, 0), counts_after.get(op, 0))
            for op in sorted(set(counts_before) | set(counts_after))]


def format_graph_diff(before, after, changes: dict[str, list[str]], changes_shown: int = 3) -> str:
    """A readable diff: node counts by type before/after, then each pass's changes (the first few of each)."""
    rows = op_count_diff(before, after)
    lines = [f"{'op type':<20}{'before':>8}{'after':>8}{'change':>8}"]
    for op, count_before, count_after in rows:
        change = f"{count_after - count_before:>+8}" if count_after != count_before else ""
        lines.append(f"{op:<20}{count_before:>8}{count_after:>8}{change}")
    lines.append(f"{'total':<20}{sum(row[1] for row in rows):>8}{sum(row[2] for row in rows):>8}")
    for pass_name, pass_changes in changes.items():
        lines += ["", f"{pass_name}: {len(pass_changes)} change(s)",
                  *(f"  {line}" for line in pass_changes[:changes_shown])]
        if len(pass_changes) > changes_shown:
            lines.append(f"  ... and {len(pass_changes) - changes_shown} more")
    return "\n".join(lines)


def remove_qdq_between_conv_and_residual_add(graph: gs.Graph) -> list[str]:
    """In each residual block, remove the Q/DQ pair between the main branch's last Conv and the Add, keeping the
    shortcut's, so TensorRT can run Conv + Add (+ Relu) as one INT8 kernel. Only pairs nothing else reads go."""
    changes = []
    for add in [node for node in graph.nodes if node.op == "Add"]:
        branch = residual_branch_input(add)
        if branch is None:
            continue
        quantize = producer(add.inputs[branch], "DequantizeLinear", "QuantizeLinear")  # None: the Conv feeds the Add
        shortcut = producer(add.inputs[1 - branch], "DequantizeLinear")
        if quantize is None or shortcut is None:
            continue
        dequantize, conv_output = producer(add.inputs[branch]), quantize.inputs[0]
        tensors = (conv_output, quantize.outputs[0], dequantize.outputs[0])
        if ([tensor.outputs for tensor in tensors] != [[quantize], [dequantize], [add]]
                or any(tensor in graph.outputs for tensor in tensors)):
            continue
        add.inputs[branch] = conv_output
        _detach(graph, quantize)
        _detach(graph, dequantize)
        changes.append(f"{add.name}: removed {quantize.name} -> {dequantize.name} between "
                       f"{producer(conv_output).name} and the Add (shortcut keeps {shortcut.name})")
    return changes


def fused_residuals_metadata(source_metadata: dict[str, str]) -> dict[str, str]:
    """The TensorRT-ready graph's metadata, marked as the fused-residual placement of notebook 05."""
    return {**source_metadata, "precision": FUSED_PRECISION, "produced_by": FUSED_PRODUCED_BY}


def fuse_residual_adds(fixed_path: Path, fused_path: Path) -> list[str]:
    """Notebook 03's graph with the fused residual placement, written to ``fused_path``; returns the changes."""
    graph = load_graph(fixed_path)
    changes = remove_qdq_between_conv_and_residual_add(graph)
    cleanup_and_sort(graph)
    save_graph(graph, fused_path, fused_residuals_metadata(read_metadata(fixed_path)), source_path=fixed_path)
    return changes


def keep_residual_qdq(graph: gs.Graph, keep: str) -> list[str]:
    """Reference (notebook 06): on every residual Add, keep the Q/DQ pair on the inputs ``keep`` names (one of
    PLACEMENTS) and feed the others the float tensor their pair was applied to; one line per input changed."""
    if keep not in PLACEMENTS:
        raise TutorialError(f"keep must be one of {PLACEMENTS}, not {keep!r}")
    kept_roles = {"none": (), "both": ("branch", "shortcut"), "shortcut": ("shortcut",), "branch": ("branch",)}[keep]
    changes = []
    for add in [node for node in graph.nodes if node.op == "Add"]:
        branch = residual_branch_input(add)
        if branch is None:
            continue
        for index, role in ((branch, "branch"), (1 - branch, "shortcut")):
            source = source_before_qdq(add.inputs[index])
            if role not in kept_roles and source is not add.inputs[index]:
                changes.append(f"{add.name}: {role} input {add.inputs[index].name} -> {source.name} (Q/DQ removed)")
                add.inputs[index] = source
    return changes
