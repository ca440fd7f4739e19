"""helpers.tensorrt_engine and tools/benchmark.py's TensorRT timing, run line by line against the contract-checking
test double of TensorRT 10.16 / 11.4 and pycuda (tests/trt_double; its README lists the contracts).

Nothing here is a TensorRT result: the double computes with ONNX Runtime and invents every time. What these
tests show is that the code calls the documented API in a documented order and handles its documented
failures; the double raises ``ContractViolation`` (or returns the documented None/False) where it does not.
Each fix of issue 12 has a test here that fails when the fix is taken out (noted as "issue 12, item N").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

import benchmark as benchmark_tool  # tools/benchmark.py (tests/conftest.py puts tools/ on sys.path)
from helpers import fp16_graphs, plotting, surgery, tensorrt_engine
from helpers.config import REPO_ROOT, TutorialError
from helpers.gpu_timing import TimingPlan
from helpers.onnx_export import export_onnx, model_metadata, preprocess_from_metadata, read_metadata
from helpers.onnx_runtime import onnxruntime_session, predict_onnx
from trt_double_fixtures import load_double, trt_double, trt_double_11  # noqa: F401 (fixtures)

FAST = TimingPlan(warmup_seconds=0.0, min_seconds=0.0, min_iterations=3)
pytestmark = pytest.mark.filterwarnings("error::UserWarning")  # the double's DoubleWarning is a UserWarning


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
    return export_onnx(model, tmp_path_factory.mktemp("double") / "tiny_fp32.onnx",
                       model_metadata(None, None, "fp32", "tests/test_tensorrt_double.py"))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def raw_types_onnx(tmp_path_factory):
    """BF16 input, FP8 output: tensors numpy has no type for (issue 12, item 8)."""
    node = helper.make_node("Cast", ["input"], ["logits"], to=TensorProto.FLOAT8E4M3FN)
    graph = helper.make_graph([node], "raw_types", [helper.make_tensor_value_info("input", TensorProto.BFLOAT16, ["batch", 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT8E4M3FN, ["batch", 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    helper.set_model_props(model, {"input_name": "input", "input_shape": '["batch", 8]'})  # what build_engine_plan reads
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("double") / "raw_types.onnx"
    onnx.save(model, str(path))
    return path


def build(onnx_path, folder, batches=(1, 4, 16), **options):
    plan = Path(folder) / (Path(onnx_path).stem + ".plan")
    return tensorrt_engine.build_engine_plan(onnx_path, plan, profile_batches=batches, **options), plan


# --- the whole path, in both releases -------------------------------------------------------------

def test_build_load_run_agrees_with_onnxruntime(trt_double, tiny_onnx, images, tmp_path):
    record, plan = build(tiny_onnx, tmp_path)
    assert record["tensorrt_version"] == trt_double.trt.__version__ and record["tensorrt_version"].endswith("+testdouble")
    predicted = tensorrt_engine.predict_engine(plan, tiny_onnx, images, batch_size=16)  # 16, 16, 8: two profiles
    assert np.array_equal(predicted, predict_onnx(tiny_onnx, images))
    session = tensorrt_engine.open_session(plan)
    inputs = preprocess_from_metadata(images, read_metadata(tiny_onnx))
    expected = onnxruntime_session(tiny_onnx).run(None, {"input": inputs})[0]
    for start, stop in ((0, 16), (16, 19), (19, 20), (20, 36)):  # profiles 16, 4, 1 and 16 again
        logits = tensorrt_engine.infer(session, inputs[start:stop])
        assert np.array_equal(logits, expected[start:stop])  # NaN would mean a read before synchronize
    assert np.ptp(expected, axis=0).min() > 0  # the logits vary from image to image: the check can fail


def test_the_build_record_says_how_the_engine_was_built(trt_double, tiny_onnx, tmp_path):
    """Issue 12, item 12: profiles, TF32, workspace, build time and timing cache are recorded."""
    record, plan = build(tiny_onnx, tmp_path, batches=(8, 1, 2), timing_cache_path=tmp_path / "timing.cache")
    assert record["profiles"] == [{"min": 1, "opt": b, "max": b} for b in (1, 2, 8)]
    assert record["tf32"] is False and record["workspace_bytes"] == tensorrt_engine.DEFAULT_WORKSPACE_BYTES
    assert record["build_seconds"] >= 0 and record["timing_cache"] == "fresh; saved"
    assert record["plan_bytes"] == plan.stat().st_size > 0 and record["input_shape_chw"] == [3, 32, 32]


def test_tf32_is_cleared_for_the_fp32_engine(trt_double, tiny_onnx, tmp_path, monkeypatch):
    configs = []
    original = trt_double.trt.Builder.build_serialized_network
    monkeypatch.setattr(trt_double.trt.Builder, "build_serialized_network",
                        lambda self, network, config: configs.append(config) or original(self, network, config))
    build(tiny_onnx, tmp_path)
    build(tiny_onnx, tmp_path / "tf32", allow_tf32=True)
    assert [config.get_flag(trt_double.trt.BuilderFlag.TF32) for config in configs] == [False, True]
    assert all(config.profiling_verbosity == trt_double.trt.ProfilingVerbosity.DETAILED for config in configs)


# --- issue 12, item 1: the timing cache ------------------------------------------------------------

def test_timing_cache_from_a_str_path_is_written_and_reused(trt_double_11, tiny_onnx, tmp_path):
    cache = str(tmp_path / "timing.cache")
    first, _ = build(tiny_onnx, tmp_path, timing_cache_path=cache)
    second, _ = build(tiny_onnx, tmp_path / "again", timing_cache_path=cache)
    assert first["timing_cache"] == "fresh; saved" and second["timing_cache"] == "loaded from file; saved"
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == ["timing.cache", "tiny_fp32.plan"]


def test_a_cache_tensorrt_refuses_falls_back_to_a_fresh_one(trt_double_11, tiny_onnx, tmp_path):
    """create_timing_cache returns None for bytes it cannot read (a damaged file, another version)."""
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"a cache from another TensorRT version")
    record, plan = build(tiny_onnx, tmp_path, timing_cache_path=cache)
    assert record["timing_cache"].startswith("fresh (the saved cache was refused") and plan.is_file()
    assert cache.read_bytes().startswith(b"TRT-DOUBLE-TIMING-CACHE-")  # replaced by a good one


def test_set_timing_cache_false_falls_back_then_goes_without(trt_double_11, tiny_onnx, tmp_path):
    cache = tmp_path / "timing.cache"
    build(tiny_onnx, tmp_path, timing_cache_path=cache)
    trt_double_11.device.fail_next("set_timing_cache")  # the saved cache is refused; a fresh one is accepted
    record, _ = build(tiny_onnx, tmp_path / "b", timing_cache_path=cache)
    assert record["timing_cache"].startswith("fresh (the saved cache was refused")
    trt_double_11.device.fail_next("set_timing_cache", times=2)  # even a fresh cache is refused
    record, plan = build(tiny_onnx, tmp_path / "c", timing_cache_path=cache)
    assert record["timing_cache"].startswith("none (TensorRT refused even an empty timing cache)") and plan.is_file()


def test_the_plan_is_saved_even_when_the_cache_cannot_be(trt_double_11, tiny_onnx, tmp_path):
    trt_double_11.device.fail_next("get_timing_cache")
    record, plan = build(tiny_onnx, tmp_path, timing_cache_path=tmp_path / "timing.cache")
    assert plan.is_file() and record["timing_cache"].endswith("not saved (the builder config holds no timing cache)")
    assert not (tmp_path / "timing.cache").exists()
    assert not list(tmp_path.glob("*.partial*"))


# --- failures TensorRT reports by its return value -----------------------------------------------------

def test_a_failed_build_says_so(trt_double_11, tiny_onnx, tmp_path):
    trt_double_11.device.fail_next("build_serialized_network")
    with pytest.raises(TutorialError, match="could not build an engine"):
        build(tiny_onnx, tmp_path)
    assert not list(tmp_path.iterdir())  # no plan, no half-written file


def test_a_plan_that_does_not_load_says_rebuild(trt_double, tiny_onnx, tmp_path):
    _, plan = build(tiny_onnx, tmp_path)
    trt_double.device.fail_next("deserialize_cuda_engine")
    with pytest.raises(TutorialError, match="Plans only load on the TensorRT version and GPU that built them"):
        tensorrt_engine.open_session(plan)
    plan.write_bytes(b"not a plan")
    with pytest.raises(TutorialError, match="cannot load"):
        tensorrt_engine.open_session(plan)
    with pytest.raises(TutorialError, match="does not exist"):
        tensorrt_engine.open_session(tmp_path / "absent.plan")


def test_a_plan_of_the_other_release_does_not_load(tiny_onnx, tmp_path, monkeypatch):
    load_double("10", monkeypatch)
    _, plan = build(tiny_onnx, tmp_path)
    load_double("11", monkeypatch)
    with pytest.raises(TutorialError, match=r"TensorRT 11\.4\.0\.106\+testdouble cannot load"):
        tensorrt_engine.open_session(plan)


def test_execute_and_set_input_shape_failures_become_clear_errors(trt_double_11, tiny_onnx, images, tmp_path):
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    trt_double_11.device.fail_next("execute_async_v3")
    with pytest.raises(TutorialError, match="execute_async_v3 failed"):
        tensorrt_engine.infer(session, np.zeros((4, 3, 32, 32), np.float32))
    trt_double_11.device.fail_next("set_input_shape")
    with pytest.raises(TutorialError, match="refused batch size 4"):
        tensorrt_engine.set_batch_size(session, 4)
    trt_double_11.device.fail_next("set_optimization_profile_async")
    with pytest.raises(TutorialError, match="refused to switch to optimization profile"):
        tensorrt_engine.set_batch_size(session, 1)
    with pytest.raises(TutorialError, match="outside 1..16"):
        tensorrt_engine.set_batch_size(session, 17)


def test_parser_errors_are_all_reported(trt_double_11, resnet18_int8_raw_onnx, tmp_path):
    """The raw export (uint8 Q/DQ, int32 bias DequantizeLinear) is refused with every error numbered."""
    with pytest.raises(TutorialError) as caught:
        build(resnet18_int8_raw_onnx, tmp_path)
    message = str(caught.value)
    count = int(message.split(" with ")[1].split(" error")[0])
    assert count >= 40 and f"  {count}. In node" in message and "UINT8" in message and "INT32" in message
    assert "  1. In node" in message and f"  {count + 1}." not in message
    assert message.splitlines()[-1].startswith("An INT8 graph must be the fixed one from notebook 03")


# --- issue 12, item 3: a profile per batch size ------------------------------------------------------

def test_each_batch_runs_with_the_profile_tuned_for_it(trt_double, tiny_onnx, tmp_path):
    _, plan = build(tiny_onnx, tmp_path, batches=(1, 4, 16))  # largest batch below 32: refused before the fix
    session = tensorrt_engine.open_session(plan)
    assert session.profiles == [(1, 1, 1), (1, 4, 4), (1, 16, 16)] and session.max_batch == 16
    for batch, index in ((4, 1), (1, 0), (16, 2), (3, 1), (9, 2)):  # exact opt first, else the smallest that fits
        tensorrt_engine.set_batch_size(session, batch)
        assert session.context.active_optimization_profile == index == session.active_profile
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1, 4, 16), FAST, log=lambda line: None)
    assert all(row["profile"]["opt"] == row["batch_size"] for row in rows)


def test_a_tensorrt_older_than_10_12_is_named(trt_double_11, monkeypatch):
    monkeypatch.setattr(trt_double_11.trt, "__version__", "8.6.1.6")
    reason = tensorrt_engine.tensorrt_unavailable_reason()
    assert "TensorRT 8.6.1.6 is older than 10.12" in reason and "pip install tensorrt" in reason
    with pytest.raises(TutorialError, match="older than 10.12"):
        tensorrt_engine.import_tensorrt()


def test_pycuda_must_see_a_gpu(trt_double_11):
    """The GPU check goes through pycuda (init, then Device.count), the library that runs the engines."""
    assert tensorrt_engine.tensorrt_unavailable_reason() is None and trt_double_11.device.DEVICE.initialized
    trt_double_11.device.DEVICE.gpu_count = 0
    assert tensorrt_engine.tensorrt_unavailable_reason(install_hint=False) == "pycuda sees no CUDA GPU"
    assert tensorrt_engine.installed_tensorrt_version() == "not usable here: pycuda sees no CUDA GPU"
    trt_double_11.device.DEVICE.gpu_count = 1
    trt_double_11.device.fail_next("init")
    reason = tensorrt_engine.tensorrt_unavailable_reason()
    assert reason.startswith("pycuda found no usable CUDA driver (Error: cuInit failed: no CUDA-capable device")
    assert "pip install pycuda" in reason
    trt_double_11.device.fail_next("init")
    with pytest.raises(TutorialError, match="TensorRT cannot run here: pycuda found no usable CUDA driver"):
        tensorrt_engine.import_tensorrt()


def test_the_device_count_needs_the_driver_initialized(trt_double_11):
    trt_double_11.device.reset()  # a process that never called init
    with pytest.raises(trt_double_11.cuda.LogicError, match="initialization error"):
        trt_double_11.cuda.Device.count()
    trt_double_11.cuda.init()
    assert trt_double_11.cuda.Device.count() == 1


def test_configure_builder_sets_one_checked_profile_per_batch(trt_double_11, tiny_onnx):
    trt = trt_double_11.trt
    logger = tensorrt_engine.get_logger(trt)
    builder = trt.Builder(logger)
    network, parser = tensorrt_engine.parse_onnx_into_network(trt, builder, logger, tiny_onnx)
    config, status = tensorrt_engine.configure_builder(trt, builder, "input", (3, 32, 32), [(1, 1, 1), (2, 8, 16)],
                                                       1 << 20, b"", False)
    assert status == "fresh" and config.num_optimization_profiles == 2
    assert config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE) == 1 << 20
    engine = trt.Runtime(logger).deserialize_cuda_engine(bytes(builder.build_serialized_network(network, config)))
    assert [tuple(shape) for shape in engine.get_tensor_profile_shape("input", 1)] == [(2, 3, 32, 32), (8, 3, 32, 32),
                                                                                        (16, 3, 32, 32)]
    with pytest.raises(TutorialError, match="1 <= min <= opt <= max, got 8, 4, 512"):
        tensorrt_engine.configure_builder(trt, builder, "input", (3, 32, 32), [(8, 4, 512)], 1 << 20, b"", False)


def test_a_rebuild_replaces_the_plan_in_one_step(trt_double_11, tiny_onnx, tmp_path):
    plan = tmp_path / "tiny_fp32.plan"
    plan.write_bytes(b"old engine")
    record, built = build(tiny_onnx, tmp_path)
    assert built == plan and plan.read_bytes() != b"old engine" and record["plan_bytes"] == plan.stat().st_size
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny_fp32.plan"]  # no .partial left behind
    tensorrt_engine.open_session(plan)  # the new bytes are a whole plan


# --- issue 12, items 4, 5, 11, 12: timing --------------------------------------------------------------

def test_copies_excluded_rows_run_on_an_input_that_was_copied_in(trt_double, tiny_onnx, tmp_path):
    """Issue 12, item 5: the double raises ContractViolation when a run reads device memory nobody wrote."""
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)  # a fresh session: nothing was ever copied to the device
    latencies, wall, warmup = benchmark_tool.time_engine(session, 4, FAST, include_copies=False)
    assert len(latencies) >= 3 and all(value > 0 for value in latencies) and warmup["warmup_iterations"] >= 1


def test_cuda_graph_rows_are_their_own_rows(trt_double, tiny_onnx, tmp_path):
    """Issue 12, item 11: CUDA-graph rows no longer share label, batch and copy setting with the eager ones."""
    _, plan = build(tiny_onnx, tmp_path)
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1, 4), FAST, log=lambda line: None)
    keys = [(row["label"], row["batch_size"], row["data_copy"], row["launch"]) for row in rows]
    assert len(keys) == len(set(keys)) == 6
    assert {row["label"] for row in rows if row["launch"] == "CUDA graph"} == {"TensorRT FP32 (CUDA graph)"}
    assert {(row["label"], row["data_copy"]) for row in plotting.rows_for_plot(rows, "excluded")} == {("TensorRT FP32", "excluded")}
    overhead = benchmark_tool.launch_overhead_rows(rows)
    assert [row["batch_size"] for row in overhead] == [1, 4] and all(row["eager_over_graph"] > 0 for row in overhead)


def test_a_failed_capture_says_why_and_keeps_the_eager_rows(trt_double, tiny_onnx, tmp_path):
    """Issue 12, item 11: execute_async_v3 failing inside the capture gives the intended message."""
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    trt_double.device.fail_next("execute_async_v3 during capture")
    with pytest.raises(TutorialError, match="cannot be captured in a CUDA graph") as caught:
        benchmark_tool.time_engine_cuda_graph(session, 4, FAST)
    assert isinstance(caught.value.__cause__, RuntimeError)  # CUDA's own words are kept as the cause
    trt_double.device.fail_next("execute_async_v3")  # before capture
    with pytest.raises(TutorialError, match="failed before CUDA graph capture"):
        benchmark_tool.time_engine_cuda_graph(session, 4, FAST)
    trt_double.device.fail_next("execute_async_v3 during capture, capture kept")  # False, but CUDA raises nothing
    with pytest.raises(TutorialError, match="during capture returned False"):
        benchmark_tool.time_engine_cuda_graph(session, 4, FAST)
    skipped = []
    trt_double.device.fail_next("execute_async_v3 during capture")  # batch 1's capture fails: no graph rows at all
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1, 4), FAST, log=lambda line: None, skipped=skipped)
    assert [row["launch"] for row in rows] == ["eager", "eager", "eager", "eager"]
    assert len(skipped) == 1 and "cannot be captured" in skipped[0]["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="PyTorch sees a GPU here")
def test_without_a_gpu_for_pytorch_the_cuda_graph_rows_are_skipped_with_the_reason(trt_double_11, tiny_onnx, tmp_path,
                                                                                   monkeypatch):
    """What notebook 04 does under the double: PyTorch (which captures the graphs) sees no GPU; the eager rows stay."""
    monkeypatch.setattr(benchmark_tool, "torch_cuda", lambda: torch.cuda)  # the real one, as in the notebook
    _, plan = build(tiny_onnx, tmp_path)
    with pytest.raises(TutorialError, match="PyTorch sees no CUDA GPU"):
        benchmark_tool.time_engine_cuda_graph(tensorrt_engine.open_session(plan), 4, FAST)
    skipped, lines = [], []
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1, 4), FAST, log=lines.append, skipped=skipped)
    assert [(row["batch_size"], row["data_copy"], row["launch"]) for row in rows] == [
        (1, "excluded", "eager"), (1, "included", "eager"), (4, "excluded", "eager"), (4, "included", "eager")]
    assert [entry["step"] for entry in skipped] == ["TensorRT FP32 CUDA-graph timing"]  # tried once, not per batch
    assert skipped[0]["reason"].startswith("batch 1: CUDA-graph timing captures the engine with PyTorch")
    assert sum("no CUDA-graph rows" in line for line in lines) == 1


def test_a_capture_without_a_run_after_the_shape_change_is_refused(trt_double_11, tiny_onnx, tmp_path):
    """TensorRT needs one enqueue outside capture after a shape change; the helper does it, a shortcut fails."""
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    benchmark_tool.prepare_device_input(session, 4)
    graphs = trt_double_11.device.GRAPHS
    stream = graphs.Stream()
    with pytest.raises(RuntimeError, match="previous error during capture"):
        with graphs.graph(graphs.CUDAGraph(), stream=stream):
            assert session.context.execute_async_v3(stream.cuda_stream) is False


def test_rows_record_their_warm_up_profile_and_tensorrt(trt_double_11, tiny_onnx, tmp_path):
    """Issue 12, item 12: warm-up and timing settings, profile and TensorRT version are in every row."""
    _, plan = build(tiny_onnx, tmp_path)
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (4,), FAST, log=lambda line: None)
    for row in rows:
        assert row["timing"] == FAST.as_dict() and row["warmup_iterations"] >= 1 and row["warmup_seconds"] >= 0
        assert row["profile"] == {"index": 1, "min": 1, "opt": 4, "max": 4} and row["tensorrt"].endswith("+testdouble")
        assert row["iterations"] >= FAST.min_iterations


def test_the_double_marks_every_record_by_its_version(trt_double_11, tiny_onnx, tmp_path):
    """No helper knows the double: its version label reaches the build record, every row and the machine record."""
    from helpers.envcheck import machine_record

    build_record, plan = build(tiny_onnx, tmp_path)
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1,), FAST, log=lambda line: None)
    machine = machine_record()
    assert machine["versions"]["tensorrt"] == build_record["tensorrt_version"] == "11.4.0.106+testdouble"
    assert rows and all(row["tensorrt"] == "11.4.0.106+testdouble" for row in rows)


def test_records_of_the_double_are_never_written_under_results(trt_double_11, tiny_onnx, tmp_path):
    import run_tensorrt_notebook

    _, plan = build(tiny_onnx, tmp_path)
    rows = benchmark_tool.measure_tensorrt("TensorRT FP32", "FP32", plan, (1,), FAST, log=lambda line: None)
    notebook_record = {"made_by": "tools/benchmark.py", "provenance": benchmark_tool.provenance("quick"),
                       "settings": {"engine_builds": []}, "measurements": rows,
                       "launch_overhead": benchmark_tool.launch_overhead_rows(rows), "skipped": []}
    written = benchmark_tool.write_results(tmp_path / "benchmark.json", notebook_record)  # elsewhere it is fine
    run = run_tensorrt_notebook.run_record(written, "2026-01-01T00:00:00+00:00", 12.5, tmp_path / "executed.ipynb", "test")
    assert run["from_test_double"] and run["tensorrt"] == "11.4.0.106+testdouble" and run["tensorrt_rows"] == 3
    assert run["git_commit"] and run["nvidia_driver"] and run["measurements"] == rows
    assert run["made_by"] == "tools/benchmark.py" and run["launch_overhead"] == notebook_record["launch_overhead"]
    for record in (notebook_record, run):
        with pytest.raises(TutorialError, match="test double of TensorRT"):
            benchmark_tool.write_results(REPO_ROOT / "results" / "never-written" / "benchmark.json", record)
    assert not (REPO_ROOT / "results" / "never-written").exists()
    assert not benchmark_tool.made_with_test_double({**notebook_record, "measurements": [], "provenance": {}})


# --- issue 12, item 8: BF16 / FP8 tensors ---------------------------------------------------------------

def test_bf16_and_fp8_tensors_get_raw_byte_buffers(trt_double, raw_types_onnx, tmp_path):
    _, plan = build(raw_types_onnx, tmp_path, batches=(2, 8))
    session = tensorrt_engine.open_session(plan)
    by_name = {tensor.name: tensor for tensor in session.inputs + session.outputs}
    assert (by_name["input"].type_name, by_name["input"].dtype, by_name["input"].itemsize) == ("BF16", None, 2.0)
    assert (by_name["logits"].type_name, by_name["logits"].dtype, by_name["logits"].itemsize) == ("FP8", None, 1.0)
    assert session.host["input"].dtype == np.uint8 and session.host["input"].nbytes == 8 * 8 * 2
    latencies, _, _ = benchmark_tool.time_engine(session, 2, FAST, include_copies=True)  # copies of 2*8*2 and 2*8 bytes
    assert len(latencies) >= 3
    with pytest.raises(TutorialError, match="'input' is BF16, which numpy cannot hold"):
        tensorrt_engine.infer(session, np.zeros((2, 8), np.float32))


def test_nptype_has_no_numpy_type_for_the_narrow_types(trt_double):
    """As the real __init__.py: io_tensors falls back to raw bytes by itemsize where nptype raises TypeError."""
    trt = trt_double.trt
    assert trt.nptype(trt.DataType.HALF) is np.float16 and trt.DataType.HALF.itemsize == 2
    for name, size in (("BF16", 2), ("FP8", 1), ("INT4", 0.5), ("FP4", 0.5)):
        with pytest.raises(TypeError):
            trt.nptype(getattr(trt.DataType, name))  # what broke io_tensors before the fix
        assert getattr(trt.DataType, name).itemsize == size


# --- issue 12, item 9: one logger -----------------------------------------------------------------------

def test_every_builder_and_runtime_shares_one_logger(trt_double, tiny_onnx, tmp_path):
    """A second logger makes the double warn (as TensorRT does); this module turns warnings into errors."""
    build(tiny_onnx, tmp_path)
    _, plan = build(tiny_onnx, tmp_path / "again")
    tensorrt_engine.open_session(plan)
    assert trt_double.device.DEVICE.first_logger is tensorrt_engine.get_logger(trt_double.trt)
    with pytest.warns(UserWarning, match="differs from one already provided"):
        trt_double.trt.Runtime(trt_double.trt.Logger())


# --- the contracts the double enforces (each would catch a broken helper) ----------------------------------

def test_the_network_flag_must_be_shifted_by_the_enum_value(trt_double):
    trt = trt_double.trt
    builder = trt.Builder(tensorrt_engine.get_logger(trt))
    builder.create_network(tensorrt_engine.strongly_typed_network_flags(trt))
    wrong_literal = 1 if trt_double.release == "10" else 2  # 10.x's value written for 11, or the reverse
    with pytest.raises(trt_double.device.ContractViolation, match="STRONGLY_TYPED"):
        builder.create_network(wrong_literal)


def test_precision_flags_exist_only_in_10_and_break_a_strongly_typed_build(trt_double, tiny_onnx):
    trt = trt_double.trt
    if trt_double.release == "11":
        assert not hasattr(trt.BuilderFlag, "FP16") and not hasattr(trt.BuilderFlag, "INT8")
        assert not hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
        return
    logger = tensorrt_engine.get_logger(trt)
    builder = trt.Builder(logger)
    network, parser = tensorrt_engine.parse_onnx_into_network(trt, builder, logger, tiny_onnx)
    config, _ = tensorrt_engine.configure_builder(trt, builder, "input", (3, 32, 32), [(1, 4, 4)], 1 << 20, b"", False)
    config.set_flag(trt.BuilderFlag.FP16)
    assert builder.build_serialized_network(network, config) is None
    assert any("strongly typed" in message for message in trt_double.device.DEVICE.errors())


def test_shapes_addresses_copies_and_streams_are_checked(trt_double_11, tiny_onnx, tmp_path):
    double = trt_double_11
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    context, stream = session.context, session.stream
    assert context.set_input_shape("input", (32, 3, 32, 32)) is False  # beyond the active profile's max
    context.set_optimization_profile_async(1, stream.handle)  # switching forgets the input shapes ...
    assert context.execute_async_v3(stream.handle) is False  # ... so a run before set_input_shape is refused
    assert context.set_input_shape("input", (4, 3, 32, 32))
    with pytest.raises(double.device.ContractViolation, match="holds 49152 bytes"):  # 8 images' bytes for 4
        double.cuda.memcpy_htod_async(session.device["input"], session.host["input"][:8], stream)
    with pytest.raises(double.device.ContractViolation, match="not contiguous"):
        double.cuda.memcpy_htod_async(session.device["input"], session.host["input"][:8:2], stream)
    tensorrt_engine.host_view(session, session.inputs[0])[:] = 0.5
    tensorrt_engine.enqueue_copy_in(session)
    other = double.cuda.Stream()
    with pytest.raises(double.device.ContractViolation, match="stream order"):
        context.execute_async_v3(other.handle)  # reads the input a copy on another stream has yet to write
    tensorrt_engine.enqueue_inference(session)
    tensorrt_engine.enqueue_copy_out(session)
    output = tensorrt_engine.host_view(session, session.outputs[0])
    assert np.isnan(output).all()  # nothing is on the host before the stream is synchronized
    stream.synchronize()
    assert np.isfinite(output).all()
    fresh = context.engine.create_execution_context()
    fresh.set_optimization_profile_async(1, stream.handle)
    fresh.set_input_shape("input", (4, 3, 32, 32))
    assert fresh.execute_async_v3(stream.handle) is False  # no tensor addresses set
    with pytest.warns(UserWarning, match="default"):
        double.device.DEVICE.stream(0, "a test")


def test_a_run_on_never_written_input_is_caught(trt_double_11, tiny_onnx, tmp_path):
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    tensorrt_engine.set_batch_size(session, 4)
    tensorrt_engine.enqueue_inference(session)
    with pytest.raises(trt_double_11.device.ContractViolation, match="nothing ever wrote"):
        session.stream.synchronize()


def test_events_need_a_synchronized_stream(trt_double_11):
    cuda = trt_double_11.cuda
    import pycuda.autoprimaryctx  # noqa: F401

    stream = cuda.Stream()
    start, end = cuda.Event(), cuda.Event()
    start.record(stream)
    end.record(stream)
    with pytest.raises(cuda.LogicError, match="device not ready"):
        end.time_since(start)
    stream.synchronize()
    assert end.time_since(start) == 0.0 == -end.time_till(start)


def test_pycuda_autoinit_is_refused(trt_double_11):
    with pytest.raises(trt_double_11.device.ContractViolation, match="autoprimaryctx"):
        import pycuda.autoinit  # noqa: F401


def test_the_double_refuses_to_load_outside_the_tests(monkeypatch):
    import importlib
    import sys

    from trt_double_fixtures import DOUBLE_ROOT, _forget_double_modules

    monkeypatch.delenv("TRT_CONTRACT_DOUBLE", raising=False)
    monkeypatch.syspath_prepend(str(DOUBLE_ROOT))
    _forget_double_modules()
    with pytest.raises(ImportError, match="only the tests import it"):
        importlib.import_module("tensorrt")
    _forget_double_modules()
    assert "tensorrt" not in sys.modules


# --- the inspector, in both layouts -------------------------------------------------------------------

def test_inspector_json_in_the_release_layout(trt_double, tiny_onnx, tmp_path):
    _, plan = build(tiny_onnx, tmp_path)
    session = tensorrt_engine.open_session(plan)
    info = tensorrt_engine.engine_layer_information(session)
    summary = tensorrt_engine.parse_layer_information(info)
    assert summary["schema"] == {"10": "10.x", "11": "11.x"}[trt_double.release]
    assert summary["io_tensors"] == ["input", "logits"]
    assert tensorrt_engine.precision_counts(summary) == {"FP32": len(summary["layers"])} and len(summary["layers"]) >= 3
    inspector = session.engine.create_engine_inspector()  # no execution context: formats unknown for dynamic shapes
    without_context = tensorrt_engine.parse_layer_information(json.loads(
        inspector.get_engine_information(trt_double.trt.LayerInformationFormat.JSON)))
    # 10.x writes "N/A due to dynamic shapes" for the whole Format/Datatype text; 11.x keeps the data type apart
    assert {layer["precision"] for layer in without_context["layers"]} == {"10": {"unknown"}, "11": {"FP32"}}[trt_double.release]


def test_inspector_without_detailed_verbosity_gives_names_only(trt_double_11, tiny_onnx, tmp_path, monkeypatch):
    trt = trt_double_11.trt
    monkeypatch.setattr(trt, "ProfilingVerbosity", trt.ProfilingVerbosity)
    monkeypatch.setattr(trt.ProfilingVerbosity, "DETAILED", trt.ProfilingVerbosity.LAYER_NAMES_ONLY)
    _, plan = build(tiny_onnx, tmp_path)
    with pytest.raises(TutorialError, match="DETAILED"):
        tensorrt_engine.parse_layer_information(tensorrt_engine.engine_layer_information(tensorrt_engine.open_session(plan)))


def test_the_10x_json_has_the_keys_and_texts_of_real_inspector_json(trt_double, resnet_variants, tmp_path):
    """The double's 10.x layout is anchored to NVIDIA's real TREx JSON (tests/data/trex): the same keys, the same
    Format/Datatype texts; its 11.x layout to the migration guide's `I/O Tensors` example."""
    real = [json.loads(path.read_text()) for path in sorted((Path(__file__).parent / "data" / "trex").glob("*.json"))]
    layer_keys = {key for info in real for layer in info["Layers"] for key in layer}
    tensor_keys = {key for info in real for layer in info["Layers"] for tensor in layer["Inputs"] for key in tensor}
    texts = {tensor["Format/Datatype"] for info in real for layer in info["Layers"] for tensor in layer["Inputs"] + layer["Outputs"]}
    _, plan = build(resnet_variants["INT8 + FP16"], tmp_path, batches=(2,))
    info = tensorrt_engine.engine_layer_information(tensorrt_engine.open_session(plan))
    if trt_double.release == "10":
        assert set(info) == {"Layers", "Bindings"} == set(real[0])
        assert {key for layer in info["Layers"] for key in layer} <= layer_keys
        assert {key for layer in info["Layers"] for tensor in layer["Inputs"] for key in tensor} == tensor_keys
        used = {tensor["Format/Datatype"] for layer in info["Layers"] for tensor in layer["Inputs"] + layer["Outputs"]}
        assert used <= texts and len(used) == 2  # the INT8 and FP16 texts, both taken from the real files
    else:
        assert set(info) == {"Layers", "I/O Tensors"}
        assert set(info["I/O Tensors"][0]) == {"Name", "IOMode", "DataType", "Dimensions", "Location",
                                               "IsShapeInferenceIO", "ProfileInfo"}
        assert set(info["I/O Tensors"][0]["ProfileInfo"][0]) == {"MinShape", "OptShape", "MaxShape", "Format"}
        assert not any("Format/Datatype" in tensor for layer in info["Layers"] for tensor in layer["Inputs"])


