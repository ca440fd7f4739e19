"""helpers.modelopt_compare: reading back the comparison record that notebook 05 shows."""

import json

import numpy as np
import pytest

from helpers.config import TutorialError
from helpers.modelopt_compare import SCHEMA, load_comparison


def test_a_record_of_this_version_is_read_back(tmp_path):
    path = tmp_path / "modelopt_comparison.json"
    path.write_text(json.dumps({"schema": SCHEMA, "graphs": {}}))
    assert load_comparison(path) == {"schema": SCHEMA, "graphs": {}}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ('{"schema": ', "not valid JSON"),
    ('{"schema": "something-else"}', "not a ModelOpt comparison of this version"),
    ("[1, 2]", "not a ModelOpt comparison of this version"),
])
def test_bad_records_get_a_message_that_says_what_to_do(tmp_path, content, message):
    path = tmp_path / "modelopt_comparison.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TutorialError, match=message):
        load_comparison(path)


def test_accuracy_on_onnxruntime_reuses_known_predictions_and_runs_the_rest(resnet18_int8_fixed_onnx):
    from helpers.modelopt_compare import accuracy_on_onnxruntime
    from helpers.onnx_export import predict_onnx

    images = np.random.default_rng(3).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = predict_onnx(resnet18_int8_fixed_onnx, images)
    known = (labels + 1) % 10  # deliberately different, so a re-run would show
    result = accuracy_on_onnxruntime({"ran": resnet18_int8_fixed_onnx, "known": resnet18_int8_fixed_onnx}, images, labels,
                                     reference="ran", known_predictions={"known": known})
    assert result["ran"]["accuracy"] == 1.0 and result["known"]["accuracy"] == 0.0
    assert result["known"]["agreement_with_ran"] == 0.0 and len(result["ran"]["interval_95"]) == 2


def test_the_committed_comparison_is_of_the_shipped_model_on_the_laptop_path():
    """Notebook 05 shows this file, labelled, where ModelOpt is not installed."""
    from helpers.modelopt_compare import COMMITTED_COMPARISON

    record = load_comparison(COMMITTED_COMPARISON)
    assert record["profile"] == "quick" and record["onnxruntime_evaluation"]["test_images"] == 1000
    graphs = record["graphs"]
    assert set(graphs) == {"unoptimized (notebook 03)", "fused residuals (notebook 05)", "ModelOpt"}
    assert all(graph["accuracy"] >= 0.9 and graph["tensorrt_rule_errors"] == {} for graph in graphs.values())
