"""Eager-mode post-training static quantization that meets TensorRT's INT8 rules (notebook 02), with its checks, the
observer choice, the per-layer error (SQNR) and the INT8 model's file. Activations are symmetric quint8, zero point 128:
exactly the int8 grid with zero point 0 (qnnpack runs only quint8 activations on PyTorch 2.13+)."""

from __future__ import annotations

import contextlib
import copy
import datetime
import math
import warnings
from pathlib import Path

import torch
from torch import nn

# The eager-mode API is deprecated (PyTorch 2.10+); notebook 06 shows what replaces it.
from torch.ao.quantization import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver, QConfig, convert, prepare
import torch.ao.nn.quantized as nnq

from .config import TutorialError, written_atomically
from .data import Split, batches, normalize, to_tensor
from .model import ARCHITECTURE, build_resnet18_cifar

ENGINE = "qnnpack"
OBSERVERS = {"min-max": MinMaxObserver, "histogram": HistogramObserver}
INT8_FORMAT = "eager-int8-state-dict-v1"
# (message, category, module) of the deprecation warnings every eager call gives; silenced inside these calls only.
EAGER_DEPRECATION_WARNINGS = (
    (r"torch\.ao\.quantization is deprecated", DeprecationWarning, r"helpers\.(quantization|beyond_ptq)"),
    (r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation functions",
     UserWarning, r"torch\.ao\.nn\.quantized\."),
)
# An uncalibrated model's observers warn on convert; only empty_int8_resnet18 converts one (its values are then loaded).
UNCALIBRATED_OBSERVER_WARNING = (r"must run observer before calling calculate_qparams", UserWarning,
                                 r"torch\.ao\.quantization\.observer")


@contextlib.contextmanager
def eager_deprecation_silenced(*extra: tuple[str, type, str]):
    """Inside: the eager API's known deprecation warnings (EAGER_DEPRECATION_WARNINGS, and ``extra``) are ignored."""
    with warnings.catch_warnings():
        for message, category, module in EAGER_DEPRECATION_WARNINGS + extra:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield


def use_qnnpack() -> str:
    """Select the qnnpack quantized engine (the one whose kernels match TensorRT's symmetric scheme)."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise TutorialError(f"This PyTorch build has no '{ENGINE}' quantized engine (it has "
                            f"{torch.backends.quantized.supported_engines}). Install the pinned torch from the README "
                            "(`make setup`); builds without qnnpack cannot run notebook 02.")
    torch.backends.quantized.engine = ENGINE
    return ENGINE


def qint8_activations_problem() -> str | None:
    """None when this torch's qnnpack runs a conv on qint8 activations (gone in torch 2.13+), else its error."""
    probe = nn.Sequential(torch.ao.quantization.QuantStub(), nn.Conv2d(3, 4, 3),
                          torch.ao.quantization.DeQuantStub()).eval()
    signed = QConfig(activation=MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
                     weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    prepared = prepare_for_calibration(probe, signed)
    prepared(torch.randn(2, 3, 8, 8))
    try:
        convert_to_int8(prepared)(torch.randn(2, 3, 8, 8))
    except RuntimeError as error:
        return str(error).splitlines()[0]
    return None


def fuse_for_quantization(model: nn.Module) -> nn.Module:
    """A fused copy of the FP32 model: Conv+BN+ReLU and Conv+BN become single modules."""
    fused = copy.deepcopy(model).cpu().eval()
    fused.fuse_model()
    return fused


def tensorrt_qconfig(activation_observer=MinMaxObserver) -> QConfig:
    """Weights: per-channel symmetric qint8. Activations: per-tensor symmetric quint8, zero point 128 (the int8 grid
    shifted by 128; notebook 03 maps it to int8 / zero point 0)."""
    return QConfig(activation=activation_observer.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric),
                   weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))


def qconfig_summary(qconfig: QConfig) -> dict[str, dict]:
    """What a QConfig's two observers will do: observer class, dtype, qscheme, integer range, channel axis."""
    summary = {}
    for role, make_observer in (("activation", qconfig.activation), ("weight", qconfig.weight)):
        observer = make_observer()
        summary[role] = {"observer": type(observer).__name__, "dtype": str(observer.dtype),
                         "qscheme": str(observer.qscheme),
                         "quant_range": [int(observer.quant_min), int(observer.quant_max)]}
        if hasattr(observer, "ch_axis"):
            summary[role]["channel_axis"] = int(observer.ch_axis)
    return summary


def prepare_for_calibration(fused_model: nn.Module, qconfig: QConfig) -> nn.Module:
    """A copy of the fused model with observers inserted where activations will be quantized."""
    model = copy.deepcopy(fused_model).eval()
    model.qconfig = qconfig
    with eager_deprecation_silenced():
        return prepare(model, inplace=False)


