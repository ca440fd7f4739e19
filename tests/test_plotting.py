"""helpers.plotting: every figure the notebooks draw, on small inputs, says what it shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import plotting


def test_colours_follow_the_precision_named_in_a_label():
    assert plotting.color_for("PyTorch INT8 (CPU, qnnpack)") == plotting.COLORS["int8"]
    assert plotting.color_for("TensorRT INT8 (fused residuals)") == plotting.COLORS["int8 (fused residuals)"]
    assert plotting.color_for("TensorRT INT8 + FP16") == plotting.COLORS["int8 + fp16"]
    assert plotting.color_for("ONNX Runtime FP16 (CPU)") == plotting.COLORS["fp16"]
    assert plotting.color_for("something else") == plotting.COLORS["other"]


def test_image_grid_titles_predictions_green_when_right_and_red_when_wrong():
    images = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    figure = plotting.image_grid(images, np.array([0, 1, 2]), ["a", "b", "c"], columns=2, rows=2,
                                 predictions=np.array([0, 2, 2]))
    titles = [(axis.get_title(), axis.title.get_color()) for axis in figure.axes]
    assert titles == [("a", "green"), ("c", "red"), ("c", "green"), ("", "black")]  # the fourth cell stays empty


def test_training_curves_mark_where_the_moving_average_is_kept():
    history = {"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.0], "train_accuracy": [0.3, 0.5, 0.6],
               "test_accuracy": [0.4, 0.5, 0.62], "live_test_accuracy": [0.4, 0.5, 0.6],
               "learning_rate": [0.1, 0.05, 0.01], "last_step_test_accuracy": 0.6}
    accuracy_axis = plotting.training_curves(history).axes[1]
    assert [line.get_label() for line in accuracy_axis.get_lines()][:3] == [
        "train (augmented)", "test: model kept", "test: live weights"]
    assert [text.get_text() for text in accuracy_axis.texts] == ["moving average\nkept from here"]
    assert list(accuracy_axis.get_lines()[3].get_xdata()) == [3, 3]  # the average differs from epoch 3 on


def test_accuracy_bars_span_the_intervals_they_draw():
    figure = plotting.accuracy_bars({"FP32": 0.93, "INT8": 0.92},
                                    intervals={"FP32": (0.91, 0.95), "INT8": (0.90, 0.94)})
    axis = figure.axes[0]
    assert [text.get_text() for text in axis.texts] == ["0.9300", "0.9200"]
    assert axis.get_ylim() == pytest.approx((0.85, 0.97))
    assert axis.get_ylabel() == "accuracy (bars: 95 % interval)"
    labels = axis.get_xticklabels()  # slanted, each ending under its own bar, so long names do not run into each other
    assert [(label.get_rotation(), label.get_ha(), label.get_rotation_mode()) for label in labels] == [(15, "right", "anchor")] * 2
    zoomed = plotting.accuracy_bars({"FP32": 0.93, "INT8": 0.92}).axes[0]
    assert zoomed.get_ylim() == pytest.approx((0.90, 0.94)) and zoomed.get_ylabel() == "accuracy"


def test_sensitivity_bars_put_the_most_sensitive_layer_on_top_in_the_int8_colour():
    figure = plotting.layer_sensitivity_bars({"layer4.1.conv2": 0.5, "conv1": 0.1, "fc": 0.01, "layer1.0.conv1": 0.001},
                                             title="sensitivity")
    axis = figure.axes[0]
    assert [label.get_text() for label in axis.get_yticklabels()] == ["layer4.1.conv2", "conv1", "fc", "layer1.0.conv1"]
    assert axis.get_xscale() == "log" and axis.get_ylim()[0] > axis.get_ylim()[1]  # first row on top
    colours = [patch.get_facecolor() for patch in axis.patches]
    assert colours[:3] == [colours[0]] * 3 and colours[3] != colours[0]
    legend = axis.get_legend()  # the red bars say what they are
    assert [text.get_text() for text in legend.get_texts()] == ["the three most sensitive layers"]
    assert legend.get_patches()[0].get_facecolor() == colours[0]


def test_the_mixed_precision_curve_shows_each_point_with_its_interval_and_the_fp32_band():
    figure = plotting.accuracy_against_float_layers({0: (0.90, 0.88, 0.92), 2: (0.92, 0.90, 0.94)},
                                                    fp32=(0.93, 0.91, 0.95))
    axis = figure.axes[0]
    assert list(axis.get_xticks()) == [0, 2]
    assert list(axis.get_lines()[0].get_ydata()) == pytest.approx([0.90, 0.92])
    assert {text.get_text() for text in axis.get_legend().get_texts()} == {
        "INT8, the k most sensitive layers in float", "FP32 0.9300 (95 % interval)"}


def test_placement_ablation_hatches_the_placements_that_cannot_fuse():
    rows = [{"placement": name, "accuracy": value, "interval": (0.90, 0.94), "fused": fused, "verdict": verdict}
            for name, value, fused, verdict in (("both", 0.92, False, "fusible 0/8"),
                                                ("shortcut", 0.921, True, "fusible 8/8"))]
    axis = plotting.placement_ablation(rows, fp32_accuracy=(0.93, 0.91, 0.95)).axes[0]
    assert [patch.get_hatch() for patch in axis.patches[:2]] == ["//", None]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["both\nfusible 0/8", "shortcut\nfusible 8/8"]
    assert axis.get_legend().get_texts()[-1].get_text() == "FP32 0.9300 (band: 95 % interval)"


def test_the_qdq_diagram_draws_every_node_and_verdict_of_its_patterns():
    figure = plotting.qdq_fusion_diagram()
    texts = [text.get_text() for text in figure.axes[0].texts]
    for title, nodes, result, _ in plotting.QDQ_PATTERNS:
        assert title in texts and result in texts and all(node in texts for node in nodes)


def test_layer_sqnr_bars_show_infinite_sqnr_at_the_largest_finite_value():
    axis = plotting.layer_sqnr_bars({"quant": 40.0, "fc": math.inf, "conv1": 20.0}, highlight=1).axes[0]
    assert [patch.get_width() for patch in axis.patches] == [40.0, 40.0, 20.0]
