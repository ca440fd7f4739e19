"""Profiles, device choice, the artifacts folder and atomic writes, shared by every notebook (notebook 00). ``full``
(the default with a CUDA GPU) uses every image; ``quick`` (the laptop path) trains on a subset, then continues with the
model in ``models/``. ``TUTORIAL_PROFILE`` overrides the choice; ``TUTORIAL_ARTIFACTS`` moves the artifacts folder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_ENV = "TUTORIAL_PROFILE"
ARTIFACTS_ENV = "TUTORIAL_ARTIFACTS"


class TutorialError(RuntimeError):
    """An error a learner can fix; the message says how."""


@dataclass(frozen=True)
class Profile:
    name: str
    train_images: int | None  # None means every training image
    test_images: int | None  # None means every test image
    epochs: int
    batch_size: int
    peak_learning_rate: float
    weight_decay: float
    label_smoothing: float
    cutmix_probability: float  # share of batches mixed with CutMix; 0 = never
    ema_decay: float  # keep an exponential moving average of the weights; 0 = off
    ema_start_epoch: int  # the average starts at the beginning of this epoch (1 = from the first step)
    calibration_images: int  # notebook 02
    observer_selection_images: int  # notebook 02: held-out training images the observers are compared on
    eval_batch_size: int
    benchmark_batch_sizes: tuple[int, ...]  # notebook 04
    benchmark_iterations: int  # notebook 04
    uses_shipped_model: bool  # notebook 01: continue with models/ (True) or with the model it trains (False)
    sensitivity_images: int  # notebook 07: held-out training images each layer's sensitivity is measured on
    mixed_precision_layers: tuple[int, ...]  # notebook 07: how many of the most sensitive layers stay float, per point
    qat_steps: int  # notebook 07: QAT steps (full: 3 epochs; quick: a demonstration, then the committed QAT model)
    qat_batch_size: int
    qat_learning_rate: float  # full: chosen by tools/train_qat.py on held-out training images (results/qat-model/)

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "full": Profile(
        name="full", train_images=None, test_images=None, epochs=180, batch_size=512, peak_learning_rate=0.2,
        weight_decay=5e-4, label_smoothing=0.1, cutmix_probability=0.5, ema_decay=0.999, ema_start_epoch=91,
        calibration_images=2048, observer_selection_images=2000, eval_batch_size=1000,
        benchmark_batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), benchmark_iterations=200,
        uses_shipped_model=False, sensitivity_images=1000, mixed_precision_layers=(0, 1, 2, 3),
        qat_steps=588,  # 3 epochs of 50,000 images at 256
        qat_batch_size=256, qat_learning_rate=0.005),
    "quick": Profile(
        name="quick",
        train_images=512,  # notebook 01's demonstration run; notebook 02 splits it into calibration and held-out images
        test_images=1000,  # 100 per class
        epochs=3, batch_size=64, peak_learning_rate=0.05, weight_decay=5e-4, label_smoothing=0.1,
        cutmix_probability=0.0, ema_decay=0.0, ema_start_epoch=1, calibration_images=256,
        observer_selection_images=256,  # the other 256 of those 512
        eval_batch_size=250, benchmark_batch_sizes=(1, 4, 16), benchmark_iterations=10, uses_shipped_model=True,
        sensitivity_images=128, mixed_precision_layers=(0, 1, 2),
        qat_steps=16,  # one pass over the 512 demonstration images
        qat_batch_size=32, qat_learning_rate=0.002),
}
# `make test` only: the laptop path cut to what its checks need, so that CI runs every notebook in minutes.
PROFILES["test"] = replace(PROFILES["quick"], name="test", train_images=256, test_images=500, calibration_images=128,
                           observer_selection_images=128, epochs=2, benchmark_batch_sizes=(1, 4),
                           benchmark_iterations=5, mixed_precision_layers=(0, 1), qat_steps=4)


def default_device() -> torch.device:
    """CUDA when PyTorch sees a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name``, else by $TUTORIAL_PROFILE, else the device's default."""
    name = name or os.environ.get(PROFILE_ENV, "").strip() or ("full" if torch.cuda.is_available() else "quick")
    if name.lower() not in PROFILES:
        raise TutorialError(f"Unknown profile {name!r}. Choose one of {sorted(PROFILES)} (set {PROFILE_ENV}=quick or "
                            f"{PROFILE_ENV}=full, or unset it to pick by device).")
    return PROFILES[name.lower()]


