"""TensorRT engines from ONNX files: build, save, load, run, time and inspect.

Introduced in notebook 04.

Written against the TensorRT 10.12+ and 11.x Python API (the two accept the same calls):

* the network is *strongly typed*: every tensor's precision comes from the ONNX model (FP32 ONNX ->
  FP32 engine, FP16-typed ONNX -> FP16 engine, Q/DQ ONNX -> INT8 engine). TensorRT 11 removed the
  precision flags (``BuilderFlag.FP16/INT8``) and the INT8 calibrator; 10.12 deprecated them;
* one optimization profile per benchmark batch size, each tuned for that batch (opt = max = the batch),
  so a timing row at batch *b* is what TensorRT gives for *b*, not for some other batch;
* tensors are addressed by name (``execute_async_v3``), never by binding index;
* buffers live in pycuda memory on the device's *primary* context (``pycuda.autoprimaryctx``), the
  context PyTorch uses too, so both can run in one process.

Everything that touches ``tensorrt`` or ``pycuda`` needs an NVIDIA GPU with both installed.
``tensorrt_unavailable_reason()`` says in one line why that is not the case; the notebook prints it
(``report_skip``) and goes on with what can run. The pure parts (parser-error text, inspector-JSON
parsing, trtexec command lines) run and are tested everywhere; the rest is tested against a
contract-checking stand-in for TensorRT and pycuda (``tests/trt_double``), never imported from here.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import TutorialError, written_atomically
from .onnx_export import INPUT_NAME, preprocess_from_metadata, read_metadata

MINIMUM_TENSORRT = (10, 12)
DEFAULT_WORKSPACE_BYTES = 2 << 30  # 2 GiB: far more than ResNet18 at batch 512 needs
DEFAULT_PROFILE_BATCHES = (1, 32, 512)
INSTALL_HINT = ("on a machine with an NVIDIA GPU: `pip install tensorrt` (CUDA 13) or `pip install tensorrt-cu12`, "
                "and `pip install pycuda` (or `conda install -c conda-forge pycuda`)")


# --- is TensorRT usable here? --------------------------------------------------------------------

def _import_problem(module: str) -> str | None:
    try:
        importlib.import_module(module)
        return None
    except Exception as error:  # ImportError, OSError for missing shared libraries, CUDA init errors
        first_line = str(error).splitlines()[0] if str(error) else ""
        return f"{type(error).__name__}: {first_line[:200]}"


def cuda_gpu_visible() -> bool:
    """Whether PyTorch sees a CUDA GPU (TensorRT needs one)."""
    import torch

    return torch.cuda.is_available()


def tensorrt_unavailable_reason(install_hint: bool = True) -> str | None:
    """None when TensorRT engines can be built and run here; else one line saying what is missing
    (and, with ``install_hint``, how to install it)."""
    problems = []
    if not cuda_gpu_visible():
        problems.append("no CUDA GPU visible to PyTorch")
    tensorrt_problem = _import_problem("tensorrt")
    if tensorrt_problem:
        problems.append(f"`import tensorrt` failed ({tensorrt_problem})")
    else:
        import tensorrt as trt

        if _version_tuple(trt.__version__) < MINIMUM_TENSORRT:
            problems.append(f"TensorRT {trt.__version__} is older than {'.'.join(map(str, MINIMUM_TENSORRT))}")
    pycuda_problem = _import_problem("pycuda.driver")
    if pycuda_problem:
        problems.append(f"`import pycuda.driver` failed ({pycuda_problem})")
    if not problems:
        return None
    return "; ".join(problems) + (f". To build and run engines, install {INSTALL_HINT}." if install_hint else "")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def installed_tensorrt_version() -> str:
    """The TensorRT version, or why TensorRT is not usable here (for provenance records).

    A stand-in module that declares itself one (``__test_double__``) is named as such, so that nothing
    it produces can pass for a TensorRT result.
    """
    reason = tensorrt_unavailable_reason(install_hint=False)
    if reason is None:
        import tensorrt as trt

        note = getattr(trt, "__test_double__", "")
        return f"{trt.__version__} (TEST DOUBLE: {note})" if note else trt.__version__
    return "not usable here: " + reason


def import_tensorrt():
    """The ``tensorrt`` module, or a TutorialError saying how to get it."""
    reason = tensorrt_unavailable_reason()
    if reason:
        raise TutorialError(f"TensorRT cannot run here: {reason}")
    import tensorrt as trt

    return trt


def import_pycuda():
    """``pycuda.driver``, on the device's primary context (the one PyTorch also uses).

    Cheap after the first call (the copy functions call it on every copy); ``open_session`` checks
    first, through ``load_engine``, that TensorRT and pycuda can run here.
    """
    import pycuda.autoprimaryctx  # noqa: F401  (pycuda.autoinit would make a second context that clashes with torch)
    import pycuda.driver as cuda

    return cuda


_LOGGERS: dict = {}  # tensorrt module -> the one logger this process gives it


def get_logger(trt):
    """The process's one TensorRT logger (warnings and errors).

    TensorRT keeps the logger of the first Builder or Runtime and warns when a later one brings another,
    so every Builder and Runtime here shares this one.
    """
    if trt not in _LOGGERS:
        _LOGGERS[trt] = trt.Logger(trt.Logger.WARNING)
    return _LOGGERS[trt]


# --- build ----------------------------------------------------------------------------------------

def strongly_typed_network_flags(trt) -> int:
    """The network-creation flags for a strongly typed network.

    The integer value of STRONGLY_TYPED differs between 10.x (1) and 11.x (0); shifting by the
    enum's own value is right for both. (11.x ignores the flag: strong typing is always on.)
    """
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def format_parser_errors(onnx_path: Path, errors: list[str]) -> str:
    """The message for an ONNX file TensorRT's parser refused: every error, numbered."""
    lines = [f"TensorRT's ONNX parser refused {onnx_path} with {len(errors)} error(s):"]
    lines += [f"  {index + 1}. {text}" for index, text in enumerate(errors)]
    lines.append("An INT8 graph must be the fixed one from notebook 03 (int8 Q/DQ, zero points 0, no int32 bias "
                 "DequantizeLinear); an FP16 graph must come from `helpers.fp16.convert_onnx_to_fp16`.")
    return "\n".join(lines)


