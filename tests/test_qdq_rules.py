"""helpers.qdq_rules: each TensorRT Q/DQ rule on a graph that breaks it, and on the real export before/after surgery."""

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest
from onnx import TensorProto

from helpers.onnx_inspect import find_int32_bias_dequantize, find_q_cast_dq_chains, quantization_parameters
from helpers.qdq_rules import (
    ERROR,
    MODEL,
    WARNING,
    Finding,
    check_tensorrt_rules,
    count_by_rule,
    errors,
    format_findings,
    residual_add_placements,
)
from qdq_graphs import exporter_like_model, qdq_conv_model


def test_a_graph_tensorrt_accepts_has_no_findings():
    assert check_tensorrt_rules(qdq_conv_model()) == []


@pytest.mark.parametrize("changes, expected_rules", [
    ({"zero_point": 3}, {"zero-point-nonzero"}),
    ({"zero_point": -3}, {"zero-point-nonzero"}),  # a checker that looked for positive zero points only would miss it
    # uint8 zero point 0: the Q output is uint8, so each DequantizeLinear reads uint8 too
    ({"zero_point_dtype": np.uint8}, {"zero-point-uint8", "dq-input-uint8"}),
    ({"cast_to": TensorProto.INT8}, {"cast-between-q-dq"}),
    ({"bias": "int32"}, {"dq-input-int32"}),
    ({"bias": "int32-computed-zp"}, {"dq-input-int32", "non-constant-zero-point"}),
    ({"activation_scales": 2}, {"per-channel-activation"}),
    ({"weight_axis": 1}, {"weight-axis"}),
    ({"scale": -0.05}, {"scale-not-positive"}),
    ({"scale": 0.0}, {"scale-not-positive"}),  # a zero scale divides by zero in QuantizeLinear
    ({"scale_from_graph_input": True}, {"non-constant-scale"}),
    ({"opset": 12}, {"opset-below-13"}),
])
def test_each_rule_fires_on_a_graph_that_breaks_it(changes, expected_rules):
    findings = check_tensorrt_rules(qdq_conv_model(**changes))
    assert {finding.rule for finding in findings} == expected_rules
    assert all(finding.severity == ERROR and finding.message for finding in findings)


def test_findings_name_the_offending_nodes():
    findings = check_tensorrt_rules(qdq_conv_model(zero_point=3))
    assert {finding.node for finding in findings} == {
        "in/QuantizeLinear", "in/DequantizeLinear", "out/QuantizeLinear", "out/DequantizeLinear"}
    assert "3" in findings[0].message
    (opset_finding,) = check_tensorrt_rules(qdq_conv_model(opset=12))
    assert opset_finding.node == MODEL and "12" in opset_finding.message


def test_weight_scale_count_must_match_the_output_channels():
    # two scales on axis 0 of a 2-channel weight is right; one scale is per-tensor (allowed); three is wrong
    assert check_tensorrt_rules(qdq_conv_model(weight_scale_count=1)) == []
    findings = check_tensorrt_rules(qdq_conv_model(weight_scale_count=3))
    assert "weight-axis" in {finding.rule for finding in findings}


def test_a_quantize_without_zero_point_is_a_warning_and_its_uint8_dequantize_an_error():
    findings = check_tensorrt_rules(qdq_conv_model(omit_zero_point=True))
    assert {(finding.rule, finding.severity) for finding in findings} == {("zero-point-uint8", WARNING), ("dq-input-uint8", ERROR)}


def test_the_exporter_pattern_breaks_the_expected_rules():
    assert count_by_rule(check_tensorrt_rules(exporter_like_model())) == {
        "cast-between-q-dq": 2, "dq-input-int32": 1, "dq-input-uint8": 2,
        "non-constant-zero-point": 1, "zero-point-nonzero": 4, "zero-point-uint8": 4,
    }


