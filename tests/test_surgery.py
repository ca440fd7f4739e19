"""helpers.surgery: each pass on hand-built graphs and on the real ResNet18 INT8 export; ONNX Runtime equivalence."""

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from helpers.config import TutorialError
from helpers.data import sha256_of
from helpers.onnx_export import read_metadata
from helpers.onnx_inspect import (count_ops, find_q_cast_dq_chains, load_graph, quantization_parameters, residual_add_inputs,
                                  residual_branch_input)
from helpers.onnx_runtime import compare_on_onnxruntime, onnxruntime_logits
from helpers import qdq_rules
from helpers.surgery import (
    PLACEMENTS,
    PRECISION,
    PRODUCED_BY,
    SURGERY_PASSES,
    cleanup_and_sort,
    fold_constants,
    format_graph_diff,
    graph_differences,
    keep_residual_qdq,
    remove_casts,
    replace_bias_dequantize_with_float,
    save_graph,
    zero_points_to_int8,
)
from qdq_graphs import example_input, exporter_like_model, fix_for_tensorrt, qdq_conv_model, residual_graph


def run(model: onnx.ModelProto) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": example_input()})[0]


def export_checked(graph: gs.Graph) -> onnx.ModelProto:
    model = gs.export_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    return model


# --- hand-built graphs ------------------------------------------------------------------------

def test_remove_cast_rewires_each_dequantize_to_its_quantize():
    graph = gs.import_onnx(exporter_like_model())
    changes = remove_casts(graph)
    assert len(changes) == 2 and "in/Cast" in changes[0]
    assert [node.op for node in graph.nodes].count("Cast") == 1  # the bias zero point's Cast stays
    assert remove_casts(graph) == []
    assert find_q_cast_dq_chains(export_checked(graph)) == []


def test_remove_cast_refuses_a_cast_that_changes_the_type():
    graph = gs.import_onnx(qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8, cast_to=TensorProto.INT8))
    with pytest.raises(TutorialError, match="uint8 output to int8"):
        remove_casts(graph)


def test_bias_pass_computes_exactly_what_the_int32_dequantize_computed():
    model = qdq_conv_model(bias="int32-computed-zp")
    graph = gs.import_onnx(model)
    (change,) = replace_bias_dequantize_with_float(graph)
    assert "conv/Conv" in change and "zero point [0]" in change
    conv = next(node for node in graph.nodes if node.op == "Conv")
    assert isinstance(conv.inputs[2], gs.Constant) and conv.inputs[2].values.dtype == np.float32
    assert replace_bias_dequantize_with_float(graph) == []
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_bias_pass_applies_a_nonzero_zero_point():
    model = qdq_conv_model(bias="int32")
    zero_point = next(node for node in model.graph.node if node.output[0] == "b_zp")
    zero_point.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array([5, -7], dtype=np.int32), "b_zp"))
    graph = gs.import_onnx(model)
    replace_bias_dequantize_with_float(graph)
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_map_uint8_gives_int8_zero_points_and_identical_outputs():
    model = exporter_like_model()
    graph = gs.import_onnx(model)
    remove_casts(graph)
    changes = zero_points_to_int8(graph)
    assert len(changes) == 4 and all("uint8 128 -> int8 0" in line for line in changes)
    assert zero_points_to_int8(graph) == []
    fixed = export_checked(graph)
    rows = [row for row in quantization_parameters(fixed) if row["role"] == "activation"]
    assert {(row["zero_point_dtype"], tuple(row["zero_points"])) for row in rows} == {("int8", (0,))}
    assert np.array_equal(run(model), run(fixed))


def test_map_uint8_shifts_constant_uint8_weights():
    model = qdq_conv_model(weight_dtype=np.uint8)
    graph = gs.import_onnx(model)
    (change,) = zero_points_to_int8(graph)
    assert "shifted by -128" in change
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_map_uint8_refuses_other_zero_points_and_changes_nothing():
    graph = gs.import_onnx(qdq_conv_model(zero_point=127, zero_point_dtype=np.uint8))
    before = gs.export_onnx(graph).SerializeToString()
    with pytest.raises(TutorialError, match=r"uint8 zero point \[127\].*only 128"):
        zero_points_to_int8(graph)
    assert gs.export_onnx(graph).SerializeToString() == before


def test_map_uint8_asks_for_the_cast_pass_first():
    graph = gs.import_onnx(exporter_like_model())
    with pytest.raises(TutorialError, match="remove_casts first"):
        zero_points_to_int8(graph)


def test_map_uint8_refuses_a_quantize_without_zero_point():
    graph = gs.import_onnx(qdq_conv_model(omit_zero_point=True))
    with pytest.raises(TutorialError, match="in/QuantizeLinear has no zero point"):  # the Q, which comes before its DQ
        zero_points_to_int8(graph)


def test_fold_then_cleanup_leaves_only_compute_and_qdq_nodes():
    model = exporter_like_model()
    graph = gs.import_onnx(model)
    for surgery_pass in SURGERY_PASSES[:3]:
        surgery_pass(graph)
    folded = fold_constants(graph)
    assert any("Constant nodes became constants" in line for line in folded)
    assert fold_constants(graph) == []
    removed = cleanup_and_sort(graph)
    assert any("Constant node(s)" in line for line in removed)
    assert cleanup_and_sort(graph) == []
    fixed = export_checked(graph)
    assert count_ops(fixed) == {"DequantizeLinear": 3, "QuantizeLinear": 2, "Conv": 1, "Relu": 1}
    assert np.array_equal(run(model), run(fixed))


