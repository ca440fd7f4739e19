"""helpers.modelopt_compare: the comparison of notebook 05 on the shipped model, checked against an independent
reading of the same graphs (node counts read with onnx, predictions made with a plain ONNX Runtime session), and
the comparison record it writes read back."""

import copy
import dataclasses
import json
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from helpers.config import TutorialError, get_profile
from helpers.data import Split, load_cifar10, take_subset
from helpers.model import load_shipped_model
from helpers.modelopt_compare import SCHEMA, compare, graph_records, load_comparison, modelopt_unavailable_reason
from helpers.onnx_export import export_onnx, model_metadata
from helpers.quantization import calibrate, convert_to_int8, fuse_for_quantization, prepare_for_calibration, tensorrt_qconfig, use_qnnpack
from helpers.surgery import fix_for_tensorrt, fuse_residual_adds
from synthetic import varied_images

UNOPTIMIZED, FUSED = "unoptimized (notebook 03)", "fused residuals (notebook 05)"
# A small laptop-path profile: 64 calibration images, 100 test images (10 per class).
SMALL_PROFILE = dataclasses.replace(get_profile("quick"), calibration_images=64, test_images=100, eval_batch_size=50)


@pytest.fixture(scope="module")
def shipped_graphs(tmp_path_factory):
    """The shipped (trained) model as notebooks 01-03 and 05 make it: FP32 ONNX, INT8 fixed for TensorRT, fused
    residuals; calibrated on 64 training images. Trained, so accuracy is high and the graphs' predictions differ."""
    folder = tmp_path_factory.mktemp("shipped_graphs")
    network, _ = load_shipped_model()
    paths = {"fp32": folder / "resnet18_fp32.onnx", "raw": folder / "resnet18_int8_raw.onnx",
             "unoptimized": folder / "resnet18_int8_trt.onnx", "fused": folder / "resnet18_int8_trt_fused_residuals.onnx"}
    export_onnx(network, paths["fp32"], model_metadata(None, None, "fp32", "test_modelopt_compare"))
    use_qnnpack()
    prepared = prepare_for_calibration(fuse_for_quantization(copy.deepcopy(network).eval()), tensorrt_qconfig())
    calibrate(prepared, take_subset(load_cifar10(SMALL_PROFILE).train, SMALL_PROFILE.calibration_images), batch_size=64)
    export_onnx(convert_to_int8(prepared), paths["raw"], model_metadata(None, None, "int8-qdq-raw", "test_modelopt_compare"))
    fix_for_tensorrt(paths["raw"], paths["unoptimized"])
    fuse_residual_adds(paths["unoptimized"], paths["fused"])
    return paths