def test_the_raw_resnet18_export_fails_with_the_specific_violations(resnet18_int8_raw_onnx):
    counts = count_by_rule(check_tensorrt_rules(resnet18_int8_raw_onnx))
    activation_qdq = [row for row in quantization_parameters(resnet18_int8_raw_onnx) if row["role"] == "activation"]
    chains = find_q_cast_dq_chains(resnet18_int8_raw_onnx)
    assert counts == {
        "cast-between-q-dq": len({chain.cast.name for chain in chains}),
        "dq-input-int32": 21,  # 20 Conv biases and the fc Gemm's
        "dq-input-uint8": len(chains),
        "non-constant-zero-point": len(find_int32_bias_dequantize(resnet18_int8_raw_onnx)),
        "zero-point-nonzero": len(activation_qdq),
        "zero-point-uint8": len(activation_qdq),
    }
    assert counts["cast-between-q-dq"] >= 32 and counts["zero-point-uint8"] >= 64


def test_the_fixed_resnet18_passes(resnet18_int8_fixed_onnx):
    findings = check_tensorrt_rules(resnet18_int8_fixed_onnx)
    assert errors(findings) == []
    # what is left is advice, not a rejection: its 8 residual Adds have Q/DQ on both inputs (notebook 05)
    assert {(finding.rule, finding.severity) for finding in findings} == {("residual-add-unfused", WARNING)}
    assert len(findings) == 8


def test_new_rules_plug_in_and_warnings_are_not_errors(resnet18_int8_fixed_onnx):
    def every_add_is_suspicious(graph):
        for node in graph.nodes:
            if node.op == "Add":
                yield Finding(node.name, "example-warning", "an Add", WARNING)

    findings = check_tensorrt_rules(resnet18_int8_fixed_onnx, rules=[every_add_is_suspicious])
    assert len(findings) == 8 and errors(findings) == []
    assert "0 error(s), 8 warning(s)" in format_findings(findings)


def test_format_findings_summarises_by_rule():
    text = format_findings(check_tensorrt_rules(exporter_like_model()))
    assert text.splitlines()[0] == "14 error(s), 0 warning(s)"
    assert "cast-between-q-dq" in text and "in/Cast" in text
    assert "follows every" in format_findings([])


# --- residual Adds: the placement TensorRT fuses (notebook 05) ---------------------------------

def test_unfused_residual_adds_are_warnings_and_the_fused_placement_is_recognised(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    from helpers.qdq_rules import residual_add_placements

    before = check_tensorrt_rules(resnet18_int8_fixed_onnx)
    assert count_by_rule(before) == {"residual-add-unfused": 8} and errors(before) == []
    assert set(residual_add_placements(resnet18_int8_fixed_onnx).values()) == {"unfused"}

    fused_path = resnet18_int8_fused.path
    assert check_tensorrt_rules(fused_path) == []
    placements = residual_add_placements(fused_path)
    assert len(placements) == 8 and set(placements.values()) == {"fused"}


def test_weights_quantized_by_a_quantizelinear_are_not_per_channel_activations():
    """ModelOpt writes weights as float constant -> QuantizeLinear -> DequantizeLinear (per channel)."""
    import onnx
    from onnx import helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.float32), "w")
    scale = numpy_helper.from_array(np.full(4, 0.01, dtype=np.float32), "w_scale")
    zero_point = numpy_helper.from_array(np.zeros(4, dtype=np.int8), "w_zero_point")
    nodes = [
        helper.make_node("QuantizeLinear", ["w", "w_scale", "w_zero_point"], ["w_q"], name="w_Q", axis=0),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero_point"], ["w_dq"], name="w_DQ", axis=0),
        helper.make_node("Conv", ["x", "w_dq"], ["y"], name="conv"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [weight, scale, zero_point])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    assert check_tensorrt_rules(model) == []
    # the same per-channel scale on an activation is still an error
    model.graph.node[0].input[0] = "x"
    assert count_by_rule(check_tensorrt_rules(model)) == {"per-channel-activation": 2}


def test_a_dequantize_whose_input_type_is_unknown_is_an_error_not_a_pass():
    """An operator shape inference does not know types nothing: the type rules would go quiet without this rule."""
    from onnx import helper

    nodes = [helper.make_node("Mystery", ["x"], ["codes"], name="mystery", domain="example.custom"),
             helper.make_node("DequantizeLinear", ["codes", "scale", "zero_point"], ["y"], name="dq")]
    graph = helper.make_graph(nodes, "untyped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
                              [helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1]),
                               helper.make_tensor("zero_point", TensorProto.INT8, [], [0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)])
    findings = check_tensorrt_rules(model)
    assert [(finding.node, finding.rule, finding.severity) for finding in findings] == [("dq", "type-unknown", ERROR)]
    assert findings[0].message.startswith("the element type of input 'codes' is unknown")


