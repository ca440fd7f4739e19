"""helpers.gpu_timing (the timing loop's reference) and tools/benchmark.py (notebook 04's measurements): trtexec-style
timing and statistics, CPU measurements, plots, the command line and its provenance record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import benchmark as benchmark_tool  # tools/benchmark.py (tests/conftest.py puts tools/ on sys.path)
import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from helpers import config, gpu_timing, plotting, tensorrt_engine, training
from helpers.config import REPO_ROOT, TutorialError, read_json
from helpers.onnx_export import export_onnx, model_metadata

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10)).eval()


def test_statistics_of_known_latencies():
    latencies = list(range(1, 101))  # 1..100 ms
    stats = benchmark_tool.latency_statistics(latencies, batch_size=4, wall_seconds=10.1)
    assert stats["iterations"] == 100
    assert stats["median_ms"] == pytest.approx(50.5)
    assert stats["mean_ms"] == pytest.approx(50.5)
    assert stats["p90_ms"] == pytest.approx(90.1)  # linear interpolation between order statistics
    assert stats["p95_ms"] == pytest.approx(95.05)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert (stats["min_ms"], stats["max_ms"]) == (1.0, 100.0)
    assert stats["throughput_images_per_s"] == pytest.approx(4 * 1000 / 50.5)
    assert stats["wall_throughput_images_per_s"] == pytest.approx(4 * 100 / 10.1)


def test_tail_latency_shows_outliers_the_median_hides():
    stats = benchmark_tool.latency_statistics([1.0] * 95 + [10.0] * 5, batch_size=1)
    assert stats["median_ms"] == 1.0 and stats["p90_ms"] == 1.0
    assert stats["p99_ms"] == pytest.approx(10.0)
    assert "wall_seconds" not in stats


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, -2.0]])
def test_statistics_refuse_bad_latencies(bad):
    with pytest.raises(ValueError, match="non-empty list of finite, non-negative"):
        benchmark_tool.latency_statistics(bad, batch_size=1)


def test_statistics_refuse_an_empty_batch_and_survive_zero_times():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        benchmark_tool.latency_statistics([1.0], batch_size=0)
    stats = benchmark_tool.latency_statistics([0.0, 0.0], batch_size=2, wall_seconds=0.0)
    assert stats["throughput_images_per_s"] == stats["wall_throughput_images_per_s"] == float("inf")


class _ClockEvent:
    """A stand-in for a CUDA event on the CPU: it records the wall clock (what the notebook's lesson uses too)."""

    def __init__(self):
        self.time = None

    def record(self):
        self.time = time.perf_counter()


def test_warm_up_and_measuring_are_time_based():
    calls = []

    def step():
        calls.append(time.perf_counter())
        time.sleep(0.001)

    plan = gpu_timing.TimingPlan(warmup_seconds=0.05, min_seconds=0.08, min_iterations=5)
    latencies, wall, warmup = gpu_timing.time_gpu_iterations(
        step, new_event=_ClockEvent, record=lambda event: event.record(),
        elapsed_ms=lambda start, end: (end.time - start.time) * 1000, synchronize=lambda: None, timing=plan)
    assert warmup["warmup_seconds"] >= 0.05 and warmup["warmup_iterations"] >= 10  # a count of 3 took 3 ms
    assert wall >= 0.08 and len(latencies) >= 20 and all(value >= 1.0 for value in latencies)
    assert len(calls) == warmup["warmup_iterations"] + len(latencies)
    few = gpu_timing.TimingPlan(warmup_seconds=0.0, min_seconds=0.0, min_iterations=7)
    latencies, _, warmup = gpu_timing.time_gpu_iterations(step, _ClockEvent, lambda event: event.record(),
                                                          lambda s, e: 1.0, lambda: None, few)
    assert len(latencies) == 7 and warmup["warmup_iterations"] == 1


def test_every_timed_iteration_sits_between_its_two_events_and_the_stream_is_synchronized():
    log = []
    plan = gpu_timing.TimingPlan(warmup_seconds=0.0, min_seconds=0.0, min_iterations=3)
    gpu_timing.time_gpu_iterations(lambda: log.append("step"), new_event=lambda: len(log),
                                   record=lambda event: log.append("event"), elapsed_ms=lambda start, end: 0.0,
                                   synchronize=lambda: log.append("sync"), timing=plan)
    assert log == ["step", "sync"] + ["event", "step", "event"] * 3 + ["sync"]


def test_profile_timing_plans():
    assert gpu_timing.timing_plan("full", 200) == gpu_timing.TimingPlan(0.2, 1.0, 200)
    assert gpu_timing.timing_plan("quick", 10) == gpu_timing.TimingPlan(0.2, 0.25, 10)
    assert gpu_timing.timing_plan("quick", 0).min_iterations == 1
    assert gpu_timing.TimingPlan().warmup_seconds >= 0.2  # trtexec's --warmUp=200 ms
    assert gpu_timing.TimingPlan().as_dict() == {"warmup_seconds": 0.2, "min_seconds": 1.0, "min_iterations": 10}


def test_warmup_and_cpu_plan():
    assert benchmark_tool.warmup_iterations(10) == 3 and benchmark_tool.warmup_iterations(200) == 20
    assert benchmark_tool.cpu_plan((1, 8, 32, 64, 512), 200) == ((1, 8, 32), benchmark_tool.CPU_MAX_ITERATIONS)
    assert benchmark_tool.cpu_plan((1, 8, 32), 10) == ((1, 8, 32), 10)
    assert benchmark_tool.cpu_plan((64, 128), 10) == ((64,), 10)


def test_cpu_measurements_of_pytorch_and_onnxruntime(tiny_model, tmp_path):
    lines = []
    rows = benchmark_tool.measure_torch_cpu("PyTorch FP32 (CPU)", "FP32", tiny_model, (1, 4), 3, log=lines.append)
    onnx_path = export_onnx(tiny_model, tmp_path / "tiny.onnx", model_metadata(None, None, "fp32", "test"))
    rows += benchmark_tool.measure_onnxruntime_cpu("ONNX Runtime FP32 (CPU)", "FP32", onnx_path, (1, 4), 3, log=lines.append)
    assert [(row["label"], row["batch_size"]) for row in rows] == [
        ("PyTorch FP32 (CPU)", 1), ("PyTorch FP32 (CPU)", 4), ("ONNX Runtime FP32 (CPU)", 1), ("ONNX Runtime FP32 (CPU)", 4)]
    for row in rows:
        assert row["iterations"] == 3 and row["device"] == "cpu" and row["data_copy"] == "n/a (CPU)"
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["throughput_images_per_s"] > 0
    assert len(lines) == 4 and "median" in lines[0]


FAST = gpu_timing.TimingPlan(warmup_seconds=0.0, min_seconds=0.0, min_iterations=5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_gpu_baselines_say_why_they_cannot_run(tiny_model):
    with pytest.raises(TutorialError, match="No CUDA GPU"):
        benchmark_tool.measure_torch_gpu(tiny_model, (1,), FAST)


def test_strict_fp32_turns_tf32_off_and_back():
    """Issue 12, item 6: the FP32 baseline runs with TF32 off in cuBLAS and cuDNN, like the FP32 engine."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = True, True
        with training.strict_fp32():
            assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
        with pytest.raises(KeyError), training.strict_fp32():
            raise KeyError("restored on errors too")
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    assert benchmark_tool.GPU_LABELS["FP32"] == "PyTorch FP32, TF32 off (GPU)"


def test_cuda_graphs_of_engines_are_captured_with_torch_cuda():
    assert benchmark_tool.torch_cuda() is torch.cuda  # pycuda cannot capture graphs; the tests swap this one out


def test_cuda_graph_rows_time_the_compute_only(tiny_model):
    with pytest.raises(ValueError, match="compute only"):
        benchmark_tool.time_torch_gpu(tiny_model, 1, FAST, include_copies=True, cuda_graph=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_baselines_eager_and_cuda_graph(tiny_model):
    rows = benchmark_tool.measure_torch_gpu(tiny_model, (1, 8), FAST, log=lambda line: None)
    assert {(row["precision"], row["batch_size"], row["data_copy"], row["launch"]) for row in rows} == {
        (p, b, c, launch) for p in ("FP32", "FP16") for b in (1, 8)
        for c, launch in (("excluded", "eager"), ("included", "eager"), ("excluded", "CUDA graph"))}
    for row in rows:
        assert (row["tf32_matmul"], row["tf32_cudnn"]) == ((False, False) if row["precision"] == "FP32" else
                                                           (row["tf32_matmul"], row["tf32_cudnn"]))
        assert row["iterations"] >= 5 and row["warmup_iterations"] >= 1
    assert len({(row["label"], row["batch_size"], row["data_copy"], row["launch"]) for row in rows}) == len(rows)
    assert len(benchmark_tool.launch_overhead_rows(rows)) == 4
    assert next(tiny_model.parameters()).device.type == "cpu"  # the caller's model is untouched


def test_provenance_is_the_machine_record_with_driver_and_commit():
    from helpers.envcheck import machine_record, package_version

    record = benchmark_tool.provenance("quick")
    assert record["profile"] == "quick" and record["git_commit"] and record["nvidia_driver"]
    assert set(machine_record()) <= set(record) and record["versions"]["torch"] == package_version("torch")
    assert record["versions"]["onnxruntime"] and record["versions"]["numpy"] == np.__version__ and record["cpu"]
    if torch.cuda.is_available():
        assert record["gpu"]["name"] and record["gpu"]["cuda_runtime_torch"] and not record["nvidia_driver"].startswith("unknown")
    else:
        assert record["gpu"] is None
    json.dumps(record)  # serializable as it is


def test_the_driver_version_says_why_it_is_unknown(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    assert benchmark_tool.nvidia_driver_version() == "unknown (no nvidia-smi on PATH)"
    failing = tmp_path / "nvidia-smi"
    failing.write_text("#!/bin/sh\nexit 9\n")
    failing.chmod(0o755)
    assert benchmark_tool.nvidia_driver_version() == "unknown (nvidia-smi failed: CalledProcessError)"
    failing.write_text("#!/bin/sh\necho 580.95.05\n")
    assert benchmark_tool.nvidia_driver_version() == "580.95.05"


def test_results_are_written_in_one_step_and_read_back(tmp_path):
    rows = [benchmark_tool.measurement("PyTorch FP32 (CPU)", "PyTorch", "FP32", "cpu", 8, "n/a (CPU)", "wall clock",
                                  [2.0, 3.0, 4.0])]
    record = {"provenance": benchmark_tool.provenance("quick"), "settings": {"iterations": 3}, "measurements": rows,
              "skipped": [{"step": "TensorRT", "reason": "not installed"}]}
    path = benchmark_tool.write_results(tmp_path / "out" / "benchmark.json", record)
    loaded = read_json(path)
    assert loaded["measurements"][0]["median_ms"] == 3.0 and loaded["settings"] == {"iterations": 3}
    assert loaded["skipped"] == [{"step": "TensorRT", "reason": "not installed"}]
    assert loaded["provenance"]["versions"] == record["provenance"]["versions"]
    assert not list(path.parent.glob("*.partial")) and not benchmark_tool.made_with_test_double(loaded)


def _row(label, runtime, device, batch, copy, median):
    return benchmark_tool.measurement(label, runtime, label.split()[1], device, batch, copy, "test", [median, median * 1.5])


def test_rows_for_plot_keep_cpu_rows_in_both_settings():
    rows = [_row("PyTorch FP32 (GPU)", "PyTorch", "cuda", 1, "excluded", 1.0),
            _row("PyTorch FP32 (GPU)", "PyTorch", "cuda", 1, "included", 1.2),
            _row("PyTorch FP32 (CPU)", "PyTorch", "cpu", 1, "n/a (CPU)", 9.0),
            {**_row("PyTorch FP32 (GPU) (CUDA graph)", "PyTorch", "cuda", 1, "excluded", 0.5), "launch": "CUDA graph"}]
    assert [row["median_ms"] for row in plotting.rows_for_plot(rows, "excluded")] == [1.0 * 1.25, 9.0 * 1.25]
    assert [row["data_copy"] for row in plotting.rows_for_plot(rows, "included")] == ["included", "n/a (CPU)"]
    assert [row["label"] for row in plotting.rows_for_plot(rows, "excluded", "CUDA graph")] == ["PyTorch FP32 (GPU) (CUDA graph)"]


def test_launch_overhead_pairs_eager_and_graph_rows():
    eager = {**_row("PyTorch FP16 (GPU)", "PyTorch", "cuda", 1, "excluded", 2.0), "launch": "eager", "series": "s"}
    graph = {**_row("PyTorch FP16 (GPU) (CUDA graph)", "PyTorch", "cuda", 1, "excluded", 0.5), "launch": "CUDA graph",
             "series": "s"}
    other = {**_row("PyTorch FP16 (GPU)", "PyTorch", "cuda", 8, "excluded", 3.0), "launch": "eager", "series": "s"}
    assert benchmark_tool.launch_overhead_rows([eager, graph, other]) == [
        {"series": "s", "batch_size": 1, "eager_ms": 2.5, "cuda_graph_ms": 0.625, "eager_over_graph": 4.0}]


def test_latency_and_throughput_plots(tmp_path):
    rows = [_row(label, runtime, device, batch, copy, median * batch)
            for label, runtime, device, copy, median in [
                ("PyTorch FP32 (GPU)", "PyTorch", "cuda", "excluded", 0.1),
                ("PyTorch FP16 (GPU)", "PyTorch", "cuda", "excluded", 0.05),
                ("ONNX Runtime INT8 (CPU)", "ONNX Runtime", "cpu", "n/a (CPU)", 2.0)]
            for batch in (1, 8, 32)]
    latency = plotting.latency_vs_batch(rows, "test rows")
    throughput = plotting.throughput_vs_batch(rows, "test rows")
    for figure in (latency, throughput):
        axis = figure.axes[0]
        assert [line.get_label() for line in axis.get_lines()] == [
            "PyTorch FP32 (GPU)", "PyTorch FP16 (GPU)", "ONNX Runtime INT8 (CPU)"]
        assert list(axis.get_lines()[0].get_xdata()) == [1, 8, 32]
        assert axis.get_xscale() == "log" and axis.get_yscale() == "log"
    assert list(throughput.axes[0].get_lines()[0].get_ydata()) == pytest.approx([1000 / 0.125] * 3)
    assert latency.axes[0].get_lines()[2].get_marker() == "s"  # CPU rows are squares
    plotting.save_figure(latency, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").stat().st_size > 10000


def test_accuracy_rows_next_to_each_other():
    labels = np.array([0, 1, 2, 3])
    rows = training.accuracy_rows({"PyTorch FP32": np.array([0, 1, 2, 0]), "ONNX Runtime INT8": np.array([0, 1, 0, 0])},
                                   labels, reference="PyTorch FP32")
    low, high = rows[0].pop("interval_95")
    assert rows[0] == {"model": "PyTorch FP32", "accuracy": 0.75, "agreement_with_reference": 1.0, "images": 4}
    assert 0.2 < low < 0.75 < high < 1.0  # four images leave a wide interval
    assert rows[1]["model"] == "ONNX Runtime INT8" and rows[1]["images"] == 4
    assert rows[1]["accuracy"] == 0.5 and rows[1]["agreement_with_reference"] == 0.75
    assert rows[1]["interval_95"][0] < 0.5 < rows[1]["interval_95"][1]
    with pytest.raises(ValueError, match="reference 'b' is not among"):
        training.accuracy_rows({"a": labels}, labels, reference="b")
    with pytest.raises(ValueError, match="a: 3 predictions for 4 labels"):
        training.accuracy_rows({"a": labels[:3]}, labels, reference="a")


def test_command_line_times_the_profiles_files_and_says_what_it_skipped(tiny_model, tmp_path):
    """What notebook 04 runs, and the lead on a GPU machine: the FP32 checkpoint on the CPU (and on a GPU), the FP32
    ONNX graph on ONNX Runtime; the missing INT8 files, the GPU and TensorRT come back as skipped steps with why."""
    from helpers.model import build_resnet18_cifar, save_checkpoint

    artifacts = tmp_path / "artifacts"
    environment = {**os.environ, config.ARTIFACTS_ENV: str(artifacts)}
    save_checkpoint(artifacts / "test" / "resnet18_fp32.pt", build_resnet18_cifar(), {"made_by": "this test"})
    export_onnx(tiny_model, artifacts / "test" / "resnet18_fp32.onnx", model_metadata(None, None, "fp32", "test"))
    script = ("import runpy, sys; "
              f"sys.argv = ['tools/benchmark.py', '--profile', 'test', '--batch-sizes', '1,2', '--iterations', '3', "
              f"'--plots', {str(tmp_path / 'plots')!r}]; "
              "code = 0\ntry:\n    runpy.run_path('tools/benchmark.py', run_name='__main__')\n"
              "except SystemExit as exit:\n    code = exit.code\n"
              "assert 'IPython' not in sys.modules, 'IPython was imported'; sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-5].startswith("wrote artifacts/test/benchmark.json (")
    record = read_json(artifacts / "test" / "benchmark.json")
    assert record["made_by"] == "tools/benchmark.py" and record["provenance"]["git_commit"]
    assert record["provenance"]["profile"] == "test"
    assert record["settings"]["command"] == ("python tools/benchmark.py --profile test --batch-sizes 1,2 --iterations 3 "
                                             f"--plots {tmp_path / 'plots'}")
    cpu_rows = [(row["label"], row["batch_size"]) for row in record["measurements"] if row["device"] == "cpu"]
    assert cpu_rows == [("PyTorch FP32 (CPU)", 1), ("PyTorch FP32 (CPU)", 2), ("ONNX Runtime FP32 (CPU)", 1),
                        ("ONNX Runtime FP32 (CPU)", 2)]
    assert record["settings"]["cpu_iterations"] == 3 and record["settings"]["cpu_warmup_iterations"] == 3
    assert record["settings"]["gpu_timing"] == {"warmup_seconds": 0.2, "min_seconds": 0.25, "min_iterations": 3}
    skipped = {entry["step"]: entry["reason"] for entry in record["skipped"]}
    assert skipped["PyTorch INT8 (CPU, qnnpack) timings"] == (
        "no artifacts/test/resnet18_int8_qnnpack.pt (notebooks/02_quantize_and_export.ipynb writes it)")
    assert skipped["ONNX Runtime INT8 (CPU) timings"].endswith("(notebooks/03_graph_surgery.ipynb writes it)")
    if tensorrt_missing := tensorrt_engine.tensorrt_unavailable_reason(install_hint=False):
        assert skipped["TensorRT engine timings"] == tensorrt_missing
    else:  # no plan in the folder: each engine says which file it needed
        assert skipped["TensorRT INT8 timings"].endswith("/test/resnet18_int8.plan (notebooks/04_tensorrt_engines.ipynb writes it)")
    if torch.cuda.is_available():
        assert len(record["measurements"]) == len(cpu_rows) + 2 * 2 * 3 and len(record["launch_overhead"]) == 4
    else:
        assert skipped[benchmark_tool.GPU_BASELINES_STEP] == "no CUDA GPU visible to PyTorch"
        assert record["launch_overhead"] == []
    assert len(skipped) == 2 + (not torch.cuda.is_available()) + (1 if tensorrt_missing else 5)
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == [
        "latency_copies_excluded.png", "latency_copies_included.png",
        "throughput_copies_excluded.png", "throughput_copies_included.png"]


def test_batch_size_argument_is_checked():
    import argparse

    assert benchmark_tool.parse_batch_sizes("1,8,32") == (1, 8, 32) == benchmark_tool.parse_batch_sizes("1, 8,32,")
    for bad, message in (("", "positive"), ("0,1", "positive"), ("a,b", "comma-separated integers")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            benchmark_tool.parse_batch_sizes(bad)
