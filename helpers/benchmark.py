"""Latency and throughput the way trtexec reports them, for every runtime this machine has (notebook 04): GPU rows
timed with CUDA events, with and without the copies, eager or as a CUDA graph; CPU rows by wall clock."""

from __future__ import annotations

import copy
import functools
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import tensorrt_engine
from .config import TutorialError
from .gpu_timing import TimingPlan, latency_statistics, time_gpu_iterations
from .onnx_runtime import onnxruntime_session

CPU_MAX_BATCH = 32  # larger CPU batches take minutes without teaching anything new
CPU_MAX_ITERATIONS = 20
GPU_LABELS = {"FP32": "PyTorch FP32, TF32 off (GPU)", "FP16": "PyTorch FP16 (GPU)"}
CUDA_GRAPH_SUFFIX = " (CUDA graph)"


def warmup_iterations(iterations: int) -> int:
    """Untimed runs before timing a CPU row: a tenth of the timed ones, at least 3."""
    return max(3, iterations // 10)


def cpu_plan(batch_sizes, iterations: int) -> tuple[tuple[int, ...], int]:
    """Batch sizes and iterations for CPU rows: capped, so a full-profile run does not spend minutes on the CPU."""
    sizes = tuple(size for size in batch_sizes if size <= CPU_MAX_BATCH) or (min(batch_sizes),)
    return sizes, min(iterations, CPU_MAX_ITERATIONS)


def measurement(label: str, runtime: str, precision: str, device: str, batch_size: int, data_copy: str,
                timer: str, latencies_ms: list[float], wall_seconds: float | None = None, **details) -> dict:
    """One row of the results: what was timed, how, and its statistics."""
    return {"label": label, "runtime": runtime, "precision": precision, "device": device,
            "batch_size": int(batch_size), "data_copy": data_copy, "timer": timer,
            **latency_statistics(latencies_ms, batch_size, wall_seconds), **details}


def describe_row(row: dict) -> str:
    """One printable line per measurement."""
    return (f"{row['label']:<40} batch {row['batch_size']:>4}  copies {row['data_copy']:<9}  "
            f"median {row['median_ms']:8.3f} ms  p99 {row['p99_ms']:8.3f} ms  "
            f"{row['throughput_images_per_s']:>10.0f} img/s")


def random_images(batch_size: int, seed: int = 0) -> np.ndarray:
    """Normalized-looking float32 NCHW input; timing does not depend on the pixel values."""
    return np.random.default_rng(seed).standard_normal((batch_size, 3, 32, 32)).astype(np.float32)


def time_cpu_call(run: Callable[[], object], iterations: int, warmup: int) -> tuple[list[float], float]:
    """Per-call wall-clock latency in ms of ``run()`` and the total seconds of the timed calls."""
    for _ in range(warmup):
        run()
    latencies, started = [], time.perf_counter()
    for _ in range(iterations):
        call_started = time.perf_counter()
        run()
        latencies.append((time.perf_counter() - call_started) * 1000.0)
    return latencies, time.perf_counter() - started


def _cpu_rows(label: str, runtime: str, precision: str, batch_sizes, iterations: int, log: Callable[[str], None],
              call_for: Callable[[np.ndarray], Callable[[], object]], **details) -> list[dict]:
    """One wall-clock row per batch size of the call ``call_for`` makes for a random batch."""
    rows = []
    for batch_size in batch_sizes:
        latencies, wall = time_cpu_call(call_for(random_images(batch_size)), iterations, warmup_iterations(iterations))
        rows.append(measurement(label, runtime, precision, "cpu", batch_size, "n/a (CPU)", "wall clock", latencies,
                                wall, **details))
        log(describe_row(rows[-1]))
    return rows


def measure_torch_cpu(label: str, precision: str, model: torch.nn.Module, batch_sizes, iterations: int,
                      log: Callable[[str], None] = print) -> list[dict]:
    """PyTorch on the CPU (FP32, or an eager-mode INT8 model on qnnpack), one row per batch size."""
    model = model.cpu().eval()
    with torch.inference_mode():
        return _cpu_rows(label, "PyTorch", precision, batch_sizes, iterations, log,
                         lambda images: functools.partial(model, torch.from_numpy(images)),
                         threads=torch.get_num_threads(), quantized_engine=torch.backends.quantized.engine)


def measure_onnxruntime_cpu(label: str, precision: str, onnx_path: Path, batch_sizes, iterations: int,
                            log: Callable[[str], None] = print) -> list[dict]:
    """ONNX Runtime's CPU provider on an ONNX file, optimized as it would be deployed, one row per batch size."""
    session = onnxruntime_session(onnx_path, optimized=True)
    input_name = session.get_inputs()[0].name
    return _cpu_rows(label, "ONNX Runtime", precision, batch_sizes, iterations, log,
                     lambda images: functools.partial(session.run, None, {input_name: images}),
                     onnx=Path(onnx_path).name)


@contextmanager
def strict_fp32():
    """TF32 off in cuBLAS and cuDNN inside the block, so "FP32" means what it means in the FP32 engine."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
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
    """PyTorch on the GPU, timed with CUDA events (``time_gpu_iterations``). ``include_copies``: from a pinned host
    batch to logits on the host ("Latency"). ``cuda_graph``: one captured forward pass replayed (compute only)."""
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
                               record=lambda event: event.record(),
                               elapsed_ms=lambda start, end: start.elapsed_time(end),
                               synchronize=torch.cuda.synchronize, timing=timing)


def measure_torch_gpu(model: torch.nn.Module, batch_sizes, timing: TimingPlan, precisions=("FP32", "FP16"),
                      cuda_graph: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """PyTorch GPU baselines (FP32 with TF32 off, FP16; channels-last) at every batch, eager and as a CUDA graph."""
    if not torch.cuda.is_available():
        raise TutorialError("No CUDA GPU visible to PyTorch: GPU baselines cannot be measured here.")
    dtypes = {"FP32": torch.float32, "FP16": torch.float16}
    variants = [(False, False), (True, False)] + ([(False, True)] if cuda_graph else [])  # (copies, CUDA graph)
    saved_benchmark, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, True
    rows = []
    try:
        for precision in precisions:
            model_on_gpu = copy.deepcopy(model).to("cuda", dtype=dtypes[precision],
                                                   memory_format=torch.channels_last).eval()
            with strict_fp32() if precision == "FP32" else nullcontext():
                for batch_size in batch_sizes:
                    for include_copies, graph in variants:
                        latencies, wall, warmup = time_torch_gpu(model_on_gpu, batch_size, timing, include_copies,
                                                                 graph)
                        rows.append(measurement(
                            GPU_LABELS[precision] + (CUDA_GRAPH_SUFFIX if graph else ""), "PyTorch", precision, "cuda",
                            batch_size, "included" if include_copies else "excluded", "CUDA events (torch)", latencies,
                            wall, launch="CUDA graph" if graph else "eager", series=GPU_LABELS[precision],
                            memory_format="channels_last", cudnn_benchmark=True,
                            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                            tf32_cudnn=torch.backends.cudnn.allow_tf32, timing=timing.as_dict(), **warmup))
                        log(describe_row(rows[-1]))
    finally:
        torch.backends.cudnn.benchmark = saved_benchmark
    return rows


def measure_tensorrt(label: str, precision: str, plan_path: Path, batch_sizes, timing: TimingPlan,
                     cuda_graph: bool = True, log: Callable[[str], None] = print,
                     skipped: list[dict] | None = None) -> list[dict]:
    """A TensorRT engine at every batch size with the profile tuned for it: eager with and without copies, and
    (``cuda_graph``) as a CUDA graph without copies; when no graph can be captured, the reason goes to ``skipped``."""
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


def rows_for_plot(measurements: list[dict], data_copy: str, launch: str = "eager") -> list[dict]:
    """The rows of one data-copy setting and launch mode ("eager" or "CUDA graph"), CPU rows in every eager plot."""
    return [row for row in measurements if row["data_copy"] in (data_copy, "n/a (CPU)")
            and row.get("launch", "eager") == launch]


def launch_overhead_rows(measurements: list[dict]) -> list[dict]:
    """Eager against CUDA-graph median latency (copies excluded) per series and batch: the ratio is what launching
    every kernel from the host costs."""
    graphs = {(row["series"], row["batch_size"]): row for row in measurements
              if row.get("launch") == "CUDA graph" and row["data_copy"] == "excluded"}
    result = []
    for row in measurements:
        graph = graphs.get((row.get("series"), row["batch_size"]))
        if graph is not None and row.get("launch") == "eager" and row["data_copy"] == "excluded":
            result.append({"series": row["series"], "batch_size": row["batch_size"], "eager_ms": row["median_ms"],
                           "cuda_graph_ms": graph["median_ms"],
                           "eager_over_graph": row["median_ms"] / graph["median_ms"]})
    return result