def test_passes_work_on_a_graph_whose_constants_are_already_folded():
    model = exporter_like_model()
    graph = gs.import_onnx(model)
    graph.fold_constants().cleanup()  # every constant is now an initializer
    assert [node.op for node in graph.nodes].count("Constant") == 0
    changes = [surgery_pass(graph) for surgery_pass in SURGERY_PASSES]
    assert [len(found) for found in changes[:3]] == [2, 1, 4]
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_save_graph_refuses_the_input_file_and_invalid_graphs(tmp_path):
    source = tmp_path / "raw.onnx"
    onnx.save(exporter_like_model(), str(source))
    graph = load_graph(source)
    with pytest.raises(TutorialError, match="Refusing to overwrite"):
        save_graph(graph, source, {}, source_path=source)
    graph.nodes[-1].inputs[1] = gs.Constant("wrong_type", np.array(1.0, dtype=np.float64))  # a float64 scale
    target = tmp_path / "fixed.onnx"
    with pytest.raises(TutorialError, match="not valid ONNX"):
        save_graph(graph, target, {})
    assert not target.exists() and not (tmp_path / "fixed.onnx.partial").exists()


def test_load_graph_reports_a_corrupt_file(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(exporter_like_model().SerializeToString()[:100])
    with pytest.raises(TutorialError, match="not a readable ONNX model"):
        load_graph(broken)


# --- the real ResNet18 export -------------------------------------------------------------------

def test_each_pass_on_the_real_export_changes_what_it_should(resnet18_int8_raw_onnx):
    raw = onnx.load(str(resnet18_int8_raw_onnx))
    casts = {chain.cast.name for chain in find_q_cast_dq_chains(raw)}
    activation_qdq = [row for row in quantization_parameters(raw) if row["role"] == "activation"]
    graph = load_graph(resnet18_int8_raw_onnx)
    changes = {surgery_pass.__name__: surgery_pass(graph) for surgery_pass in SURGERY_PASSES}
    assert len(changes["remove_casts"]) == len(casts) >= 32
    assert len(changes["replace_bias_dequantize_with_float"]) == 21  # 20 Conv and the fc Gemm
    assert len(changes["zero_points_to_int8"]) == len(activation_qdq)
    # running every pass again changes nothing
    assert all(surgery_pass(graph) == [] for surgery_pass in SURGERY_PASSES)
    fixed = export_checked(graph)
    counts = count_ops(fixed)
    assert "Cast" not in counts and "Constant" not in counts and "ConstantOfShape" not in counts
    assert counts["Conv"] == 20 and counts["Gemm"] == 1 and counts["Add"] == 8
    assert counts["DequantizeLinear"] == count_ops(raw)["DequantizeLinear"] - 21  # the bias DQs went, weight DQs stayed


def test_fix_for_tensorrt_keeps_the_input_file_and_the_metadata(resnet18_int8_raw_onnx, tmp_path):
    digest = sha256_of(resnet18_int8_raw_onnx)
    fixed_path = tmp_path / "fixed.onnx"
    fix_for_tensorrt(resnet18_int8_raw_onnx, fixed_path)
    assert sha256_of(resnet18_int8_raw_onnx) == digest
    onnx.checker.check_model(onnx.load(str(fixed_path)), full_check=True)
    raw_metadata, fixed_metadata = read_metadata(resnet18_int8_raw_onnx), read_metadata(fixed_path)
    assert fixed_metadata["precision"] == PRECISION == "int8-qdq-tensorrt"
    assert fixed_metadata["produced_by"] == PRODUCED_BY == "03_graph_surgery"
    assert {key: value for key, value in fixed_metadata.items() if key not in ("precision", "produced_by")} == \
        {key: value for key, value in raw_metadata.items() if key not in ("precision", "produced_by")}


def test_raw_and_fixed_graphs_compute_bit_identical_logits(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx):
    inputs = np.random.default_rng(2).standard_normal((16, 3, 32, 32)).astype(np.float32) * 1.5
    result = compare_on_onnxruntime(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, inputs)
    assert result["bit_identical"] and result["max_abs_diff"] == 0.0 and result["top1_agreement"] == 1.0


def test_graph_diff_lists_counts_and_changes(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx):
    text = format_graph_diff(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx,
                             {"remove_casts": ["a", "b", "c", "d"]}, changes_shown=2)
    cast_row = next(line for line in text.splitlines() if line.startswith("Cast "))
    assert cast_row.split()[1:] == [str(count_ops(resnet18_int8_raw_onnx)["Cast"]), "0", f"-{count_ops(resnet18_int8_raw_onnx)['Cast']}"]
    assert "remove_casts: 4 change(s)" in text and "... and 2 more" in text


# --- the fused residual placement (notebook 05) -------------------------------------------------

def test_every_residual_add_keeps_qdq_on_its_shortcut_only(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    from helpers.surgery import FUSED_PRECISION

    fused_path = resnet18_int8_fused.path
    assert len(resnet18_int8_fused.changes) == 8
    assert resnet18_int8_fused.source_digest_after == resnet18_int8_fused.source_digest_before  # input never edited

    model = onnx.load(str(fused_path))
    onnx.checker.check_model(model, full_check=True)
    producer = {output: node for node in model.graph.node for output in node.output}  # read here, with onnx alone
    readers = {name: [node for node in model.graph.node if name in node.input] for name in producer}
    adds = [node for node in model.graph.node if node.op_type == "Add"]
    assert len(adds) == 8
    downsample_shortcuts = 0
    for add in adds:
        kinds = sorted(producer[name].op_type for name in add.input)
        assert kinds == ["Conv", "DequantizeLinear"], (add.name, kinds)
        branch = next(producer[name] for name in add.input if producer[name].op_type == "Conv")
        assert branch.name.endswith("/conv2/Conv")  # the main branch's last Conv, never the downsample Conv
        assert [reader.name for reader in readers[branch.output[0]]] == [add.name]
        shortcut_dq = next(producer[name] for name in add.input if producer[name].op_type == "DequantizeLinear")
        shortcut_q = producer[shortcut_dq.input[0]]
        assert shortcut_q.op_type == "QuantizeLinear"
        downsample_shortcuts += "downsample" in producer[shortcut_q.input[0]].name
    assert downsample_shortcuts == 3  # layer2.0, layer3.0, layer4.0: Q/DQ kept on the downsample Conv's output
    assert count_ops(fused_path)["QuantizeLinear"] == count_ops(resnet18_int8_fixed_onnx)["QuantizeLinear"] - 8
    assert read_metadata(fused_path)["precision"] == FUSED_PRECISION


def test_residual_pass_is_idempotent_and_keeps_a_pair_with_other_readers(resnet18_int8_fixed_onnx):
    from helpers.surgery import remove_qdq_between_conv_and_residual_add

    graph = load_graph(resnet18_int8_fixed_onnx)
    branch_dq = next(node for node in graph.nodes if node.name == "/layer1/0/DequantizeLinear")
    assert branch_dq.outputs[0].outputs[0].op == "Add"
    # a second reader of the dequantized conv2 output: that pair must stay
    extra = gs.Variable("extra_reader_output", dtype=np.float32, shape=branch_dq.outputs[0].shape or ["batch", 64, 32, 32])
    graph.nodes.append(gs.Node("Relu", "extra_reader", inputs=[branch_dq.outputs[0]], outputs=[extra]))
    graph.outputs.append(extra)
    changes = remove_qdq_between_conv_and_residual_add(graph)
    assert len(changes) == 7 and not any(line.startswith("/layer1/0/Add:") for line in changes)
    assert remove_qdq_between_conv_and_residual_add(graph) == []
    export_checked(graph)


def test_fused_graph_computes_nearly_what_the_unoptimized_graph_does(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    """Only the rounding of 8 conv2 outputs differs, so the logits move by a small fraction of their spread."""
    fused_path = resnet18_int8_fused.path
    inputs = np.random.default_rng(1).standard_normal((32, 3, 32, 32)).astype(np.float32)
    unoptimized = onnxruntime_logits(resnet18_int8_fixed_onnx, inputs)
    fused = onnxruntime_logits(fused_path, inputs)
    assert not np.array_equal(unoptimized, fused)  # the pass did change the arithmetic
    assert np.max(np.abs(unoptimized - fused)) < 0.5 * unoptimized.std()


def test_remove_cast_rewires_every_dequantize_that_reads_one_cast():
    """The real export has one Cast per DequantizeLinear; a Cast read by two must lose both readers."""
    graph = gs.import_onnx(exporter_like_model())
    cast = next(node for node in graph.nodes if node.name == "in/Cast")
    first_dq = cast.outputs[0].outputs[0]
    second_output = gs.Variable("second_dq_output", dtype=np.float32, shape=[1, 2, 4, 4])
    graph.nodes.append(gs.Node("DequantizeLinear", "in/DequantizeLinear_second", inputs=list(first_dq.inputs),
                               outputs=[second_output]))
    graph.outputs.append(second_output)
    quantize_output = cast.inputs[0]
    remove_casts(graph)
    readers = [node for node in graph.nodes if node.op == "DequantizeLinear" and node.name.startswith("in/")]
    assert len(readers) == 2 and all(node.inputs[0] is quantize_output for node in readers)
    assert find_q_cast_dq_chains(export_checked(graph)) == []


def test_residual_pass_keeps_the_pair_when_the_shortcut_is_not_dequantized(resnet18_int8_fixed_onnx):
    """TensorRT's fused kernel needs the Add's other input quantized; without it the branch's Q/DQ must stay."""
    from helpers.surgery import remove_qdq_between_conv_and_residual_add

    graph = load_graph(resnet18_int8_fixed_onnx)
    add = next(node for node in graph.nodes if node.name == "/layer1/0/Add")
    shortcut_dq = add.inputs[1 - residual_branch_input(add)].inputs[0]
    assert shortcut_dq.op == "DequantizeLinear"
    shortcut_q = shortcut_dq.inputs[0].inputs[0]
    add.inputs[1 - residual_branch_input(add)] = shortcut_q.inputs[0]  # the float tensor before the shortcut's Q/DQ
    changes = remove_qdq_between_conv_and_residual_add(graph)
    assert len(changes) == 7 and not any(line.startswith("/layer1/0/Add:") for line in changes)


def test_the_comparator_sees_what_an_independent_runner_sees(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    """compare_on_onnxruntime judges the bit-identical claim of notebook 03: it must report a difference that
    sessions made here, independently of it, find between two graphs that do differ."""
    inputs = np.random.default_rng(2).standard_normal((8, 3, 32, 32)).astype(np.float32)
    result = compare_on_onnxruntime(resnet18_int8_fixed_onnx, resnet18_int8_fused.path, inputs)

    def independent_logits(path):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: inputs})[0]

    difference = float(np.max(np.abs(independent_logits(resnet18_int8_fixed_onnx) - independent_logits(resnet18_int8_fused.path))))
    assert difference > 0 and not result["bit_identical"]
    assert result["max_abs_diff"] == difference and result["images"] == 8


def test_the_real_export_fixture_has_nonzero_biases_for_the_bias_pass(resnet18_int8_fixed_onnx):
    model = onnx.load(str(resnet18_int8_fixed_onnx))
    biases = {initializer.name: numpy_helper.to_array(initializer) for initializer in model.graph.initializer
              if initializer.name.endswith("bias_float")}
    assert len(biases) == 21 and all(np.any(values != 0) for values in biases.values())


# --- edges of the passes and of the residual search (found by `make mutation`) -------------------

def test_the_residual_pass_fuses_the_real_blocks_whichever_input_is_the_branch(resnet18_int8_fixed_onnx, resnet18_int8_fused, tmp_path):
    from helpers.surgery import remove_qdq_between_conv_and_residual_add

    graph = load_graph(resnet18_int8_fixed_onnx)
    adds = [node for node in graph.nodes if node.op == "Add"]
    assert [residual_branch_input(add) for add in adds] == [0] * 8
    for add in adds:
        add.inputs[0], add.inputs[1] = add.inputs[1], add.inputs[0]
    assert [residual_branch_input(add) for add in adds] == [1] * 8
    # an Add that is not a residual Add, ahead of the others, is passed over
    square = gs.Variable("input_doubled", dtype=np.float32, shape=graph.inputs[0].shape)
    graph.nodes.insert(0, gs.Node("Add", "not_residual", inputs=[graph.inputs[0], graph.inputs[0]], outputs=[square]))
    graph.outputs.append(square)
    changes = remove_qdq_between_conv_and_residual_add(graph)
    assert len(changes) == 8
    assert all(add.inputs[1].inputs[0].op == "Conv" and add.inputs[0].inputs[0].op == "DequantizeLinear" for add in adds)
    graph.outputs.remove(square)
    swapped_path = tmp_path / "swapped_fused.onnx"
    save_graph(graph.cleanup().toposort(), swapped_path, read_metadata(resnet18_int8_fused.path))
    inputs = np.random.default_rng(4).standard_normal((4, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(onnxruntime_logits(swapped_path, inputs), onnxruntime_logits(resnet18_int8_fused.path, inputs))
    fused = load_graph(resnet18_int8_fused.path)  # the Conv feeds the Add directly there
    assert [residual_branch_input(node) for node in fused.nodes if node.op == "Add"] == [0] * 8


def test_fix_and_fuse_refuse_to_overwrite_their_input(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx):
    from helpers.surgery import fuse_residual_adds

    for make, path in ((fix_for_tensorrt, resnet18_int8_raw_onnx), (fuse_residual_adds, resnet18_int8_fixed_onnx)):
        digest = sha256_of(path)
        with pytest.raises(TutorialError, match="Refusing to overwrite"):
            make(path, path)
        assert sha256_of(path) == digest


def test_fix_for_tensorrt_returns_each_pass_changes_and_the_fused_graph_says_who_made_it(resnet18_int8_raw_onnx, tmp_path):
    from helpers.surgery import fuse_residual_adds

    changes = fix_for_tensorrt(resnet18_int8_raw_onnx, tmp_path / "fixed.onnx")
    assert list(changes) == [surgery_pass.__name__ for surgery_pass in SURGERY_PASSES]
    assert len(changes["replace_bias_dequantize_with_float"]) == 21
    assert len(fuse_residual_adds(tmp_path / "fixed.onnx", tmp_path / "fused.onnx")) == 8
    metadata = read_metadata(tmp_path / "fused.onnx")
    assert metadata["produced_by"] == "05_qdq_placement_vs_modelopt" and metadata["precision"] == "int8-qdq-tensorrt-fused-residuals"


def test_fold_constants_counts_what_became_constant_by_producer():
    x = gs.Variable("x", dtype=np.float32, shape=[2])
    a, b, c, y = (gs.Variable(name, dtype=np.float32, shape=[2]) for name in ("a", "b", "c", "y"))
    nodes = [gs.Node("Constant", "const_a", attrs={"value": gs.Constant("va", np.ones(2, dtype=np.float32))}, outputs=[a]),
             gs.Node("Constant", "const_b", attrs={"value": gs.Constant("vb", np.full(2, 2.0, dtype=np.float32))}, outputs=[b]),
             gs.Node("Add", "add", inputs=[a, b], outputs=[c]),
             gs.Node("Mul", "mul", inputs=[x, c], outputs=[y])]
    graph = gs.Graph(nodes=nodes, inputs=[x], outputs=[y], opset=17)
    assert fold_constants(graph) == ["1 output(s) of Add nodes became constants", "2 output(s) of Constant nodes became constants"]


def test_graph_diff_totals_and_unchanged_rows(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx):
    from helpers.surgery import op_count_diff

    raw, fixed = count_ops(resnet18_int8_raw_onnx), count_ops(resnet18_int8_fixed_onnx)
    rows = op_count_diff(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx)
    assert rows == [(op, raw.get(op, 0), fixed.get(op, 0)) for op in sorted(set(raw) | set(fixed))]
    assert ("Cast", raw["Cast"], 0) in rows
    text = format_graph_diff(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, {"a_pass": ["1", "2", "3"], "b_pass": list("12345")})
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("total")).split()[1:] == [str(sum(raw.values())), str(sum(fixed.values()))]
    assert next(line for line in lines if line.startswith("Conv ")).split()[1:] == ["20", "20"]  # unchanged: no "+0"
    assert "  ... and 2 more" in lines and sum("more" in line for line in lines) == 1  # 3 changes are shown whole
    assert lines[lines.index("a_pass: 3 change(s)") - 1] == ""


def test_map_uint8_types_each_quantize_output_int8_and_says_what_it_changed():
    model = onnx.shape_inference.infer_shapes(qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8))
    graph = gs.import_onnx(model)
    quantizers = [node for node in graph.nodes if node.op == "QuantizeLinear"]
    assert [node.outputs[0].dtype for node in quantizers] == [np.uint8, np.uint8]
    changes = zero_points_to_int8(graph)
    assert [node.outputs[0].dtype for node in quantizers] == [np.int8, np.int8]
    assert "in/QuantizeLinear: zero point uint8 128 -> int8 0" in changes and len(changes) == 4
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_map_uint8_names_what_a_quantize_feeds_and_a_zero_point_it_cannot_read():
    graph = gs.import_onnx(exporter_like_model())
    with pytest.raises(TutorialError, match=r"in/QuantizeLinear feeds \['in/Cast'\], not only DequantizeLinear"):
        zero_points_to_int8(graph)
    graph = gs.import_onnx(qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8))
    quantize = next(node for node in graph.nodes if node.name == "out/QuantizeLinear")
    graph.outputs.append(quantize.outputs[0])
    with pytest.raises(TutorialError, match="out/QuantizeLinear feeds a graph output"):
        zero_points_to_int8(graph)
    graph = gs.import_onnx(qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8))
    computed = gs.Variable("zero_point_input", dtype=np.uint8, shape=[])
    graph.inputs.append(computed)
    next(node for node in graph.nodes if node.name == "in/QuantizeLinear").inputs[2] = computed
    with pytest.raises(TutorialError, match="in/QuantizeLinear: the zero point is not a constant"):
        zero_points_to_int8(graph)


