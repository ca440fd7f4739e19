"""Latency and throughput the way trtexec reports them, for every runtime this machine has.

Introduced in notebook 04. Also a command-line tool for GPU machines without Jupyter:

    python -m helpers.benchmark --out artifacts/full/benchmark_gpu.json --plots artifacts/full/plots

Each measurement warms up, then times many iterations one by one and reports the median and the
tail (p90/p95/p99) of the per-iteration latency, and throughput in images per second:

* GPU (PyTorch, TensorRT): CUDA events on the stream, with and without the host<->device copies
  (trtexec's "Latency" and "GPU Compute Time"), launched one by one ("eager") and replayed as a CUDA
  graph. Warm-up and measuring are time-based, as in trtexec (``TimingPlan``): at least 200 ms of
  warm-up, then at least a minimum number of iterations *and* a minimum time per row. PyTorch's FP32
  baseline runs with TF32 off, like the FP32 engine;
* CPU (PyTorch FP32, PyTorch INT8 on qnnpack, ONNX Runtime FP32/INT8): wall clock per call, after a
  counted warm-up (``warmup_iterations``).

Results are saved as JSON together with their provenance (GPU, driver, CUDA, TensorRT, library
versions, CPU model, profile), so every number in a plot says where it came from.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import REPO_ROOT, TutorialError, write_json

SCHEMA = "trt-quant-tutorial/benchmark/1"
GPU_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CPU_MAX_BATCH = 32  # larger CPU batches take minutes without teaching anything new
CPU_MAX_ITERATIONS = 20


# --- statistics -----------------------------------------------------------------------------------

def warmup_iterations(iterations: int) -> int:
    """Untimed runs before timing a CPU row: a tenth of the timed ones, at least 3."""
    return max(3, iterations // 10)


@dataclass(frozen=True)
class TimingPlan:
    """How long a GPU row warms up and measures, the way trtexec does it.

    trtexec warms up for 200 ms (``--warmUp``) and then runs at least 10 iterations (``--iterations``)
    *and* at least 3 s (``--duration``). A warm-up counted in iterations is a few milliseconds at batch 1:
    too short for the GPU's clocks to ramp up, so the small-batch rows would come out slow.
    """

    warmup_seconds: float = 0.2
    min_seconds: float = 1.0
    min_iterations: int = 10

    def as_dict(self) -> dict:
        return asdict(self)


def timing_plan(profile_name: str | None, iterations: int) -> TimingPlan:
    """The GPU timing plan of a profile: 200 ms warm-up; at least ``iterations`` iterations and 1 s per row
    (the full profile) or 0.25 s (quick). trtexec's default is 3 s; 1 s keeps notebook 04 to minutes."""
    return TimingPlan(warmup_seconds=0.2, min_seconds=1.0 if profile_name == "full" else 0.25,
                      min_iterations=max(1, int(iterations)))


def time_gpu_iterations(step: Callable[[], None], new_event: Callable[[], object], record: Callable[[object], None],
                        elapsed_ms: Callable[[object, object], float], synchronize: Callable[[], None],
                        timing: TimingPlan) -> tuple[list[float], float, dict]:
    """Warm up for ``timing.warmup_seconds``, then time ``step`` one iteration at a time (an event before and
    after each) until both ``timing.min_iterations`` and ``timing.min_seconds`` are reached.

    Returns (per-iteration milliseconds, wall-clock seconds of the timed iterations, what the warm-up did).
    The event and stream calls are passed in, so PyTorch (torch.cuda) and TensorRT (pycuda) share this loop.
    """
    warmup_started, warmup_count = time.perf_counter(), 0
    while warmup_count == 0 or time.perf_counter() - warmup_started < timing.warmup_seconds:
        step()
        synchronize()  # each warm-up iteration finishes on the GPU, so the warm-up time is GPU time
        warmup_count += 1
    warmup = {"warmup_iterations": warmup_count, "warmup_seconds": round(time.perf_counter() - warmup_started, 4)}
    chunk = max(1, min(50, timing.min_iterations))  # synchronize now and then to check the time
    pairs, started = [], time.perf_counter()
    while True:
        for _ in range(chunk):
            start, end = new_event(), new_event()
            record(start)
            step()
            record(end)
            pairs.append((start, end))
        synchronize()
        wall_seconds = time.perf_counter() - started
        if len(pairs) >= timing.min_iterations and wall_seconds >= timing.min_seconds:
            return [float(elapsed_ms(start, end)) for start, end in pairs], wall_seconds, warmup