def independent_top1(path, images_uint8_nhwc: np.ndarray) -> np.ndarray:
    """Predictions made without the helpers: the preprocessing written out, a plain session, graph run as written."""
    metadata = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    mean = np.array(json.loads(metadata["normalization_mean"]), dtype=np.float32)
    std = np.array(json.loads(metadata["normalization_std"]), dtype=np.float32)
    inputs = ((images_uint8_nhwc.astype(np.float32) / 255 - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0].argmax(1)


def independent_summary(path) -> dict:
    counts = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return {"quantize_linear": counts["QuantizeLinear"], "dequantize_linear": counts["DequantizeLinear"],
            "nodes": sum(counts.values())}


def assert_matches_an_independent_reading(records: dict, graphs: dict, test) -> None:
    predictions = {name: independent_top1(path, test.images) for name, path in graphs.items()}
    for name, path in graphs.items():
        record = records[name]
        assert {key: record[key] for key in ("quantize_linear", "dequantize_linear", "nodes")} == independent_summary(path), name
        assert record["accuracy"] == pytest.approx(np.mean(predictions[name] == test.labels), abs=1e-9), name
        assert record["agreement_with_" + UNOPTIMIZED] == pytest.approx(np.mean(predictions[name] == predictions[UNOPTIMIZED]), abs=1e-9), name
        low, high = record["interval_95"]
        assert low <= record["accuracy"] <= high and high - low > 0.05, name


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
    from helpers.onnx_runtime import predict_onnx

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


def test_graph_records_count_and_score_each_graph_as_an_independent_reading_does(shipped_graphs):
    """The comparison part of compare(), without ModelOpt: three graphs of the shipped model."""
    cifar = load_cifar10(SMALL_PROFILE).test
    # 100 test images, and 100 synthetic ones on which the three graphs disagree now and then (on the test images
    # they may agree everywhere, and then a record that took one graph's predictions for another's would pass)
    test = Split(np.concatenate([cifar.images, varied_images(100, seed=1)]), np.concatenate([cifar.labels, np.arange(100) % 10]))
    graphs = {UNOPTIMIZED: shipped_graphs["unoptimized"], FUSED: shipped_graphs["fused"], "FP32": shipped_graphs["fp32"]}
    records = graph_records(graphs, test.images, test.labels, reference=UNOPTIMIZED, batch_size=64)
    assert list(records) == list(graphs)
    assert_matches_an_independent_reading(records, graphs, test)
    assert records["FP32"]["agreement_with_" + UNOPTIMIZED] < 1.0 and records[FUSED]["agreement_with_" + UNOPTIMIZED] < 1.0
    # what notebook 05 reads off the table
    assert records[UNOPTIMIZED]["residual_adds"] == {"fused": 0, "unfused": 8}
    assert records[FUSED]["residual_adds"] == {"fused": 8, "unfused": 0}
    assert records[FUSED]["quantize_linear"] == records[UNOPTIMIZED]["quantize_linear"] - 8
    assert records["FP32"]["quantize_linear"] == 0
    assert all(record["tensorrt_rule_errors"] == {} for record in records.values())
    assert records[UNOPTIMIZED]["tensorrt_rule_warnings"] == {"residual-add-unfused": 8}
    assert all(record["accuracy"] > 0.45 for record in records.values())  # 100 test images at about 0.93, 100 synthetic at chance
    print(f"top-1 on {len(test)} images: " + ", ".join(f"{name} {record['accuracy']:.3f}" for name, record in records.items())
          + f"; agreement with the unoptimized INT8 graph: FP32 {records['FP32']['agreement_with_' + UNOPTIMIZED]:.1%}, "
          f"fused {records[FUSED]['agreement_with_' + UNOPTIMIZED]:.1%}")


def test_compare_runs_modelopt_and_reports_what_an_independent_reading_finds(shipped_graphs, tmp_path):
    """The real thing: NVIDIA ModelOpt quantizes the shipped model's FP32 graph in its own environment."""
    reason = modelopt_unavailable_reason()
    if reason:
        pytest.skip(reason)
    result_path = tmp_path / "modelopt_comparison.json"
    messages = []
    record = compare(shipped_graphs["fp32"], shipped_graphs["unoptimized"], shipped_graphs["fused"], SMALL_PROFILE,
                     tmp_path / "modelopt", result_path, log=messages.append)
    assert load_comparison(result_path) == json.loads(json.dumps(record))
    modelopt_onnx = tmp_path / "modelopt" / "resnet18_int8_modelopt.onnx"
    graphs = {UNOPTIMIZED: shipped_graphs["unoptimized"], FUSED: shipped_graphs["fused"], "ModelOpt": modelopt_onnx}
    assert list(record["graphs"]) == list(graphs)
    dataset = load_cifar10(SMALL_PROFILE)
    assert record["onnxruntime_evaluation"]["test_images"] == len(dataset.test) == 100
    assert_matches_an_independent_reading(record["graphs"], graphs, dataset.test)
    # ModelOpt calibrated on notebook 02's images: the first 64 of the fixed, class-balanced training subset
    calibration = np.load(tmp_path / "modelopt" / "calib.npy")
    expected = take_subset(dataset.train, 64).images.astype(np.float32) / 255
    assert calibration.shape == (64, 3, 32, 32) and record["calibration"]["images"] == 64
    assert np.allclose(calibration[:, 0] * 0.2470 + 0.4914, expected[..., 0], atol=2e-3)
    modelopt = record["graphs"]["ModelOpt"]
    assert modelopt["quantize_linear"] > 20 and modelopt["accuracy"] > 0.8
    assert {entry.key: entry.value for entry in onnx.load(str(modelopt_onnx)).metadata_props}["precision"] == "int8-qdq-modelopt"
    print(f"ModelOpt took {record['modelopt']['seconds']} s; top-1: "
          + ", ".join(f"{name} {graph['accuracy']:.3f}" for name, graph in record["graphs"].items()))
