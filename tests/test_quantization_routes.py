"""helpers.quantization_routes (notebook 06) on small real inputs: real torchao, real ONNX export, real ONNX Runtime.

Also the eager path's survival under deprecation: the torch.ao names the series uses must exist, and the
warnings helpers.quantization silences must be exactly the eager API's known ones.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from helpers import onnx_inspect, onnx_runtime, qdq_rules
from helpers import quantization_routes as routes
from helpers.config import TutorialError
from helpers.data import Split, normalize, to_tensor
from helpers.onnx_export import model_metadata
from synthetic import images, tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pt2e_onnx(tmp_path_factory):
    """The tiny model through the PT2E route (TensorRT quantizer, shortcut placement), exported to ONNX."""
    model = tiny_model()
    quantizer = routes.TensorRTQuantizer(routes.tensorrt_activation_spec(), routes.tensorrt_weight_spec())
    quantized = routes.quantize_pt2e(model, quantizer, images(32, seed=1), batch_size=16)
    path = tmp_path_factory.mktemp("pt2e") / "tiny_pt2e.onnx"
    metadata = routes.route_metadata(model_metadata(None, None, "fp32", "test"), routes.PT2E_PRECISION, "test")
    routes.export_pt2e_onnx(quantized, path, metadata)
    return model, quantized, path


def onnx_logits(path: Path, inputs: torch.Tensor) -> np.ndarray:
    return onnx_runtime.onnxruntime_logits(path, inputs.numpy())


# --- PT2E -------------------------------------------------------------------------------------------

def test_reference_specs_are_what_tensorrt_accepts():
    assert routes.spec_summary(routes.tensorrt_activation_spec()) == {
        "dtype": "torch.int8", "quant_range": [-128, 127], "qscheme": "torch.per_tensor_symmetric",
        "channel_axis": None, "observer": "MinMaxObserver"}
    assert routes.spec_summary(routes.tensorrt_activation_spec("histogram"))["observer"] == "HistogramObserver"
    weight = routes.spec_summary(routes.tensorrt_weight_spec())
    assert weight["qscheme"] == "torch.per_channel_symmetric" and weight["channel_axis"] == 0


def test_shortcut_input_is_the_shorter_path_in_identity_and_downsample_blocks():
    graph = routes.capture(tiny_model()).graph
    adds = [node for node in graph.nodes if node.op == "call_function" and node.target == torch.ops.aten.add.Tensor]
    assert len(adds) == 2
    identity, downsample = (routes.residual_shortcut_input(add) for add in adds)
    assert identity.target == torch.ops.aten.relu.default  # the stem's output, read directly
    assert downsample.target in (torch.ops.aten.batch_norm.default, torch.ops.aten._native_batch_norm_legit_no_training.default)
    # the downsample BatchNorm reads the 1x1 Conv, which reads the block input
    assert downsample.args[0].target == torch.ops.aten.conv2d.default and downsample.args[0].args[1].target == "downsample.0.weight"


def test_pt2e_graph_follows_tensorrt_rules_with_the_fused_placement(pt2e_onnx):
    _, _, path = pt2e_onnx
    findings = qdq_rules.check_tensorrt_rules(path)
    assert findings == [], qdq_rules.format_findings(findings)
    assert set(onnx_inspect.residual_add_inputs(path).values()) == {"shortcut"} and len(onnx_inspect.residual_add_inputs(path)) == 2
    rows = onnx_inspect.quantization_parameters(path)
    assert {row["zero_point_dtype"] for row in rows} == {"int8"} and {z for row in rows for z in row["zero_points"]} == {0}
    weights = [row for row in rows if row["role"] == "weight"]
    assert len(weights) == 7 and all(row["axis"] == 0 and row["scale_shape"] for row in weights)  # 6 Conv + Linear
    assert onnx_inspect.count_ops(path).get("BatchNormalization", 0) == 0  # prepare_pt2e folded them


def test_pt2e_onnx_computes_what_the_pt2e_model_computes(pt2e_onnx):
    model, quantized, path = pt2e_onnx
    inputs = normalize(to_tensor(images(16, seed=2).images))
    with torch.no_grad():
        expected = quantized(inputs).numpy()
        fp32 = model(inputs).numpy()
    got = onnx_logits(path, inputs)
    assert got.shape == (16, 10)
    # the same Q/DQ arithmetic in float: equal up to float rounding, far closer than INT8 is to FP32
    assert np.max(np.abs(got - expected)) < 1e-4 * max(1.0, float(np.max(np.abs(expected))))
    assert np.max(np.abs(expected - fp32)) > 1e-3


@pytest.mark.parametrize("residual, expected", [("both", "both"), ("branch", "branch"), ("none", "none")])
def test_the_quantizer_places_residual_qdq_as_asked(residual, expected, tmp_path):
    quantizer = routes.TensorRTQuantizer(routes.tensorrt_activation_spec(), routes.tensorrt_weight_spec(), residual=residual)
    quantized = routes.quantize_pt2e(tiny_model(), quantizer, images(16, seed=3), batch_size=16)
    path = routes.export_pt2e_onnx(quantized, tmp_path / "tiny.onnx", model_metadata(None, None, "x", "test"))
    assert set(onnx_inspect.residual_add_inputs(path).values()) == {expected}
    findings = qdq_rules.check_tensorrt_rules(path)
    assert qdq_rules.errors(findings) == []
    assert qdq_rules.count_by_rule(findings) == ({"residual-add-unfused": 2} if residual == "both" else {})


def test_the_quantizer_refuses_what_tensorrt_rejects():
    asymmetric = dataclasses.replace(routes.tensorrt_activation_spec(), qscheme=torch.per_tensor_affine)
    with pytest.raises(TutorialError, match="TensorRT needs int8"):
        routes.quantize_pt2e(tiny_model(), routes.TensorRTQuantizer(asymmetric, routes.tensorrt_weight_spec()), images(4, 0))
    with pytest.raises(TutorialError, match="residual must be one of"):
        routes.TensorRTQuantizer(routes.tensorrt_activation_spec(), routes.tensorrt_weight_spec(), residual="output")


# --- plumbing -------------------------------------------------------------------------------------------

def test_code_lines_counts_code_not_docstrings_comments_or_blanks():
    source = '''
def add(a, b):
    """Add.

    Two numbers.
    """
    # a comment
    total = a + b

    return total
'''
    assert routes.code_lines(source) == 3
    assert routes.code_lines(routes.route_metadata) == 2
    assert routes.code_lines("x = 1\n\n# two\ny = 2\n") == 2


def test_attempt_keeps_the_result_or_the_failure_with_its_cause():
    assert routes.attempt("sum", sum, [1, 2]).result == 3 and routes.attempt("sum", sum, [1, 2]).ok

    def fails():
        try:
            import a_module_that_does_not_exist  # noqa: F401
        except ImportError as error:
            raise TutorialError("the route cannot start") from error

    outcome = routes.attempt("import", fails)
    assert not outcome.ok and outcome.result is None
    assert outcome.failure.startswith("TutorialError: the route cannot start")
    assert "ModuleNotFoundError" in outcome.failure and "in fails" in outcome.failure


# --- the eager path under deprecation ---------------------------------------------------------------

def torch_ao_names_the_series_uses() -> dict[str, set[str]]:
    """{module: names} for every ``from torch.ao... import names`` in helpers/ and in the notebooks' code
    (cells and the python solutions in their markdown), plus every ``import torch.ao...`` module."""
    sources = [path.read_text() for path in sorted((REPO_ROOT / "helpers").glob("*.py"))]
    for notebook in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "code":
                sources.append("\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!"))))
            else:
                sources += [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    found: dict[str, set[str]] = {}
    for source in sources:
        tree = ast.parse(source)
        aliases = {}  # import torch.ao.nn.quantized as nnq -> {"nnq": "torch.ao.nn.quantized"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch.ao"):
                found.setdefault(node.module, set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("torch.ao"):
                        found.setdefault(alias.name, set())
                        if alias.asname:
                            aliases[alias.asname] = alias.name
        for node in ast.walk(tree):  # nnq.Conv2d, nnq.QFunctional ...
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                found[aliases[node.value.id]].add(node.attr)
    return found


def test_the_eager_api_the_series_uses_still_exists():
    used = torch_ao_names_the_series_uses()
    assert "torch.ao.quantization" in used and {"prepare", "convert", "QConfig"} <= used["torch.ao.quantization"]
    missing = []
    for module_name, names in sorted(used.items()):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        missing += [f"{module_name}.{name}" for name in sorted(names) if not hasattr(module, name)]
    for dtype in ("quint8", "qint8"):
        if not hasattr(torch, dtype):
            missing.append(f"torch.{dtype}")
    if "qnnpack" not in torch.backends.quantized.supported_engines:
        missing.append("the qnnpack quantized engine")
    assert not missing, (
        f"torch {torch.__version__} no longer has {', '.join(missing)}, which the eager-mode notebooks 02-05 use "
        "(torch.ao.quantization is deprecated, its removal planned). Either keep torch pinned to 2.14.1 "
        "(pyproject.toml and environment.yml), or move the series to the PT2E route that "
        "notebooks/06_routes_after_eager_mode.ipynb teaches (helpers/quantization_routes.py: TensorRTQuantizer, quantize_pt2e, "
        "export_pt2e_onnx).")


def test_eager_calls_give_no_warning_the_narrow_filters_do_not_name():
    from helpers import quantization as quant

    model = nn.Sequential(torch.ao.quantization.QuantStub(), nn.Conv2d(3, 4, 3), nn.ReLU(),
                          torch.ao.quantization.DeQuantStub()).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = quant.prepare_for_calibration(model, quant.tensorrt_qconfig())
        prepared(torch.randn(2, 3, 8, 8))
        quant.convert_to_int8(prepared)(torch.randn(2, 3, 8, 8))
    # a new deprecation text from a future torch shows up here: update EAGER_DEPRECATION_WARNINGS (and read notebook 06)
    assert [str(warning.message)[:120] for warning in caught] == []


def test_the_deprecation_filter_is_narrow():
    from helpers import quantization as quant

    message = "torch.ao.quantization is deprecated and will be removed in 2.10."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quant.eager_deprecation_silenced():
            warnings.warn_explicit(message, DeprecationWarning, "quantization.py", 1, module="helpers.quantization")
            warnings.warn_explicit(message, DeprecationWarning, "cell.py", 1, module="a_notebook_cell")
            warnings.warn_explicit("something else is deprecated", DeprecationWarning, "quantization.py", 2,
                                   module="helpers.quantization")
            warnings.warn_explicit(message, UserWarning, "quantization.py", 3, module="helpers.quantization")
    assert [(str(w.message), w.category, w.filename) for w in caught] == [
        (message, DeprecationWarning, "cell.py"),
        ("something else is deprecated", DeprecationWarning, "quantization.py"),
        (message, UserWarning, "quantization.py"),
    ]
