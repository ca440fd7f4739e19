"""The project's INT8 graphs side by side with NVIDIA ModelOpt's ONNX INT8 post-training quantization.

Introduced in notebook 05; ``tools/modelopt_compare.py`` runs the same steps from the command line.

ModelOpt (``nvidia-modelopt[onnx]``) pins its own onnx and onnxruntime versions, so it lives in a
virtual environment of its own (``.venv-modelopt`` at the repository root, or $MODELOPT_VENV) and
runs as a subprocess: ``python -m modelopt.onnx.quantization`` on the project's FP32 ONNX model
(notebook 01), calibrated on the same training images as notebook 02. Everything else (counting
Q/DQ nodes, their placement per op type, accuracy with ONNX Runtime on the CPU) runs here, in the
project's environment, on all three graphs the same way.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import onnx_inspect, qdq_rules
from .config import REPO_ROOT, Profile, TutorialError, read_json, write_json
from .benchmark import accuracy_rows, format_rows
from .data import Cifar10, load_cifar10, take_subset
from .envcheck import cpu_description
from .onnx_export import load_onnx, preprocess_from_metadata, read_metadata, set_metadata
from .onnx_runtime import predict_onnx
from .surgery import file_sha256

MODELOPT_VENV_ENV = "MODELOPT_VENV"
# lief: ModelOpt's ONNX PTQ needs it (notebook 05). requests, huggingface_hub: nvidia-modelopt 0.47.0's `modelopt.torch`
# imports them but declares them only in its [hf] extra (notebook 06 runs ModelOpt's PyTorch quantization).
MODELOPT_REQUIREMENTS = ("nvidia-modelopt[onnx]==0.47.0", "lief", "requests>=2.32", "huggingface_hub>=0.24")
INSTALLED_MARKER = ".modelopt-installed"
MODELOPT_PRECISION = "int8-qdq-modelopt"
SCHEMA = "trt-quant-tutorial/modelopt-comparison/1"
# The comparison of a clean CI run (quick profile, the shipped model), which notebook 05 shows, labelled, without ModelOpt.
COMMITTED_COMPARISON = REPO_ROOT / "results" / "cpu-quick-profile" / "modelopt_comparison.json"


# --- ModelOpt's own virtual environment ---------------------------------------------------------

def modelopt_venv() -> Path:
    """Where ModelOpt's virtual environment lives: $MODELOPT_VENV, else .venv-modelopt in the repository."""
    return Path(os.environ.get(MODELOPT_VENV_ENV) or REPO_ROOT / ".venv-modelopt")


def venv_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def modelopt_unavailable_reason(venv: Path | None = None) -> str | None:
    """Why ModelOpt cannot run here, or None when its environment is installed."""
    venv = Path(venv or modelopt_venv())
    if not venv_python(venv).exists() or not (venv / INSTALLED_MARKER).exists():
        return (f"ModelOpt's virtual environment {venv} is not installed (it needs about 6.5 GB and 2 minutes: "
                f"run `python tools/modelopt_compare.py --setup-only`)")
    return None


def ready_for_modelopt(venv: Path | None, work_dir: Path) -> tuple[Path, Path]:
    """ModelOpt's environment and a work folder for one of its runs: (venv, work_dir), the folder created.

    Raises a TutorialError saying why when the environment is not installed."""
    venv = Path(venv or modelopt_venv())
    reason = modelopt_unavailable_reason(venv)
    if reason:
        raise TutorialError(reason)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    return venv, work_dir