def test_map_uint8_passes_over_a_dequantize_without_zero_point():
    """The zero point of DequantizeLinear is optional (int8, 0): nothing to map, and no error."""
    model = qdq_conv_model()
    weight_dq = next(node for node in model.graph.node if node.name == "conv/DequantizeLinear_weight")
    del weight_dq.input[2]
    assert zero_points_to_int8(gs.import_onnx(model)) == []


def test_op_count_diff_counts_op_types_found_on_one_side_only(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx):
    from helpers.surgery import op_count_diff

    raw, fixed = count_ops(resnet18_int8_raw_onnx), count_ops(resnet18_int8_fixed_onnx)
    assert op_count_diff(resnet18_int8_fixed_onnx, resnet18_int8_raw_onnx) == [
        (op, fixed.get(op, 0), raw.get(op, 0)) for op in sorted(set(raw) | set(fixed))]
    assert ("Cast", 0, raw["Cast"]) in op_count_diff(resnet18_int8_fixed_onnx, resnet18_int8_raw_onnx)


def test_fold_constants_stops_on_a_constant_subgraph_onnx_runtime_cannot_compute():
    """Rather than leave it unfolded without a word (TensorRT would then meet the unknown node)."""
    x, a, b, y = (gs.Variable(name, dtype=np.float32, shape=[2]) for name in ("x", "a", "b", "y"))
    nodes = [gs.Node("Constant", "const_a", attrs={"value": gs.Constant("va", np.ones(2, dtype=np.float32))}, outputs=[a]),
             gs.Node("Mystery", "mystery", inputs=[a], outputs=[b], domain="example.custom"),
             gs.Node("Mul", "mul", inputs=[x, b], outputs=[y])]
    with pytest.raises(Exception, match="Mystery"):
        fold_constants(gs.Graph(nodes=nodes, inputs=[x], outputs=[y], opset=17))


