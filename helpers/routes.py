"""The routes after eager mode: PT2E (torchao) and NVIDIA ModelOpt's PyTorch quantization, next to the eager recipe.

Introduced in notebook 06, which writes the lesson code in its own cells (the PT2E quantization specs, the
residual placement variants) and checks it against the reference implementations here.

* **PT2E** (``torch.export`` -> ``prepare_pt2e`` -> calibrate -> ``convert_pt2e``, torchao): a ``Quantizer`` says
  which edges of the exported graph get a quantizer. ``TensorRTQuantizer`` annotates what TensorRT wants:
  every Conv/Linear input (int8, per tensor, zero point 0) and weight (int8, per output channel, zero point 0),
  and the *shortcut* input of each residual Add (the fused placement of notebook 05). The dynamo ONNX exporter
  (onnxscript) writes its quantize/dequantize ops as QuantizeLinear/DequantizeLinear.
* **ModelOpt PyTorch** (``modelopt.torch.quantization``, ``mtq.quantize`` with ``INT8_DEFAULT_CFG``): runs in
  ModelOpt's own virtual environment (see ``helpers.modelopt_compare``) as a subprocess. The FP32 model travels
  as a pickled ``torch.fx`` trace, so that environment needs torch only, not torchvision or this package.
* **The residual-placement ablation**: the same INT8 graph (notebook 03's) with Q/DQ on none, both, the shortcut
  or the branch input of every residual Add.
* Plumbing shared by the three routes: one row of the comparison table per graph, counting lines of code,
  running a step and keeping its failure (with its cause) instead of crashing.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import json
import logging
import subprocess
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import onnx
import onnx_graphsurgeon as gs
import torch
from torch.fx import GraphModule, Node

from . import onnx_inspect, qdq_rules, surgery
from .config import TutorialError, written_atomically
from .data import Split, normalize, to_tensor
from .modelopt_compare import modelopt_unavailable_reason, modelopt_venv, ready_for_modelopt, venv_python
from .onnx_export import INPUT_NAME, OUTPUT_NAME, load_onnx, read_metadata, set_metadata

PRODUCED_BY = "06_routes_after_eager_mode"
PT2E_PRECISION = "int8-qdq-pt2e"
MODELOPT_TORCH_PRECISION = "int8-qdq-modelopt-torch"
PT2E_OPSET = 18  # the dynamo exporter's translation of quantized_decomposed ops starts at opset 18
# Files notebook 06 writes into artifacts/<profile>/
FILES = {
    "pt2e_onnx": "resnet18_int8_pt2e.onnx",
    "modelopt_torch_onnx": "resnet18_int8_modelopt_torch.onnx",
    "report": "routes_report.json",
    "ablation_plot": "06_residual_placement_ablation.png",
}
TENSORRT_QDQ_GUIDE = ("https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/"
                      "work-quantized-types.html")  # section "Q/DQ Layer-Placement Recommendations"


@contextlib.contextmanager
def _quiet_pytree_logger() -> Iterator[None]:
    """torchao 0.18 registers an Enum with torch's pytree at import, which logs a deprecation line on torch 2.14
    (from the logger ``torch.utils._pytree``, not through ``warnings``). Silence that one logger while importing."""
    logger = logging.getLogger("torch.utils._pytree")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


with _quiet_pytree_logger():
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec, Quantizer

# torchao's observers with the names notebook 02 gives its eager-mode observers
PT2E_OBSERVERS = {"min-max": MinMaxObserver, "histogram": HistogramObserver}


# ---------------------------------------------------------------------------------------------
# Running a step and keeping its failure
# ---------------------------------------------------------------------------------------------

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
    """Run ``function(*args, **kwargs)``; on an exception keep its type, message and the innermost frames.

    Notebook 06 runs each route's steps through this, so a route that fails on a future package version shows
    its cause in the notebook, and in the report, instead of stopping the notebook.
    """
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


# ---------------------------------------------------------------------------------------------
# PT2E: the quantization specs, the quantizer, capture -> prepare -> calibrate -> convert -> ONNX
# ---------------------------------------------------------------------------------------------

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
    """The shortcut input of a residual ``aten.add`` in an exported graph, or None when it is no residual Add.

    Both inputs of a residual Add start from the block's input; the main branch runs through more layers
    (conv, bn, relu, conv, bn) than the shortcut (nothing, or a downsample conv and bn), so the shortcut is the
    input with the shorter longest path from the graph's inputs - the same choice as
    ``surgery.residual_branch_input`` on the ONNX graph.
    """
    if add.op != "call_function" or add.target != torch.ops.aten.add.Tensor or len(add.args) < 2:
        return None
    first, second = add.args[:2]
    if not isinstance(first, Node) or not isinstance(second, Node):
        return None
    memo = {} if memo is None else memo
    first_depth, second_depth = _longest_path_depth(first, memo), _longest_path_depth(second, memo)
    if first_depth == second_depth:
        return None
    return first if first_depth < second_depth else second


QUANTIZED_OPS = (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default)


class TensorRTQuantizer(Quantizer):
    """A PT2E quantizer that places Q/DQ where TensorRT's explicit quantization wants them.

    * each Conv and Linear: its input activation (``activation``) and its weight (``weight``); no quantizer on
      its output, so Conv -> Relu and Conv -> Add stay float between the two and TensorRT can fuse them;
    * each residual Add: ``residual`` says which input gets an activation quantizer: "shortcut" (TensorRT's
      recommendation: the branch's Conv output goes straight into the Add), "both", "branch" or "none".
    A tensor read by several quantized inputs is quantized once (prepare_pt2e shares the observer).
    """

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
                chosen = {"shortcut": [shortcut], "branch": [branch], "both": [shortcut, branch], "none": []}[self.residual]
                inputs = {edge: self.activation for edge in chosen}
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


def quantize_pt2e(model: torch.nn.Module, quantizer: Quantizer, calibration_images: Split,
                  batch_size: int = 128) -> GraphModule:
    """capture -> prepare_pt2e -> calibrate -> convert_pt2e: the INT8 model as a GraphModule of Q/DQ ops (eval mode)."""
    prepared = prepare_pt2e(capture(model), quantizer)
    calibrate_exported(prepared, calibration_images, batch_size)
    return move_exported_model_to_eval(convert_pt2e(prepared))


def export_pt2e_onnx(quantized: GraphModule, path: Path, metadata: dict[str, str], opset: int = PT2E_OPSET) -> Path:
    """The PT2E model as an ONNX Q/DQ graph (the dynamo exporter with onnxscript), with a dynamic batch
    dimension, ``metadata`` attached and checked by ``onnx.checker`` before it is written."""
    example = torch.randn(2, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        # A GraphModule from torch.export keeps training=True (eval() is disallowed on it); it already runs as in eval.
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode", category=UserWarning)
        program = torch.onnx.export(quantized, (example,), dynamo=True, opset_version=opset, verbose=False,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},))
    model = program.model_proto
    set_metadata(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    with written_atomically(path) as partial:
        onnx.save(model, str(partial))
    return Path(path)


def route_metadata(source_metadata: dict[str, str], precision: str, produced_by: str) -> dict[str, str]:
    """The FP32 ONNX model's metadata (input description, classes, checkpoint), marked with a route's precision."""
    return {**source_metadata, "precision": precision, "produced_by": produced_by}


# ---------------------------------------------------------------------------------------------
# ModelOpt's PyTorch quantization, in ModelOpt's own virtual environment
# ---------------------------------------------------------------------------------------------

# What a user of ModelOpt writes: quantize with a forward loop over the calibration data, export to ONNX.
MODELOPT_TORCH_USER_CODE = '''
import modelopt.torch.quantization as mtq

def forward_loop(model):
    with torch.no_grad():
        for start in range(0, len(calibration), 64):
            model(calibration[start:start + 64])

model = mtq.quantize(model, mtq.INT8_DEFAULT_CFG, forward_loop)
torch.onnx.export(model, (calibration[:1],), onnx_path, dynamo=False, opset_version=17,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
'''

# The script the subprocess runs: the user code above, timed, plus reading the inputs and writing a record.
MODELOPT_TORCH_SCRIPT = '''
import json, sys, time, warnings
import numpy as np
import torch

model_path, calibration_path, onnx_path, record_path = sys.argv[1:5]
model = torch.load(model_path, weights_only=False).eval()  # a torch.fx trace of the FP32 model, written by helpers.routes
calibration = torch.from_numpy(np.load(calibration_path))
started = time.perf_counter()
import modelopt.torch.quantization as mtq
import_seconds = time.perf_counter() - started

def forward_loop(model):
    with torch.no_grad():
        for start in range(0, len(calibration), 64):
            model(calibration[start:start + 64])

started = time.perf_counter()
model = mtq.quantize(model, mtq.INT8_DEFAULT_CFG, forward_loop)
quantize_seconds = time.perf_counter() - started
started = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings, at length
    torch.onnx.export(model, (calibration[:1],), onnx_path, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
export_seconds = time.perf_counter() - started
quantizers = [name for name, module in model.named_modules() if type(module).__name__ == "TensorQuantizer" and module.is_enabled]
import importlib.metadata as metadata
with open(record_path, "w") as handle:
    json.dump({"import_seconds": import_seconds, "quantize_seconds": quantize_seconds, "export_seconds": export_seconds,
               "calibration_images": int(len(calibration)), "enabled_quantizers": quantizers,
               "versions": {name: metadata.version(name) for name in ("nvidia-modelopt", "torch", "onnx")}}, handle)
'''


def modelopt_torch_import_failure(venv: Path | None = None) -> str | None:
    """None when ``import modelopt.torch.quantization`` works in ModelOpt's environment, else its error (last lines).

    nvidia-modelopt 0.47.0's ``modelopt.torch`` imports ``requests`` and ``huggingface_hub``, which neither its
    base requirements nor its ``[onnx]`` extra install (measured 2026-11-27); ``helpers.modelopt_compare`` installs
    them. An environment made before that fails here, and notebook 06 shows this message.
    """
    python = venv_python(Path(venv or modelopt_venv()))
    result = subprocess.run([str(python), "-c", "import modelopt.torch.quantization"], capture_output=True, text=True)
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not line.startswith("W1")]
    return "\n".join(lines[-3:])


def trace_for_subprocess(model: torch.nn.Module, path: Path) -> Path:
    """Save the FP32 model as a pickled ``torch.fx`` trace: its leaf modules (Conv2d, BatchNorm2d, ReLU, Linear, ...)
    are torch's own classes, so another environment with torch alone can load and quantize it."""
    traced = torch.fx.symbolic_trace(model.eval().cpu())
    with written_atomically(path) as partial:
        torch.save(traced, partial)
    return Path(path)


def run_modelopt_torch(model: torch.nn.Module, calibration_npy: Path, onnx_path: Path, work_dir: Path,
                       venv: Path | None = None, timeout_s: int = 900) -> dict:
    """ModelOpt's ``mtq.quantize`` (INT8_DEFAULT_CFG) on the FP32 model, exported to ONNX, in ModelOpt's environment.

    Returns the subprocess's record (seconds to import, quantize and export; enabled quantizers; versions).
    Raises a TutorialError with the subprocess's last output when it fails.
    """
    venv, work_dir = ready_for_modelopt(venv, work_dir)
    model_path = trace_for_subprocess(model, work_dir / "fp32_fx_trace.pt")
    script_path = work_dir / "modelopt_torch_quantize.py"
    script_path.write_text(textwrap.dedent(MODELOPT_TORCH_SCRIPT).lstrip())
    record_path = work_dir / "modelopt_torch_record.json"
    record_path.unlink(missing_ok=True)
    command = [str(venv_python(venv)), str(script_path), str(model_path), str(calibration_npy), str(onnx_path), str(record_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=work_dir)
    (work_dir / "modelopt_torch.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0 or not record_path.is_file() or not Path(onnx_path).is_file():
        import_failure = modelopt_torch_import_failure(venv)
        if import_failure:
            raise TutorialError(f"`import modelopt.torch.quantization` fails in {venv}: {import_failure}. "
                                "nvidia-modelopt 0.47.0 imports requests and huggingface_hub without declaring them "
                                "(outside its [hf] extra); `make modelopt-setup` installs them into its environment.")
        tail = "\n".join(line for line in (result.stdout + result.stderr).strip().splitlines()[-8:])
        raise TutorialError(f"ModelOpt's PyTorch quantization failed (exit {result.returncode}); log in "
                            f"{work_dir / 'modelopt_torch.log'}:\n{tail}")
    return json.loads(record_path.read_text())


def mark_onnx(path: Path, metadata: dict[str, str]) -> Path:
    """Attach ``metadata`` to an ONNX file written by another tool (in place), after ``onnx.checker``."""
    model = load_onnx(path)
    set_metadata(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    with written_atomically(path) as partial:
        onnx.save(model, str(partial))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Comparing graphs: residual placement, one row of the table, lines of code
# ---------------------------------------------------------------------------------------------

PLACEMENTS = ("none", "both", "shortcut", "branch")


def residual_add_inputs(path_or_model) -> dict[str, str]:
    """{Add name: which of its inputs come through Q/DQ} for every Add with two computed inputs:
    "none", "both", "shortcut", "branch", or "one" (one input, where the branch cannot be told apart).

    The branch is found as in ``surgery.residual_branch_input`` (the input a Conv produces, the longer path).
    """
    model = onnx_inspect.as_model(path_or_model)
    graph = gs.import_onnx(model)
    found = {}
    for add in [node for node in graph.nodes if node.op == "Add"]:
        if len(add.inputs) != 2 or any(isinstance(tensor, gs.Constant) for tensor in add.inputs):
            continue
        dequantized = [bool(tensor.inputs) and tensor.inputs[0].op == "DequantizeLinear" for tensor in add.inputs]
        if all(dequantized) or not any(dequantized):
            found[add.name] = "both" if all(dequantized) else "none"
            continue
        branch = surgery.residual_branch_input(add)
        if branch is None:
            found[add.name] = "one"
        else:
            found[add.name] = "branch" if dequantized[branch] else "shortcut"
    return found


def graph_row(path: Path) -> dict:
    """The facts of one INT8 graph for notebook 06's table (read from the file alone)."""
    model = onnx_inspect.as_model(path)
    counts = onnx_inspect.count_ops(model)
    findings = qdq_rules.check_tensorrt_rules(model)
    placements = list(residual_add_inputs(model).values())
    return {
        "file": Path(path).name,
        "megabytes": round(Path(path).stat().st_size / 1e6, 1),
        "opset": next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")),
        "nodes": sum(counts.values()),
        "op_counts": counts,
        "quantize_linear": counts.get("QuantizeLinear", 0),
        "dequantize_linear": counts.get("DequantizeLinear", 0),
        "rule_errors": len(qdq_rules.errors(findings)),
        "rule_findings": qdq_rules.count_by_rule(findings),
        "residual_adds": {placement: placements.count(placement) for placement in sorted(set(placements))},
    }


def code_lines(*sources) -> int:
    """Lines of code in functions, classes or source strings: non-blank, not comments, docstrings left out."""
    total = 0
    for source in sources:
        text = textwrap.dedent(source if isinstance(source, str) else inspect.getsource(source))
        tree = ast.parse(text)
        docstring_lines = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                docstring_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#") and number not in docstring_lines:
                total += 1
    return total


# ---------------------------------------------------------------------------------------------
# The residual-placement ablation (on notebook 03's graph)
# ---------------------------------------------------------------------------------------------

def keep_residual_qdq(graph: gs.Graph, keep: str) -> list[str]:
    """Reference: on every residual Add, keep the Q/DQ pair on the inputs ``keep`` names (one of PLACEMENTS) and
    feed the other inputs the float tensor their Q/DQ pair was applied to. Returns one line per input changed.

    Other readers of a removed pair's QuantizeLinear keep it; ``surgery.cleanup_and_sort`` drops what nothing reads.
    """
    if keep not in PLACEMENTS:
        raise TutorialError(f"keep must be one of {PLACEMENTS}, not {keep!r}")
    kept_roles = {"none": (), "both": ("branch", "shortcut"), "shortcut": ("shortcut",), "branch": ("branch",)}[keep]
    changes = []
    for add in [node for node in graph.nodes if node.op == "Add"]:
        branch = surgery.residual_branch_input(add)
        if branch is None:
            continue
        for index, role in ((branch, "branch"), (1 - branch, "shortcut")):
            source = surgery._source_before_qdq(add.inputs[index])  # the float tensor before Q -> DQ
            if role in kept_roles or source is add.inputs[index]:
                continue
            changes.append(f"{add.name}: {role} input {add.inputs[index].name} -> {source.name} (Q/DQ removed)")
            add.inputs[index] = source
    return changes


def write_placement_variant(fixed_path: Path, variant_path: Path, keep: str) -> list[str]:
    """Notebook 03's graph with residual Q/DQ only on ``keep``'s inputs, written to ``variant_path``."""
    graph = surgery.load_graph(fixed_path)
    changes = keep_residual_qdq(graph, keep)
    surgery.cleanup_and_sort(graph)
    metadata = {**read_metadata(fixed_path), "precision": f"int8-qdq-tensorrt-residual-{keep}", "produced_by": PRODUCED_BY}
    surgery.save_graph(graph, variant_path, metadata, source_path=fixed_path)
    return changes


# What TensorRT's developer guide says about each placement (section "Q/DQ Layer-Placement Recommendations" of
# TENSORRT_QDQ_GUIDE; its figure numbers as of TensorRT 10.x). Paraphrased; "inferred" marks what the guide does
# not show for this exact placement but follows from its rules.
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
