"""ONNX export with self-describing metadata (notebook 01): every ONNX file the project writes says what its input is,
what its outputs mean and which checkpoint it came from, so any such file is evaluated from its metadata alone."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from .config import TutorialError, written_atomically
from .data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17


def model_metadata(checkpoint_path: Path | None, checkpoint_sha256: str | None, precision: str,
                   produced_by: str) -> dict[str, str]:
    """The metadata_props every exported model carries (values are strings; lists are JSON)."""
    return {
        "input_name": INPUT_NAME, "input_shape": json.dumps(["batch", 3, 32, 32]), "input_layout": "NCHW",
        "input_dtype": "float32", "input_color_order": "RGB", "input_pixel_scale": "1/255",
        "normalization_mean": json.dumps(list(CIFAR10_MEAN)), "normalization_std": json.dumps(list(CIFAR10_STD)),
        "preprocessing": "x = (pixel / 255 - mean[c]) / std[c], per channel c",
        "output_name": OUTPUT_NAME, "output_meaning": "logits over class_names (argmax = predicted class)",
        "class_names": json.dumps(list(CIFAR10_CLASSES)),
        "source_checkpoint": checkpoint_path.name if checkpoint_path else "",
        "source_checkpoint_sha256": checkpoint_sha256 or "", "precision": precision, "produced_by": produced_by,
    }


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> onnx.ModelProto:
    """Replace the model's metadata_props by ``metadata`` (in place; also returned)."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    return model


def read_metadata(path_or_model) -> dict[str, str]:
    """metadata_props of an ONNX file or ModelProto as a dict."""
    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else load_onnx(path_or_model, False)
    return {entry.key: entry.value for entry in model.metadata_props}


def load_onnx(path: Path, load_weights: bool = True) -> onnx.ModelProto:
    """onnx.load with a clear error for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"ONNX file {path} does not exist.")
    try:
        return onnx.load(str(path), load_external_data=load_weights)
    except Exception as error:  # DecodeError, google.protobuf errors, OSError
        raise TutorialError(f"{path} is not a readable ONNX model ({type(error).__name__}: {error}).") from error


def export_onnx(model: torch.nn.Module, path: Path, metadata: dict[str, str], opset: int = OPSET) -> Path:
    """Export ``model`` (FP32 or eager INT8, on the CPU) with the TorchScript exporter, dynamic batch, checked."""
    path = Path(path)
    with written_atomically(path) as partial:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated and says so at length
            torch.onnx.export(model.eval().cpu(), (torch.randn(1, 3, 32, 32),), str(partial), dynamo=False,
                              opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        exported = set_metadata(onnx.load(str(partial)), metadata)
        onnx.checker.check_model(exported, full_check=True)
        onnx.save(exported, str(partial))
    return path


def preprocess_from_metadata(images_uint8_nhwc: np.ndarray, metadata: dict[str, str]) -> np.ndarray:
    """Turn raw uint8 RGB images into the model's input using only the model's metadata."""
    if metadata.get("input_layout") != "NCHW" or metadata.get("input_color_order") != "RGB":
        raise TutorialError(f"Unsupported input description in metadata: {metadata}")
    mean = np.asarray(json.loads(metadata["normalization_mean"]), dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(json.loads(metadata["normalization_std"]), dtype=np.float32).reshape(1, -1, 1, 1)
    numerator, denominator = metadata.get("input_pixel_scale", "1/255").split("/")
    scale = np.float32(float(numerator) / float(denominator))
    scaled = images_uint8_nhwc.astype(np.float32).transpose(0, 3, 1, 2) * scale
    return ((scaled - mean) / std).astype(metadata.get("input_dtype", "float32"))


def predict_in_batches(images_uint8_nhwc: np.ndarray, metadata: dict[str, str], batch_size: int,
                       logits_of) -> np.ndarray:
    """Top-1 class of every image: ``logits_of`` each batch, preprocessed as ``metadata`` says."""
    return np.concatenate([logits_of(preprocess_from_metadata(images_uint8_nhwc[start:start + batch_size],
                                                              metadata)).argmax(1)
                           for start in range(0, len(images_uint8_nhwc), batch_size)])