@torch.inference_mode()
def calibrate(prepared_model: nn.Module, images: Split, batch_size: int = 128) -> int:
    """Run calibration images through the observers; return how many were seen."""
    prepared_model.eval()
    seen = 0
    for batch, _ in batches(to_tensor(images.images), torch.from_numpy(images.labels), batch_size):
        prepared_model(batch)
        seen += len(batch)
    return seen


def convert_to_int8(prepared_model: nn.Module) -> nn.Module:
    """Replace observed modules by quantized ones (runs on the CPU with the qnnpack engine)."""
    use_qnnpack()
    with eager_deprecation_silenced():
        return convert(copy.deepcopy(prepared_model).eval(), inplace=False)


@torch.inference_mode()
def largest_output_difference(reference: nn.Module, candidate: nn.Module, images: Split) -> float:
    """Largest absolute difference between two FP32 models' logits on ``images`` (e.g. unfused vs fused)."""
    inputs = normalize(to_tensor(images.images))
    return float((reference.eval()(inputs) - candidate.eval()(inputs)).abs().max())


def quantize_int8(fused_model: nn.Module, qconfig: QConfig, calibration_images: Split,
                  batch_size: int = 128) -> tuple[nn.Module, int]:
    """prepare -> calibrate -> convert in one call; returns the INT8 model and how many images calibrated it."""
    prepared = prepare_for_calibration(fused_model, qconfig)
    seen = calibrate(prepared, calibration_images, batch_size)
    return convert_to_int8(prepared), seen


def pick_observer(scores: dict[str, float]) -> str:
    """The observer with the best score (higher is better: notebook 02 uses the logits' SQNR against FP32 on
    held-out training images); a tie goes to the simplest (first in OBSERVERS)."""
    order = [name for name in OBSERVERS if name in scores] + [name for name in scores if name not in OBSERVERS]
    return max(order, key=lambda name: (scores[name], -order.index(name)))


def activation_qparams(int8_model: nn.Module) -> dict[str, dict]:
    """Scale and zero point of every quantized activation: input quantizer, conv/linear outputs, residual adds."""
    return {name: {"scale": float(module.scale), "zero_point": int(module.zero_point)}
            for name, module in int8_model.named_modules()
            if isinstance(module, QUANTIZED_LAYER_TYPES + (nnq.QFunctional,))}


def weight_qparams(int8_model: nn.Module) -> dict[str, dict]:
    """qscheme, channel axis, zero points and dtype of every quantized weight."""
    found = {}
    for name, module in int8_model.named_modules():
        if isinstance(module, (nnq.Conv2d, nnq.Linear)):  # ConvReLU2d is a subclass of Conv2d
            weight = module.weight()
            per_channel = weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
            zero_points = weight.q_per_channel_zero_points() if per_channel else torch.tensor([weight.q_zero_point()])
            found[name] = {"qscheme": str(weight.qscheme()),
                           "axis": weight.q_per_channel_axis() if per_channel else None,
                           "channels": int(weight.shape[0]),
                           "zero_points": sorted({int(value) for value in zero_points}), "dtype": str(weight.dtype)}
    return found


def to_int8_codes(quantized_uint8: torch.Tensor) -> torch.Tensor:
    """The int8 codes (zero point 0) for the same values as a quint8 tensor with zero point 128: q - 128, the rewrite
    notebook 03 applies to the graph (the reference of notebook 02's lesson). Only zero point 128 has an exact twin."""
    if (not quantized_uint8.is_quantized or quantized_uint8.dtype != torch.quint8
            or quantized_uint8.q_zero_point() != 128):
        zero_point = quantized_uint8.q_zero_point() if quantized_uint8.is_quantized else None
        raise ValueError(f"to_int8_codes needs a per-tensor quint8 tensor with zero point 128 (only 128 maps exactly "
                         f"to int8 with zero point 0), got {quantized_uint8.dtype} with zero point {zero_point}.")
    return (quantized_uint8.int_repr().to(torch.int16) - 128).to(torch.int8)


# Modules of the INT8 model whose output is a freshly quantized tensor (own scale and zero point).
QUANTIZED_LAYER_TYPES = (nnq.Quantize, nnq.Conv2d, nnq.Linear)


def quantized_layer_names(int8_model: nn.Module) -> list[str]:
    """The modules whose outputs notebook 02 compares with FP32: input quantizer, convs, linears, residual adds."""
    return [name if isinstance(module, QUANTIZED_LAYER_TYPES) else f"{name}.activation_post_process"
            for name, module in int8_model.named_modules()
            if isinstance(module, QUANTIZED_LAYER_TYPES + (nnq.QFunctional,))]