def test_remove_cast_leaves_a_cast_with_other_readers_and_names_every_dequantize_it_rewires():
    graph = gs.import_onnx(exporter_like_model())
    in_cast = next(node for node in graph.nodes if node.name == "in/Cast")
    reader_output = gs.Variable("cast_reader_output", dtype=np.uint8, shape=[1, 2, 4, 4])
    graph.nodes.insert(0, gs.Node("Identity", "cast_reader", inputs=[in_cast.outputs[0]], outputs=[reader_output]))
    graph.outputs.append(reader_output)
    changes = remove_casts(graph)
    assert [line.split(":")[0] for line in changes] == ["out/Cast"]  # in/Cast stays: the Identity reads it
    graph = gs.import_onnx(exporter_like_model())
    cast = next(node for node in graph.nodes if node.name == "in/Cast")
    first_dq = cast.outputs[0].outputs[0]
    second = gs.Variable("second_dq_output", dtype=np.float32, shape=[1, 2, 4, 4])
    graph.nodes.append(gs.Node("DequantizeLinear", "in/DequantizeLinear_second", inputs=list(first_dq.inputs), outputs=[second]))
    graph.outputs.append(second)
    assert ("in/Cast: removed Cast(to uint8) between in/QuantizeLinear and in/DequantizeLinear, in/DequantizeLinear_second"
            in remove_casts(graph))