def test_a_conv_output_read_by_another_node_is_not_a_fused_residual(resnet18_int8_fused):
    """TensorRT fuses Conv + Add only when the Add is the Conv output's single reader."""
    model = onnx.load(str(resnet18_int8_fused.path))
    add = next(node for node in model.graph.node if node.name == "/layer1/0/Add")
    producers = {output: node for node in model.graph.node for output in node.output}
    conv_output = next(name for name in add.input if producers[name].op_type == "Conv")
    assert residual_add_placements(model)["/layer1/0/Add"] == "fused"
    model.graph.node.append(onnx.helper.make_node("Relu", [conv_output], ["second_reader"], name="second_reader"))
    model.graph.output.append(onnx.helper.make_tensor_value_info("second_reader", TensorProto.FLOAT, None))
    assert residual_add_placements(model).get("/layer1/0/Add") != "fused"


# --- what each finding says, and graphs at the edges of the rules (found by `make mutation`) ----------

def finding_texts(model) -> dict[tuple[str, str], str]:
    return {(finding.node, finding.rule): finding.message for finding in check_tensorrt_rules(model)}


def test_each_finding_names_the_offending_node_and_tensor():
    findings = finding_texts(exporter_like_model())
    assert findings[("in/Cast", "cast-between-q-dq")] == "Cast between in/QuantizeLinear and in/DequantizeLinear"
    assert findings[("in/DequantizeLinear", "dq-input-uint8")].startswith("input 'in_cast' is uint8; TensorRT")
    assert findings[("conv/DequantizeLinear_bias", "dq-input-int32")].startswith("input 'b_int32' is int32; give the layer a float bias")
    assert findings[("conv/DequantizeLinear_bias", "non-constant-zero-point")] == (
        "zero point 'b_zp' is computed at run time by Cast node conv/Cast_zero_point")
    assert findings[("in/QuantizeLinear", "zero-point-uint8")].startswith("uint8 zero point")
    assert findings[("out/DequantizeLinear", "zero-point-nonzero")].startswith("zero point [128],")
    scale = finding_texts(qdq_conv_model(scale_from_graph_input=True))
    assert scale[("in/QuantizeLinear", "non-constant-scale")].startswith("scale 'scale_input' is computed at run time")
    assert finding_texts(qdq_conv_model(scale=-0.05))[("out/DequantizeLinear", "scale-not-positive")].endswith("(min -0.05)")
    per_channel = finding_texts(qdq_conv_model(activation_scales=2))
    assert per_channel[("in/QuantizeLinear", "per-channel-activation")].startswith("activation quantized per channel (2 scales)")
    axis = finding_texts(qdq_conv_model(weight_axis=1))
    assert axis[("conv/DequantizeLinear_weight", "weight-axis")].startswith("per-channel axis 1 for Conv conv/Conv; its output channels are axis 0")
    count = finding_texts(qdq_conv_model(weight_scale_count=3))
    assert count[("conv/DequantizeLinear_weight", "weight-axis")] == "3 scales for 2 channels on axis 0"


def test_a_zero_point_from_a_graph_input_names_no_producer_and_one_from_constantofshape_is_not_constant():
    model = exporter_like_model()
    cast = next(node for node in model.graph.node if node.name == "conv/Cast_zero_point")
    model.graph.node.remove(cast)  # the bias zero point now comes straight from ConstantOfShape
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape":
            node.output[0] = "b_zp"
    assert finding_texts(model)[("conv/DequantizeLinear_bias", "non-constant-zero-point")].endswith(
        "by ConstantOfShape node conv/ConstantOfShape")  # its "value" attribute is a fill value, not the tensor
    model.graph.input.append(onnx.helper.make_tensor_value_info("b_zp_input", TensorProto.INT32, [2]))
    bias_dq = next(node for node in model.graph.node if node.name == "conv/DequantizeLinear_bias")
    bias_dq.input[2] = "b_zp_input"
    assert finding_texts(model)[("conv/DequantizeLinear_bias", "non-constant-zero-point")] == (
        "zero point 'b_zp_input' is computed at run time")


