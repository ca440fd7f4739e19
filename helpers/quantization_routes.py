"""The quantization routes after eager mode (notebook 06): PT2E (torchao) with ``TensorRTQuantizer``, exported by the
dynamo exporter, and what the routes share: running a step and keeping its failure, counting lines of code, what
TensorRT's guide says about each residual placement. ModelOpt's route runs in its own environment."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import logging
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx
import torch
from torch.fx import GraphModule, Node

from .config import TutorialError, written_atomically
from .data import Split, normalize, to_tensor
from .onnx_export import INPUT_NAME, OUTPUT_NAME, set_metadata
from .surgery import PLACEMENTS

PT2E_PRECISION = "int8-qdq-pt2e"
PT2E_OPSET = 18  # the dynamo exporter's translation of quantized_decomposed ops starts at opset 18
TENSORRT_QDQ_GUIDE = ("https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/"
                      "work-quantized-types.html")  # section "Q/DQ Layer-Placement Recommendations"


# torchao 0.18's import logs a deprecation line on torch 2.14 through the logger torch.utils._pytree: silenced here.
_pytree_logger = logging.getLogger("torch.utils._pytree")
_pytree_level = _pytree_logger.level
_pytree_logger.setLevel(logging.ERROR)
try:
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec, Quantizer
finally:
    _pytree_logger.setLevel(_pytree_level)
PT2E_OBSERVERS = {"min-max": MinMaxObserver, "histogram": HistogramObserver}


@dataclasses.dataclass
class Outcome:
    """What one step of a route gave: its result and its time, or why it failed."""

    step: str
    result: object = None
    seconds: float = 0.0
    failure: str | None = None  # "ExceptionType: message" when the step raised

    @property
    def ok(self) -> bool:
        return self.failure is None


def attempt(step: str, function: Callable, *args, **kwargs) -> Outcome:
    """Run ``function(*args, **kwargs)``; on an exception keep its type, message and innermost frames, so a route that
    fails on a future package version shows its cause in notebook 06 and its report instead of stopping it."""
    started = time.perf_counter()
    try:
        result = function(*args, **kwargs)
    except Exception as error:  # the point is to keep any failure, with its cause
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        where = "; ".join(f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}" for frame in frames)
        cause = f" (caused by {type(error.__cause__).__name__}: {error.__cause__})" if error.__cause__ else ""
        return Outcome(step, None, time.perf_counter() - started,
                       f"{type(error).__name__}: {str(error)[:1500]}{cause} [at {where}]")
    return Outcome(step, result, time.perf_counter() - started)


def tensorrt_activation_spec(observer: str = "min-max") -> QuantizationSpec:
    """Reference: activations int8, symmetric (zero point 0), one scale per tensor. ``observer``: notebook 02's name."""
    return QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_symmetric,
                            observer_or_fake_quant_ctr=PT2E_OBSERVERS[observer].with_args())


def tensorrt_weight_spec() -> QuantizationSpec:
    """Reference: weights int8, symmetric (zero point 0), one scale per output channel (axis 0)."""
    return QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_channel_symmetric,
                            ch_axis=0, observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args())


def spec_summary(spec: QuantizationSpec) -> dict:
    """What a QuantizationSpec will do, comparable between two specs (their observer constructors are not)."""
    observer = spec.observer_or_fake_quant_ctr()
    return {"dtype": str(spec.dtype), "quant_range": [spec.quant_min, spec.quant_max], "qscheme": str(spec.qscheme),
            "channel_axis": spec.ch_axis, "observer": type(observer).__name__}


def _longest_path_depth(node: Node, memo: dict[Node, int]) -> int:
    """Length of the longest path from any graph input to ``node`` (iterative; ResNets are deep)."""
    stack = [node]
    while stack:
        current = stack[-1]
        pending = [parent for parent in current.all_input_nodes if parent not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[current] = 1 + max((memo[parent] for parent in current.all_input_nodes), default=-1)
    return memo[node]


def residual_shortcut_input(add: Node, memo: dict[Node, int] | None = None) -> Node | None:
    """The shortcut input of a residual ``aten.add`` (None when it is no residual Add): the input with the shorter
    longest path from the graph's inputs, since the main branch runs through more layers than the shortcut."""
    if (add.op != "call_function" or add.target != torch.ops.aten.add.Tensor or len(add.args) < 2
            or not all(isinstance(arg, Node) for arg in add.args[:2])):
        return None
    first, second = add.args[:2]
    memo = {} if memo is None else memo
    first_depth, second_depth = _longest_path_depth(first, memo), _longest_path_depth(second, memo)
    if first_depth == second_depth:
        return None
    return first if first_depth < second_depth else second


QUANTIZED_OPS = (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default)


class TensorRTQuantizer(Quantizer):
    """A PT2E quantizer placing Q/DQ where TensorRT wants them; residual Adds' inputs as ``residual`` names."""

    def __init__(self, activation: QuantizationSpec, weight: QuantizationSpec, residual: str = "shortcut"):
        super().__init__()
        if residual not in PLACEMENTS:
            raise TutorialError(f"residual must be one of {PLACEMENTS}, not {residual!r}")
        self.activation, self.weight, self.residual = activation, weight, residual

    def annotate(self, model: GraphModule) -> GraphModule:
        depths: dict[Node, int] = {}
        for node in model.graph.nodes:
            if node.op != "call_function":
                continue
            if node.target in QUANTIZED_OPS:
                inputs = {node.args[0]: self.activation, node.args[1]: self.weight}
            elif (shortcut := residual_shortcut_input(node, depths)) is not None:
                branch = node.args[1] if node.args[0] is shortcut else node.args[0]
                chosen = {"shortcut": [shortcut], "branch": [branch], "both": [shortcut, branch], "none": []}
                inputs = {edge: self.activation for edge in chosen[self.residual]}
            else:
                continue
            node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=inputs, _annotated=True)
        return model

    def validate(self, model: GraphModule) -> None:
        """Every quantized Conv/Linear weight must be per output channel, every activation per tensor."""
        for node in model.graph.nodes:
            annotation = node.meta.get("quantization_annotation")
            if annotation is None:
                continue
            for edge, spec in annotation.input_qspec_map.items():
                is_weight = node.target in QUANTIZED_OPS and len(node.args) > 1 and edge is node.args[1]
                expected = torch.per_channel_symmetric if is_weight else torch.per_tensor_symmetric
                if spec.qscheme != expected or spec.dtype != torch.int8:
                    raise TutorialError(f"{node.name}: input {edge.name} is quantized {spec.dtype} {spec.qscheme}; "
                                        f"TensorRT needs int8 {expected}")


