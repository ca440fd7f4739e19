"""The TensorRT test double as notebook 04's test run uses it, and where its records must never go.

The nbval run of notebook 04 puts tests/trt_double on the kernel's PYTHONPATH with TRT_CONTRACT_DOUBLE=1 and
TRT_DOUBLE_RELEASE=11, and patches nothing. The first test checks that this environment alone lets a fresh Python
process build, load, run, inspect and time an engine through helpers.tensorrt_engine and tools/benchmark.py.
The double's version carries "+testdouble", so whatever it made says so; the second test keeps results/ (measured
results only) free of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from helpers.onnx_export import export_onnx, model_metadata

REPO_ROOT = Path(__file__).resolve().parents[1]
DOUBLE_ROOT = REPO_ROOT / "tests" / "trt_double"
DOUBLE_MARKS = ("testdouble", "TEST DOUBLE")
NOTEBOOK_04_ENVIRONMENT = {"PYTHONPATH": str(DOUBLE_ROOT), "TRT_CONTRACT_DOUBLE": "1", "TRT_DOUBLE_RELEASE": "11"}

ENGINE_STEPS = """
import json, sys
from pathlib import Path

import numpy as np
import tensorrt

sys.path.insert(0, "tools")
import benchmark  # tools/benchmark.py
from helpers import tensorrt_engine
from helpers.gpu_timing import TimingPlan
from helpers.onnx_runtime import predict_onnx

onnx_path, plan = Path(sys.argv[1]), Path(sys.argv[2])
reason = tensorrt_engine.tensorrt_unavailable_reason()
build = tensorrt_engine.build_engine_plan(onnx_path, plan, profile_batches=(1, 4))
images = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
predicted = tensorrt_engine.predict_engine(plan, onnx_path, images, batch_size=4)
session = tensorrt_engine.open_session(plan)
tensorrt_engine.set_batch_size(session, session.max_batch)
summary = tensorrt_engine.parse_layer_information(tensorrt_engine.engine_layer_information(session))
skipped = []
rows = benchmark.measure_tensorrt("TensorRT FP32", "FP32", plan, (1, 4), TimingPlan(0.0, 0.0, 3), log=lambda line: None,
                                  skipped=skipped)
print(json.dumps({"reason": reason, "tensorrt_file": tensorrt.__file__, "build": build,
                  "same_as_onnxruntime": bool(np.array_equal(predicted, predict_onnx(onnx_path, images))),
                  "layer_precisions": tensorrt_engine.precision_counts(summary), "rows": rows, "skipped": skipped}))
"""


def test_notebook_04s_environment_runs_every_engine_step_without_patching(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 10)).eval()
    onnx_path = export_onnx(model, tmp_path / "tiny.onnx", model_metadata(None, None, "fp32", "test"))
    environment = {**os.environ, **NOTEBOOK_04_ENVIRONMENT, "CUDA_VISIBLE_DEVICES": ""}  # PyTorch sees no GPU anywhere
    result = subprocess.run([sys.executable, "-c", ENGINE_STEPS, str(onnx_path), str(tmp_path / "tiny.plan")],
                            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ContractViolation" not in result.stderr and "DoubleWarning" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["reason"] is None and Path(report["tensorrt_file"]).is_relative_to(DOUBLE_ROOT)
    assert report["build"]["tensorrt_version"] == "11.4.0.106+testdouble" and (tmp_path / "tiny.plan").is_file()
    assert report["same_as_onnxruntime"] and report["layer_precisions"] == {"FP32": 3}  # Conv + Relu fused, pooling, Gemm
    assert [(row["batch_size"], row["data_copy"], row["launch"]) for row in report["rows"]] == [
        (1, "excluded", "eager"), (1, "included", "eager"), (4, "excluded", "eager"), (4, "included", "eager")]
    assert all(row["tensorrt"] == "11.4.0.106+testdouble" and row["profile"]["opt"] == row["batch_size"]
               for row in report["rows"])
    assert [entry["step"] for entry in report["skipped"]] == ["TensorRT FP32 CUDA-graph timing"]
    assert "PyTorch sees no CUDA GPU" in report["skipped"][0]["reason"]


def double_marks(folder: Path) -> list[str]:
    """Files under ``folder`` that mention the test double; of an executed notebook only its outputs count (its
    code may name the marker)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            text = json.dumps([cell.get("outputs", []) for cell in cells])
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path.relative_to(folder)}: {mark!r}" for mark in DOUBLE_MARKS if mark in text]
    return found


def test_nothing_under_results_comes_from_the_tensorrt_test_double():
    assert (REPO_ROOT / "results").is_dir()
    assert not double_marks(REPO_ROOT / "results"), "results/ holds measured results only"


def test_the_results_check_finds_the_mark_in_files_and_notebook_outputs(tmp_path):
    (tmp_path / "clean.json").write_text(json.dumps({"versions": {"tensorrt": "11.4.0.106"}}))
    notebook = {"cells": [{"cell_type": "code", "source": ["if 'TEST DOUBLE' in note: pass"], "outputs": []}]}
    (tmp_path / "code_only.ipynb").write_text(json.dumps(notebook))
    assert double_marks(tmp_path) == []
    (tmp_path / "deep" / "run").mkdir(parents=True)
    (tmp_path / "deep" / "run" / "benchmark.json").write_text(json.dumps({"tensorrt": "11.4.0.106+testdouble"}))
    notebook["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["TensorRT 10.16 (TEST DOUBLE)"]}]
    (tmp_path / "executed.ipynb").write_text(json.dumps(notebook))
    assert double_marks(tmp_path) == ["deep/run/benchmark.json: 'testdouble'", "executed.ipynb: 'TEST DOUBLE'"]
