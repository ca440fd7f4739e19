"""ONNX Runtime on the CPU, the independent executor the notebooks check ONNX graphs with (notebook 01): **as written**
by default; ``optimized=True`` (for speed only) turns on rewrites whose INT8 kernels depend on the CPU (notebook 03)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .config import TutorialError
from .onnx_export import predict_in_batches, read_metadata


def onnxruntime_session(path: Path, optimized: bool = False):
    """A CPU ONNX Runtime session (run as written unless ``optimized``; as many threads as $OMP_NUM_THREADS says, if
    set), with a clear error for files it refuses."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # the CPU-thread limit PyTorch follows, for ONNX Runtime too
        options.intra_op_num_threads = max(1, int(os.environ["OMP_NUM_THREADS"]))
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise TutorialError(f"ONNX Runtime cannot load {path}: {error}") from error


def predict_onnx(path: Path, images_uint8_nhwc: np.ndarray, batch_size: int = 500,
                 optimized: bool = False) -> np.ndarray:
    """Top-1 class of every image from an exported model, preprocessed as its metadata says."""
    metadata = read_metadata(path)
    session = onnxruntime_session(path, optimized=optimized)
    input_name = metadata.get("input_name") or session.get_inputs()[0].name
    return predict_in_batches(images_uint8_nhwc, metadata, batch_size,
                              lambda inputs: session.run(None, {input_name: inputs})[0])


def onnxruntime_logits(path: Path, inputs: np.ndarray, optimized: bool = False) -> np.ndarray:
    """Logits of an ONNX model for already preprocessed ``inputs``, run as written unless ``optimized``."""
    session = onnxruntime_session(path, optimized=optimized)
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def compare_on_onnxruntime(raw_path: Path, fixed_path: Path, inputs: np.ndarray, optimized: bool = False) -> dict:
    """Run two graphs on the same inputs and compare their logits (notebook 03: before and after the surgery)."""
    raw_logits, fixed_logits = (onnxruntime_logits(path, inputs, optimized) for path in (raw_path, fixed_path))
    return {"images": int(len(inputs)), "onnxruntime_optimizations": "default" if optimized else "disabled",
            "max_abs_diff": float(np.max(np.abs(raw_logits - fixed_logits))),
            "bit_identical": bool(np.array_equal(raw_logits, fixed_logits)),
            "top1_agreement": float(np.mean(raw_logits.argmax(1) == fixed_logits.argmax(1)))}
