"""The code a learner writes in the notebooks (cells tagged ``lesson``) does what the reference helpers do.

Notebook 03 has the learner write two surgery passes; these tests run the notebook's own cells on the real
export fixture and hold them against ``helpers.surgery``'s reference passes, so the lesson and the reference
cannot drift apart. Notebook 02's configuration cell is held against ``helpers.quantization`` the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest

from helpers import onnx_inspect, qdq_rules, surgery

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lesson_code(notebook: str) -> str:
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    code = ["".join(cell["source"]) for cell in cells if "lesson" in cell.get("metadata", {}).get("tags", [])]
    assert code, f"{notebook} has no cell tagged 'lesson'"
    return "\n\n".join(code)


def run_lesson(notebook: str, replace: tuple[str, str] | None = None) -> dict:
    code = lesson_code(notebook)
    if replace is not None:
        assert replace[0] in code, f"the lesson no longer contains {replace[0]!r}"
        code = code.replace(*replace)
    namespace = {"np": np, "onnx": onnx, "gs": gs, "surgery": surgery, "qdq_rules": qdq_rules, "onnx_inspect": onnx_inspect}
    exec(compile(code, notebook, "exec"), namespace)
    return namespace


def apply_passes(raw_path: Path, passes) -> gs.Graph:
    graph = surgery.load_graph(raw_path)
    for surgery_pass in passes:
        surgery_pass(graph)
    return graph


def learner_passes(lesson: dict) -> list:
    return [lesson["remove_casts"], surgery.replace_bias_dequantize_with_float, lesson["zero_points_to_int8"],
            surgery.fold_constants, surgery.cleanup_and_sort]


def test_the_passes_written_in_notebook_03_give_the_reference_graph(resnet18_int8_raw_onnx):
    lesson = run_lesson("03_graph_surgery.ipynb")
    yours = apply_passes(resnet18_int8_raw_onnx, learner_passes(lesson))
    reference = apply_passes(resnet18_int8_raw_onnx, surgery.SURGERY_PASSES)
    assert onnx_inspect.graph_differences(gs.export_onnx(yours), gs.export_onnx(reference)) == []
    assert lesson["errors_now"](yours) == 0


def test_each_written_pass_lowers_the_rule_count_and_matches_its_reference_step(resnet18_int8_raw_onnx):
    lesson = run_lesson("03_graph_surgery.ipynb")
    graph, reference = surgery.load_graph(resnet18_int8_raw_onnx), surgery.load_graph(resnet18_int8_raw_onnx)
    counts = [lesson["errors_now"](graph)]
    for yours, theirs in ((lesson["remove_casts"], surgery.remove_cast_between_q_and_dq),
                          (lesson["zero_points_to_int8"], surgery.map_uint8_qdq_to_int8)):
        if theirs is surgery.map_uint8_qdq_to_int8:
            for step in (graph, reference):
                surgery.replace_bias_dequantize_with_float(step)
        assert yours(graph), f"{yours.__name__} changed nothing on the raw export"
        theirs(reference)
        assert lesson["differences"](graph, reference) == []
        counts.append(lesson["errors_now"](graph))
    assert counts[0] > counts[1] > counts[2] == 0


@pytest.mark.parametrize("broken", [
    ("np.zeros(zero_point.shape, dtype=np.int8)", "np.ones(zero_point.shape, dtype=np.int8)"),
    ("reader.inputs[0] = quantize.outputs[0]", "pass"),
])
def test_a_wrong_pass_is_caught_by_the_comparison(resnet18_int8_raw_onnx, broken):
    """The comparison the notebook prints can fail: a pass with a wrong zero point or no rewiring differs."""
    lesson = run_lesson("03_graph_surgery.ipynb", replace=broken)
    yours = apply_passes(resnet18_int8_raw_onnx, learner_passes(lesson))
    reference = apply_passes(resnet18_int8_raw_onnx, surgery.SURGERY_PASSES)
    assert onnx_inspect.graph_differences(gs.export_onnx(yours), gs.export_onnx(reference)) != []


def test_the_written_passes_refuse_what_would_change_values(resnet18_int8_raw_onnx):
    lesson = run_lesson("03_graph_surgery.ipynb")
    graph = surgery.load_graph(resnet18_int8_raw_onnx)
    cast = next(node for node in graph.nodes if node.op == "Cast" and node.inputs[0].inputs
                and node.inputs[0].inputs[0].op == "QuantizeLinear")
    cast.attrs["to"] = onnx.TensorProto.INT8
    with pytest.raises(ValueError, match="changes the type"):
        lesson["remove_casts"](graph)

    graph = surgery.load_graph(resnet18_int8_raw_onnx)
    quantize = next(node for node in graph.nodes if node.op == "QuantizeLinear")
    quantize.inputs[2] = gs.Constant("zero_point_127", np.array(127, dtype=np.uint8))
    with pytest.raises(ValueError, match="no int8 twin"):
        lesson["zero_points_to_int8"](graph)


def test_graph_differences_names_what_differs(resnet18_int8_fixed_onnx):
    model = onnx.load(str(resnet18_int8_fixed_onnx))
    assert onnx_inspect.graph_differences(model, model) == []
    changed = onnx.load(str(resnet18_int8_fixed_onnx))
    conv = next(node for node in changed.graph.node if node.op_type == "Conv")
    next(attribute for attribute in conv.attribute if attribute.name == "strides").ints[:] = [2, 2]
    found = onnx_inspect.graph_differences(model, changed)
    assert len(found) == 1 and "attributes" in found[0] and conv.name in found[0]
    shorter = onnx.load(str(resnet18_int8_fixed_onnx))
    del shorter.graph.node[-1]
    assert "nodes against" in onnx_inspect.graph_differences(model, shorter)[0]


def notebook_02_lesson() -> dict:
    import torch

    namespace = {"torch": torch}
    exec(compile(lesson_code("02_quantize_and_export.ipynb"), "02_quantize_and_export.ipynb", "exec"), namespace)
    return namespace


def test_the_qconfig_written_in_notebook_02_is_the_reference_for_both_observers():
    from helpers import quantization as quant

    lesson = notebook_02_lesson()
    for observer_class in quant.OBSERVERS.values():
        assert (quant.qconfig_summary(lesson["tensorrt_qconfig"](observer_class))
                == quant.qconfig_summary(quant.tensorrt_qconfig(observer_class)))


def test_the_shift_written_in_notebook_02_matches_the_reference_and_refuses_other_zero_points():
    import torch

    from helpers import quantization as quant

    lesson = notebook_02_lesson()
    values = torch.linspace(-3.0, 2.0, 1000)
    uint8 = torch.quantize_per_tensor(values, 3.0 / 127.5, 128, torch.quint8)
    codes = lesson["to_int8_codes"](uint8)
    assert codes.dtype == torch.int8 and int(codes.min()) == -128
    assert torch.equal(codes, quant.shift_to_int8(uint8).int_repr())
    assert torch.equal(uint8.q_scale() * codes.float(), uint8.dequantize())
    with pytest.raises(ValueError, match="only 128"):
        lesson["to_int8_codes"](torch.quantize_per_tensor(values, 3.0 / 127.5, 127, torch.quint8))
