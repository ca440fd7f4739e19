"""An FP16-typed copy of the FP32 ONNX model, for TensorRT's FP16 engine.

Introduced in notebook 04.

TensorRT 11 (and 10.x with a strongly typed network) takes every tensor's precision from the ONNX
model: the ``--fp16`` flag of the article is gone. So the FP16 engine is built from a model whose
weights and activations are float16. ``onnxconverter_common.float16.convert_float_to_float16`` with
``keep_io_types=True`` converts every float tensor to float16 and inserts one ``Cast`` after the
input and one before the output, so the model still takes and returns float32 (the same
preprocessing and the same buffers as the FP32 model).
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import onnx
from onnx import TensorProto

from .config import written_atomically
from .onnx_export import load_onnx, read_metadata, set_metadata

CONVERTER = "onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True)"


def convert_onnx_to_fp16(fp32_onnx_path: Path, fp16_onnx_path: Path,
                         produced_by: str = "04_tensorrt_engines") -> dict:
    """Write an FP16-typed copy of an FP32 ONNX model (float32 input/output kept); return a report.

    The metadata of the FP32 model is carried over with ``precision`` set to ``fp16``. The converter
    clamps float32 weights whose magnitude is below float16's smallest normal range to +-1e-7 and
    warns once per value; those warnings are counted in the report instead of printed.
    """
    from onnxconverter_common import float16

    model = load_onnx(fp32_onnx_path)
    metadata = read_metadata(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    clamped = sum("will be truncated" in str(warning.message) for warning in caught)
    metadata.update(precision="fp16", produced_by=produced_by, fp16_conversion=CONVERTER)
    set_metadata(converted, metadata)
    onnx.checker.check_model(converted, full_check=True)
    fp16_onnx_path = Path(fp16_onnx_path)
    with written_atomically(fp16_onnx_path) as partial:
        onnx.save(converted, str(partial))
    return {"path": str(fp16_onnx_path), "clamped_tiny_weights": clamped, **tensor_type_counts(converted)}


def float_tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every float tensor of the model after shape inference: graph inputs and
    outputs, every intermediate value, every initializer (name -> TensorProto data type)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        types[value.name] = value.type.tensor_type.elem_type
    for initializer in graph.initializer:
        types[initializer.name] = initializer.data_type
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    return {name: element for name, element in types.items() if element in floats}


def tensor_type_counts(model: onnx.ModelProto) -> dict:
    """How many float tensors are float16 and which ones are not (expected: the graph's input and output)."""
    types = float_tensor_types(model)
    counts = collections.Counter(TensorProto.DataType.Name(element) for element in types.values())
    not_fp16 = sorted(name for name, element in types.items() if element != TensorProto.FLOAT16)
    return {"float_tensor_types": dict(counts), "tensors_not_fp16": not_fp16}