def capture(model: torch.nn.Module, example_batch: int = 8) -> GraphModule:
    """``torch.export`` of the FP32 model (eval mode) with a dynamic batch dimension, as a GraphModule."""
    example = torch.randn(example_batch, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=4096)
    return torch.export.export(model.eval().cpu(), (example,), dynamic_shapes=({0: batch},)).module()


@torch.no_grad()
def calibrate_exported(prepared: GraphModule, images: Split, batch_size: int = 128) -> int:
    """Run the calibration images (normalized as in training) through a prepared PT2E model; return how many."""
    inputs = normalize(to_tensor(images.images))
    for start in range(0, len(inputs), batch_size):
        prepared(inputs[start:start + batch_size])
    return len(inputs)


# torch 2.11 (the GPU machine's, not the pin) warns when it copies a pytree LeafSpec: notebook 06's PT2E cell printed it
# on the H200, and that cell runs both functions below, so both filter it. The pinned torch does not warn.
LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def quantize_pt2e(model: torch.nn.Module, quantizer: Quantizer, calibration_images: Split,
                  batch_size: int = 128) -> GraphModule:
    """capture -> prepare_pt2e -> calibrate -> convert_pt2e: the INT8 model as a GraphModule of Q/DQ ops (eval mode)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning)
        prepared = prepare_pt2e(capture(model), quantizer)
        calibrate_exported(prepared, calibration_images, batch_size)
        return move_exported_model_to_eval(convert_pt2e(prepared))


def export_pt2e_onnx(quantized: GraphModule, path: Path, metadata: dict[str, str], opset: int = PT2E_OPSET) -> Path:
    """The PT2E model as a checked ONNX Q/DQ graph (dynamo exporter), dynamic batch, with ``metadata``."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        # A GraphModule from torch.export keeps training=True (eval() is disallowed on it); it already runs as in eval.
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning)
        program = torch.onnx.export(quantized, (torch.randn(2, 3, 32, 32),), dynamo=True, opset_version=opset,
                                    verbose=False, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes=({0: batch},))
    model = set_metadata(program.model_proto, metadata)
    onnx.checker.check_model(model, full_check=True)
    with written_atomically(path) as partial:
        onnx.save(model, str(partial))
    return Path(path)


def route_metadata(source_metadata: dict[str, str], precision: str, produced_by: str) -> dict[str, str]:
    """The FP32 ONNX model's metadata (input description, classes, checkpoint), marked with a route's precision."""
    return {**source_metadata, "precision": precision, "produced_by": produced_by}


def code_lines(*sources) -> int:
    """Lines of code in functions, classes or source strings: non-blank, not comments, docstrings left out."""
    total = 0
    for source in sources:
        text = textwrap.dedent(source if isinstance(source, str) else inspect.getsource(source))
        docstring_lines = set()
        for node in ast.walk(ast.parse(text)):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                docstring_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
        total += sum(1 for number, line in enumerate(text.splitlines(), start=1)
                     if line.strip() and not line.strip().startswith("#") and number not in docstring_lines)
    return total


# TensorRT's guide (TENSORRT_QDQ_GUIDE, figures as of 10.x) on each placement, paraphrased; "inferred" follows from
# its rules but is not shown there.
TENSORRT_ON_PLACEMENT = {
    "none": "guide: with a float residual input (its Figure 6), Conv+Add can fuse but the fused output is float, "
            "and the Q after it cannot be fused into the Conv",
    "both": "guide: the extra Q/DQ pair between the branch's Conv and the Add forces Conv and Add apart "
            "(Figure 9A, the suboptimal fusion); the engine builds, with more layers",
    "shortcut": "guide: recommended - quantize the residual input; Conv+Add(+Relu) fuse into one INT8 layer with INT8 "
                "output (Figures 7 and 9B)",
    "branch": "inferred from the guide: in the 5 identity blocks the branch's Q/DQ keeps Conv and Add apart (as "
              "Figure 9A) and the float shortcut keeps the Add in float (as Figure 6); in the 3 downsample blocks the "
              "1x1 shortcut Conv feeds the Add directly and the branch is quantized - Figure 9B with the roles "
              "swapped, so that Conv and the Add can fuse",
}
