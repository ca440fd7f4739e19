"""helpers.tensorrt_engine: the parts that run without TensorRT (notebook 04).

The engine inspector JSON below is a hand-written FORMAT FIXTURE in the two documented layouts
(TensorRT 10.x: "Bindings" and per-tensor "Format/Datatype"; 11.x: "I/O Tensors" and separate
data-type / "Format" fields). It is not a measurement of any engine and never appears in a notebook.
The parser is also run on real inspector JSON from NVIDIA's TREx examples (tests/data/trex, README there).
The rest of the module runs against the TensorRT test double in tests/test_tensorrt_double.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import pytest

from helpers import plotting, tensorrt_engine
from helpers.config import TutorialError
from helpers.display import report_skip

matplotlib.use("Agg")

# FORMAT FIXTURE (TensorRT 10.x layout): input reformat, INT8 conv (i8i8 tactic), FP16 conv, FP32 Gemm.
INSPECTOR_10X = {
    "Layers": [
        {"Name": "Reformatting CopyNode for Input Tensor 0 to conv1", "LayerType": "Reformat",
         "Inputs": [{"Name": "input", "Location": "Device", "Dimensions": [8, 3, 32, 32],
                     "Format/Datatype": "Row major linear FP32"}],
         "Outputs": [{"Name": "conv1_in", "Location": "Device", "Dimensions": [8, 3, 32, 32],
                      "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}]},
        {"Name": "conv1 + relu", "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "conv1_in", "Dimensions": [8, 3, 32, 32],
                     "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}],
         "Outputs": [{"Name": "conv1_out", "Dimensions": [8, 64, 32, 32],
                      "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}],
         "TacticName": "sm90_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32"},
        {"Name": "conv2", "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "conv1_out", "Dimensions": [8, 64, 32, 32],
                     "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}],
         "Outputs": [{"Name": "conv2_out", "Dimensions": [8, 64, 32, 32],
                      "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}],
         "TacticName": "sm90_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc"},
        {"Name": "fc", "LayerType": "gemm",
         "Inputs": [{"Name": "pooled", "Dimensions": [8, 512], "Format/Datatype": "Row major linear FP32"}],
         "Outputs": [{"Name": "logits", "Dimensions": [8, 10], "Format/Datatype": "Row major linear FP32"}]},
    ],
    "Bindings": ["input", "logits"],
}


def _as_11x(layout_10x: dict) -> dict:
    """The same FORMAT FIXTURE in the TensorRT 11.x layout."""
    datatype = {"FP32": "Float", "Int8": "Int8", "FP16": "Half"}

    def split(tensor):
        text = tensor["Format/Datatype"]
        kind = next(key for key in datatype if key in text)
        rest = {key: value for key, value in tensor.items() if key != "Format/Datatype"}
        return {**rest, "DataType": datatype[kind], "Format": text.replace(kind, "").strip()}

    layers = [{**layer, "Inputs": [split(t) for t in layer["Inputs"]], "Outputs": [split(t) for t in layer["Outputs"]]}
              for layer in layout_10x["Layers"]]
    io = [{"Name": "input", "IOMode": "Input", "DataType": "Float", "Dimensions": [-1, 3, 32, 32], "Location": "Device",
           "IsShapeInferenceIO": False},
          {"Name": "logits", "IOMode": "Output", "DataType": "Float", "Dimensions": [-1, 10], "Location": "Device",
           "IsShapeInferenceIO": False}]
    return {"Layers": layers, "I/O Tensors": io}


INSPECTOR_11X = _as_11x(INSPECTOR_10X)
EXPECTED_PRECISIONS = ["FP32", "INT8", "FP16", "FP32"]


TREX = Path(__file__).resolve().parent / "data" / "trex"


@pytest.mark.parametrize("name, layers, counts", [
    ("resnet-qat", 37, {"INT8": 22, "FP16": 11, "FP32": 4}),
    ("resnet-qat-residual", 26, {"INT8": 22, "FP32": 4}),
])
def test_real_trex_inspector_json(name, layers, counts):
    """NVIDIA's QAT ResNet18 engines (A100, --best): with Q/DQ on both inputs of every residual Add the
    engine keeps 11 more layers (the Adds and their quantizing reformats), here in FP16 because --best allowed it."""
    summary = tensorrt_engine.parse_layer_information(json.loads((TREX / f"{name}.onnx.engine.graph.json").read_text()))
    assert summary["schema"] == "10.x" and len(summary["layers"]) == layers
    assert tensorrt_engine.precision_counts(summary) == counts
    convolutions = [layer for layer in summary["layers"] if layer["type"] == "CaskConvolution"]
    assert convolutions and all(layer["precision"] == "INT8" for layer in convolutions)
    assert summary["layers"][0]["outputs"] == ["INT8"]  # the first layer quantizes the FP32 input


def test_the_real_json_files_are_the_ones_the_readme_names():
    import hashlib

    readme = (TREX / "README.md").read_text()
    for path in sorted(TREX.glob("*.json")):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in readme, path.name


@pytest.mark.parametrize("info, schema", [(INSPECTOR_10X, "10.x"), (INSPECTOR_11X, "11.x")])
def test_layer_precisions_in_both_layouts(info, schema):
    summary = tensorrt_engine.parse_layer_information(info)
    assert summary["schema"] == schema
    assert summary["io_tensors"] == ["input", "logits"]
    assert [layer["precision"] for layer in summary["layers"]] == EXPECTED_PRECISIONS
    assert summary["layers"][0]["outputs"] == ["INT8"]  # the reformat quantizes the input
    assert tensorrt_engine.precision_counts(summary) == {"FP32": 2, "INT8": 1, "FP16": 1}


def test_both_layouts_give_the_same_layers():
    ten = tensorrt_engine.parse_layer_information(INSPECTOR_10X)["layers"]
    eleven = tensorrt_engine.parse_layer_information(INSPECTOR_11X)["layers"]
    assert ten == eleven


def test_int8_tactic_wins_when_tensor_formats_are_unknown():
    layer = {"Inputs": [{"Format/Datatype": "N/A due to dynamic shapes"}], "TacticName": "sm80_xmma_i8i8_i8i32_f32"}
    assert tensorrt_engine.layer_compute_precision(layer) == "INT8"
    assert tensorrt_engine.layer_compute_precision({"Inputs": [{"Format/Datatype": "N/A due to dynamic shapes"}]}) == "unknown"


@pytest.mark.parametrize("tensor, label", [
    ({"Format/Datatype": "Row major linear FP32"}, "FP32"),
    ({"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}, "FP16"),
    ({"Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}, "INT8"),
    ({"DataType": "Half", "Format": "Row major linear FP32 format (kLINEAR)"}, "FP16"),  # data type field first
    ({"Datatype": "Int8", "Format": "kCHW32"}, "INT8"),
    ({"Format/Datatype": "Row major Int32 format"}, "INT32"),
    ({}, "unknown"),
])
def test_tensor_precision(tensor, label):
    assert tensorrt_engine.tensor_precision(tensor) == label


def test_an_inspector_json_of_neither_layout_is_read_without_io_names():
    summary = tensorrt_engine.parse_layer_information({"Layers": [{"Name": "conv", "Inputs": [{"DataType": "Half"}]}]})
    assert summary["schema"] == "unknown" and summary["io_tensors"] == [] and summary["layers"][0]["precision"] == "FP16"


def test_names_only_inspector_output_says_to_build_with_detailed_verbosity():
    with pytest.raises(TutorialError, match="DETAILED"):
        tensorrt_engine.parse_layer_information({"Layers": ["conv1", "fc"], "Bindings": ["input", "logits"]})
    with pytest.raises(TutorialError, match="not engine-inspector JSON"):
        tensorrt_engine.parse_layer_information({"layers": []})


def test_precision_chart_from_both_layouts(tmp_path):
    summaries = {"format fixture 10.x": tensorrt_engine.parse_layer_information(INSPECTOR_10X),
                 "format fixture 11.x": tensorrt_engine.parse_layer_information(INSPECTOR_11X)}
    figure = plotting.layer_precision_chart(summaries, title="FORMAT FIXTURE (not a measurement)")
    axis = figure.axes[0]
    assert len(axis.collections) == 2 * len(EXPECTED_PRECISIONS)  # one cell per layer per engine
    assert [label.get_text() for label in axis.get_yticklabels()] == [
        f"{name}\n2 FP32, 1 INT8, 1 FP16" for name in summaries]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["FP32", "INT8", "FP16"]
    path = tmp_path / "precisions.png"
    plotting.save_figure(figure, path)
    assert path.stat().st_size > 5000


@pytest.mark.parametrize("enum_value, flags", [(0, 1), (1, 2)])  # 11.x has STRONGLY_TYPED = 0, 10.16 has 1
def test_network_flags_follow_the_enum_value(enum_value, flags):
    namespace = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=enum_value))
    assert tensorrt_engine.strongly_typed_network_flags(namespace) == flags


def test_one_profile_per_batch_size_tuned_for_it():
    assert tensorrt_engine.batch_profiles([16, 1, 4, 4]) == [(1, 1, 1), (1, 4, 4), (1, 16, 16)]
    assert tensorrt_engine.batch_profiles(tensorrt_engine.DEFAULT_PROFILE_BATCHES) == [(1, 1, 1), (1, 32, 32), (1, 512, 512)]
    for bad in ([], [0, 4], [-1]):
        with pytest.raises(TutorialError, match="positive"):
            tensorrt_engine.batch_profiles(bad)


def test_profile_for_batch_prefers_the_tuned_profile_then_the_smallest_that_fits():
    profiles = [(1, 1, 1), (1, 4, 4), (1, 16, 16)]
    assert [tensorrt_engine.profile_for_batch(profiles, batch) for batch in (1, 4, 16, 2, 3, 5, 15)] == [0, 1, 2, 1, 1, 2, 2]
    assert tensorrt_engine.profile_for_batch([(1, 8, 32), (1, 16, 16)], 16) == 1  # opt wins over the range
    with pytest.raises(TutorialError, match="No optimization profile of this engine covers batch size 17"):
        tensorrt_engine.profile_for_batch(profiles, 17)


def test_trtexec_commands_for_10_and_11():
    commands = tensorrt_engine.trtexec_commands("resnet18_int8_trt.onnx", "int8.plan", batch_size=8)
    ten, eleven = commands["TensorRT 10.12+"], commands["TensorRT 11.x"]
    for command in (ten, eleven):
        assert "--onnx=resnet18_int8_trt.onnx" in command and "--shapes=input:8x3x32x32" in command
        assert "--maxShapes=input:512x3x32x32" in command and "--noTF32" in command
        for removed in ("--fp16", "--int8", "--best", "--workspace="):
            assert removed not in command
    assert "--stronglyTyped" in ten and "--stronglyTyped" not in eleven
    # both time the same way: CUDA graphs, copies excluded, spin-wait (trtexec 11's defaults; 10 must ask)
    assert "--useCudaGraph" in ten and "--noDataTransfers" in ten and "--useSpinWait" in ten
    for option in ("--useCudaGraph", "--noDataTransfers", "--useSpinWait"):
        assert option not in eleven  # 11's defaults (its docs: the options remain but are the default)


@pytest.mark.skipif(tensorrt_engine.tensorrt_unavailable_reason() is None, reason="TensorRT works on this machine")
def test_without_tensorrt_every_entry_point_says_why(tmp_path):
    reason = tensorrt_engine.tensorrt_unavailable_reason()
    assert "tensorrt" in reason and "pip install tensorrt" in reason
    with pytest.raises(TutorialError, match="TensorRT cannot run here"):
        tensorrt_engine.build_engine_plan(tmp_path / "model.onnx", tmp_path / "model.plan")
    with pytest.raises(TutorialError, match="TensorRT cannot run here"):
        tensorrt_engine.open_session(tmp_path / "model.plan", max_batch=8)
    with pytest.raises(TutorialError, match="TensorRT cannot run here: `import tensorrt` failed"):
        tensorrt_engine.import_tensorrt()
    version = tensorrt_engine.installed_tensorrt_version()
    assert version == "not usable here: " + tensorrt_engine.tensorrt_unavailable_reason(install_hint=False)


def test_skip_line_names_the_step_and_the_reason(capsys, monkeypatch):
    from helpers import display

    monkeypatch.setattr(display, "_skip_reasons_shown", {})  # a fresh kernel: the reason was not shown yet
    skipped = [{"step": "earlier step", "reason": "earlier reason"}]
    line = report_skip("TensorRT INT8 engine", "no CUDA GPU visible to PyTorch", record=skipped)
    assert skipped[-1] == {"step": "TensorRT INT8 engine", "reason": "no CUDA GPU visible to PyTorch"} and len(skipped) == 2
    assert capsys.readouterr().out.strip() == line == "SKIPPED: TensorRT INT8 engine - no CUDA GPU visible to PyTorch"