def parse_onnx_into_network(trt, builder, logger, onnx_path: Path):
    """A strongly typed network parsed from ``onnx_path``, and the parser (which owns the weights
    until the engine is built, so the caller keeps it alive)."""
    network = builder.create_network(strongly_typed_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise TutorialError(format_parser_errors(onnx_path, errors))
    return network, parser


def batch_profile_shapes(input_chw: tuple[int, ...], min_batch: int, opt_batch: int, max_batch: int):
    """(min, opt, max) input shapes of one optimization profile for a dynamic batch dimension."""
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise TutorialError(f"Batch sizes must satisfy 1 <= min <= opt <= max, got {min_batch}, {opt_batch}, {max_batch}.")
    return tuple((batch, *input_chw) for batch in (min_batch, opt_batch, max_batch))


def batch_profiles(batch_sizes) -> list[tuple[int, int, int]]:
    """One optimization profile per batch size: (min 1, opt = max = that batch), in increasing order.

    TensorRT picks its kernels (tactics) for a profile's ``opt`` shape, so each benchmark row uses the
    profile tuned for its own batch; min 1 lets any smaller batch (the last, partial batch of an
    accuracy run) use it too.
    """
    sizes = sorted({int(size) for size in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise TutorialError(f"Profile batch sizes must be positive integers, got {list(batch_sizes)}.")
    return [(1, size, size) for size in sizes]


def load_timing_cache(config, cache_bytes: bytes) -> tuple[object | None, str]:
    """Give ``config`` a timing cache: the saved one when TensorRT accepts it, else a fresh one.

    A cache saved by another TensorRT version or on another GPU may be refused: ``create_timing_cache``
    then returns None, or ``set_timing_cache`` returns False. The build goes on with a fresh cache (the
    file is replaced after the build), or with none when even a fresh one is refused.
    Returns (the cache or None, what happened).
    """
    attempts = [(cache_bytes, "loaded from file")] if cache_bytes else []
    attempts.append((b"", "fresh (the saved cache was refused: another TensorRT version or GPU?)" if cache_bytes else "fresh"))
    for data, status in attempts:
        cache = config.create_timing_cache(data)
        if cache is not None and config.set_timing_cache(cache, False):
            return cache, status
    return None, "none (TensorRT refused even an empty timing cache)"


def save_timing_cache(config, path: Path) -> str:
    """Write the config's timing cache to ``path`` in one step; say what happened."""
    cache = config.get_timing_cache()
    serialized = cache.serialize() if cache is not None else None
    if serialized is None:
        return "not saved (the builder config holds no timing cache)"
    with written_atomically(path) as partial:
        partial.write_bytes(bytes(serialized))
    return "saved"


def configure_builder(trt, builder, input_name: str, input_chw: tuple[int, ...], profiles: list[tuple[int, int, int]],
                      workspace_bytes: int, timing_cache: bytes, allow_tf32: bool):
    """The builder config: workspace limit, detailed profiling (for the inspector), timing cache,
    TF32 off for a strict FP32 baseline, one optimization profile per batch size.

    Returns (config, what happened to the timing cache)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if not allow_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default: an "FP32" engine would otherwise use TF32 math
    _, cache_status = load_timing_cache(config, timing_cache)
    for min_batch, opt_batch, max_batch in profiles:
        profile = builder.create_optimization_profile()
        profile.set_shape(input_name, *batch_profile_shapes(input_chw, min_batch, opt_batch, max_batch))
        config.add_optimization_profile(profile)
    return config, cache_status


def build_engine_plan(onnx_path: Path, plan_path: Path, *, profile_batches=DEFAULT_PROFILE_BATCHES,
                      workspace_bytes: int = DEFAULT_WORKSPACE_BYTES, timing_cache_path: Path | str | None = None,
                      allow_tf32: bool = False) -> dict:
    """Build a TensorRT engine (plan file) from an ONNX model; return a record of the build.

    The precision is the ONNX model's own (strong typing). The engine gets one optimization profile per
    entry of ``profile_batches`` (see ``batch_profiles``). The timing cache, when given, is read before
    and written after the build (the plan is saved first), so later builds of similar layers are faster.
    """
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
    save_plan(bytes(serialized), plan_path)
    if timing_cache_path:
        cache_status += "; " + save_timing_cache(config, timing_cache_path)
    del parser  # the network's weights may live in the parser until the build is done
    return {
        "onnx": onnx_path.name, "plan": plan_path.name, "precision": metadata.get("precision", "unknown"),
        "tensorrt_version": installed_tensorrt_version(), "build_seconds": round(build_seconds, 2),
        "profiles": [{"min": low, "opt": opt, "max": high} for low, opt, high in profiles],
        "input_shape_chw": list(input_chw), "tf32": allow_tf32, "workspace_bytes": workspace_bytes,
        "timing_cache": cache_status, "plan_bytes": plan_path.stat().st_size,
    }


def save_plan(plan: bytes, plan_path: Path) -> Path:
    """Write a serialized engine without ever leaving a half-written file behind."""
    with written_atomically(plan_path) as partial:
        partial.write_bytes(plan)
    return Path(plan_path)


# --- load and run ---------------------------------------------------------------------------------

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
    batch_size: int = 0  # the batch size the context's input shapes are set to
    host: dict = field(default_factory=dict)  # tensor name -> page-locked numpy array (max_batch rows, or raw bytes)
    device: dict = field(default_factory=dict)  # tensor name -> pycuda DeviceAllocation


def load_engine(plan_path: Path):
    """Deserialize a plan file; return (engine, runtime)."""
    trt = import_tensorrt()
    plan_path = Path(plan_path)
    if not plan_path.is_file():
        raise TutorialError(f"Engine file {plan_path} does not exist: build it first (build_engine_plan).")
    runtime = trt.Runtime(get_logger(trt))
    engine = runtime.deserialize_cuda_engine(plan_path.read_bytes())
    if engine is None:
        raise TutorialError(
            f"TensorRT {trt.__version__} cannot load {plan_path}. Plans only load on the TensorRT version and GPU "
            f"that built them: delete the file and rebuild it here.")
    return engine, runtime


def numpy_dtype(trt, trt_dtype) -> np.dtype | None:
    """The numpy type of a TensorRT data type, or None where numpy has none (BF16, FP8, INT4, FP4).

    ``trt.nptype`` raises TypeError for those; NVIDIA's samples then allocate raw bytes by the type's
    ``itemsize`` (samples/python/common_runtime.py), and so does ``open_session``.
    """
    try:
        return np.dtype(trt.nptype(trt_dtype))
    except TypeError:
        return None


def io_tensors(engine) -> list[IOTensor]:
    """Name, direction, numpy dtype (or raw bytes), element size and shape of every input and output."""
    trt = import_tensorrt()
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        trt_dtype = engine.get_tensor_dtype(name)
        tensors.append(IOTensor(
            name=name,
            is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
            dtype=numpy_dtype(trt, trt_dtype),
            itemsize=float(trt_dtype.itemsize),
            type_name=trt_dtype.name,
            shape=tuple(engine.get_tensor_shape(name)),
        ))
    return tensors


def engine_profiles(engine, input_name: str) -> list[tuple[int, int, int]]:
    """(min, opt, max) batch size of each optimization profile of an engine, read from the engine."""
    return [tuple(int(shape[0]) for shape in engine.get_tensor_profile_shape(input_name, index))
            for index in range(engine.num_optimization_profiles)]


def profile_for_batch(profiles: list[tuple[int, int, int]], batch_size: int) -> int:
    """The profile to run ``batch_size`` with: the one tuned for it (opt == batch), else the smallest
    one whose range holds it."""
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


def _new_host_buffer(cuda, tensor: IOTensor, shape):
    if tensor.dtype is None:  # no numpy type: raw bytes
        return cuda.pagelocked_empty((_buffer_bytes(tensor, shape),), np.uint8)
    return cuda.pagelocked_empty(tuple(shape), tensor.dtype)


def open_session(plan_path: Path, max_batch: int | None = None) -> EngineSession:
    """Load an engine and allocate page-locked host and device buffers for ``max_batch`` images
    (default: the largest batch any of its optimization profiles allows)."""
    engine, runtime = load_engine(plan_path)  # a TutorialError naming what is missing, pycuda included
    cuda = import_pycuda()
    tensors = io_tensors(engine)
    inputs, outputs = [t for t in tensors if t.is_input], [t for t in tensors if not t.is_input]
    profiles = engine_profiles(engine, inputs[0].name)
    max_batch = max_batch or max(high for _, _, high in profiles)
    session = EngineSession(engine=engine, runtime=runtime, context=engine.create_execution_context(),
                            stream=cuda.Stream(), inputs=inputs, outputs=outputs, max_batch=max_batch,
                            profiles=profiles)
    set_batch_size(session, max_batch)
    for tensor in tensors:
        shape = tuple(session.context.get_tensor_shape(tensor.name))  # resolved now that the input shape is set
        session.host[tensor.name] = _new_host_buffer(cuda, tensor, shape)
        session.device[tensor.name] = cuda.mem_alloc(session.host[tensor.name].nbytes)
        session.context.set_tensor_address(tensor.name, int(session.device[tensor.name]))
    return session


def set_batch_size(session: EngineSession, batch_size: int) -> None:
    """Tell the execution context the batch size of the next run: switch to the optimization profile
    for that batch (when it is not the active one), then set every input's shape."""
    if not 1 <= batch_size <= session.max_batch:
        raise TutorialError(f"Batch size {batch_size} is outside 1..{session.max_batch} of this session.")
    index = profile_for_batch(session.profiles, batch_size)
    if index != session.active_profile:
        if not session.context.set_optimization_profile_async(index, session.stream.handle):
            raise TutorialError(f"TensorRT refused to switch to optimization profile {index}; the log lines above say why.")
        session.stream.synchronize()  # the switch may enqueue copies on this stream
        session.active_profile = index
    for tensor in session.inputs:
        if not session.context.set_input_shape(tensor.name, (batch_size, *tensor.shape[1:])):
            raise TutorialError(f"The engine refused batch size {batch_size} for '{tensor.name}': outside optimization "
                                f"profile {index} {session.profiles[index]} (min, opt, max).")
    session.batch_size = batch_size


def active_profile(session: EngineSession) -> dict:
    """The optimization profile the session runs with now, for result records."""
    low, opt, high = session.profiles[session.active_profile]
    return {"index": session.active_profile, "min": low, "opt": opt, "max": high}


def host_view(session: EngineSession, tensor: IOTensor) -> np.ndarray:
    """The part of a tensor's host buffer that the current shapes use: shape x itemsize bytes, no more."""
    shape = tuple(session.context.get_tensor_shape(tensor.name))
    buffer = session.host[tensor.name]
    if tensor.dtype is None:
        return buffer[:_buffer_bytes(tensor, shape)]
    return buffer[:shape[0]].reshape(shape)


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


def predict_engine(plan_path: Path, onnx_path: Path, images_uint8_nhwc: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Top-1 class of every image through a TensorRT engine; preprocessing comes from the metadata of
    the ONNX file the engine was built from."""
    metadata = read_metadata(onnx_path)
    session = open_session(plan_path)
    batch_size = min(batch_size, session.max_batch)
    predictions = []
    for start in range(0, len(images_uint8_nhwc), batch_size):
        inputs = preprocess_from_metadata(images_uint8_nhwc[start:start + batch_size], metadata)
        predictions.append(infer(session, inputs).argmax(1))
    return np.concatenate(predictions)


# --- timing (what trtexec measures) ---------------------------------------------------------------

def _write_random_input(session: EngineSession) -> None:
    """Fill the inputs' host buffers (the current batch) with values; timing does not depend on them."""
    generator = np.random.default_rng(0)
    for tensor in session.inputs:
        view = host_view(session, tensor)
        if tensor.dtype is None:
            view[:] = generator.integers(0, 256, view.shape, dtype=np.uint8)
        else:
            view[:] = generator.standard_normal(view.shape).astype(tensor.dtype)


def prepare_device_input(session: EngineSession, batch_size: int) -> None:
    """Set the batch size and put an input batch on the device before any timed run, so that no run
    reads device memory nobody wrote (the "copies excluded" rows never copy inside the loop)."""
    set_batch_size(session, batch_size)
    _write_random_input(session)
    enqueue_copy_in(session)
    session.stream.synchronize()


def time_engine(session: EngineSession, batch_size: int, timing, include_copies: bool) -> tuple[list[float], float, dict]:
    """Per-iteration GPU time in ms (CUDA events on the engine's stream), the wall-clock seconds of the
    timed iterations, and what the warm-up did.

    ``timing`` is a ``benchmark.TimingPlan`` (time-based warm-up and a minimum measuring time, as trtexec).
    ``include_copies=False`` times only the engine (trtexec's "GPU Compute Time");
    ``True`` adds the host-to-device and device-to-host copies (trtexec's "Latency").
    """
    from .benchmark import time_gpu_iterations

    cuda = import_pycuda()
    prepare_device_input(session, batch_size)

    def one_iteration():
        if include_copies:
            enqueue_copy_in(session)
        enqueue_inference(session)
        if include_copies:
            enqueue_copy_out(session)

    return time_gpu_iterations(one_iteration, new_event=cuda.Event, record=lambda event: event.record(session.stream),
                               elapsed_ms=lambda start, end: end.time_since(start),
                               synchronize=session.stream.synchronize, timing=timing)


def torch_cuda():
    """``torch.cuda``, whose CUDA-graph capture ``time_engine_cuda_graph`` uses (pycuda cannot capture graphs)."""
    import torch

    return torch.cuda


def time_engine_cuda_graph(session: EngineSession, batch_size: int, timing) -> tuple[list[float], float, dict]:
    """Like ``time_engine`` (compute only) but replaying a CUDA graph of the engine, as trtexec 11 does
    by default. pycuda cannot capture graphs, so the capture runs on a PyTorch stream."""
    from .benchmark import time_gpu_iterations

    cuda_api = torch_cuda()
    prepare_device_input(session, batch_size)  # input on the device, no copy left pending on the engine's stream
    capture_stream = cuda_api.Stream()
    if not session.context.execute_async_v3(capture_stream.cuda_stream):  # one run before capture, as TensorRT requires
        raise TutorialError("execute_async_v3 failed before CUDA graph capture; the log lines above say why.")
    capture_stream.synchronize()
    graph = cuda_api.CUDAGraph()
    captured = None
    try:
        with cuda_api.graph(graph, stream=capture_stream, capture_error_mode="thread_local"):
            captured = session.context.execute_async_v3(capture_stream.cuda_stream)
    except RuntimeError as error:  # ending an invalidated capture raises; say what failed, not only CUDA's words
        raise TutorialError(f"This engine cannot be captured in a CUDA graph (execute_async_v3 during capture returned "
                            f"{captured}; CUDA said: {str(error).splitlines()[0] if str(error) else error!r}). "
                            f"Time it with time_engine instead.") from error
    if not captured:
        raise TutorialError("This engine cannot be captured in a CUDA graph (execute_async_v3 returned False during "
                            "capture); time it with time_engine instead.")
    with cuda_api.stream(capture_stream):
        return time_gpu_iterations(graph.replay, new_event=lambda: cuda_api.Event(enable_timing=True),
                                   record=lambda event: event.record(capture_stream),
                                   elapsed_ms=lambda start, end: start.elapsed_time(end),
                                   synchronize=capture_stream.synchronize, timing=timing)


# --- which precision did each layer get? ----------------------------------------------------------

def engine_layer_information(session: EngineSession) -> dict:
    """The engine inspector's JSON for all layers (needs an engine built with DETAILED verbosity).

    The session's execution context is handed to the inspector: with a dynamic batch dimension
    the tensor formats are only known for concrete shapes (without it TensorRT 10 writes
    "N/A due to dynamic shapes").
    """
    trt = import_tensorrt()
    inspector = session.engine.create_engine_inspector()
    inspector.execution_context = session.context
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


PRECISION_PATTERNS = (  # (label, regex on a tensor's data-type text); the first match wins
    ("INT8", r"\bint8\b|\bi8\b"),
    ("FP8", r"\bfp8\b|\be4m3\b"),
    ("FP16", r"\bfp16\b|\bhalf\b"),
    ("BF16", r"\bbf16\b"),
    ("FP32", r"\bfp32\b|\bfloat\b"),
    ("INT32", r"\bint32\b"),
    ("INT64", r"\bint64\b"),
    ("BOOL", r"\bbool\b"),
)


def tensor_precision(tensor: dict) -> str:
    """Precision label of one tensor entry of the inspector JSON, in either schema.

    TensorRT 10.x writes one text field ``"Format/Datatype": "Row major linear FP32"``; 11.x splits it
    into a data-type field and a ``"Format"`` field. The data-type field is read first when present.
    """
    for key in ("DataType", "Datatype", "Format/Datatype", "Format"):
        text = str(tensor.get(key, "")).lower()
        for label, pattern in PRECISION_PATTERNS:
            if re.search(pattern, text):
                return label
    return "unknown"


def layer_compute_precision(layer: dict) -> str:
    """The precision a layer computes in, judged from its inputs (then outputs) and tactic name."""
    tactic = str(layer.get("TacticName", "")).lower()
    if re.search(r"i8i8|int8", tactic):
        return "INT8"
    for tensors in (layer.get("Inputs", []), layer.get("Outputs", [])):
        labels = [tensor_precision(tensor) for tensor in tensors if isinstance(tensor, dict)]
        labels = [label for label in labels if label != "unknown"]
        if labels:
            return labels[0]
    return "unknown"


def parse_layer_information(info: dict) -> dict:
    """A schema-independent summary of the inspector JSON (TensorRT 10.x or 11.x).

    Returns ``{"schema": "10.x"|"11.x"|"unknown", "io_tensors": [names], "layers": [{"name", "type",
    "precision", "inputs", "outputs", "tactic"}]}``. Raises a TutorialError when the layers carry names only
    (the engine was not built with ProfilingVerbosity.DETAILED).
    """
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
        layers.append({
            "name": layer.get("Name", ""),
            "type": layer.get("LayerType", "unknown"),
            "precision": layer_compute_precision(layer),
            "inputs": [tensor_precision(t) for t in layer.get("Inputs", []) if isinstance(t, dict)],
            "outputs": [tensor_precision(t) for t in layer.get("Outputs", []) if isinstance(t, dict)],
            "tactic": layer.get("TacticName", ""),
        })
    return {"schema": schema, "io_tensors": io_names, "layers": layers}


def precision_counts(summary: dict) -> dict[str, int]:
    """How many layers compute in each precision, from ``parse_layer_information``'s summary."""
    counts: dict[str, int] = {}
    for layer in summary["layers"]:
        counts[layer["precision"]] = counts.get(layer["precision"], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


# --- the same with trtexec ------------------------------------------------------------------------

def trtexec_commands(onnx_path: str, plan_path: str, input_name: str = INPUT_NAME, input_chw: tuple[int, ...] = (3, 32, 32),
                     min_batch: int = 1, opt_batch: int = 32, max_batch: int = 512, batch_size: int = 1,
                     workspace_mib: int = 2048) -> dict[str, str]:
    """trtexec command lines that build and time the same engine, for TensorRT 10.x and 11.x.

    Neither uses --fp16/--int8: the precision comes from the ONNX model (10.x needs --stronglyTyped
    for that; 11.x always types strongly, and removed the precision flags). Both time the same way:
    CUDA graphs, copies excluded and spin-wait synchronization, which are trtexec 11's defaults and
    10.x's options.
    """
    dims = "x".join(map(str, input_chw))
    common = [
        "trtexec", f"--onnx={onnx_path}", f"--saveEngine={plan_path}",
        f"--minShapes={input_name}:{min_batch}x{dims}", f"--optShapes={input_name}:{opt_batch}x{dims}",
        f"--maxShapes={input_name}:{max_batch}x{dims}", f"--shapes={input_name}:{batch_size}x{dims}",
        f"--memPoolSize=workspace:{workspace_mib}", "--noTF32", "--profilingVerbosity=detailed",
        f"--exportLayerInfo={Path(plan_path).with_suffix('.layers.json')}", "--timingCacheFile=timing.cache",
    ]
    tensorrt_10 = [*common, "--stronglyTyped", "--useCudaGraph", "--noDataTransfers", "--useSpinWait"]
    tensorrt_11 = list(common)  # strong typing always on; CUDA graphs, no transfers, spin-wait are 11's defaults
    return {"TensorRT 10.12+": " \\\n    ".join(tensorrt_10), "TensorRT 11.x": " \\\n    ".join(tensorrt_11)}