@pytest.mark.parametrize("zero_point_dtype, omit_zero_point, cast_to", [
    (np.int8, False, TensorProto.INT8),    # an int8 zero point makes an int8 output: Cast(to int8) changes nothing
    (np.int8, True, TensorProto.UINT8),    # no zero point: the output is uint8
])
def test_remove_cast_takes_the_output_type_from_the_zero_point(zero_point_dtype, omit_zero_point, cast_to):
    model = qdq_conv_model(zero_point_dtype=zero_point_dtype, omit_zero_point=omit_zero_point, cast_to=cast_to)
    graph = gs.import_onnx(model)
    assert len(remove_casts(graph)) == 2
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_remove_cast_refuses_a_quantize_whose_zero_point_it_cannot_read():
    graph = gs.import_onnx(qdq_conv_model(cast_to=TensorProto.INT8))
    computed = gs.Variable("zero_point_input", dtype=np.int8, shape=[])
    graph.inputs.append(computed)
    next(node for node in graph.nodes if node.name == "in/QuantizeLinear").inputs[2] = computed
    with pytest.raises(TutorialError, match="in/QuantizeLinear: the zero point is not a constant"):
        remove_casts(graph)


def test_cleanup_keeps_unused_graph_inputs_and_reports_a_re_sort():
    graph = gs.import_onnx(qdq_conv_model())
    graph.inputs.append(gs.Variable("unused_input", dtype=np.float32, shape=[1]))
    graph.nodes.reverse()
    changes = cleanup_and_sort(graph)
    assert [tensor.name for tensor in graph.inputs] == ["x", "unused_input"]  # the model's interface stays
    assert changes == [f"re-sorted {len(graph.nodes)} nodes topologically"]