@torch.inference_mode()
def layer_outputs(model: nn.Module, names: list[str], inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of the named modules for ``inputs`` (dequantized to float), in the order they ran."""
    modules = dict(model.named_modules())
    if missing := [name for name in names if name not in modules]:
        raise TutorialError(f"The model has no modules named {missing}; compare a fused FP32 model with its INT8 one.")
    outputs: dict[str, torch.Tensor] = {}
    hooks = [modules[name].register_forward_hook(lambda module, args, output, name=name: outputs.__setitem__(
        name, output.dequantize() if output.is_quantized else output.detach().clone())) for name in names]
    try:
        model.eval()(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


def sqnr_db(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum(ref^2) / sum((ref - approx)^2)). Higher is better."""
    noise = float(((reference - approximation) ** 2).sum())
    return math.inf if noise == 0.0 else 10.0 * math.log10(float((reference ** 2).sum()) / noise)


def logits_sqnr(fused_fp32: nn.Module, int8_model: nn.Module, images: Split, batch_size: int = 256) -> float:
    """SQNR (dB) of the INT8 model's logits against the fused FP32 model's over all ``images`` (no labels needed)."""
    reference, quantized = [], []
    for start in range(0, len(images), batch_size):
        inputs = normalize(to_tensor(images.images[start:start + batch_size]))
        reference.append(layer_outputs(fused_fp32, ["fc"], inputs)["fc"])
        quantized.append(layer_outputs(int8_model, ["fc"], inputs)["fc"])
    return sqnr_db(torch.cat(reference), torch.cat(quantized))


def per_layer_sqnr(fused_fp32: nn.Module, int8_model: nn.Module, images: Split) -> dict[str, float]:
    """SQNR (dB) of each quantized layer's output against the fused FP32 model's, in run order (errors add up)."""
    inputs = normalize(to_tensor(images.images))
    names = quantized_layer_names(int8_model)
    reference = layer_outputs(fused_fp32, names, inputs)
    quantized = layer_outputs(int8_model, names, inputs)
    return {name.removesuffix(".activation_post_process"): sqnr_db(reference[name], quantized[name])
            for name in quantized}


def save_int8_model(path: Path, int8_model: nn.Module, provenance: dict) -> Path:
    """Save the INT8 model's state_dict with its provenance (no pickled module: it loads with weights_only=True)."""
    saved_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = {"format": INT8_FORMAT, "architecture": ARCHITECTURE, "engine": ENGINE,
              "state_dict": int8_model.state_dict(),
              "provenance": {**provenance, "torch_version": str(torch.__version__), "saved_at": saved_at}}
    with written_atomically(path) as partial:
        torch.save(record, partial)
    return Path(path)


def empty_int8_resnet18() -> nn.Module:
    """The INT8 module structure of the tutorial's ResNet18 (fuse -> prepare -> convert), before loading weights."""
    prepared = prepare_for_calibration(fuse_for_quantization(build_resnet18_cifar()), tensorrt_qconfig())
    with eager_deprecation_silenced(UNCALIBRATED_OBSERVER_WARNING):
        return convert_to_int8(prepared)  # uncalibrated: every scale and zero point is overwritten by the load


def load_int8_model(path: Path) -> tuple[nn.Module, dict]:
    """The INT8 model saved by ``save_int8_model``, and its provenance."""
    path = Path(path)
    if not path.is_file():
        raise TutorialError(f"INT8 model {path} does not exist. Run notebooks/02_quantize_and_export.ipynb first.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "TypedStorage is deprecated", from torch's own unpickler
            record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TutorialError(f"{path} is not a readable PyTorch file ({type(error).__name__}: {error}).") from error
    if not isinstance(record, dict) or record.get("format") != INT8_FORMAT:
        raise TutorialError(f"{path} is not an INT8 model saved by notebook 02 (expected format {INT8_FORMAT}). "
                            "Rerun notebook 02.")
    if record.get("architecture") != ARCHITECTURE:
        raise TutorialError(f"{path} holds a '{record.get('architecture')}' model, not '{ARCHITECTURE}'. "
                            "Rerun notebook 02.")
    use_qnnpack()
    model = empty_int8_resnet18()
    with eager_deprecation_silenced():
        try:
            model.load_state_dict(record["state_dict"])
        except (RuntimeError, KeyError) as error:
            raise TutorialError(f"The INT8 weights in {path} do not fit the model: {str(error)[:400]}. "
                                "Rerun notebook 02.") from error
    return model.eval(), record.get("provenance", {})

