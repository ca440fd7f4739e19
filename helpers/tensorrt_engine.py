"""TensorRT engines from ONNX files: build, load, run and inspect (notebook 04; tools/benchmark.py times them), for the
TensorRT 10.12+ and 11.x API: strongly typed networks, one optimization profile per batch size, pycuda buffers on
PyTorch's primary context."""

from __future__ import annotations

import functools
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import TutorialError, written_atomically
from .envcheck import import_problem
from .onnx_export import INPUT_NAME, predict_in_batches, read_metadata

MINIMUM_TENSORRT = (10, 12)
DEFAULT_WORKSPACE_BYTES = 2 << 30  # 2 GiB: far more than ResNet18 at batch 512 needs
DEFAULT_PROFILE_BATCHES = (1, 32, 512)
# The engines notebook 04 builds: precision -> (the ONNX file's artifact key, the plan's artifact key)
ENGINES = {"FP32": ("fp32_onnx", "fp32_plan"), "FP16": ("fp16_onnx", "fp16_plan"),
           "INT8": ("int8_onnx_fixed", "int8_plan"), "INT8 + FP16": ("int8_fp16_onnx", "int8_fp16_plan"),
           "INT8 (fused residuals)": ("int8_onnx_fused", "int8_fused_plan")}
INSTALL_HINT = ("on a machine with an NVIDIA GPU: `pip install tensorrt` (CUDA 13) or `pip install tensorrt-cu12`, "
                "and `pip install pycuda` (or `conda install -c conda-forge pycuda`)")


def tensorrt_unavailable_reason(install_hint: bool = True) -> str | None:
    """None when TensorRT >= 10.12 and pycuda import and see a CUDA GPU; else one line saying what is missing."""
    problems = []
    if tensorrt_problem := import_problem("tensorrt"):
        problems.append(f"`import tensorrt` failed ({tensorrt_problem})")
    else:
        import tensorrt as trt
        if tuple(int(part) for part in re.findall(r"\d+", trt.__version__)[:2]) < MINIMUM_TENSORRT:
            problems.append(f"TensorRT {trt.__version__} is older than {'.'.join(map(str, MINIMUM_TENSORRT))}")
    if pycuda_problem := import_problem("pycuda.driver"):
        problems.append(f"`import pycuda.driver` failed ({pycuda_problem})")
    else:
        import pycuda.driver as cuda
        try:
            cuda.init()
            problems += [] if cuda.Device.count() > 0 else ["pycuda sees no CUDA GPU"]
        except Exception as error:  # pycuda's driver errors: no driver, no device
            problems.append(f"pycuda found no usable CUDA driver ({type(error).__name__}: {str(error)[:160]})")
    if not problems:
        return None
    return "; ".join(problems) + (f". To build and run engines, install {INSTALL_HINT}." if install_hint else "")


def installed_tensorrt_version() -> str:
    """``tensorrt.__version__``, or why TensorRT is not usable here (for result records)."""
    reason = tensorrt_unavailable_reason(install_hint=False)
    return f"not usable here: {reason}" if reason else import_tensorrt().__version__


def import_tensorrt():
    """The ``tensorrt`` module, or a TutorialError saying how to get it."""
    if reason := tensorrt_unavailable_reason():
        raise TutorialError(f"TensorRT cannot run here: {reason}")
    import tensorrt as trt
    return trt


def import_pycuda():
    """``pycuda.driver`` on the primary context, PyTorch's (``pycuda.autoinit`` makes a second one that clashes)."""
    import pycuda.autoprimaryctx  # noqa: F401
    import pycuda.driver as cuda
    return cuda


@functools.cache
def get_logger(trt):
    """The process's one TensorRT logger (TensorRT keeps the first one and warns when a Builder brings another)."""
    return trt.Logger(trt.Logger.WARNING)