def bias_graph(bias_kind: str) -> tuple[gs.Graph, np.ndarray]:
    """One Conv with 3 output channels; its bias is DequantizeLinear(int32) without a zero point ("no-zero-point"),
    or with a scale computed at run time ("computed-scale"). Returns the graph and the bias the DQ computes."""
    x, y = gs.Variable("x", dtype=np.float32, shape=[1, 2, 4, 4]), gs.Variable("y", dtype=np.float32, shape=[1, 3, 4, 4])
    values, scale = np.array([100, -40, 7], dtype=np.int32), np.array([0.01, 0.02, 0.03], dtype=np.float32)
    bias = gs.Variable("bias", dtype=np.float32, shape=[3])
    inputs = [x]
    if bias_kind == "computed-scale":
        scale_input = gs.Variable("scale_input", dtype=np.float32, shape=[3])
        inputs.append(scale_input)
        dq_inputs = [gs.Constant("b_int32", values), scale_input, gs.Constant("b_zp", np.zeros(3, dtype=np.int32))]
    else:
        dq_inputs = [gs.Constant("b_int32", values), gs.Constant("b_scale", scale)]
    nodes = [gs.Node("DequantizeLinear", "bias/DQ", inputs=dq_inputs, outputs=[bias], attrs={"axis": 0}),
             gs.Node("Conv", "conv", inputs=[x, gs.Constant("w", np.ones((3, 2, 1, 1), dtype=np.float32)), bias], outputs=[y])]
    return gs.Graph(nodes=nodes, inputs=inputs, outputs=[y], opset=17), values * scale


def test_bias_pass_folds_a_dequantize_without_zero_point_and_refuses_a_computed_scale():
    graph, expected = bias_graph("no-zero-point")
    (change,) = replace_bias_dequantize_with_float(graph)
    assert np.array_equal(graph.nodes[1].inputs[2].values, expected.astype(np.float32)) and "zero point [0]" in change
    graph, _ = bias_graph("computed-scale")
    with pytest.raises(TutorialError, match="bias/DQ: the bias scale or zero point is not constant"):
        replace_bias_dequantize_with_float(graph)


def test_bias_pass_passes_over_layers_it_has_nothing_to_do_for():
    """Layers without a bias, with a float bias, or with a bias DequantizeLinear of int8 come first; the int32 one
    after them is still folded."""
    graph = gs.import_onnx(qdq_conv_model(bias="int32"))
    x = graph.inputs[0]
    weight = gs.Constant("w_extra", np.ones((2, 2, 1, 1), dtype=np.float32))
    int8_bias = gs.Variable("int8_bias", dtype=np.float32, shape=[2])
    extra = [gs.Node("Conv", "no_bias", inputs=[x, weight], outputs=[gs.Variable("o1", dtype=np.float32, shape=[1, 2, 4, 4])]),
             gs.Node("Conv", "float_bias", inputs=[x, weight, gs.Constant("fb", np.ones(2, dtype=np.float32))],
                     outputs=[gs.Variable("o2", dtype=np.float32, shape=[1, 2, 4, 4])]),
             gs.Node("DequantizeLinear", "int8_bias/DQ", inputs=[gs.Constant("b8", np.ones(2, dtype=np.int8)), gs.Constant("s8", np.array(0.5, dtype=np.float32))],
                     outputs=[int8_bias]),
             gs.Node("Conv", "int8_bias_conv", inputs=[x, weight, int8_bias], outputs=[gs.Variable("o3", dtype=np.float32, shape=[1, 2, 4, 4])])]
    graph.nodes[0:0] = extra
    graph.outputs += [node.outputs[0] for node in extra if node.op == "Conv"]
    changes = replace_bias_dequantize_with_float(graph)
    assert [line.split(":")[0] for line in changes] == ["conv/Conv"]


