"""FP16-typed ONNX graphs for TensorRT's strongly typed builds (notebook 04), which take every tensor's precision from
the model: the FP16 model, and the INT8 + FP16 Q/DQ graph (unfused layers run in FP16, not FP32)."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from .config import written_atomically
from .onnx_export import load_onnx, read_metadata, set_metadata

CONVERTER = "onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True)"
# The converter's defaults: it moves float32 values nearer to 0 than MIN_POSITIVE, or beyond +-MAX_FINITE, to them.
MIN_POSITIVE, MAX_FINITE = 1e-7, 1e4
QDQ_FP16_OPSET = 19  # QuantizeLinear/DequantizeLinear accept float16 scales from opset 19 on


def convert_onnx_to_fp16(fp32_onnx_path: Path, fp16_onnx_path: Path,
                         produced_by: str = "04_tensorrt_engines") -> dict:
    """Write an FP16-typed copy of an FP32 ONNX model (float32 input and output kept) with its metadata; return a
    report, which counts the values the converter clamps (``clamping_counts``)."""
    return _convert_and_save(load_onnx(fp32_onnx_path), fp16_onnx_path, "fp16", produced_by, CONVERTER)


def convert_qdq_onnx_to_int8_fp16(int8_onnx_path: Path, int8_fp16_onnx_path: Path,
                                  produced_by: str = "04_tensorrt_engines") -> dict:
    """Write the INT8 + FP16 variant of a Q/DQ graph (int8 Q/DQ, every other float tensor float16, float32 input and
    output kept) and return a report; the graph moves to opset 19 first, the first to take float16 scales."""
    model = load_onnx(int8_onnx_path)
    if max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")) < QDQ_FP16_OPSET:
        model = set_metadata(onnx.version_converter.convert_version(model, QDQ_FP16_OPSET), read_metadata(model))
    converter = f"onnx.version_converter (opset {QDQ_FP16_OPSET}), then {CONVERTER}"
    return _convert_and_save(model, int8_fp16_onnx_path, "int8-fp16", produced_by, converter)


def _convert_and_save(model: onnx.ModelProto, path: Path, precision: str, produced_by: str, converter: str) -> dict:
    from onnxconverter_common import float16
    clamped = clamping_counts(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the float32 number")  # counted by clamping_counts instead
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    set_metadata(converted, {**read_metadata(model), "precision": precision, "produced_by": produced_by,
                             "fp16_conversion": converter})
    onnx.checker.check_model(converted, full_check=True)
    with written_atomically(path) as partial:
        onnx.save(converted, str(partial))
    return {"path": str(path), **clamped, **tensor_type_counts(converted)}


def clamping_counts(model: onnx.ModelProto, min_positive: float = MIN_POSITIVE,
                    max_finite: float = MAX_FINITE) -> dict:
    """How many float32 constant values the float16 converter will move (nearer to 0 than ``min_positive``, beyond
    +-``max_finite``), and which tensors hold any of them."""
    constants = [(init.name, init) for init in model.graph.initializer if init.data_type == TensorProto.FLOAT]
    constants += [(node.output[0], attribute.t) for node in model.graph.node if node.op_type == "Constant"
                  for attribute in node.attribute if attribute.name == "value"
                  and attribute.t.data_type == TensorProto.FLOAT]
    raised, lowered, tensors = 0, 0, []
    for name, tensor in constants:
        values = numpy_helper.to_array(tensor)
        magnitude = np.abs(values[np.isfinite(values)])
        tiny = int(np.count_nonzero((magnitude > 0) & (magnitude < min_positive)))
        large = int(np.count_nonzero(magnitude > max_finite))
        raised, lowered = raised + tiny, lowered + large
        tensors += [name] if tiny or large else []
    return {"values_raised_to_min": raised, "values_lowered_to_max": lowered,
            "tensors_with_moved_values": sorted(tensors)}


def float_tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type (TensorProto data type) of every float tensor after shape inference, initializers included."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {value.name: value.type.tensor_type.elem_type for value in [*graph.input, *graph.value_info, *graph.output]}
    types.update({initializer.name: initializer.data_type for initializer in graph.initializer})
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    return {name: element for name, element in types.items() if element in floats}


def tensor_type_counts(model: onnx.ModelProto) -> dict:
    """How many float tensors are float16 and which ones are not (expected: the graph's input and output)."""
    types = float_tensor_types(model)
    counts = collections.Counter(TensorProto.DataType.Name(element) for element in types.values())
    not_fp16 = sorted(name for name, element in types.items() if element != TensorProto.FLOAT16)
    return {"float_tensor_types": dict(counts), "tensors_not_fp16": not_fp16}
