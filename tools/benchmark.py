"""Notebook 04's latency and throughput measurements, the way trtexec reports them, for every runtime this machine
has. Notebook 04 runs it; on a GPU machine it also runs without Jupyter:

    python tools/benchmark.py                                  # the profile's files ($TUTORIAL_PROFILE, else by device)
    python tools/benchmark.py --profile full --plots artifacts/full/plots

It times what notebooks 01-04 left in the profile's artifacts folder: on the CPU, PyTorch FP32 (notebook 01) and the
eager INT8 model on qnnpack (02), and ONNX Runtime on the FP32 (01) and fixed INT8 (03) graphs, by wall clock; on a CUDA
GPU, PyTorch FP32 with TF32 off and FP16 and every TensorRT plan notebook 04 built, with CUDA events around each
iteration (``helpers.gpu_timing.time_gpu_iterations``, the loop notebook 04's lesson writes): without the copies
(trtexec's "GPU Compute Time"), with them ("Latency"), and replayed as a CUDA graph. A missing file, or a runtime this
machine lacks, becomes a skipped step with its reason. Writes one JSON (default: the profile's ``benchmark.json``): the
measurements, the launch overhead (eager against CUDA graph), the skipped steps, the settings and the provenance
(``helpers.envcheck.machine_record()``, the NVIDIA driver, the commit). A record that the test double of TensorRT made
(its version says ``+testdouble``) is never written under ``results/``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from helpers import config, envcheck, plotting, tensorrt_engine  # noqa: E402
from helpers.config import TutorialError  # noqa: E402
from helpers.display import report_skip  # noqa: E402
from helpers.gpu_timing import TimingPlan, time_gpu_iterations, timing_plan  # noqa: E402
from helpers.model import load_checkpoint  # noqa: E402
from helpers.onnx_runtime import onnxruntime_session  # noqa: E402
from helpers.quantization import load_int8_model  # noqa: E402
from helpers.training import strict_fp32  # noqa: E402
from records import git_commit  # noqa: E402

CPU_MAX_BATCH = 32  # larger CPU batches take minutes without teaching anything new
CPU_MAX_ITERATIONS = 20
GPU_LABELS = {"FP32": "PyTorch FP32, TF32 off (GPU)", "FP16": "PyTorch FP16 (GPU)"}
CUDA_GRAPH_SUFFIX = " (CUDA graph)"
TEST_DOUBLE_MARK = "testdouble"  # the local version label of tests/trt_double's tensorrt.__version__
DATA_COPY_NOTE = ("'excluded': input already on the GPU, output left there (trtexec's GPU Compute Time); 'included': "
                  "pinned host input copied in and logits copied out (trtexec's Latency); CPU rows have no copies")
GPU_BASELINES_STEP = "PyTorch GPU baselines (FP32 TF32 off, FP16; eager and CUDA graph)"


def latency_statistics(latencies_ms: list[float], batch_size: int, wall_seconds: float | None = None) -> dict:
    """Mean, median, percentiles, min, max and std of per-iteration latencies (ms), and throughput in images/s."""
    values = np.asarray(latencies_ms, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"Latencies must be a non-empty list of finite, non-negative numbers, got {latencies_ms!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    median = float(np.median(values))
    record = {"iterations": int(values.size), "mean_ms": float(values.mean()), "median_ms": median,
              **{f"p{q}_ms": float(np.percentile(values, q)) for q in (90, 95, 99)},
              "min_ms": float(values.min()), "max_ms": float(values.max()), "std_ms": float(values.std()),
              "throughput_images_per_s": batch_size * 1000.0 / median if median > 0 else float("inf")}
    if wall_seconds is not None:
        record["wall_seconds"] = float(wall_seconds)
        record["wall_throughput_images_per_s"] = (batch_size * values.size / wall_seconds if wall_seconds > 0
                                                  else float("inf"))
    return record


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


def prepare_device_input(session: tensorrt_engine.EngineSession, batch_size: int) -> None:
    """Set the batch size and put an input batch on the device before any timed run, so that no run reads device
    memory nobody wrote (the "copies excluded" rows never copy inside the loop)."""
    tensorrt_engine.set_batch_size(session, batch_size)
    generator = np.random.default_rng(0)
    for tensor in session.inputs:
        view = tensorrt_engine.host_view(session, tensor)
        view[:] = (generator.integers(0, 256, view.shape, dtype=np.uint8) if tensor.dtype is None
                   else generator.standard_normal(view.shape).astype(tensor.dtype))
    tensorrt_engine.enqueue_copy_in(session)
    session.stream.synchronize()


def time_engine(session: tensorrt_engine.EngineSession, batch_size: int, timing: TimingPlan, include_copies: bool):
    """``time_gpu_iterations`` with CUDA events on the engine's stream: without copies trtexec's "GPU Compute Time",
    ``include_copies`` adds the copies in and out ("Latency")."""
    cuda = tensorrt_engine.import_pycuda()
    prepare_device_input(session, batch_size)

    def one_iteration():
        if include_copies:
            tensorrt_engine.enqueue_copy_in(session)
        tensorrt_engine.enqueue_inference(session)
        if include_copies:
            tensorrt_engine.enqueue_copy_out(session)
    return time_gpu_iterations(one_iteration, new_event=cuda.Event, record=lambda event: event.record(session.stream),
                               elapsed_ms=lambda start, end: end.time_since(start),
                               synchronize=session.stream.synchronize, timing=timing)


def torch_cuda():
    """``torch.cuda``, whose CUDA-graph capture ``time_engine_cuda_graph`` uses (pycuda cannot capture graphs)."""
    return torch.cuda


def time_engine_cuda_graph(session: tensorrt_engine.EngineSession, batch_size: int, timing: TimingPlan):
    """Like ``time_engine`` (compute only) but replaying a CUDA graph of the engine, as trtexec 11 does by default;
    the capture runs on a PyTorch stream (pycuda cannot capture graphs)."""
    cuda_api = torch_cuda()
    if not cuda_api.is_available():
        raise TutorialError("CUDA-graph timing captures the engine with PyTorch, and PyTorch sees no CUDA GPU here "
                            "(a CPU-only torch build?); the eager rows are timed with time_engine.")
    prepare_device_input(session, batch_size)  # input on the device, no copy left pending on the engine's stream
    capture_stream = cuda_api.Stream()
    if not session.context.execute_async_v3(capture_stream.cuda_stream):  # one run before capture, as TensorRT requires
        raise TutorialError("execute_async_v3 failed before CUDA graph capture; the log lines above say why.")
    capture_stream.synchronize()
    graph, captured, cuda_error = cuda_api.CUDAGraph(), None, None
    try:
        with cuda_api.graph(graph, stream=capture_stream, capture_error_mode="thread_local"):
            captured = session.context.execute_async_v3(capture_stream.cuda_stream)
    except RuntimeError as error:  # ending an invalidated capture raises; say what failed, not only CUDA's words
        cuda_error = error
    if cuda_error or not captured:
        cuda_said = f"; CUDA said: {(str(cuda_error) or repr(cuda_error)).splitlines()[0]}" if cuda_error else ""
        raise TutorialError(f"This engine cannot be captured in a CUDA graph (execute_async_v3 during capture returned "
                            f"{captured}{cuda_said}); time it with time_engine instead.") from cuda_error
    with cuda_api.stream(capture_stream):
        return time_gpu_iterations(graph.replay, new_event=lambda: cuda_api.Event(enable_timing=True),
                                   record=lambda event: event.record(capture_stream),
                                   elapsed_ms=lambda start, end: start.elapsed_time(end),
                                   synchronize=capture_stream.synchronize, timing=timing)


def active_profile(session: tensorrt_engine.EngineSession) -> dict:
    """The optimization profile the session runs with now, for result records."""
    low, opt, high = session.profiles[session.active_profile]
    return {"index": session.active_profile, "min": low, "opt": opt, "max": high}


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
            latencies, wall, warmup = time_engine(session, batch_size, timing, include_copies)
            rows.append(measurement(label, "TensorRT", precision, "cuda", batch_size,
                                    "included" if include_copies else "excluded", "CUDA events (pycuda)", latencies,
                                    wall, launch="eager", profile=active_profile(session),
                                    **common, **warmup))
            log(describe_row(rows[-1]))
        if cuda_graph:
            try:
                latencies, wall, warmup = time_engine_cuda_graph(session, batch_size, timing)
            except TutorialError as error:
                reason = f"batch {batch_size}: {error}"
                log(f"{label}: no CUDA-graph rows - {reason}")
                if skipped is not None:
                    skipped.append({"step": f"{label} CUDA-graph timing", "reason": reason})
                cuda_graph = False
                continue
            rows.append(measurement(label + CUDA_GRAPH_SUFFIX, "TensorRT", precision, "cuda", batch_size, "excluded",
                                    "CUDA events (torch)", latencies, wall, launch="CUDA graph",
                                    profile=active_profile(session), **common, **warmup))
            log(describe_row(rows[-1]))
    return rows


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


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers, got {text!r}") from error
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


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


def provenance(profile_name: str | None = None) -> dict:
    """Where and with what the measurements were taken: the machine record, the NVIDIA driver and the commit."""
    return {**envcheck.machine_record(), "nvidia_driver": nvidia_driver_version(), "git_commit": git_commit(),
            "profile": profile_name}


def made_with_test_double(record: dict) -> bool:
    """Whether anything in a record (a version, a row, a build) comes from the TensorRT test double."""
    return TEST_DOUBLE_MARK in json.dumps(record)


def write_results(path: Path, record: dict) -> Path:
    """Write a results JSON in one step; never one a test double made under results/ (measured results only)."""
    if made_with_test_double(record) and Path(path).resolve().is_relative_to((REPO_ROOT / "results").resolve()):
        raise TutorialError(f"Refusing to write {config.shown_path(path)}: it holds rows of a test double of TensorRT, "
                            f"not of TensorRT; results/ holds measurements only.")
    return config.write_json(path, record)


def needed_file(key: str, profile: config.Profile, step: str, skipped: list[dict]):
    """The path of artifact ``key``, or None after recording ``step`` as skipped for want of it."""
    path = config.artifact_path(key, profile)
    if path.exists():
        return path
    report_skip(step, f"no {config.shown_path(path)} (notebooks/{config.ARTIFACTS[key][1]} writes it)", record=skipped)
    return None


def measure_everything(profile: config.Profile, batch_sizes, timing: TimingPlan, cpu_batch_sizes, cpu_iterations: int,
                       skipped: list[dict], log: Callable[[str], None] = print) -> list[dict]:
    """Every row this machine can measure of the profile's files; what it cannot goes to ``skipped`` with why."""
    rows = []
    fp32_model = None
    if checkpoint := needed_file("fp32_checkpoint", profile, "PyTorch FP32 timings", skipped):
        fp32_model, _ = load_checkpoint(checkpoint)
        rows += measure_torch_cpu("PyTorch FP32 (CPU)", "FP32", fp32_model, cpu_batch_sizes, cpu_iterations, log)
    if int8_path := needed_file("int8_model", profile, "PyTorch INT8 (CPU, qnnpack) timings", skipped):
        rows += measure_torch_cpu("PyTorch INT8 (CPU, qnnpack)", "INT8", load_int8_model(int8_path)[0],
                                  cpu_batch_sizes, cpu_iterations, log)
    for precision, key in (("FP32", "fp32_onnx"), ("INT8", "int8_onnx_fixed")):
        label = f"ONNX Runtime {precision} (CPU)"
        if onnx_path := needed_file(key, profile, f"{label} timings", skipped):
            rows += measure_onnxruntime_cpu(label, precision, onnx_path, cpu_batch_sizes, cpu_iterations, log)
    if not torch.cuda.is_available():
        report_skip(GPU_BASELINES_STEP, "no CUDA GPU visible to PyTorch", record=skipped)
    elif fp32_model is None:
        report_skip(GPU_BASELINES_STEP, "no FP32 checkpoint (see the PyTorch FP32 step)", record=skipped)
    else:
        rows += measure_torch_gpu(fp32_model, batch_sizes, timing, log=log)
    if tensorrt_missing := tensorrt_engine.tensorrt_unavailable_reason(install_hint=False):
        report_skip("TensorRT engine timings", tensorrt_missing, record=skipped)
        return rows
    for precision, (_, plan_key) in tensorrt_engine.ENGINES.items():
        if plan := needed_file(plan_key, profile, f"TensorRT {precision} timings", skipped):
            rows += measure_tensorrt(f"TensorRT {precision}", precision, plan, batch_sizes, timing, log=log,
                                     skipped=skipped)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                        help="whose files to time (default: $TUTORIAL_PROFILE, else by device)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON to write (default: the profile's benchmark.json, which notebook 04 then "
                             "completes with its engine builds and accuracy table: run alone, this replaces them)")
    parser.add_argument("--batch-sizes", type=parse_batch_sizes, default=None, help="default: the profile's")
    parser.add_argument("--iterations", type=int, default=None,
                        help="minimum timed iterations per GPU row, and per CPU row up to 20 (default: the profile's)")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="minimum measuring time per GPU row (trtexec: 3; default: 1 s full profile, else 0.25 s)")
    parser.add_argument("--warmup-seconds", type=float, default=None, help="warm-up per GPU row (trtexec: 0.2)")
    parser.add_argument("--plots", type=Path, default=None, help="folder for latency/throughput plots (PNG)")
    args = parser.parse_args(argv)

    profile = config.get_profile(args.profile)
    batch_sizes = args.batch_sizes or profile.benchmark_batch_sizes
    timing = timing_plan(profile.name, profile.benchmark_iterations if args.iterations is None else args.iterations)
    timing = dataclasses.replace(timing, **{name: value for name, value in (("min_seconds", args.min_seconds),
                                                                             ("warmup_seconds", args.warmup_seconds))
                                            if value is not None})
    cpu_batch_sizes, cpu_iterations = cpu_plan(batch_sizes, timing.min_iterations)
    skipped = []
    measurements = measure_everything(profile, batch_sizes, timing, cpu_batch_sizes, cpu_iterations, skipped)
    record = {"made_by": "tools/benchmark.py", "provenance": provenance(profile.name),
              "settings": {"batch_sizes": list(batch_sizes), "gpu_timing": timing.as_dict(),
                           "cpu_batch_sizes": list(cpu_batch_sizes), "cpu_iterations": cpu_iterations,
                           "cpu_warmup_iterations": warmup_iterations(cpu_iterations), "data_copy": DATA_COPY_NOTE,
                           "command": " ".join(["python tools/benchmark.py",
                                                *(sys.argv[1:] if argv is None else argv)])},
              "measurements": measurements, "launch_overhead": launch_overhead_rows(measurements), "skipped": skipped}
    out = args.out or config.artifact_path("benchmark_results", profile)
    print(f"wrote {config.shown_path(write_results(out, record))} ({len(measurements)} measurements, "
          f"{len(skipped)} skipped steps)")
    if args.plots and measurements:
        title_note = (record["provenance"]["gpu"] or {}).get("name") or record["provenance"]["cpu"]
        for data_copy in ("excluded", "included"):
            rows = plotting.rows_for_plot(measurements, data_copy)
            for name, plot in (("latency", plotting.latency_vs_batch), ("throughput", plotting.throughput_vs_batch)):
                path = args.plots / f"{name}_copies_{data_copy}.png"
                plotting.save_figure(plot(rows, f"copies {data_copy} | {title_note}"), path)
                print("wrote", config.shown_path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