def _artifacts_base() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV) or REPO_ROOT / "artifacts")


def artifacts_dir(profile: Profile | None = None) -> Path:
    """The folder of one profile's outputs (quick and full runs never overwrite each other), created on first use."""
    folder = _artifacts_base() / (profile or get_profile()).name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Every file one notebook hands to the next: {key: (file name, the notebook that writes it)}.
ARTIFACTS = {key: (file_name, notebook) for notebook, files in {
    "01_train_fp32_resnet18.ipynb": {"fp32_checkpoint": "resnet18_fp32.pt", "training_history": "training_history.json",
                                     "fp32_onnx": "resnet18_fp32.onnx"},
    "02_quantize_and_export.ipynb": {"int8_model": "resnet18_int8_qnnpack.pt",
                                     "quantization_report": "quantization_report.json",
                                     "int8_onnx_raw": "resnet18_int8_raw.onnx"},
    "03_graph_surgery.ipynb": {"int8_onnx_fixed": "resnet18_int8_trt.onnx", "surgery_report": "surgery_report.json"},
    "04_tensorrt_engines.ipynb": {"fp16_onnx": "resnet18_fp16.onnx", "benchmark_results": "benchmark.json",
                                  "int8_onnx_fused": "resnet18_int8_trt_fused_residuals.onnx",  # 05 explains it
                                  "int8_fp16_onnx": "resnet18_int8_fp16_trt.onnx", "fp32_plan": "resnet18_fp32.plan",
                                  "fp16_plan": "resnet18_fp16.plan", "int8_plan": "resnet18_int8.plan",
                                  "int8_fp16_plan": "resnet18_int8_fp16.plan",
                                  "int8_fused_plan": "resnet18_int8_fused_residuals.plan"},
    "05_qdq_placement_vs_modelopt.ipynb": {"modelopt_comparison": "modelopt_comparison.json"},
    "06_routes_after_eager_mode.ipynb": {"pt2e_onnx": "resnet18_int8_pt2e.onnx", "routes_report": "routes_report.json"},
    "07_when_ptq_is_not_enough.ipynb": {"beyond_ptq_report": "beyond_ptq_report.json"},
}.items() for key, file_name in files.items()}


def artifact_path(key: str, profile: Profile | None = None) -> Path:
    """Where artifact ``key`` lives (it may not exist yet)."""
    return artifacts_dir(profile) / ARTIFACTS[key][0]


def require_artifact(key: str, profile: Profile | None = None) -> Path:
    """The path of an artifact an earlier notebook wrote, or an error naming that notebook."""
    path = artifact_path(key, profile)
    if not path.exists():
        raise TutorialError(f"{path} does not exist yet. Run notebooks/{ARTIFACTS[key][1]} first with the "
                            f"'{(profile or get_profile()).name}' profile (or run `make tutorial`).")
    return path


@contextmanager
def written_atomically(path: Path | str) -> Iterator[Path]:
    """Yield a temporary name beside ``path`` (same suffix) that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(path: Path | str, record: dict) -> Path:
    """Write a JSON report (indented, values JSON lacks as strings) atomically."""
    with written_atomically(path) as partial:
        partial.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return Path(path)


def read_json(path: Path | str) -> dict:
    """A JSON report, or a clear error when it is missing or not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise TutorialError(f"{path} does not exist.") from error
    except json.JSONDecodeError as error:
        raise TutorialError(f"{path} is not valid JSON ({error}); restore it or write it again.") from error


def shown_path(path) -> str:
    """A path as notebooks print it: relative to the repository (or the artifacts folder), naming no machine folder."""
    for base, label in ((REPO_ROOT, ""), (_artifacts_base(), "artifacts/")):
        try:
            return label + Path(str(path)).resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return str(path)
