"""helpers.qdq_rules: each TensorRT Q/DQ rule on a graph that breaks it, and on the real export before/after surgery."""

import numpy as np
import onnx
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
    def every_add_is_suspicious(facts):
        for node in facts.nodes:
            if node.op_type == "Add":
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