def latency_statistics(latencies_ms: list[float], batch_size: int, wall_seconds: float | None = None) -> dict:
    """Summary of per-iteration latencies (ms): mean, median, p90/p95/p99, min, max, std, and
    throughput in images/s from the median latency (and from wall-clock time when given)."""
    values = np.asarray(latencies_ms, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"Latencies must be a non-empty list of finite, non-negative numbers, got {latencies_ms!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    median = float(np.median(values))
    record = {
        "iterations": int(values.size),
        "mean_ms": float(values.mean()),
        "median_ms": median,
        "p90_ms": float(np.percentile(values, 90)),
        "p95_ms": float(np.percentile(values, 95)),
        "p99_ms": float(np.percentile(values, 99)),
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
        "std_ms": float(values.std()),
        "throughput_images_per_s": batch_size * 1000.0 / median if median > 0 else float("inf"),
    }
    if wall_seconds is not None:
        record["wall_seconds"] = float(wall_seconds)
        record["wall_throughput_images_per_s"] = batch_size * values.size / wall_seconds if wall_seconds > 0 else float("inf")
    return record


def measurement(label: str, runtime: str, precision: str, device: str, batch_size: int, data_copy: str,
                timer: str, latencies_ms: list[float], wall_seconds: float | None = None, **details) -> dict:
    """One row of the results: what was timed, how, and its statistics."""
    return {"label": label, "runtime": runtime, "precision": precision, "device": device,
            "batch_size": int(batch_size), "data_copy": data_copy, "timer": timer,
            **latency_statistics(latencies_ms, batch_size, wall_seconds), **details}


# --- timing loops ---------------------------------------------------------------------------------

def time_cpu_call(run: Callable[[], object], iterations: int, warmup: int) -> tuple[list[float], float]:
    """Per-call wall-clock latency in ms of ``run()`` and the total seconds of the timed calls."""
    for _ in range(warmup):
        run()
    latencies = []
    started = time.perf_counter()
    for _ in range(iterations):
        call_started = time.perf_counter()
        run()
        latencies.append((time.perf_counter() - call_started) * 1000.0)
    return latencies, time.perf_counter() - started


@contextmanager
def strict_fp32():
    """TF32 off in PyTorch (cuBLAS and cuDNN) inside the block, as the FP32 engine (``BuilderFlag.TF32``
    cleared) does, so that "FP32" means the same on both sides; the previous settings come back after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def capture_cuda_graph(step: Callable[[], None]):
    """A CUDA graph of ``step`` (PyTorch's recipe: a few runs on a side stream first, then capture)."""
    side_stream = torch.cuda.Stream()
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side_stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    torch.cuda.synchronize()
    return graph


@torch.inference_mode()
def time_torch_gpu(model_on_gpu: torch.nn.Module, batch_size: int, timing: TimingPlan, include_copies: bool,
                   cuda_graph: bool = False) -> tuple[list[float], float, dict]:
    """PyTorch on the GPU, timed with CUDA events on the current stream (``time_gpu_iterations``).

    ``model_on_gpu`` is already on the GPU in its dtype and memory format. ``include_copies`` starts
    each iteration from a pinned host batch and ends with the logits back on the host (like
    TensorRT's "Latency"); otherwise the input already sits on the GPU and the logits stay there.
    ``cuda_graph`` replays one captured forward pass (compute only) instead of launching every kernel
    from Python: the difference to the eager row is the launch overhead.
    """
    if cuda_graph and include_copies:
        raise ValueError("CUDA-graph rows time the compute only (include_copies=False), as TensorRT's do.")
    parameter = next(model_on_gpu.parameters())
    host_input = torch.randn(batch_size, 3, 32, 32, dtype=parameter.dtype).pin_memory()
    device_input = host_input.to(parameter.device).contiguous(memory_format=torch.channels_last)
    host_output = torch.empty_like(model_on_gpu(device_input), device="cpu").pin_memory()

    def one_iteration():
        if include_copies:
            device_input.copy_(host_input, non_blocking=True)
        logits = model_on_gpu(device_input)
        if include_copies:
            host_output.copy_(logits, non_blocking=True)

    step = capture_cuda_graph(one_iteration).replay if cuda_graph else one_iteration
    return time_gpu_iterations(step, new_event=lambda: torch.cuda.Event(enable_timing=True),
                               record=lambda event: event.record(), elapsed_ms=lambda start, end: start.elapsed_time(end),
                               synchronize=torch.cuda.synchronize, timing=timing)


def random_images(batch_size: int, seed: int = 0) -> np.ndarray:
    """Normalized-looking float32 NCHW input; timing does not depend on the pixel values."""
    return np.random.default_rng(seed).standard_normal((batch_size, 3, 32, 32)).astype(np.float32)


# --- what to measure where ------------------------------------------------------------------------

def cpu_plan(batch_sizes, iterations: int) -> tuple[tuple[int, ...], int]:
    """Batch sizes and iterations for CPU runs: capped, so a full-profile run on a GPU machine
    does not spend many minutes on the CPU rows."""
    sizes = tuple(size for size in batch_sizes if size <= CPU_MAX_BATCH) or (min(batch_sizes),)
    return sizes, min(iterations, CPU_MAX_ITERATIONS)


def measure_torch_cpu(label: str, precision: str, model: torch.nn.Module, batch_sizes, iterations: int,
                      log: Callable[[str], None] = print) -> list[dict]:
    """PyTorch on the CPU (FP32, or an eager-mode INT8 model on qnnpack), one row per batch size."""
    rows = []
    model = model.cpu().eval()
    for batch_size in batch_sizes:
        inputs = torch.from_numpy(random_images(batch_size))
        with torch.inference_mode():
            latencies, wall = time_cpu_call(lambda: model(inputs), iterations, warmup_iterations(iterations))
        rows.append(measurement(label, "PyTorch", precision, "cpu", batch_size, "n/a (CPU)", "wall clock",
                                latencies, wall, threads=torch.get_num_threads(),
                                quantized_engine=torch.backends.quantized.engine))
        log(describe_row(rows[-1]))
    return rows


def measure_onnxruntime_cpu(label: str, precision: str, onnx_path: Path, batch_sizes, iterations: int,
                            log: Callable[[str], None] = print) -> list[dict]:
    """ONNX Runtime's CPU provider on an ONNX file, one row per batch size."""
    from .onnx_runtime import onnxruntime_session

    session = onnxruntime_session(onnx_path, optimized=True)  # timed as it would be deployed
    input_name = session.get_inputs()[0].name
    rows = []
    for batch_size in batch_sizes:
        feed = {input_name: random_images(batch_size)}
        latencies, wall = time_cpu_call(lambda: session.run(None, feed), iterations, warmup_iterations(iterations))
        rows.append(measurement(label, "ONNX Runtime", precision, "cpu", batch_size, "n/a (CPU)", "wall clock",
                                latencies, wall, onnx=Path(onnx_path).name))
        log(describe_row(rows[-1]))
    return rows


GPU_LABELS = {"FP32": "PyTorch FP32, TF32 off (GPU)", "FP16": "PyTorch FP16 (GPU)"}
CUDA_GRAPH_SUFFIX = " (CUDA graph)"


def measure_torch_gpu(model: torch.nn.Module, batch_sizes, timing: TimingPlan, precisions=("FP32", "FP16"),
                      cuda_graph: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """PyTorch GPU baselines (cuDNN autotuner on, channels-last), FP32 with TF32 off and FP16, at every batch:
    launched eager with and without copies, and (``cuda_graph``) replayed as a CUDA graph without copies."""
    if not torch.cuda.is_available():
        raise TutorialError("No CUDA GPU visible to PyTorch: GPU baselines cannot be measured here.")
    dtypes = {"FP32": torch.float32, "FP16": torch.float16}
    saved_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    rows = []
    try:
        for precision in precisions:
            # a copy, so the caller's CPU model is left as it was
            model_on_gpu = copy.deepcopy(model).to("cuda", dtype=dtypes[precision], memory_format=torch.channels_last).eval()
            with strict_fp32() if precision == "FP32" else nullcontext():
                for batch_size in batch_sizes:
                    variants = [(False, False), (True, False)] + ([(False, True)] if cuda_graph else [])
                    for include_copies, graph in variants:
                        latencies, wall, warmup = time_torch_gpu(model_on_gpu, batch_size, timing, include_copies, graph)
                        label = GPU_LABELS[precision] + (CUDA_GRAPH_SUFFIX if graph else "")
                        rows.append(measurement(label, "PyTorch", precision, "cuda", batch_size,
                                                "included" if include_copies else "excluded", "CUDA events (torch)",
                                                latencies, wall, launch="CUDA graph" if graph else "eager",
                                                series=GPU_LABELS[precision], memory_format="channels_last",
                                                cudnn_benchmark=True, tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                                                tf32_cudnn=torch.backends.cudnn.allow_tf32,
                                                timing=timing.as_dict(), **warmup))
                        log(describe_row(rows[-1]))
    finally:
        torch.backends.cudnn.benchmark = saved_benchmark
    return rows


def measure_tensorrt(label: str, precision: str, plan_path: Path, batch_sizes, timing: TimingPlan,
                     cuda_graph: bool = True, log: Callable[[str], None] = print,
                     skipped: list[dict] | None = None) -> list[dict]:
    """A TensorRT engine at every batch size, each with the optimization profile tuned for it: launched eager
    with and without copies, and (``cuda_graph``) replayed as a CUDA graph without copies, as trtexec 11 does.

    An engine that cannot be captured in a CUDA graph keeps its eager rows; the reason is logged (and
    appended to ``skipped`` when given) and no further capture of it is tried.
    """
    from . import tensorrt_engine

    session = tensorrt_engine.open_session(plan_path, max_batch=max(batch_sizes))
    common = {"plan": Path(plan_path).name, "tensorrt": tensorrt_engine.installed_tensorrt_version(),
              "timing": timing.as_dict(), "series": label}
    rows = []
    for batch_size in batch_sizes:
        for include_copies in (False, True):
            latencies, wall, warmup = tensorrt_engine.time_engine(session, batch_size, timing, include_copies)
            rows.append(measurement(label, "TensorRT", precision, "cuda", batch_size,
                                    "included" if include_copies else "excluded", "CUDA events (pycuda)", latencies,
                                    wall, launch="eager", profile=tensorrt_engine.active_profile(session),
                                    **common, **warmup))
            log(describe_row(rows[-1]))
        if cuda_graph:
            try:
                latencies, wall, warmup = tensorrt_engine.time_engine_cuda_graph(session, batch_size, timing)
            except TutorialError as error:
                reason = f"batch {batch_size}: {error}"
                log(f"{label}: no CUDA-graph rows - {reason}")
                if skipped is not None:
                    skipped.append({"step": f"{label} CUDA-graph timing", "reason": reason})
                cuda_graph = False
                continue
            rows.append(measurement(label + CUDA_GRAPH_SUFFIX, "TensorRT", precision, "cuda", batch_size, "excluded",
                                    "CUDA events (torch)", latencies, wall, launch="CUDA graph",
                                    profile=tensorrt_engine.active_profile(session), **common, **warmup))
            log(describe_row(rows[-1]))
    return rows


def row_key(row: dict) -> tuple:
    """What makes a measurement unique: label, batch size, data copy, and eager or CUDA graph."""
    return row["label"], row["batch_size"], row["data_copy"], row.get("launch", "eager")


def launch_overhead_rows(measurements: list[dict]) -> list[dict]:
    """Eager against CUDA-graph median latency (copies excluded) for each series and batch size.

    The ratio eager / graph is what launching every kernel from the host costs: near 1 when the GPU is
    busy (large batches), well above 1 when the GPU waits for launches (small batches)."""
    graphs = {(row["series"], row["batch_size"]): row for row in measurements
              if row.get("launch") == "CUDA graph" and row["data_copy"] == "excluded"}
    result = []
    for row in measurements:
        graph = graphs.get((row.get("series"), row["batch_size"]))
        if graph is not None and row.get("launch") == "eager" and row["data_copy"] == "excluded":
            result.append({"series": row["series"], "batch_size": row["batch_size"], "eager_ms": row["median_ms"],
                           "cuda_graph_ms": graph["median_ms"], "eager_over_graph": row["median_ms"] / graph["median_ms"]})
    return result


def describe_row(row: dict) -> str:
    """One printable line per measurement."""
    return (f"{row['label']:<40} batch {row['batch_size']:>4}  copies {row['data_copy']:<9}  "
            f"median {row['median_ms']:8.3f} ms  p99 {row['p99_ms']:8.3f} ms  "
            f"{row['throughput_images_per_s']:>10.0f} img/s")


# --- provenance and files -------------------------------------------------------------------------

def _package_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def nvidia_driver_version() -> str:
    """The NVIDIA driver version from nvidia-smi, or why it is unknown."""
    executable = shutil.which("nvidia-smi")
    if not executable:
        return "unknown (no nvidia-smi on PATH)"
    try:
        result = subprocess.run([executable, "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True)
        return result.stdout.strip().splitlines()[0]
    except (subprocess.SubprocessError, OSError, IndexError) as error:
        return f"unknown (nvidia-smi failed: {type(error).__name__})"


def provenance(profile_name: str | None = None, data_copy_note: str | None = None) -> dict:
    """Where and with what the measurements were taken."""
    from .envcheck import cpu_description, int8_instruction_sets
    from .tensorrt_engine import installed_tensorrt_version

    gpu = None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        gpu = {"name": properties.name, "memory_gib": round(properties.total_memory / 2**30, 1),
               "compute_capability": f"{properties.major}.{properties.minor}",
               "driver": nvidia_driver_version(), "cuda_runtime_torch": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version()}
    return {
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_description(),
        "cpu_int8_instruction_sets": int8_instruction_sets(),  # they decide ONNX Runtime's INT8 CPU kernels
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "versions": {
            "torch": torch.__version__,
            "torchvision": _package_version("torchvision"),
            "onnx": _package_version("onnx"),
            "onnxruntime": _package_version("onnxruntime"),
            "numpy": np.__version__,
            "tensorrt": installed_tensorrt_version(),
            "pycuda": _package_version("pycuda") or "not installed",
        },
        "profile": profile_name,
        "data_copy": data_copy_note or ("'excluded': input already on the GPU, output left there (trtexec's GPU Compute "
                                        "Time); 'included': pinned host input copied in and logits copied out "
                                        "(trtexec's Latency); CPU rows have no copies"),
    }


def results_record(measurements: list[dict], provenance_record: dict, skipped: list[dict] | None = None,
                   settings: dict | None = None) -> dict:
    """The JSON document saved by notebook 04 and by the command-line tool."""
    return {"schema": SCHEMA, "provenance": provenance_record, "settings": settings or {},
            "measurements": measurements, "skipped": skipped or []}


def from_test_double(record: dict) -> bool:
    """Whether a results record holds anything made by a stand-in for TensorRT (``tests/trt_double``)."""
    versions = [str(record.get("provenance", {}).get("versions", {}).get("tensorrt", ""))]
    versions += [str(row.get("tensorrt", "")) for row in record.get("measurements", [])]
    return any("TEST DOUBLE" in version for version in versions)


def save_results(path: Path, record: dict) -> Path:
    """Write the results JSON (never a half-written file).

    Refuses a record without schema and provenance, and one with rows from a TensorRT test double
    anywhere under ``results/`` (where the measured reports live)."""
    if record.get("schema") != SCHEMA or "provenance" not in record:
        raise TutorialError("Refusing to save benchmark results without schema and provenance.")
    if from_test_double(record) and Path(path).resolve().is_relative_to((REPO_ROOT / "results").resolve()):
        raise TutorialError(f"Refusing to write {path}: these rows come from a test double of TensorRT, not from "
                            f"TensorRT; results/ holds measurements only.")
    return write_json(path, record)


def load_results(path: Path) -> dict:
    """Read a results JSON written by ``save_results``, with a clear error for anything else."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise TutorialError(f"{path} is not a readable benchmark JSON ({type(error).__name__}: {error}).") from error
    if record.get("schema") != SCHEMA:
        raise TutorialError(f"{path} is not a benchmark result of this tutorial (schema {record.get('schema')!r}).")
    return record


def rows_for_plot(measurements: list[dict], data_copy: str, launch: str = "eager") -> list[dict]:
    """The measurements of one data-copy setting and one launch mode ("eager" or "CUDA graph");
    CPU rows (no copies, always eager) are in every eager plot."""
    return [row for row in measurements if row["data_copy"] in (data_copy, "n/a (CPU)")
            and row.get("launch", "eager") == launch]


# --- accuracy next to each other ------------------------------------------------------------------

def accuracy_rows(predictions: dict[str, np.ndarray], labels: np.ndarray, reference: str) -> list[dict]:
    """Top-1 accuracy of each model, its 95 % interval, and how often it agrees with ``reference``'s prediction."""
    from .training import accuracy_interval

    if reference not in predictions:
        raise ValueError(f"reference {reference!r} is not among {list(predictions)}")
    rows = []
    for name, predicted in predictions.items():
        predicted = np.asarray(predicted)
        if predicted.shape != labels.shape:
            raise ValueError(f"{name}: {predicted.shape[0]} predictions for {labels.shape[0]} labels")
        value, low, high = accuracy_interval(predicted, labels)
        rows.append({"model": name, "accuracy": value, "interval_95": [low, high],
                     "agreement_with_reference": float((predicted == predictions[reference]).mean()),
                     "images": int(labels.size)})
    return rows


def format_cell(value) -> str:
    """Floats with 4 decimals, a (low, high) pair as 'low-high', anything else as text."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(bound, float) for bound in value):
        return f"{value[0]:.4f}-{value[1]:.4f}"
    return str(value)


def format_rows(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of selected columns (floats with 4 decimals, intervals as 'low-high')."""
    cells = [[format_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(value.ljust(w) for value, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)


# --- command line (GPU machines without Jupyter) --------------------------------------------------

def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers, got {text!r}") from error
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.benchmark", description=(
        "Measure PyTorch (GPU FP32/FP16, optionally CPU) and, where installed, TensorRT engines; "
        "write the results JSON with provenance, and optionally the plots."))
    parser.add_argument("--out", type=Path, required=True, help="results JSON to write")
    parser.add_argument("--batch-sizes", type=parse_batch_sizes, default=GPU_BATCH_SIZES)
    parser.add_argument("--iterations", type=int, default=200, help="minimum timed iterations per GPU row (CPU: exact)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="minimum measuring time per GPU row (trtexec: 3)")
    parser.add_argument("--warmup-seconds", type=float, default=0.2, help="warm-up per GPU row (trtexec: 0.2)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="FP32 checkpoint of notebook 01 (default: random weights; timing does not depend on them)")
    parser.add_argument("--cpu", action="store_true", help="also time PyTorch FP32 on the CPU (capped batch sizes)")
    parser.add_argument("--engine", action="append", default=[], metavar="LABEL=PRECISION=PLAN",
                        help="also time a TensorRT plan, e.g. 'TensorRT INT8=INT8=artifacts/full/resnet18_int8.plan'")
    parser.add_argument("--plots", type=Path, default=None, help="folder for latency/throughput plots (PNG)")
    args = parser.parse_args(argv)

    from .model import build_resnet18_cifar, load_checkpoint

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        weights = args.checkpoint.name
    else:
        model, weights = build_resnet18_cifar().eval(), "random (latency does not depend on weight values)"
    timing = TimingPlan(warmup_seconds=args.warmup_seconds, min_seconds=args.min_seconds, min_iterations=args.iterations)
    measurements, skipped = [], []
    if torch.cuda.is_available():
        measurements += measure_torch_gpu(model, args.batch_sizes, timing)
    else:
        skipped.append({"step": "PyTorch GPU baselines", "reason": "no CUDA GPU visible to PyTorch"})
        print("SKIPPED: PyTorch GPU baselines - no CUDA GPU visible to PyTorch")
    if args.cpu:
        sizes, iterations = cpu_plan(args.batch_sizes, args.iterations)
        measurements += measure_torch_cpu("PyTorch FP32 (CPU)", "FP32", model, sizes, iterations)
    for spec in args.engine:
        label, precision, plan = spec.split("=", 2)
        measurements += measure_tensorrt(label, precision, Path(plan), args.batch_sizes, timing, skipped=skipped)
    record = results_record(measurements, provenance(os.environ.get("TUTORIAL_PROFILE"), None), skipped,
                            {"batch_sizes": list(args.batch_sizes), "gpu_timing": timing.as_dict(),
                             "cpu_iterations": args.iterations, "cpu_warmup_iterations": warmup_iterations(args.iterations),
                             "weights": weights, "command": " ".join(sys.argv)})
    print(f"wrote {save_results(args.out, record)} ({len(measurements)} measurements)")
    if args.plots and measurements:
        from .plotting import latency_vs_batch, save_figure, throughput_vs_batch

        title_note = (record["provenance"]["gpu"] or {}).get("name") or record["provenance"]["cpu"]
        for data_copy in ("excluded", "included"):
            rows = rows_for_plot(measurements, data_copy)
            print("wrote", save_figure(latency_vs_batch(rows, f"copies {data_copy} | {title_note}"),
                                       args.plots / f"latency_copies_{data_copy}.png"))
            print("wrote", save_figure(throughput_vs_batch(rows, f"copies {data_copy} | {title_note}"),
                                       args.plots / f"throughput_copies_{data_copy}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
