"""The checks in the notebooks judge the learner's own code: each lesson cell and the cell that checks it, taken from
the committed notebook and run here on small real inputs, pass with the solution and FAIL with a wrong one (a wrong
zero point, a pass that does not rewire, a training step without fresh gradients, a timing loop without warm-up...).

The notebooks themselves run once per `make test` (nbval), with the solutions in place; this module runs only the few
cells of each lesson, so a check that could not fail would be caught here.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers import config, onnx_inspect, qdq_rules, quantization, surgery, training
from helpers import quantization_routes as routes
from helpers.data import Split
from helpers.display import show_table

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# a training step that skips optimizer.step() makes torch say so; that is the point of that wrong step
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before:UserWarning")


def cells(notebook: str, *starts: str) -> list[str]:
    """The sources of the code cells that contain each of ``starts`` (one cell each), in the order asked."""
    sources = ["".join(cell["source"]) for cell in json.loads((NOTEBOOKS / notebook).read_text())["cells"]
               if cell["cell_type"] == "code"]
    found = []
    for start in starts:
        hits = [source for source in sources if start in source]
        assert len(hits) == 1, f"{notebook}: {len(hits)} code cells contain {start!r}"
        found.append(hits[0])
    return found


def run(notebook: str, namespace: dict, *starts: str, wrong: tuple[str, str] | None = None) -> dict:
    """Run the cells found by ``starts`` in ``namespace``; ``wrong`` replaces a line of the first (the lesson) first."""
    sources = cells(notebook, *starts)
    if wrong is not None:
        assert wrong[0] in sources[0], f"the lesson no longer contains {wrong[0]!r}"
        sources[0] = sources[0].replace(*wrong)
    for source in sources:
        exec(compile(source, notebook, "exec"), namespace)
    return namespace


def images(count: int, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count))


# --- 01: the training step -------------------------------------------------------------------------

def notebook_01() -> dict:
    from helpers import data as cifar

    return {"torch": torch, "training": training, "cifar": cifar, "profile": config.get_profile("quick"),
            "dataset": SimpleNamespace(train=images(32))}


TRAIN_STEP = ("def train_step(forward", "probe = torch.nn.Sequential")


def test_01_the_training_step_passes_its_check():
    run("01_train_fp32_resnet18.ipynb", notebook_01(), *TRAIN_STEP)


@pytest.mark.parametrize("wrong", [
    ("    optimizer.zero_grad(set_to_none=True)", "    pass"),  # gradients pile up from step to step
    ("    scheduler.step()", "    pass"),                      # the learning rate never moves
    ("    optimizer.step()", "    pass"),                      # the weights never move
])
def test_01_a_wrong_training_step_fails_its_check(wrong):
    with pytest.raises(AssertionError, match="does not do what one training step does"):
        run("01_train_fp32_resnet18.ipynb", notebook_01(), *TRAIN_STEP, wrong=wrong)


# --- 02: the qconfig and the uint8 -> int8 codes ---------------------------------------------------

QCONFIG = ("def tensorrt_qconfig(", "yours, reference = quant.qconfig_summary(")
CODES = ("def to_int8_codes(", "int8_codes = to_int8_codes(stem_output)")


def test_02_the_qconfig_passes_its_check():
    run("02_quantize_and_export.ipynb", {"torch": torch, "quant": quantization, "show_table": show_table}, *QCONFIG)


@pytest.mark.parametrize("wrong", [
    ("qscheme=torch.per_tensor_symmetric)", "qscheme=torch.per_tensor_affine)"),
    ("weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)",
     "weight=MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)"),
])
def test_02_a_wrong_qconfig_fails_its_check(wrong):
    with pytest.raises(AssertionError, match="not the one TensorRT's rules need"):
        run("02_quantize_and_export.ipynb", {"torch": torch, "quant": quantization, "show_table": show_table}, *QCONFIG, wrong=wrong)


@pytest.fixture(scope="module")
def small_int8_model():
    from helpers.model import build_resnet18_cifar

    torch.manual_seed(0)
    quantization.use_qnnpack()
    fused = quantization.fuse_for_quantization(build_resnet18_cifar().eval())
    model, _ = quantization.quantize_int8(fused, quantization.tensorrt_qconfig(), images(16), batch_size=16)
    return model


def test_02_the_int8_codes_pass_their_check(small_int8_model):
    run("02_quantize_and_export.ipynb", {"torch": torch, "quant": quantization, "int8_model": small_int8_model,
                                         "calibration_images": images(16)}, *CODES)


@pytest.mark.parametrize("wrong", [
    ("    return (quantized_uint8.int_repr().to(torch.int16) - 128).to(torch.int8)",
     "    return (quantized_uint8.int_repr().to(torch.int16) - 127).to(torch.int8)"),        # a wrong zero point
    ('        raise ValueError("only a quint8 tensor with zero point 128 maps exactly to int8 with zero point 0")',
     "        pass"),                                                                          # refuses nothing
])
def test_02_wrong_int8_codes_fail_their_check(small_int8_model, wrong):
    with pytest.raises(AssertionError):
        run("02_quantize_and_export.ipynb", {"torch": torch, "quant": quantization, "int8_model": small_int8_model,
                                             "calibration_images": images(16)}, *CODES, wrong=wrong)


# --- 03: two surgery passes ------------------------------------------------------------------------

def notebook_03(raw_path: Path) -> dict:
    import onnx
    import onnx_graphsurgeon as gs

    namespace = {"np": np, "onnx": onnx, "gs": gs, "onnx_inspect": onnx_inspect, "qdq_rules": qdq_rules, "surgery": surgery,
                 "raw_path": raw_path, "chains": onnx_inspect.find_q_cast_dq_chains(raw_path),
                 "activation_qdq": [row for row in onnx_inspect.quantization_parameters(raw_path) if row["role"] == "activation"]}
    run("03_graph_surgery.ipynb", namespace, "def errors_now(graph")
    return namespace


PASSES = ("def remove_casts(", "def zero_points_to_int8(", 'changes["remove_casts"] = remove_casts(graph)',
          'changes["replace_bias_dequantize_with_float"] = surgery.replace_bias_dequantize_with_float(graph)',
          'changes["zero_points_to_int8"] = zero_points_to_int8(graph)')


def test_03_the_two_passes_pass_their_checks(resnet18_int8_raw_onnx):
    namespace = run("03_graph_surgery.ipynb", notebook_03(resnet18_int8_raw_onnx), *PASSES)
    assert namespace["errors_by_step"]["as exported"] > namespace["errors_by_step"]["after remove_casts"] > 0


@pytest.mark.parametrize("wrong", [
    ("            reader.inputs[0] = quantize.outputs[0]  # every DequantizeLinear now reads the QuantizeLinear directly",
     "            pass"),                                                                        # an unwired pass
])
def test_03_an_unwired_cast_pass_fails_its_check(resnet18_int8_raw_onnx, wrong):
    with pytest.raises(AssertionError):
        run("03_graph_surgery.ipynb", notebook_03(resnet18_int8_raw_onnx), *PASSES, wrong=wrong)


@pytest.mark.parametrize("wrong", [
    ("np.zeros(zero_point.shape, dtype=np.int8)", "np.ones(zero_point.shape, dtype=np.int8)"),  # a wrong zero point
])
def test_03_a_wrong_zero_point_pass_fails_its_check(resnet18_int8_raw_onnx, wrong):
    sources = cells("03_graph_surgery.ipynb", *PASSES)
    namespace = notebook_03(resnet18_int8_raw_onnx)
    exec(compile(sources[0], "lesson", "exec"), namespace)
    exec(compile(sources[1].replace(*wrong), "lesson", "exec"), namespace)
    with pytest.raises(AssertionError):
        for source in sources[2:]:
            exec(compile(source, "check", "exec"), namespace)


# --- 04: the timing loop ---------------------------------------------------------------------------

TIMING = ("def time_gpu_iterations(", "stand_in = {")


def test_04_the_timing_loop_passes_its_check():
    run("04_tensorrt_engines.ipynb", {"np": np, "show_table": show_table}, *TIMING)


@pytest.mark.parametrize("wrong", [
    ("    while warmup_count == 0 or time.perf_counter() - warmup_started < timing.warmup_seconds:",
     "    while warmup_count == 0:"),                                                     # one warm-up iteration only
    ("        if len(pairs) >= timing.min_iterations and wall_seconds >= timing.min_seconds:",
     "        if len(pairs) >= timing.min_iterations:"),                                  # counted, not timed
    ("            record(end)\n", ""),                                                      # events that wrap nothing
])
def test_04_a_wrong_timing_loop_fails_its_check(wrong):
    with pytest.raises((AssertionError, TypeError)):
        run("04_tensorrt_engines.ipynb", {"np": np, "show_table": show_table}, *TIMING, wrong=wrong)


# --- 06: the PT2E specs and the residual-placement pass --------------------------------------------

SPECS = ("def tensorrt_activation_spec(", "def tensorrt_weight_spec(", "activation_spec, weight_spec = tensorrt_activation_spec(")


def test_06_the_specs_pass_their_check():
    run("06_routes_after_eager_mode.ipynb", {"torch": torch, "routes": routes, "chosen_observer": "histogram"}, *SPECS)


@pytest.mark.parametrize("wrong", [("quant_min=-128, quant_max=127, qscheme=torch.per_tensor_symmetric",
                                    "quant_min=-127, quant_max=127, qscheme=torch.per_tensor_symmetric")])
def test_06_a_wrong_spec_fails_its_check(wrong):
    with pytest.raises(AssertionError):
        run("06_routes_after_eager_mode.ipynb", {"torch": torch, "routes": routes, "chosen_observer": "min-max"}, *SPECS, wrong=wrong)


def notebook_06(fixed_path: Path, out_dir: Path) -> dict:
    from helpers.onnx_export import read_metadata

    return {"onnx_inspect": onnx_inspect, "surgery": surgery, "eager_onnx": fixed_path, "out_dir": out_dir,
            "read_metadata": read_metadata, "NOTEBOOK": "06_routes_after_eager_mode"}


PLACEMENT = ("def keep_residual_qdq(graph", "for keep in surgery.PLACEMENTS:")


def test_06_the_placement_pass_passes_its_check(resnet18_int8_fixed_onnx, tmp_path):
    namespace = run("06_routes_after_eager_mode.ipynb", notebook_06(resnet18_int8_fixed_onnx, tmp_path), *PLACEMENT)
    assert sorted(namespace["variant_paths"]) == sorted(surgery.PLACEMENTS)


@pytest.mark.parametrize("wrong", [
    ('kept = {"none": (), "both": ("branch", "shortcut"), "shortcut": ("shortcut",), "branch": ("branch",)}[keep]',
     'kept = {"none": (), "both": ("branch", "shortcut"), "shortcut": ("branch",), "branch": ("shortcut",)}[keep]'),
    ("                add.inputs[index] = source", "                pass"),
])
def test_06_a_wrong_placement_pass_fails_its_check(resnet18_int8_fixed_onnx, tmp_path, wrong):
    with pytest.raises(AssertionError):
        run("06_routes_after_eager_mode.ipynb", notebook_06(resnet18_int8_fixed_onnx, tmp_path), *PLACEMENT, wrong=wrong)
