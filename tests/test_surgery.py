"""helpers.surgery: each pass on hand-built graphs and on the real ResNet18 INT8 export; ONNX Runtime equivalence."""

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from helpers.config import TutorialError
from helpers.onnx_export import read_metadata
from helpers.onnx_inspect import count_ops, find_q_cast_dq_chains, quantization_parameters
from helpers.surgery import (
    PRECISION,
    PRODUCED_BY,
    SURGERY_PASSES,
    cleanup_and_sort,
    compare_on_onnxruntime,
    file_sha256,
    fix_for_tensorrt,
    fold_constants,
    format_graph_diff,
    load_graph,
    map_uint8_qdq_to_int8,
    remove_cast_between_q_and_dq,
    replace_bias_dequantize_with_float,
    save_graph,
)
from qdq_graphs import example_input, exporter_like_model, qdq_conv_model


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
    changes = remove_cast_between_q_and_dq(graph)
    assert len(changes) == 2 and "in/Cast" in changes[0]
    assert [node.op for node in graph.nodes].count("Cast") == 1  # the bias zero point's Cast stays
    assert remove_cast_between_q_and_dq(graph) == []
    assert find_q_cast_dq_chains(export_checked(graph)) == []


def test_remove_cast_refuses_a_cast_that_changes_the_type():
    graph = gs.import_onnx(qdq_conv_model(zero_point=128, zero_point_dtype=np.uint8, cast_to=TensorProto.INT8))
    with pytest.raises(TutorialError, match="uint8 output to int8"):
        remove_cast_between_q_and_dq(graph)


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
    remove_cast_between_q_and_dq(graph)
    changes = map_uint8_qdq_to_int8(graph)
    assert len(changes) == 4 and all("uint8 128 -> int8 0" in line for line in changes)
    assert map_uint8_qdq_to_int8(graph) == []
    fixed = export_checked(graph)
    rows = [row for row in quantization_parameters(fixed) if row["role"] == "activation"]
    assert {(row["zero_point_dtype"], tuple(row["zero_points"])) for row in rows} == {("int8", (0,))}
    assert np.array_equal(run(model), run(fixed))


def test_map_uint8_shifts_constant_uint8_weights():
    model = qdq_conv_model(weight_dtype=np.uint8)
    graph = gs.import_onnx(model)
    (change,) = map_uint8_qdq_to_int8(graph)
    assert "shifted by -128" in change
    assert np.array_equal(run(model), run(export_checked(graph)))


def test_map_uint8_refuses_other_zero_points_and_changes_nothing():
    graph = gs.import_onnx(qdq_conv_model(zero_point=127, zero_point_dtype=np.uint8))
    before = gs.export_onnx(graph).SerializeToString()
    with pytest.raises(TutorialError, match=r"uint8 zero point \[127\].*only 128"):
        map_uint8_qdq_to_int8(graph)
    assert gs.export_onnx(graph).SerializeToString() == before


def test_map_uint8_asks_for_the_cast_pass_first():
    graph = gs.import_onnx(exporter_like_model())
    with pytest.raises(TutorialError, match="remove_cast_between_q_and_dq first"):
        map_uint8_qdq_to_int8(graph)


def test_map_uint8_refuses_a_quantize_without_zero_point():
    graph = gs.import_onnx(qdq_conv_model(omit_zero_point=True))
    with pytest.raises(TutorialError, match="no zero point"):
        map_uint8_qdq_to_int8(graph)


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
    assert len(changes["remove_cast_between_q_and_dq"]) == len(casts) >= 32
    assert len(changes["replace_bias_dequantize_with_float"]) == 21  # 20 Conv and the fc Gemm
    assert len(changes["map_uint8_qdq_to_int8"]) == len(activation_qdq)
    # running every pass again changes nothing
    assert all(surgery_pass(graph) == [] for surgery_pass in SURGERY_PASSES)
    fixed = export_checked(graph)
    counts = count_ops(fixed)
    assert "Cast" not in counts and "Constant" not in counts and "ConstantOfShape" not in counts
    assert counts["Conv"] == 20 and counts["Gemm"] == 1 and counts["Add"] == 8
    assert counts["DequantizeLinear"] == count_ops(raw)["DequantizeLinear"] - 21  # the bias DQs went, weight DQs stayed


def test_fix_for_tensorrt_keeps_the_input_file_and_the_metadata(resnet18_int8_raw_onnx, tmp_path):
    digest = file_sha256(resnet18_int8_raw_onnx)
    fixed_path = tmp_path / "fixed.onnx"
    fix_for_tensorrt(resnet18_int8_raw_onnx, fixed_path)
    assert file_sha256(resnet18_int8_raw_onnx) == digest
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
                             {"remove_cast_between_q_and_dq": ["a", "b", "c", "d"]}, changes_shown=2)
    cast_row = next(line for line in text.splitlines() if line.startswith("Cast "))
    assert cast_row.split()[1:] == [str(count_ops(resnet18_int8_raw_onnx)["Cast"]), "0", f"-{count_ops(resnet18_int8_raw_onnx)['Cast']}"]
    assert "remove_cast_between_q_and_dq: 4 change(s)" in text and "... and 2 more" in text


# --- the fused residual placement (notebook 05) -------------------------------------------------

def test_every_residual_add_keeps_qdq_on_its_shortcut_only(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    from helpers.onnx_inspect import consumers, producers
    from helpers.surgery import FUSED_PRECISION

    fused_path = resnet18_int8_fused.path
    assert len(resnet18_int8_fused.changes) == 8
    assert resnet18_int8_fused.source_digest_after == resnet18_int8_fused.source_digest_before  # input never edited

    model = onnx.load(str(fused_path))
    onnx.checker.check_model(model, full_check=True)
    producer, readers = producers(model), consumers(model)
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
    from helpers.surgery import onnxruntime_logits

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
    remove_cast_between_q_and_dq(graph)
    readers = [node for node in graph.nodes if node.op == "DequantizeLinear" and node.name.startswith("in/")]
    assert len(readers) == 2 and all(node.inputs[0] is quantize_output for node in readers)
    assert find_q_cast_dq_chains(export_checked(graph)) == []


def test_residual_pass_keeps_the_pair_when_the_shortcut_is_not_dequantized(resnet18_int8_fixed_onnx):
    """TensorRT's fused kernel needs the Add's other input quantized; without it the branch's Q/DQ must stay."""
    from helpers.surgery import remove_qdq_between_conv_and_residual_add, residual_branch_input

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