@pytest.fixture(scope="module")
def resnet_variants(resnet18_int8_fixed_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    fused = folder / "fused.onnx"
    surgery.fuse_residual_adds(resnet18_int8_fixed_onnx, fused)
    int8_fp16 = folder / "int8_fp16.onnx"
    fp16_graphs.convert_qdq_onnx_to_int8_fp16(resnet18_int8_fixed_onnx, int8_fp16)
    return {"INT8": resnet18_int8_fixed_onnx, "INT8 (fused residuals)": fused, "INT8 + FP16": int8_fp16}


def test_int8_engines_layers_and_precisions(trt_double, resnet_variants, tmp_path):
    """What notebook 04 asserts, on the real ResNet18 graphs: INT8 convolutions; the fused placement has fewer
    layers; unfused layers are FP32 with FP32 scales and FP16 in the INT8 + FP16 variant (the double's sketch)."""
    summaries = {}
    for name, path in resnet_variants.items():
        _, plan = build(path, tmp_path / name.replace(" ", "_"), batches=(2,))
        summaries[name] = tensorrt_engine.parse_layer_information(
            tensorrt_engine.engine_layer_information(tensorrt_engine.open_session(plan)))
    counts = {name: tensorrt_engine.precision_counts(summary) for name, summary in summaries.items()}
    assert counts["INT8"]["INT8"] == 21  # 20 convolutions and the fc
    assert len(summaries["INT8 (fused residuals)"]["layers"]) == len(summaries["INT8"]["layers"]) - 8
    assert counts["INT8"].get("FP16", 0) == 0 and counts["INT8"]["FP32"] >= 8
    assert counts["INT8 + FP16"]["FP16"] == counts["INT8"]["FP32"] and counts["INT8 + FP16"].get("FP32", 0) == 0


# --- the command-line tools, on an engine of the double --------------------------------------------------

def test_the_benchmark_command_line_times_the_profiles_engines(trt_double_11, tiny_onnx, tmp_path, monkeypatch):
    from helpers.config import read_json

    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(tmp_path))
    build(tiny_onnx, tmp_path / "test", batches=(1, 2))
    (tmp_path / "test" / "tiny_fp32.plan").rename(tmp_path / "test" / "resnet18_fp32.plan")  # the FP32 engine's name
    assert benchmark_tool.main(["--profile", "test", "--batch-sizes", "1,2", "--iterations", "3", "--min-seconds", "0",
                                "--warmup-seconds", "0"]) == 0
    record = read_json(tmp_path / "test" / "benchmark.json")
    assert [(row["label"], row["batch_size"], row["launch"]) for row in record["measurements"]] == [
        (label, batch, launch) for batch in (1, 2) for label, launch in (
            ("TensorRT FP32", "eager"), ("TensorRT FP32", "eager"), ("TensorRT FP32 (CUDA graph)", "CUDA graph"))]
    assert [row["series"] for row in record["launch_overhead"]] == ["TensorRT FP32", "TensorRT FP32"]
    assert record["settings"]["gpu_timing"] == {"warmup_seconds": 0.0, "min_seconds": 0.0, "min_iterations": 3}
    assert record["provenance"]["versions"]["tensorrt"] == "11.4.0.106+testdouble"
    skipped = [entry["step"] for entry in record["skipped"]]
    assert [step for step in skipped if step.startswith("TensorRT")] == [
        "TensorRT FP16 timings", "TensorRT INT8 timings", "TensorRT INT8 + FP16 timings",
        "TensorRT INT8 (fused residuals) timings"]  # no plan of theirs in the folder
    assert benchmark_tool.made_with_test_double(record)


def test_the_notebook_runner_stops_without_what_it_needs(trt_double_11, tmp_path, monkeypatch, capsys):
    import run_tensorrt_notebook as tool

    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("TUTORIAL_PROFILE", "quick")
    assert tool.main(["--no-prerequisites"]) == 3  # TensorRT usable (the double), notebooks 01-03's files missing
    assert "resnet18_fp32.pt (01_train_fp32_resnet18.ipynb)" in capsys.readouterr().out
    trt_double_11.device.DEVICE.gpu_count = 0  # pycuda sees no GPU
    assert tool.main([]) == 2
    assert "pycuda sees no CUDA GPU" in (printed := capsys.readouterr().out) and "Nothing was run" in printed
