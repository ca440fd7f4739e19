"""tools/run_modelopt.py: NVIDIA ModelOpt's two routes (notebooks 05 and 06) on the shipped model, for real where ModelOpt's
environment is installed (CI makes it: `make test MODELOPT=1`), checked against an independent reading of the graphs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import run_modelopt as modelopt_tool  # tools/run_modelopt.py (tests/conftest.py puts tools/ on sys.path)
from helpers import qdq_rules
from helpers.config import artifacts_dir, get_profile
from helpers.data import load_cifar10, take_subset
from helpers.envcheck import MODELOPT_INSTALLED_MARKER, modelopt_unavailable_reason
from helpers.model import build_resnet18_cifar, load_shipped_model, save_checkpoint
from helpers.onnx_export import export_onnx, model_metadata

# A small laptop-path profile: 64 calibration images, 100 test images (10 per class).
SMALL_PROFILE = dataclasses.replace(get_profile("quick"), calibration_images=64, test_images=100, eval_batch_size=50)


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


def test_a_missing_environment_stops_each_route_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELOPT_VENV", str(tmp_path / "no-venv"))
    for route in ("onnx-ptq", "torch-quantize"):
        result = subprocess.run([sys.executable, str(modelopt_tool.__file__), route], capture_output=True, text=True)
        assert result.returncode == 1 and "is not installed" in result.stderr and "make modelopt-setup" in result.stderr


def test_setup_leaves_an_environment_with_todays_requirements_alone(monkeypatch, tmp_path, capsys):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / MODELOPT_INSTALLED_MARKER).write_text(" ".join(modelopt_tool.REQUIREMENTS) + "\n")
    modelopt_tool.setup(venv)  # would fail at once if it tried to run that empty "python"
    assert "is installed" in capsys.readouterr().out


def test_the_fx_trace_for_modelopts_environment_loads_with_torch_alone(tmp_path):
    model = build_resnet18_cifar().eval()
    save_checkpoint(tmp_path / "fp32.pt", model, {"made_by": "test"})
    loaded = torch.load(modelopt_tool.trace_fp32_model(tmp_path / "fp32.pt", tmp_path / "trace.pt"), weights_only=False)
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(inputs), model(inputs))
    assert {type(module).__module__.split(".")[0] for module in loaded.modules()} == {"torch"}  # no torchvision, no helpers


def test_the_user_code_notebook_06_counts_is_marked_in_the_script():
    text = modelopt_tool.TORCH_SCRIPT.read_text()
    assert text.count("# --- USER CODE") == 2 and text.count("# --- END USER CODE ---") == 2
    assert "mtq.quantize(model, mtq.INT8_DEFAULT_CFG, forward_loop)" in text


@pytest.fixture(scope="module")
def small_profile_artifacts(tmp_path_factory):
    """Notebook 01's files for the shipped model in a tmp artifacts folder of SMALL_PROFILE."""
    folder = tmp_path_factory.mktemp("modelopt-artifacts")
    model, _ = load_shipped_model()
    quick = folder / SMALL_PROFILE.name
    quick.mkdir()
    save_checkpoint(quick / "resnet18_fp32.pt", model, {"made_by": "tests/test_modelopt_tool.py"})
    export_onnx(model, quick / "resnet18_fp32.onnx", model_metadata(None, None, "fp32", "test_modelopt_tool"))
    return folder


@pytest.mark.parametrize("route", ["onnx-ptq", "torch-quantize"])
def test_each_route_quantizes_the_shipped_model_for_tensorrt(route, small_profile_artifacts, monkeypatch):
    """The real thing: NVIDIA ModelOpt in its own environment, then the graph read independently."""
    reason = modelopt_unavailable_reason()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(small_profile_artifacts))
    record = modelopt_tool.run_route(route, modelopt_tool.modelopt_venv(), SMALL_PROFILE)
    work = artifacts_dir(SMALL_PROFILE) / "modelopt"
    graph = work / modelopt_tool.FILES[route]
    assert json.loads((work / graph.name.replace(".onnx", ".json")).read_text()) == json.loads(json.dumps(record))
    assert record["versions"]["nvidia-modelopt"] == "0.47.0" and "/" not in record["command"].split()[1][:1]
    metadata = {entry.key: entry.value for entry in onnx.load(str(graph)).metadata_props}
    assert metadata["precision"] == modelopt_tool.PRECISIONS[route] and metadata["class_names"]
    assert qdq_rules.errors(qdq_rules.check_tensorrt_rules(graph)) == []
    # calibrated on notebook 02's images: the first 64 of the fixed, class-balanced training subset
    dataset = load_cifar10(SMALL_PROFILE)
    calibration = np.load(work / "calibration.npy")
    expected = take_subset(dataset.train, 64).images.astype(np.float32) / 255
    assert calibration.shape == (64, 3, 32, 32) and record["calibration"]["images"] == 64
    assert np.allclose(calibration[:, 0] * 0.2470 + 0.4914, expected[..., 0], atol=2e-3)
    quantized = independent_top1(graph, dataset.test.images)
    fp32 = independent_top1(small_profile_artifacts / "quick" / "resnet18_fp32.onnx", dataset.test.images)
    assert np.mean(quantized == dataset.test.labels) >= 0.85 and np.mean(quantized == fp32) >= 0.95
    print(f"{route}: {record['seconds']} s; top-1 {np.mean(quantized == dataset.test.labels):.2f} on 100 test images, "
          f"same as FP32 on {np.mean(quantized == fp32):.0%}")
