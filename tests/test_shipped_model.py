"""The model shipped in models/ (notebook 01's laptop path): its file, its provenance, its refusals,
and facts about the real model that CI checks on every machine (ONNX Runtime run as written)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import ship_model
from helpers import model
from helpers.config import PROFILES, REPO_ROOT, TutorialError
from helpers.data import ARCHIVE_ENV, load_cifar10, normalize, sha256_of, take_subset, to_tensor
from helpers.model import SHIPPED_MODEL_PATH, SHIPPED_MODEL_SHA256
from helpers.onnx_export import export_onnx, model_metadata
from helpers.onnx_runtime import onnxruntime_session, predict_onnx
from helpers.quantization import quantize_int8, sqnr_db, tensorrt_qconfig, use_qnnpack

OFFLINE_COPY_SHA256 = "6254f53a1bc70afc08c46178959354e8597763b03706815cc50b5e2cdff16569"
EVALUATION = REPO_ROOT / "results" / "shipped-model" / "evaluation_cpu.json"


def test_shipped_file_is_compact_and_is_the_one_the_code_expects():
    assert SHIPPED_MODEL_PATH.stat().st_size <= 25_000_000
    assert sha256_of(SHIPPED_MODEL_PATH) == SHIPPED_MODEL_SHA256


def test_shipped_model_carries_its_provenance():
    network, provenance = model.load_shipped_model()
    assert provenance["commit"] and provenance["seed"] == 0
    assert provenance["recipe"]["epochs"] == PROFILES["full"].epochs and provenance["recipe"]["ema_start_epoch"] == 91
    assert provenance["gpu"].startswith("NVIDIA")
    assert provenance["data_archive_sha256"] == OFFLINE_COPY_SHA256
    assert provenance["test_images"] == 10_000 and provenance["test_accuracy_fp32_at_training"] >= 0.93
    assert provenance["storage"] == ship_model.COMPACT_FORMAT
    assert all(parameter.dtype == torch.float32 for parameter in network.state_dict().values() if parameter.is_floating_point())


def test_shipped_weights_are_float16_and_batchnorm_float32():
    record = torch.load(SHIPPED_MODEL_PATH, map_location="cpu", weights_only=True)
    state = record["state_dict"]
    assert state["conv1.weight"].dtype == torch.float16 and state["fc.weight"].dtype == torch.float16
    assert state["bn1.running_var"].dtype == torch.float32 and state["layer4.1.bn2.weight"].dtype == torch.float32


def test_the_committed_cpu_evaluation_describes_the_committed_file():
    """The README quotes this file: it must have been measured on the file that is committed now."""
    evaluation = json.loads(EVALUATION.read_text())
    assert evaluation["sha256"] == SHIPPED_MODEL_SHA256 and evaluation["test_images"] == 10_000
    assert evaluation["top1_shipped_file_loaded_as_fp32"] >= 0.93
    assert abs(evaluation["float16_storage_cost_points"]) <= 0.05


def test_compact_storage_round_trips_within_float16_rounding(tmp_path):
    torch.manual_seed(0)
    network = model.build_resnet18_cifar().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that a float16 rounding of them would show
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "compact.pt"
    ship_model.save_compact_checkpoint(path, network, {"note": "test"})
    reloaded, provenance = model.load_checkpoint(path)
    assert provenance == {"note": "test"}
    assert torch.equal(reloaded.bn1.running_var, network.bn1.running_var)  # BatchNorm kept in float32
    assert torch.equal(reloaded.conv1.weight, network.conv1.weight.half().float())
    inputs = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected, actual = network(inputs), reloaded(inputs)
    assert float((expected - actual).norm() / expected.norm()) < 1e-2


def test_a_changed_or_missing_shipped_file_is_refused(tmp_path):
    changed = tmp_path / "changed.pt"
    payload = bytearray(SHIPPED_MODEL_PATH.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    changed.write_bytes(bytes(payload))
    with pytest.raises(TutorialError, match="damaged or was replaced"):
        model.load_shipped_model(changed)
    with pytest.raises(TutorialError, match="is missing"):
        model.load_shipped_model(tmp_path / "absent.pt")


def test_a_corrupt_file_or_another_architecture_is_refused_even_with_its_own_hash(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(TutorialError, match="not a readable PyTorch checkpoint"):
        model.load_shipped_model(garbage, expected_sha256=sha256_of(garbage))
    other = tmp_path / "other.pt"
    torch.save({"architecture": "resnet50-imagenet", "format": ship_model.COMPACT_FORMAT, "state_dict": {}}, other)
    with pytest.raises(TutorialError, match="resnet50-imagenet"):
        model.load_shipped_model(other, expected_sha256=sha256_of(other))


# --- facts about the real model (need the CIFAR-10 images; CI always has them) --------------------

@pytest.fixture(scope="module")
def cifar10_quick():
    if not os.environ.get(ARCHIVE_ENV):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ARCHIVE_ENV} is not set in CI: the Makefile sets it from ../shared/data")
        pytest.skip(f"{ARCHIVE_ENV} is not set (the real-model tests read CIFAR-10 offline)")
    return load_cifar10(PROFILES["quick"])


@pytest.fixture(scope="module")
def shipped_int8(cifar10_quick, tmp_path_factory):
    """The shipped model quantized as notebook 02 does (min-max observer, 256 calibration images),
    exported, then taken through notebook 03's surgery and notebook 05's fused-residual pass."""
    from helpers.quantization import fuse_for_quantization
    from helpers.surgery import fuse_residual_adds
    from qdq_graphs import fix_for_tensorrt

    torch.manual_seed(0)
    use_qnnpack()
    fp32, _ = model.load_shipped_model()
    fused = fuse_for_quantization(fp32)
    calibration = take_subset(cifar10_quick.train, PROFILES["quick"].calibration_images)
    int8, _ = quantize_int8(fused, tensorrt_qconfig(), calibration, 256)
    folder = tmp_path_factory.mktemp("shipped_int8")
    raw, fixed, fused_residuals = folder / "raw.onnx", folder / "fixed.onnx", folder / "fused.onnx"
    export_onnx(int8, raw, model_metadata(SHIPPED_MODEL_PATH, SHIPPED_MODEL_SHA256, "int8-qdq-raw", "02_quantize_and_export"))
    fix_for_tensorrt(raw, fixed)
    fuse_residual_adds(fixed, fused_residuals)
    return {"fused_fp32": fused, "int8": int8, "raw": raw, "fixed": fixed, "fused_residuals": fused_residuals}


def test_exported_int8_graph_sits_closer_to_pytorch_int8_than_int8_to_fp32(shipped_int8, cifar10_quick):
    """Run as written, ONNX Runtime computes the export's Q/DQ steps exactly, on any CPU: its logits must be
    nearer PyTorch's INT8 logits than those are to FP32's, and INT8 must stay near FP32 (a floor)."""
    inputs = normalize(to_tensor(take_subset(cifar10_quick.test, 100).images))
    with torch.inference_mode():
        int8_logits, fp32_logits = shipped_int8["int8"](inputs), shipped_int8["fused_fp32"](inputs)
    (onnx_logits,) = onnxruntime_session(shipped_int8["raw"]).run(None, {"input": inputs.numpy()})
    onnx_vs_int8 = sqnr_db(int8_logits, torch.from_numpy(onnx_logits))
    int8_vs_fp32 = sqnr_db(fp32_logits, int8_logits)
    print(f"SQNR ONNX Runtime vs PyTorch INT8 {onnx_vs_int8:.1f} dB, PyTorch INT8 vs FP32 {int8_vs_fp32:.1f} dB")
    assert int8_vs_fp32 > 28  # measured 31.3 dB; one bit less resolution would cost about 6 dB
    assert onnx_vs_int8 > int8_vs_fp32 + 1  # measured 33.0 dB


def test_fused_residual_placement_costs_at_most_0_3_points(shipped_int8, cifar10_quick):
    test = cifar10_quick.test
    unoptimized = predict_onnx(shipped_int8["fixed"], test.images)
    fused = predict_onnx(shipped_int8["fused_residuals"], test.images)
    gap_points = 100 * abs(np.mean(fused == test.labels) - np.mean(unoptimized == test.labels))
    print(f"unoptimized {np.mean(unoptimized == test.labels):.4f}, fused {np.mean(fused == test.labels):.4f} "
          f"on {len(test)} test images; same top-1 on {np.mean(fused == unoptimized):.2%}")
    assert np.mean(unoptimized == test.labels) >= 0.90  # a real model: about 0.93
    assert gap_points <= 0.3


def test_the_committed_laptop_path_reports_are_of_the_shipped_model():
    """The README quotes results/laptop-path/: it must come from the laptop path with the shipped model."""
    folder = REPO_ROOT / "results" / "laptop-path"
    quantization = json.loads((folder / "quantization_report.json").read_text())
    assert quantization["profile"]["name"] == "quick" and quantization["test_images"] == 1000
    assert quantization["fp32_checkpoint"]["provenance"]["shipped_model"]["commit"]
    assert quantization["accuracy"]["fp32"] >= 0.9 and abs(quantization["accuracy"]["int8_minus_fp32_points"]) <= 0.5
    surgery = json.loads((folder / "surgery_report.json").read_text())
    assert surgery["top1_on_test_images"]["images"] == 1000 and surgery["top1_on_test_images"]["same_prediction"] >= 0.99