@pytest.mark.parametrize("distinct, shown", [(4, "[1, 2, 3, 4],"), (5, "[1, 2, 3, 4]...,")])
def test_a_nonzero_zero_point_shows_at_most_four_values(distinct, shown):
    weights = onnx.numpy_helper.from_array(np.ones((distinct, 1, 1, 1), dtype=np.int8), "w")
    scale = onnx.numpy_helper.from_array(np.full(distinct, 0.1, dtype=np.float32), "w_scale")
    zero_point = onnx.numpy_helper.from_array(np.arange(1, distinct + 1, dtype=np.int8), "w_zero_point")
    nodes = [onnx.helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero_point"], ["w_dq"], name="w_DQ", axis=0),
             onnx.helper.make_node("Conv", ["x", "w_dq"], ["y"], name="conv")]
    graph = onnx.helper.make_graph(nodes, "g", [onnx.helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                                   [onnx.helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, distinct, 4, 4])],
                                   [weights, scale, zero_point])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    assert finding_texts(model) == {("w_DQ", "zero-point-nonzero"): f"zero point {shown} TensorRT needs 0"}


def test_only_the_quantizelinear_without_zero_point_gets_the_warning():
    findings = check_tensorrt_rules(qdq_conv_model(omit_zero_point=True))
    assert {finding.node for finding in findings if finding.rule == "zero-point-uint8"} == {"in/QuantizeLinear", "out/QuantizeLinear"}
    assert all("give an int8 zero point 0" in finding.message for finding in findings if finding.rule == "zero-point-uint8")
    per_channel = count_by_rule(check_tensorrt_rules(qdq_conv_model(activation_scales=2, omit_zero_point=True)))
    assert per_channel["per-channel-activation"] == 4  # the scale is input 1, whether or not a zero point follows


def test_an_explicit_list_of_rules_replaces_the_built_in_ones():
    broken = qdq_conv_model(zero_point=3)
    assert check_tensorrt_rules(broken, rules=[]) == []
    assert count_by_rule(check_tensorrt_rules(broken)) == {"zero-point-nonzero": 4}


@pytest.mark.parametrize("opsets, expected", [
    ([("", 13)], []),                                 # 13 is enough
    ([("ai.onnx", 17)], []),                          # the default domain spelled out
    ([("example.custom", 1)], ["opset-below-13"]),    # no default-domain opset at all
])
def test_the_opset_rule_reads_the_default_domain_either_way_it_is_written(opsets, expected):
    model = qdq_conv_model()
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets)
    assert [finding.rule for finding in check_tensorrt_rules(model, rules=[rule_named("opset_at_least_13")])] == expected


def rule_named(name):
    from helpers import qdq_rules

    return getattr(qdq_rules, name)


def test_weight_axis_rule_reads_the_default_and_negative_axes_and_every_reader():
    default_axis = qdq_conv_model()
    weight_dq = next(node for node in default_axis.graph.node if node.name == "conv/DequantizeLinear_weight")
    del weight_dq.attribute[:]  # no axis attribute: ONNX's default is axis 1, not the Conv's output channels
    assert finding_texts(default_axis)[("conv/DequantizeLinear_weight", "weight-axis")].startswith("per-channel axis 1 for Conv")
    assert check_tensorrt_rules(qdq_conv_model(weight_axis=-4)) == []  # -4 on a 4-D weight is axis 0
    assert count_by_rule(check_tensorrt_rules(qdq_conv_model(weight_axis=-3))) == {"weight-axis": 1}
    # the same weight also read by a layer that is not a weighted layer (an Identity, then a Mul) is checked for the Conv
    shared = qdq_conv_model(weight_axis=1)
    conv_index = next(index for index, node in enumerate(shared.graph.node) if node.name == "conv/Conv")
    shared.graph.node.insert(conv_index, onnx.helper.make_node("Identity", ["w_dq"], ["w_copy"], name="w_copy"))
    shared.graph.node.insert(conv_index, onnx.helper.make_node("Mul", ["w_copy", "w_dq"], ["w_squared"], name="w_squared"))
    shared.graph.output.append(onnx.helper.make_tensor_value_info("w_squared", TensorProto.FLOAT, None))
    assert count_by_rule(check_tensorrt_rules(shared)) == {"weight-axis": 1}
    # a per-channel weight without a zero point (it is optional) is checked by its scale
    no_zero_point = qdq_conv_model(weight_axis=1)
    weight_dq = next(node for node in no_zero_point.graph.node if node.name == "conv/DequantizeLinear_weight")
    del weight_dq.input[2]
    assert count_by_rule(check_tensorrt_rules(no_zero_point)) == {"weight-axis": 1}