def create_modelopt_venv(venv: Path | None = None, log=print) -> Path:
    """Make ModelOpt's virtual environment with pip (skipped when it is installed with today's requirements;
    an environment installed with another list gets the current one installed into it)."""
    venv = Path(venv or modelopt_venv())
    wanted = " ".join(MODELOPT_REQUIREMENTS) + "\n"
    if modelopt_unavailable_reason(venv) is None and (venv / INSTALLED_MARKER).read_text() == wanted:
        log(f"ModelOpt environment already installed: {venv}")
        return venv
    started = time.perf_counter()
    log(f"creating {venv} and installing {' '.join(MODELOPT_REQUIREMENTS)} (about 6.5 GB) ...")
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
             [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *MODELOPT_REQUIREMENTS]]
    for command in steps:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise TutorialError(f"`{' '.join(command)}` failed:\n{(result.stdout + result.stderr)[-3000:]}")
    (venv / INSTALLED_MARKER).write_text(wanted)
    log(f"installed in {time.perf_counter() - started:.0f} s")
    return venv


def modelopt_versions(venv: Path | None = None) -> dict[str, str | None]:
    """Versions of ModelOpt and of the packages it runs on, read inside its environment."""
    names = ["nvidia-modelopt", "onnx", "onnxruntime", "onnxruntime-gpu", "torch", "numpy"]
    script = ("import importlib.metadata as m, json, platform\n"
              f"names = {names!r}\n"
              "def version(name):\n"
              "    try:\n        return m.version(name)\n"
              "    except m.PackageNotFoundError:\n        return None\n"
              "print(json.dumps({'python': platform.python_version(), **{n: version(n) for n in names}}))")
    result = subprocess.run([str(venv_python(venv or modelopt_venv())), "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        raise TutorialError(f"Cannot read versions in ModelOpt's environment: {result.stderr[-1000:]}")
    import json

    return {name: version for name, version in json.loads(result.stdout).items() if version is not None}


# --- calibration data and the quantization run ----------------------------------------------------

def write_calibration_data(fp32_onnx: Path, profile: Profile, dataset: Cifar10, calibration_path: Path) -> dict:
    """The calibration images of notebook 02 (same fixed subset of the training split), preprocessed as
    the FP32 model's metadata says, saved as one float32 NCHW array (``.npy``) for ModelOpt."""
    calibration = take_subset(dataset.train, profile.calibration_images)
    inputs = preprocess_from_metadata(calibration.images, read_metadata(fp32_onnx))
    np.save(calibration_path, inputs)
    return {"file": Path(calibration_path).name, "images": int(len(inputs)), "shape": list(inputs.shape),
            "sha256": file_sha256(calibration_path), "data_source": dataset.source,
            "selection": f"take_subset(train, {profile.calibration_images}), as in notebook 02"}


def modelopt_command(python: Path, onnx_path: Path, calibration_path: Path, output_path: Path) -> list[str]:
    """ModelOpt's INT8 PTQ on the CPU. ``--high_precision_dtype fp32``: its default (fp16) gives graphs
    that ONNX Runtime on the CPU computes wrongly."""
    return [str(python), "-m", "modelopt.onnx.quantization", "--onnx_path", str(onnx_path),
            "--quantize_mode", "int8", "--calibration_data_path", str(calibration_path),
            "--calibration_method", "max", "--calibration_eps", "cpu", "--high_precision_dtype", "fp32",
            "--output_path", str(output_path)]


def run_modelopt(command: list[str], output_path: Path, log_path: Path) -> float:
    """Run ModelOpt, keep its log next to the result, and return the seconds it took."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=Path(output_path).parent)
    seconds = time.perf_counter() - started
    Path(log_path).write_text(result.stdout + result.stderr)
    if result.returncode != 0 or not Path(output_path).is_file():
        raise TutorialError(f"ModelOpt failed (exit {result.returncode}); its log is in {log_path}:\n"
                            f"{(result.stdout + result.stderr)[-2000:]}")
    return seconds


def mark_modelopt_output(modelopt_onnx: Path, fp32_onnx: Path) -> None:
    """Give ModelOpt's graph the FP32 model's metadata (preprocessing, classes, checkpoint), marked as ModelOpt's."""
    import onnx

    model = load_onnx(modelopt_onnx)
    set_metadata(model, {**read_metadata(fp32_onnx), "precision": MODELOPT_PRECISION,
                         "produced_by": "helpers.modelopt_compare (NVIDIA ModelOpt ONNX PTQ)"})
    onnx.save(model, str(modelopt_onnx))


# --- what is compared -----------------------------------------------------------------------------

def graph_summary(path: Path) -> dict:
    """Q/DQ counts, placement per op type, residual Adds and TensorRT rule findings of one graph."""
    model = onnx_inspect.as_model(path)  # read once, asked five questions
    counts = onnx_inspect.count_ops(model)
    findings = qdq_rules.check_tensorrt_rules(model)
    placements = list(qdq_rules.residual_add_placements(model).values())
    return {
        "file": Path(path).name,
        "sha256": file_sha256(path),
        "opset": next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")),
        "quantize_linear": counts.get("QuantizeLinear", 0),
        "dequantize_linear": counts.get("DequantizeLinear", 0),
        "nodes": sum(counts.values()),
        "residual_adds": {"fused": placements.count("fused"), "unfused": placements.count("unfused")},
        "tensorrt_rule_errors": qdq_rules.count_by_rule(qdq_rules.errors(findings)),
        "tensorrt_rule_warnings": qdq_rules.count_by_rule([f for f in findings if f.severity == qdq_rules.WARNING]),
        "placement_by_op": onnx_inspect.qdq_placement_by_op(model),
    }


def accuracy_on_onnxruntime(graphs: dict[str, Path], images: np.ndarray, labels: np.ndarray, reference: str,
                            batch_size: int = 500, known_predictions: dict[str, np.ndarray] | None = None) -> dict[str, dict]:
    """Top-1 of each graph on ONNX Runtime (CPU, run as written) and its agreement with ``reference``.

    ``known_predictions`` holds predictions already made the same way on the same images (notebook 05 made
    them for its two graphs); those graphs are not run again."""
    known_predictions = known_predictions or {}
    predictions = {name: known_predictions[name] if name in known_predictions else predict_onnx(path, images, batch_size)
                   for name, path in graphs.items()}
    return {row["model"]: {"accuracy": row["accuracy"], "interval_95": row["interval_95"],
                           "agreement_with_" + reference: row["agreement_with_reference"]}
            for row in accuracy_rows(predictions, labels, reference)}


def graph_records(graphs: dict[str, Path], images: np.ndarray, labels: np.ndarray, reference: str, batch_size: int = 500,
                  known_predictions: dict[str, np.ndarray] | None = None) -> dict[str, dict]:
    """The comparison of ``compare``, one entry per graph: ``graph_summary`` (Q/DQ counts, placement, rule findings)
    and ``accuracy_on_onnxruntime`` (top-1, its 95 % interval, agreement with ``reference``)."""
    accuracy = accuracy_on_onnxruntime(graphs, images, labels, reference, batch_size, known_predictions)
    return {name: {**graph_summary(path), **accuracy[name]} for name, path in graphs.items()}


def compare(fp32_onnx: Path, unoptimized_onnx: Path, fused_onnx: Path, profile: Profile, work_dir: Path,
            result_path: Path, venv: Path | None = None, log=print,
            known_predictions: dict[str, np.ndarray] | None = None) -> dict:
    """ModelOpt on the FP32 model, then the three INT8 graphs compared; writes and returns the JSON record.

    ``known_predictions``: see ``accuracy_on_onnxruntime`` (keys "unoptimized (notebook 03)", "fused residuals (notebook 05)")."""
    import onnxruntime

    venv, work_dir = ready_for_modelopt(venv, work_dir)
    calibration_path = work_dir / "calib.npy"
    modelopt_onnx = work_dir / "resnet18_int8_modelopt.onnx"

    dataset = load_cifar10(profile)
    log(f"writing {profile.calibration_images} calibration images to {calibration_path}")
    calibration = write_calibration_data(fp32_onnx, profile, dataset, calibration_path)
    command = modelopt_command(venv_python(venv), fp32_onnx, calibration_path, modelopt_onnx)
    log("running " + " ".join(command[1:]))
    modelopt_seconds = run_modelopt(command, modelopt_onnx, work_dir / "modelopt.log")
    mark_modelopt_output(modelopt_onnx, fp32_onnx)

    graphs = {"unoptimized (notebook 03)": Path(unoptimized_onnx), "fused residuals (notebook 05)": Path(fused_onnx),
              "ModelOpt": modelopt_onnx}
    log(f"evaluating {len(graphs)} graphs with ONNX Runtime on the test images")
    test = dataset.test
    started = time.perf_counter()
    compared = graph_records(graphs, test.images, test.labels, reference="unoptimized (notebook 03)",
                             batch_size=profile.eval_batch_size, known_predictions=known_predictions)
    record = {
        "schema": SCHEMA,
        "made_by": "helpers.modelopt_compare.compare (python tools/modelopt_compare.py, or notebook 05)",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile.name,
        "machine": {"cpu": cpu_description(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "fp32_onnx": {"file": Path(fp32_onnx).name, "sha256": file_sha256(fp32_onnx)},
        "calibration": calibration,
        "modelopt": {"command": "python " + " ".join(command[1:]).replace(str(work_dir) + "/", ""),
                     "seconds": round(modelopt_seconds, 1), "versions": modelopt_versions(venv)},
        "onnxruntime_evaluation": {"onnxruntime": onnxruntime.__version__, "graph_optimizations": "disabled (run as written)",
                                   "test_images": int(len(test)), "seconds": round(time.perf_counter() - started, 1)},
        "graphs": compared,
    }
    write_json(result_path, record)
    log(f"wrote {result_path}")
    return record


def comparison_rows(record: dict) -> list[dict]:
    """One row per graph for a table: Q/DQ counts, residual Adds, Gemm/pooling placement, accuracy."""
    rows = []
    for name, graph in record["graphs"].items():
        gemm = graph["placement_by_op"].get("Gemm", {})
        rows.append({
            "graph": name,
            "QuantizeLinear": graph["quantize_linear"],
            "DequantizeLinear": graph["dequantize_linear"],
            "residual Adds fused/unfused": f"{graph['residual_adds']['fused']}/{graph['residual_adds']['unfused']}",
            "Gemm int8": "yes" if gemm.get("quantized_weights") else "no",
            "TensorRT rule errors": sum(graph["tensorrt_rule_errors"].values()),
            "top-1": f"{graph['accuracy']:.2%}",
            "95 % interval": "-".join(f"{bound:.2%}" for bound in graph["interval_95"]) if "interval_95" in graph else "n/a",
            "agrees with unoptimized": f"{graph['agreement_with_unoptimized (notebook 03)']:.1%}",
        })
    return rows


def placement_rows(record: dict) -> list[dict]:
    """Per op type and graph: nodes, dequantized/float activation inputs, int8 weights, outputs into a Q."""
    rows = []
    op_types = sorted({op for graph in record["graphs"].values() for op in graph["placement_by_op"]})
    for op in op_types:
        for name, graph in record["graphs"].items():
            counts = graph["placement_by_op"].get(op)
            if counts:
                rows.append({"op type": op, "graph": name, **counts})
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table with a header from the first row's keys (benchmark's table printer)."""
    return format_rows(rows, list(rows[0])) if rows else "(no rows)"


def load_comparison(path: Path) -> dict:
    """The record ``compare`` wrote (notebook 05 shows its numbers from this file)."""
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"{path} does not exist; run `python tools/modelopt_compare.py` (or notebook 05).")
    record = read_json(path)
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        schema = record.get("schema") if isinstance(record, dict) else None
        raise TutorialError(f"{path} is not a ModelOpt comparison of this version (schema {schema!r}).")
    return record