def strongly_typed_network_flags(trt) -> int:
    """The flags of a strongly typed network: STRONGLY_TYPED is 1 in 10.x and 0 in 11.x, so shift by its value."""
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def parse_onnx_into_network(trt, builder, logger, onnx_path: Path):
    """A strongly typed network parsed from ``onnx_path``, and the parser (it owns the weights: keep it alive)."""
    network = builder.create_network(strongly_typed_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [f"  {index + 1}. {parser.get_error(index)}" for index in range(parser.num_errors)]
        raise TutorialError("\n".join([
            f"TensorRT's ONNX parser refused {onnx_path} with {len(errors)} error(s):", *errors,
            "An INT8 graph must be the fixed one from notebook 03 (int8 Q/DQ, zero points 0, no int32 bias "
            "DequantizeLinear); an FP16 graph must come from `helpers.fp16_graphs.convert_onnx_to_fp16`."]))
    return network, parser


def batch_profiles(batch_sizes) -> list[tuple[int, int, int]]:
    """One optimization profile per batch size, (1, batch, batch), in increasing order."""
    sizes = sorted({int(size) for size in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise TutorialError(f"Profile batch sizes must be positive integers, got {list(batch_sizes)}.")
    return [(1, size, size) for size in sizes]


def load_timing_cache(config, cache_bytes: bytes) -> tuple[object | None, str]:
    """Give ``config`` the saved timing cache, or a fresh one when TensorRT refuses it; (cache or None, status)."""
    attempts = [(cache_bytes, "loaded from file")] if cache_bytes else []
    refused = "fresh (the saved cache was refused: another TensorRT version or GPU?)"
    attempts.append((b"", refused if cache_bytes else "fresh"))
    for data, status in attempts:
        cache = config.create_timing_cache(data)
        if cache is not None and config.set_timing_cache(cache, False):
            return cache, status
    return None, "none (TensorRT refused even an empty timing cache)"


def configure_builder(trt, builder, input_name: str, input_chw: tuple[int, ...], profiles: list[tuple[int, int, int]],
                      workspace_bytes: int, timing_cache: bytes, allow_tf32: bool):
    """The builder config (TF32 off, one optimization profile per batch) and what happened to the timing cache."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if not allow_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default: an "FP32" engine would otherwise use TF32 math
    _, cache_status = load_timing_cache(config, timing_cache)
    for min_batch, opt_batch, max_batch in profiles:
        if not 1 <= min_batch <= opt_batch <= max_batch:
            raise TutorialError(f"Batch sizes must satisfy 1 <= min <= opt <= max, got {min_batch}, {opt_batch}, "
                                f"{max_batch}.")
        profile = builder.create_optimization_profile()
        profile.set_shape(input_name, *((batch, *input_chw) for batch in (min_batch, opt_batch, max_batch)))
        config.add_optimization_profile(profile)
    return config, cache_status


def build_engine_plan(onnx_path: Path, plan_path: Path, *, profile_batches=DEFAULT_PROFILE_BATCHES,
                      workspace_bytes: int = DEFAULT_WORKSPACE_BYTES, timing_cache_path: Path | str | None = None,
                      allow_tf32: bool = False) -> dict:
    """Build an engine (plan file) in the ONNX model's own precision, one profile per batch size; return a record."""
    trt = import_tensorrt()
    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    timing_cache_path = Path(timing_cache_path) if timing_cache_path else None
    metadata = read_metadata(onnx_path)
    input_name = metadata.get("input_name", INPUT_NAME)
    input_chw = tuple(json.loads(metadata.get("input_shape", '["batch", 3, 32, 32]'))[1:])
    profiles = batch_profiles(profile_batches)
    logger = get_logger(trt)
    builder = trt.Builder(logger)
    network, parser = parse_onnx_into_network(trt, builder, logger, onnx_path)
    cache_bytes = timing_cache_path.read_bytes() if timing_cache_path and timing_cache_path.is_file() else b""
    config, cache_status = configure_builder(trt, builder, input_name, input_chw, profiles, workspace_bytes,
                                             cache_bytes, allow_tf32)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_seconds = time.perf_counter() - started
    if serialized is None:
        raise TutorialError(f"TensorRT could not build an engine from {onnx_path}; the log lines above say why.")
    with written_atomically(plan_path) as partial:  # never a half-written plan
        partial.write_bytes(bytes(serialized))
    cache = config.get_timing_cache() if timing_cache_path else None
    serialized = cache.serialize() if cache is not None else None
    if serialized is not None:
        with written_atomically(timing_cache_path) as partial:
            partial.write_bytes(bytes(serialized))
    if timing_cache_path:
        cache_status += ("; saved" if serialized is not None
                         else "; not saved (the builder config holds no timing cache)")
    del parser  # the network's weights may live in the parser until the build is done
    return {"onnx": onnx_path.name, "plan": plan_path.name, "precision": metadata.get("precision", "unknown"),
            "tensorrt_version": installed_tensorrt_version(), "build_seconds": round(build_seconds, 2),
            "profiles": [{"min": low, "opt": opt, "max": high} for low, opt, high in profiles],
            "input_shape_chw": list(input_chw), "tf32": allow_tf32, "workspace_bytes": workspace_bytes,
            "timing_cache": cache_status, "plan_bytes": plan_path.stat().st_size}


@dataclass
class IOTensor:
    name: str
    is_input: bool
    dtype: np.dtype | None  # None where numpy has no such type (BF16, FP8, INT4, FP4): the buffers hold raw bytes
    itemsize: float  # bytes per element (0.5 for 4-bit types)
    type_name: str  # TensorRT's name of the data type, e.g. "FLOAT", "BF16"
    shape: tuple[int, ...]  # -1 where the dimension is dynamic


@dataclass
class EngineSession:
    """An engine ready to run: execution context, stream and buffers for up to ``max_batch`` images."""

    engine: object
    runtime: object  # kept so the runtime outlives the engine it deserialized
    context: object
    stream: object
    inputs: list[IOTensor]
    outputs: list[IOTensor]
    max_batch: int
    profiles: list[tuple[int, int, int]]  # (min, opt, max) batch of each optimization profile
    active_profile: int = 0
    host: dict = field(default_factory=dict)  # tensor name -> page-locked numpy array (max_batch rows, or raw bytes)
    device: dict = field(default_factory=dict)  # tensor name -> pycuda DeviceAllocation


def io_tensors(engine) -> list[IOTensor]:
    """Name, direction, numpy dtype (or raw bytes), element size and shape of every input and output."""
    trt = import_tensorrt()
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        trt_dtype = engine.get_tensor_dtype(name)
        try:
            dtype = np.dtype(trt.nptype(trt_dtype))
        except TypeError:  # BF16, FP8, INT4, FP4: as NVIDIA's samples, raw bytes by the type's itemsize
            dtype = None
        tensors.append(IOTensor(name=name, is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT, dtype=dtype,
                                itemsize=float(trt_dtype.itemsize), type_name=trt_dtype.name,
                                shape=tuple(engine.get_tensor_shape(name))))
    return tensors


def profile_for_batch(profiles: list[tuple[int, int, int]], batch_size: int) -> int:
    """The profile tuned for ``batch_size`` (opt == batch), else the smallest one whose range holds it."""
    for index, (_, opt, _) in enumerate(profiles):
        if opt == batch_size:
            return index
    fitting = [(high, index) for index, (low, _, high) in enumerate(profiles) if low <= batch_size <= high]
    if not fitting:
        raise TutorialError(f"No optimization profile of this engine covers batch size {batch_size} (profiles "
                            f"(min, opt, max): {profiles}); rebuild it with that batch in profile_batches.")
    return min(fitting)[1]


def _buffer_bytes(tensor: IOTensor, shape) -> int:
    return math.ceil(math.prod(int(dim) for dim in shape) * tensor.itemsize)


def open_session(plan_path: Path, max_batch: int | None = None) -> EngineSession:
    """Load an engine with page-locked host and device buffers for ``max_batch`` images (default: the most allowed)."""
    trt, plan_path = import_tensorrt(), Path(plan_path)  # a TutorialError naming what is missing, pycuda included
    if not plan_path.is_file():
        raise TutorialError(f"Engine file {plan_path} does not exist: build it first (build_engine_plan).")
    runtime = trt.Runtime(get_logger(trt))
    engine = runtime.deserialize_cuda_engine(plan_path.read_bytes())
    if engine is None:
        raise TutorialError(f"TensorRT {trt.__version__} cannot load {plan_path}. Plans only load on the TensorRT "
                            f"version and GPU that built them: delete the file and rebuild it here.")
    cuda = import_pycuda()
    tensors = io_tensors(engine)
    inputs, outputs = [t for t in tensors if t.is_input], [t for t in tensors if not t.is_input]
    profiles = [tuple(int(shape[0]) for shape in engine.get_tensor_profile_shape(inputs[0].name, index))
                for index in range(engine.num_optimization_profiles)]  # (min, opt, max) batch of each
    max_batch = max_batch or max(high for _, _, high in profiles)
    session = EngineSession(engine=engine, runtime=runtime, context=engine.create_execution_context(),
                            stream=cuda.Stream(), inputs=inputs, outputs=outputs, max_batch=max_batch,
                            profiles=profiles)
    set_batch_size(session, max_batch)
    for tensor in tensors:
        shape = tuple(session.context.get_tensor_shape(tensor.name))  # resolved now that the input shape is set
        session.host[tensor.name] = (cuda.pagelocked_empty((_buffer_bytes(tensor, shape),), np.uint8)
                                     if tensor.dtype is None else cuda.pagelocked_empty(shape, tensor.dtype))
        session.device[tensor.name] = cuda.mem_alloc(session.host[tensor.name].nbytes)
        session.context.set_tensor_address(tensor.name, int(session.device[tensor.name]))
    return session


def set_batch_size(session: EngineSession, batch_size: int) -> None:
    """Switch to the optimization profile for ``batch_size`` if needed, then set every input's shape."""
    if not 1 <= batch_size <= session.max_batch:
        raise TutorialError(f"Batch size {batch_size} is outside 1..{session.max_batch} of this session.")
    index = profile_for_batch(session.profiles, batch_size)
    if index != session.active_profile:
        if not session.context.set_optimization_profile_async(index, session.stream.handle):
            raise TutorialError(f"TensorRT refused to switch to optimization profile {index}; "
                                "the log lines above say why.")
        session.stream.synchronize()  # the switch may enqueue copies on this stream
        session.active_profile = index
    for tensor in session.inputs:
        if not session.context.set_input_shape(tensor.name, (batch_size, *tensor.shape[1:])):
            raise TutorialError(f"The engine refused batch size {batch_size} for '{tensor.name}': outside "
                                f"optimization profile {index} {session.profiles[index]} (min, opt, max).")


def host_view(session: EngineSession, tensor: IOTensor) -> np.ndarray:
    """The part of a tensor's host buffer that the current shapes use: shape x itemsize bytes, no more."""
    shape = tuple(session.context.get_tensor_shape(tensor.name))
    buffer = session.host[tensor.name]
    return buffer[:_buffer_bytes(tensor, shape)] if tensor.dtype is None else buffer[:shape[0]].reshape(shape)


def enqueue_copy_in(session: EngineSession) -> None:
    cuda = import_pycuda()
    for tensor in session.inputs:
        cuda.memcpy_htod_async(session.device[tensor.name], host_view(session, tensor), session.stream)


def enqueue_inference(session: EngineSession) -> None:
    if not session.context.execute_async_v3(session.stream.handle):
        raise TutorialError("TensorRT's execute_async_v3 failed; the log lines above say why.")


def enqueue_copy_out(session: EngineSession) -> None:
    cuda = import_pycuda()
    for tensor in session.outputs:
        cuda.memcpy_dtoh_async(host_view(session, tensor), session.device[tensor.name], session.stream)


def infer(session: EngineSession, inputs: np.ndarray) -> np.ndarray:
    """Run one batch (host numpy in, host numpy out) through the engine's first input and output."""
    for tensor in (session.inputs[0], session.outputs[0]):
        if tensor.dtype is None:
            raise TutorialError(f"Tensor '{tensor.name}' is {tensor.type_name}, which numpy cannot hold; export the "
                                f"model with float32 (or float16) inputs and outputs to run it from numpy.")
    set_batch_size(session, len(inputs))
    np.copyto(host_view(session, session.inputs[0]), inputs, casting="same_kind")
    enqueue_copy_in(session)
    enqueue_inference(session)
    enqueue_copy_out(session)
    session.stream.synchronize()
    return host_view(session, session.outputs[0]).copy()


def predict_engine(plan_path: Path, onnx_path: Path, images_uint8_nhwc: np.ndarray,
                   batch_size: int = 256) -> np.ndarray:
    """Top-1 class of every image through an engine, preprocessed as the metadata of its ONNX file says."""
    session = open_session(plan_path)
    return predict_in_batches(images_uint8_nhwc, read_metadata(onnx_path), min(batch_size, session.max_batch),
                              lambda inputs: infer(session, inputs))


def engine_layer_information(session: EngineSession) -> dict:
    """The engine inspector's JSON for all layers (DETAILED verbosity), for the session's concrete shapes."""
    trt = import_tensorrt()
    inspector = session.engine.create_engine_inspector()
    inspector.execution_context = session.context
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


PRECISION_PATTERNS = (  # (label, regex on a tensor's data-type text); the first match wins
    ("INT8", r"\bint8\b|\bi8\b"), ("FP8", r"\bfp8\b|\be4m3\b"), ("FP16", r"\bfp16\b|\bhalf\b"), ("BF16", r"\bbf16\b"),
    ("FP32", r"\bfp32\b|\bfloat\b"), ("INT32", r"\bint32\b"), ("INT64", r"\bint64\b"), ("BOOL", r"\bbool\b"),
)


def tensor_precision(tensor: dict) -> str:
    """Precision label of one tensor of the inspector JSON (10.x: ``"Format/Datatype"``, 11.x: a data-type field)."""
    for key in ("DataType", "Datatype", "Format/Datatype", "Format"):
        text = str(tensor.get(key, "")).lower()
        for label, pattern in PRECISION_PATTERNS:
            if re.search(pattern, text):
                return label
    return "unknown"


def layer_compute_precision(layer: dict) -> str:
    """The precision a layer computes in, judged from its tactic name, then its inputs, then its outputs."""
    if re.search(r"i8i8|int8", str(layer.get("TacticName", "")).lower()):
        return "INT8"
    for tensors in (layer.get("Inputs", []), layer.get("Outputs", [])):
        labels = [tensor_precision(tensor) for tensor in tensors if isinstance(tensor, dict)]
        labels = [label for label in labels if label != "unknown"]
        if labels:
            return labels[0]
    return "unknown"


def parse_layer_information(info: dict) -> dict:
    """A summary of the inspector JSON of TensorRT 10.x or 11.x: schema, I/O tensor names, and each layer."""
    if not isinstance(info, dict) or "Layers" not in info:
        raise TutorialError("This is not engine-inspector JSON (no 'Layers' entry).")
    if "I/O Tensors" in info:
        schema, io_names = "11.x", [entry.get("Name", "") for entry in info["I/O Tensors"]]
    elif "Bindings" in info:
        schema, io_names = "10.x", list(info["Bindings"])
    else:
        schema, io_names = "unknown", []
    layers = []
    for layer in info["Layers"]:
        if not isinstance(layer, dict):
            raise TutorialError("The inspector returned layer names only: build the engine with "
                                "ProfilingVerbosity.DETAILED (build_engine_plan does) to see precisions.")
        layers.append({"name": layer.get("Name", ""), "type": layer.get("LayerType", "unknown"),
                       "precision": layer_compute_precision(layer),
                       "inputs": [tensor_precision(t) for t in layer.get("Inputs", []) if isinstance(t, dict)],
                       "outputs": [tensor_precision(t) for t in layer.get("Outputs", []) if isinstance(t, dict)],
                       "tactic": layer.get("TacticName", "")})
    return {"schema": schema, "io_tensors": io_names, "layers": layers}


def precision_counts(summary: dict) -> dict[str, int]:
    """How many layers compute in each precision (most first), from ``parse_layer_information``'s summary."""
    counts: dict[str, int] = {}
    for layer in summary["layers"]:
        counts[layer["precision"]] = counts.get(layer["precision"], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def trtexec_commands(onnx_path: str, plan_path: str, input_name: str = INPUT_NAME, input_chw=(3, 32, 32), min_batch=1,
                     opt_batch=32, max_batch=512, batch_size=1, workspace_mib=2048) -> dict[str, str]:
    """trtexec command lines that build and time the same engine, for TensorRT 10.x and 11.x."""
    dims = "x".join(map(str, input_chw))
    common = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={plan_path}",
              f"--minShapes={input_name}:{min_batch}x{dims}", f"--optShapes={input_name}:{opt_batch}x{dims}",
              f"--maxShapes={input_name}:{max_batch}x{dims}", f"--shapes={input_name}:{batch_size}x{dims}",
              f"--memPoolSize=workspace:{workspace_mib}", "--noTF32", "--profilingVerbosity=detailed",
              f"--exportLayerInfo={Path(plan_path).with_suffix('.layers.json')}", "--timingCacheFile=timing.cache"]
    tensorrt_10 = [*common, "--stronglyTyped", "--useCudaGraph", "--noDataTransfers", "--useSpinWait"]
    return {"TensorRT 10.12+": " \\\n    ".join(tensorrt_10), "TensorRT 11.x": " \\\n    ".join(common)}