def test_tensors_nobody_reads_and_untyped_value_info_do_not_stop_the_checker():
    model = qdq_conv_model()
    # a quantized activation and a dequantized weight that are graph outputs, read by no node
    model.graph.output.append(onnx.helper.make_tensor_value_info("in_q", TensorProto.INT8, None))
    model.graph.node.append(onnx.helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero_point"], ["w_unread"],
                                                  name="unread/DequantizeLinear", axis=0))
    model.graph.output.append(onnx.helper.make_tensor_value_info("w_unread", TensorProto.FLOAT, None))
    model.graph.node.append(onnx.helper.make_node("Cast", ["in_q"], ["in_q_float"], name="unread/Cast", to=TensorProto.FLOAT))
    model.graph.output.append(onnx.helper.make_tensor_value_info("in_q_float", TensorProto.FLOAT, None))
    # a graph input whose element type is not given (element type 0, "undefined")
    model.graph.input.append(onnx.helper.make_tensor_value_info("untyped", TensorProto.UNDEFINED, None))
    assert check_tensorrt_rules(model) == []


def test_a_malformed_weight_gets_a_finding_not_a_crash():
    """A 1-D Gemm weight has no axis 1: the checker says so instead of failing on the missing axis."""
    weights = onnx.numpy_helper.from_array(np.ones(4, dtype=np.int8), "w")
    scale = onnx.numpy_helper.from_array(np.full(4, 0.1, dtype=np.float32), "w_scale")
    zero_point = onnx.numpy_helper.from_array(np.zeros(4, dtype=np.int8), "w_zero_point")
    nodes = [onnx.helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero_point"], ["w_dq"], name="w_DQ", axis=1),
             onnx.helper.make_node("Gemm", ["x", "w_dq"], ["y"], name="gemm")]
    graph = onnx.helper.make_graph(nodes, "g", [onnx.helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                                   [onnx.helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weights, scale, zero_point])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    assert finding_texts(model) == {("w_DQ", "weight-axis"): "4 scales for ? channels on axis 1"}


def test_residual_add_warnings_name_each_add_and_say_what_to_remove(resnet18_int8_fixed_onnx):
    findings = [finding for finding in check_tensorrt_rules(resnet18_int8_fixed_onnx) if finding.rule == "residual-add-unfused"]
    adds = {node.name for node in onnx.load(str(resnet18_int8_fixed_onnx)).graph.node if node.op_type == "Add"}
    assert {finding.node for finding in findings} == adds and len(adds) == 8
    assert all("remove the Q/DQ between the branch's last Conv and the Add" in finding.message for finding in findings)


def test_only_adds_are_residual_adds(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    """A Mul fed like a residual Add (a Conv and a DequantizeLinear, or two DequantizeLinears) is not one."""
    for path in (resnet18_int8_fixed_onnx, resnet18_int8_fused.path):
        model = onnx.load(str(path))
        for node in model.graph.node:
            if node.op_type == "Add":
                node.op_type = "Mul"
        assert residual_add_placements(model) == {}
        assert count_by_rule(check_tensorrt_rules(model)) == {}


def test_format_findings_shows_two_examples_per_rule_by_default():
    text = format_findings(check_tensorrt_rules(exporter_like_model())).splitlines()
    zero_point_row = next(index for index, line in enumerate(text) if "zero-point-nonzero" in line)
    examples = [line for line in text[zero_point_row + 1:zero_point_row + 4] if line.startswith(" ")]
    assert len(examples) == 2 and "4 node(s)" in text[zero_point_row]
    assert len([line for line in format_findings(check_tensorrt_rules(exporter_like_model()), examples=3).splitlines()
                if "zero point [128]" in line]) == 3


def test_a_dequantize_of_a_tensor_the_graph_leaves_untyped_is_an_error_not_a_pass():
    model = qdq_conv_model()
    model.graph.input.append(onnx.helper.make_tensor_value_info("codes", TensorProto.UNDEFINED, None))
    model.graph.node.append(onnx.helper.make_node("DequantizeLinear", ["codes", "in_scale"], ["decoded"], name="untyped/DQ"))
    model.graph.output.append(onnx.helper.make_tensor_value_info("decoded", TensorProto.FLOAT, None))
    assert finding_texts(model) == {("untyped/DQ", "type-unknown"): "the element type of input 'codes' is unknown "
                                    "(shape inference could not type it), so the type rules cannot check this node"}


def test_the_checker_reads_a_graph_being_edited_without_changing_it():
    from helpers.onnx_inspect import load_graph

    graph = load_graph(exporter_like_model())
    before = [(node.name, [tensor.name for tensor in node.inputs]) for node in graph.nodes]
    assert count_by_rule(check_tensorrt_rules(graph)) == count_by_rule(check_tensorrt_rules(exporter_like_model()))
    assert [(node.name, [tensor.name for tensor in node.inputs]) for node in graph.nodes] == before
    assert graph.tensors()["in_q"].dtype is None  # the types were read on a copy


def test_residual_add_placement_reads_one_node(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    from helpers.onnx_inspect import load_graph
    from helpers.qdq_rules import residual_add_placement

    for path, expected in ((resnet18_int8_fixed_onnx, "unfused"), (resnet18_int8_fused.path, "fused")):
        graph = load_graph(path)
        assert [residual_add_placement(node) for node in graph.nodes if node.op == "Add"] == [expected] * 8
        assert {residual_add_placement(node) for node in graph.nodes if node.op != "Add"} == {None}


# --- one graph's facts for the tables of notebooks 05 and 06 ------------------------------------------

def test_graph_summary_reads_what_an_independent_reading_finds(resnet18_int8_fixed_onnx, resnet18_int8_fused):
    import hashlib
    from collections import Counter

    from helpers.qdq_rules import graph_summary

    for path, fused in ((resnet18_int8_fixed_onnx, False), (resnet18_int8_fused.path, True)):
        summary = graph_summary(path)
        model = onnx.load(str(path))
        counts = Counter(node.op_type for node in model.graph.node)
        assert summary["file"] == path.name and summary["megabytes"] == round(path.stat().st_size / 1e6, 1)
        assert summary["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and summary["opset"] == 17
        assert summary["op_counts"] == dict(counts) and list(summary["op_counts"].values()) == sorted(counts.values(), reverse=True)
        assert (summary["nodes"], summary["quantize_linear"], summary["dequantize_linear"]) == (
            len(model.graph.node), counts["QuantizeLinear"], counts["DequantizeLinear"])
        assert summary["tensorrt_rule_errors"] == {}
        assert summary["tensorrt_rule_warnings"] == ({} if fused else {"residual-add-unfused": 8})
        assert summary["residual_adds"] == ({"fused": 8, "unfused": 0} if fused else {"fused": 0, "unfused": 8})
        assert summary["residual_add_inputs"] == ({"shortcut": 8} if fused else {"both": 8})
        assert summary["placement_by_op"]["Add"]["float_inputs"] == (8 if fused else 0)
    assert graph_summary(resnet18_int8_fused.path)["quantize_linear"] == graph_summary(resnet18_int8_fixed_onnx)["quantize_linear"] - 8


def test_graph_summary_counts_errors_and_warnings_apart(tmp_path):
    from helpers.qdq_rules import graph_summary

    path = tmp_path / "exporter_like.onnx"
    onnx.save(exporter_like_model(), str(path))
    summary = graph_summary(path)
    assert summary["tensorrt_rule_errors"] == count_by_rule(check_tensorrt_rules(exporter_like_model()))
    assert summary["tensorrt_rule_warnings"] == {} and summary["residual_adds"] == {"fused": 0, "unfused": 0}
    onnx.save(qdq_conv_model(omit_zero_point=True), str(path))
    summary = graph_summary(path)
    assert summary["tensorrt_rule_warnings"] == {"zero-point-uint8": 2} and summary["tensorrt_rule_errors"] == {"dq-input-uint8": 2}
    assert summary["residual_add_inputs"] == {} and summary["placement_by_op"]["Conv"]["quantized_weights"] == 1


def test_a_qdq_node_without_its_scale_gets_findings_not_a_crash():
    model = qdq_conv_model()
    model.graph.node.append(onnx.helper.make_node("DequantizeLinear", ["in_q"], ["scaleless"], name="scaleless/DQ"))
    model.graph.output.append(onnx.helper.make_tensor_value_info("scaleless", TensorProto.FLOAT, None))
    assert finding_texts(model) == {("scaleless/DQ", "non-constant-scale"): "scale '' is computed at run time, not a constant"}


def test_a_residual_add_needs_a_conv_and_a_dequantizelinear_or_qdq_of_a_conv_output():
    from helpers.qdq_rules import residual_add_placement
    from qdq_graphs import conv, qdq, residual_graph, small_tensor

    assert residual_add_placement(residual_graph("downsample")[1]) is None  # two Convs, neither input dequantized
    assert residual_add_placement(residual_graph("dequantized-constant")[1]) == "fused"
    assert residual_add_placement(residual_graph("qdq")[1]) == "unfused"
    x = small_tensor("x")
    relus = [gs_node("Relu", f"relu{index}", x) for index in range(2)]
    pairs = [qdq(f"pair{index}", relu.outputs[0]) for index, relu in enumerate(relus)]  # DQ <- Q <- Relu on both inputs
    add = gs_node("Add", "add", pairs[0][1].outputs[0], pairs[1][1].outputs[0])
    assert residual_add_placement(add) is None
    convolution = conv("conv", x)
    relu = gs_node("Relu", "relu_of_conv", convolution.outputs[0])
    scale = gs.Constant("s", np.array(0.1, dtype=np.float32))
    dq_of_relu = gs.Node("DequantizeLinear", "dq_of_relu", inputs=[relu.outputs[0], scale], outputs=[small_tensor("dq_out")])
    add = gs_node("Add", "add", dq_of_relu.outputs[0], pairs[1][1].outputs[0])  # DQ <- Relu <- Conv: no Q/DQ pair
    assert residual_add_placement(add) is None


def gs_node(op: str, name: str, *inputs):
    from qdq_graphs import small_tensor

    return gs.Node(op, name, inputs=list(inputs), outputs=[small_tensor(f"{name}_out")])


def test_graph_summary_of_a_graph_without_qdq_whose_opset_names_the_domain(tmp_path):
    from helpers.qdq_rules import graph_summary

    nodes = [onnx.helper.make_node("Relu", ["x"], ["y"], name="relu")]
    graph = onnx.helper.make_graph(nodes, "g", [onnx.helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                   [onnx.helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("ai.onnx", 17)])
    path = tmp_path / "relu.onnx"
    for padding in range(1_050_000 - len(model.SerializeToString()) - 20, 1_050_000):  # a file of exactly 1,050,000 bytes
        onnx.helper.set_model_props(model, {"padding": "x" * padding})
        if len(model.SerializeToString()) == 1_050_000:
            break
    onnx.save(model, str(path))
    summary = graph_summary(path)
    assert path.stat().st_size == 1_050_000 and summary["megabytes"] == 1.1  # 1.05 MB, where a MB is 10**6 bytes
    assert (summary["opset"], summary["nodes"], summary["quantize_linear"], summary["dequantize_linear"]) == (17, 1, 0, 0)
    assert summary["residual_adds"] == {"fused": 0, "unfused": 0} and summary["residual_add_inputs"] == {}