def test_the_comparator_runs_graphs_as_written_unless_asked_and_says_which(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    inputs = np.random.default_rng(3).standard_normal((4, 3, 32, 32)).astype(np.float32)

    def independent_logits(path, level):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: inputs})[0]

    as_written = independent_logits(resnet18_int8_fixed_onnx, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    optimized = independent_logits(resnet18_int8_fixed_onnx, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    assert not np.array_equal(as_written, optimized)  # ONNX Runtime's integer kernels round differently
    assert np.array_equal(onnxruntime_logits(resnet18_int8_fixed_onnx, inputs), as_written)
    result = compare_on_onnxruntime(resnet18_int8_fixed_onnx, resnet18_int8_fused.path, inputs, optimized=True)
    fused_optimized = independent_logits(resnet18_int8_fused.path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    assert result["onnxruntime_optimizations"] == "default"
    assert result["max_abs_diff"] == float(np.max(np.abs(optimized - fused_optimized)))
    assert compare_on_onnxruntime(resnet18_int8_fixed_onnx, resnet18_int8_fused.path, inputs)["onnxruntime_optimizations"] == "disabled"


@pytest.mark.parametrize("bias_shape, axis", [((1, 3), None), ((3, 1), 0), ((3, 1), -2)])
def test_bias_pass_reads_the_axis_of_a_two_dimensional_gemm_bias(bias_shape, axis):
    """A Gemm bias may be (1, N) or (M, 1); its per-channel scales run along the DequantizeLinear's axis
    (ONNX's default is 1; -2 counts from the end)."""
    x, y = gs.Variable("x", dtype=np.float32, shape=[3, 2]), gs.Variable("y", dtype=np.float32, shape=[3, 3])
    values, scale = np.array([100, -40, 7], dtype=np.int32).reshape(bias_shape), np.array([0.01, 0.02, 0.03], dtype=np.float32)
    bias = gs.Variable("bias", dtype=np.float32, shape=list(bias_shape))
    nodes = [gs.Node("DequantizeLinear", "bias/DQ", inputs=[gs.Constant("b_int32", values), gs.Constant("b_scale", scale),
                                                          gs.Constant("b_zp", np.zeros(3, dtype=np.int32))], outputs=[bias],
                     attrs={} if axis is None else {"axis": axis}),
             gs.Node("Gemm", "gemm", inputs=[x, gs.Constant("w", np.ones((2, 3), dtype=np.float32)), bias], outputs=[y])]
    graph = gs.Graph(nodes=nodes, inputs=[x], outputs=[y], opset=17)
    (change,) = replace_bias_dequantize_with_float(graph)
    expected = (values * scale.reshape([-1 if size == 3 else 1 for size in bias_shape])).astype(np.float32)
    assert np.array_equal(nodes[1].inputs[2].values, expected) and f"int32 {list(bias_shape)}" in change


# --- what changed, as a computation (notebook 03 holds your passes against the references with it) ---------

def test_graph_differences_names_what_differs(resnet18_int8_fixed_onnx):
    model = onnx.load(str(resnet18_int8_fixed_onnx))
    assert graph_differences(model, model) == [] and graph_differences(resnet18_int8_fixed_onnx, model) == []
    changed = onnx.load(str(resnet18_int8_fixed_onnx))
    conv = next(node for node in changed.graph.node if node.op_type == "Conv")
    next(attribute for attribute in conv.attribute if attribute.name == "strides").ints[:] = [2, 2]
    index = list(changed.graph.node).index(conv)
    assert graph_differences(model, changed) == [f"node {index} (Conv {conv.name} / Conv {conv.name}): different attributes"]
    shorter = onnx.load(str(resnet18_int8_fixed_onnx))
    del shorter.graph.node[-1]
    counts, shorter_counts = count_ops(model), count_ops(shorter)
    assert graph_differences(model, shorter) == [f"{len(model.graph.node)} nodes against {len(model.graph.node) - 1}: {counts} vs {shorter_counts}"]


def test_graph_differences_compares_constants_by_value_and_tensors_by_name():
    def graphs():
        return load_graph(qdq_conv_model()), load_graph(qdq_conv_model())

    mine, reference = graphs()
    scale_node = next(node for node in mine.nodes if node.name == "in_scale_node")
    scale_node.attrs["value"] = gs.Constant("another_name", np.array(0.05, dtype=np.float32))
    assert graph_differences(mine, reference) == []  # a Constant node's value is compared by value, not by name
    scale_node.attrs["value"] = gs.Constant("another_name", np.array(0.06, dtype=np.float32))
    readers = [(mine.nodes.index(node), node) for node in scale_node.outputs[0].outputs]  # the scale's value changed for them
    assert graph_differences(mine, reference) == [
        f"node {mine.nodes.index(scale_node)} (Constant in_scale_node / Constant in_scale_node): different attributes",
        *(f"node {index} ({node.op} {node.name} / {node.op} {node.name}): different inputs" for index, node in sorted(readers))]
    assert len(readers) == 2
    mine, reference = graphs()
    conv = next(node for node in mine.nodes if node.op == "Conv")
    bias = np.asarray(conv.inputs[2].inputs[0].attrs["value"].values)  # a Constant node's output
    conv.inputs[2] = gs.Constant("bias_renamed", bias)
    assert graph_differences(mine, reference) == []  # an input constant, too
    conv.inputs[2] = gs.Constant("bias_renamed", bias + 1)
    conv.outputs[0].name = "renamed_output"
    relu = next(node for node in mine.nodes if node.op == "Relu")
    relu.op = "Sigmoid"
    assert graph_differences(mine, reference) == [
        f"node {mine.nodes.index(conv)} (Conv conv/Conv / Conv conv/Conv): different inputs, outputs",
        f"node {mine.nodes.index(relu)} (Sigmoid conv/Relu / Relu conv/Relu): different op type, inputs"]
    assert graph_differences(mine, reference, shown=1) == graph_differences(mine, reference)[:1] + ["... and 1 more"]
    conv.inputs[0] = reference.tensors()["in_dq"]  # another graph's tensor of the same name: the same input
    assert len(graph_differences(mine, reference)) == 2


# --- the residual-placement ablation (notebook 06) ----------------------------------------------------

def write_placement_variant(fixed_path, variant_path, keep: str) -> list[str]:
    """What notebook 06 does for each placement: keep_residual_qdq, then cleanup, then save."""
    graph = load_graph(fixed_path)
    changes = keep_residual_qdq(graph, keep)
    cleanup_and_sort(graph)
    save_graph(graph, variant_path, read_metadata(fixed_path), source_path=fixed_path)
    return changes


@pytest.mark.parametrize("keep", PLACEMENTS)
def test_each_placement_variant_has_that_placement_on_every_residual_add(keep, resnet18_int8_fixed_onnx, tmp_path):
    variant = tmp_path / f"{keep}.onnx"
    changes = write_placement_variant(resnet18_int8_fixed_onnx, variant, keep)
    assert set(residual_add_inputs(variant).values()) == {keep} and len(residual_add_inputs(variant)) == 8
    assert len(changes) == {"both": 0, "shortcut": 8, "branch": 8, "none": 16}[keep]
    findings = qdq_rules.check_tensorrt_rules(variant)
    assert qdq_rules.errors(findings) == []
    assert qdq_rules.count_by_rule(findings) == ({"residual-add-unfused": 8} if keep == "both" else {})


def test_shortcut_variant_is_notebook_05s_fused_graph(resnet18_int8_fixed_onnx, resnet18_int8_fused, tmp_path):
    variant = tmp_path / "shortcut.onnx"
    write_placement_variant(resnet18_int8_fixed_onnx, variant, "shortcut")
    assert count_ops(variant) == count_ops(resnet18_int8_fused.path)
    inputs = np.random.default_rng(4).standard_normal((8, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(onnxruntime_logits(variant, inputs), onnxruntime_logits(resnet18_int8_fused.path, inputs))


def test_removing_residual_qdq_changes_the_logits_only_a_little(resnet18_int8_fixed_onnx, tmp_path):
    inputs = np.random.default_rng(5).standard_normal((8, 3, 32, 32)).astype(np.float32)
    both = onnxruntime_logits(resnet18_int8_fixed_onnx, inputs)
    write_placement_variant(resnet18_int8_fixed_onnx, tmp_path / "none.onnx", "none")
    none = onnxruntime_logits(tmp_path / "none.onnx", inputs)
    assert not np.array_equal(both, none)  # the Adds now read unrounded values
    assert np.max(np.abs(both - none)) < 0.5 * np.max(np.abs(both))


def test_keep_residual_qdq_refuses_an_unknown_placement(resnet18_int8_fixed_onnx):
    with pytest.raises(TutorialError, match=r"keep must be one of \('none', 'both', 'shortcut', 'branch'\), not 'output'"):
        keep_residual_qdq(load_graph(resnet18_int8_fixed_onnx), "output")


def test_keep_residual_qdq_says_which_input_it_rewired_and_passes_over_other_adds():
    graph, add = residual_graph("qdq")
    assert keep_residual_qdq(graph, "both") == []
    assert keep_residual_qdq(graph, "shortcut") == ["add: branch input branch_dq -> conv_out (Q/DQ removed)"]
    assert add.inputs[0].name == "conv_out" and add.inputs[1].name == "x_dq"
    graph, add = residual_graph("qdq", swapped=True)
    assert keep_residual_qdq(graph, "none") == ["add: branch input branch_dq -> conv_out (Q/DQ removed)",
                                                "add: shortcut input x_dq -> x (Q/DQ removed)"]
    graph, add = residual_graph("qdq", swapped=True)
    assert keep_residual_qdq(graph, "branch") == ["add: shortcut input x_dq -> x (Q/DQ removed)"]
    for kind, op in (("qdq", "Mul"), ("unrelated", "Add"), ("downsample", "Add")):  # no residual Add; no Q/DQ to remove
        assert keep_residual_qdq(residual_graph(kind, op=op)[0], "none") == []


def test_graph_differences_shows_five_by_default_and_tells_dtypes_apart():
    def with_relus(count: int, dtype=np.int8) -> gs.Graph:
        x = gs.Variable("x", dtype=np.float32, shape=[2])
        nodes, tensor = [], x
        for index in range(count):
            nodes.append(gs.Node("Relu", f"relu{index}", inputs=[tensor], outputs=[gs.Variable(f"r{index}", dtype=np.float32)]))
            tensor = nodes[-1].outputs[0]
        zero = gs.Constant("zero", np.zeros(2, dtype=dtype))
        nodes.append(gs.Node("DequantizeLinear", "dq", inputs=[zero, gs.Constant("s", np.array(1.0, dtype=np.float32))],
                             outputs=[gs.Variable("d", dtype=np.float32)]))
        return gs.Graph(nodes=nodes, inputs=[x], outputs=[tensor, nodes[-1].outputs[0]], opset=17)

    def renamed(graph: gs.Graph, count: int) -> gs.Graph:
        for node in graph.nodes[:count]:
            node.op = "Sigmoid"
        return graph

    seven = graph_differences(renamed(with_relus(7), 7), with_relus(7))
    assert len(seven) == 6 and seven[-1] == "... and 2 more"
    assert len(graph_differences(renamed(with_relus(5), 5), with_relus(5))) == 5  # exactly five: no "... and 0 more"
    # the same bytes and shape in another dtype are another constant
    assert graph_differences(with_relus(1, np.uint8), with_relus(1)) == ["node 1 (DequantizeLinear dq / DequantizeLinear dq): different inputs"]


def test_keep_residual_qdq_passes_over_an_add_of_a_constant_first():
    graph, add = residual_graph("qdq")
    offset = gs.Variable("x_offset", dtype=np.float32, shape=[1, 2, 4, 4])
    graph.nodes.insert(0, gs.Node("Add", "offset", inputs=[graph.inputs[0], gs.Constant("one", np.ones(1, dtype=np.float32))],
                                  outputs=[offset]))
    graph.outputs.append(offset)
    assert keep_residual_qdq(graph, "shortcut") == ["add: branch input branch_dq -> conv_out (Q/DQ removed)"]


def test_remove_casts_leaves_a_cast_that_is_a_graph_output_or_has_no_reader():
    graph = gs.import_onnx(exporter_like_model())
    in_cast = next(node for node in graph.nodes if node.name == "in/Cast")
    graph.outputs.append(in_cast.outputs[0])  # the Cast's output is also a result of the graph
    assert [line.split(":")[0] for line in remove_casts(graph)] == ["out/Cast"]
    graph = gs.import_onnx(exporter_like_model())
    in_cast = next(node for node in graph.nodes if node.name == "in/Cast")
    in_cast.outputs[0].outputs[0].inputs[0] = in_cast.inputs[0]  # its DequantizeLinear reads the Q directly already
    assert [line.split(":")[0] for line in remove_casts(graph)] == ["out/Cast"]


def test_bias_pass_leaves_a_bias_that_no_dequantizelinear_computes_and_reads_a_1d_bias_along_axis_0():
    graph, _ = bias_graph("no-zero-point")
    dequantize, conv = graph.nodes
    cast = gs.Node("Cast", "bias/Cast", inputs=[dequantize.inputs[0]], outputs=[gs.Variable("bias_cast", dtype=np.float32)],
                   attrs={"to": TensorProto.FLOAT})  # a float Cast of the int32 values
    conv.inputs[2] = cast.outputs[0]
    graph.nodes.append(cast)
    assert replace_bias_dequantize_with_float(graph) == []
    graph, expected = bias_graph("no-zero-point")
    graph.nodes[0].attrs = {}  # ONNX's default axis is 1, which a 1-D bias does not have: its channels are axis 0
    replace_bias_dequantize_with_float(graph)
    assert np.array_equal(graph.nodes[1].inputs[2].values, expected.astype(np.float32))

