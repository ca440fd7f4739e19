"""Test double of the ``tensorrt`` Python module, 10.16 or 11.4 (TRT_DOUBLE_RELEASE) - NOT TensorRT.

Tests only (see tests/trt_double/README.md): it lets every line of helpers/tensorrt_engine.py run on a
machine without a GPU, and fails loudly where that code breaks a documented contract. Every public name
below exists in the real bindings of that release (tests/test_tensorrt_api.py checks them against the
strings of the real ``tensorrt.so``), and names a release removed are absent in that release's double.
Engines "run" the ONNX model they were built from with ONNX Runtime on the CPU; every time is made up.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings

import numpy as np

import trt_double_device as _dev

_RELEASE = _dev.RELEASE
# The release's version with a PEP 440 local label: every version string, result row and provenance record that
# quotes it says that a test double, not TensorRT, made it.
__version__ = {"10": "10.16.1.11", "11": "11.4.0.106"}[_RELEASE] + "+testdouble"
_PLAN_MAGIC = f"TRT-DOUBLE-PLAN-{_RELEASE}\n".encode()
_CACHE_MAGIC = b"TRT-DOUBLE-TIMING-CACHE-"


# --- enums (pybind11-like: members with .name and .value, int() gives the value) ----------------------

class _Enum:
    def __int__(self):
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        return type(self) is type(other) and self.value == other.value

    def __hash__(self):
        return hash((type(self).__name__, self.value))

    def __repr__(self):
        return f"<{type(self).__name__}.{self.name}: {self.value}>"


def _enum(name: str, members: dict[str, int], base=_Enum) -> type:
    cls = type(name, (base,), {"__members__": {}})
    for key, value in members.items():
        member = object.__new__(cls)
        member.name, member.value = key, value
        setattr(cls, key, member)
        cls.__members__[key] = member
    return cls


def _data_type_itemsize(self):
    """Bytes per element, as the real __init__.py defines it (0.5 for the 4-bit types)."""
    return {"FLOAT": 4, "HALF": 2, "BF16": 2, "INT8": 1, "INT32": 4, "INT64": 8, "BOOL": 1, "UINT8": 1, "FP8": 1,
            "INT4": 0.5, "FP4": 0.5}.get(self.name)


class _DataTypeBase(_Enum):
    itemsize = property(_data_type_itemsize)


DataType = _enum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "BOOL": 4, "UINT8": 5, "FP8": 6,
                              "BF16": 7, "INT64": 8, "INT4": 9, "FP4": 10}, base=_DataTypeBase)
TensorIOMode = _enum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
MemoryPoolType = _enum("MemoryPoolType", {"WORKSPACE": 0})
ProfilingVerbosity = _enum("ProfilingVerbosity", {"LAYER_NAMES_ONLY": 0, "NONE": 1, "DETAILED": 2})
LayerInformationFormat = _enum("LayerInformationFormat", {"ONELINE": 0, "JSON": 1})
if _RELEASE == "10":
    NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1})
    BuilderFlag = _enum("BuilderFlag", {"FP16": 0, "INT8": 1, "OBEY_PRECISION_CONSTRAINTS": 7,
                                        "PREFER_PRECISION_CONSTRAINTS": 8, "TF32": 12, "BF16": 17})
    _PRECISION_FLAGS = ("FP16", "INT8", "BF16", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")
else:  # 11.x: strong typing always on; EXPLICIT_BATCH and the precision flags are gone
    NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0})
    BuilderFlag = _enum("BuilderFlag", {"TF32": 12})
    _PRECISION_FLAGS = ()

# (the real module also has `bool` = DataType.BOOL; left out here: it would shadow the builtin in this module)
for _alias, _member in {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16", "int8": "INT8", "int32": "INT32",
                        "int64": "INT64", "uint8": "UINT8", "fp8": "FP8", "int4": "INT4",
                        "fp4": "FP4"}.items():
    setattr(sys.modules[__name__], _alias, getattr(DataType, _member))


def nptype(trt_type):
    """The numpy type of a TensorRT DataType; TypeError where numpy has none (as the real __init__.py)."""
    mapping = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
               "BOOL": np.bool_, "UINT8": np.uint8}
    if trt_type.name in mapping:
        return mapping[trt_type.name]
    raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")


def volume(iterable):
    return math.prod(iterable)


class Dims(tuple):
    """Shapes come back as Dims (iterable, indexable), with -1 for a dynamic dimension."""


# --- logger -----------------------------------------------------------------------------------------

class ILogger:
    Severity = _enum("Severity", {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})


class Logger(ILogger):
    def __init__(self, min_severity=ILogger.Severity.WARNING):
        self.min_severity = min_severity

    def log(self, severity, msg):
        _dev.DEVICE.record_log(severity.name, msg)
        if severity.value <= self.min_severity.value:
            print(f"[TRT double] [{severity.name[0]}] {msg}", file=sys.stderr)


for _name, _member in ILogger.Severity.__members__.items():
    setattr(Logger, _name, _member)


def _take_logger(logger, who: str):
    if not isinstance(logger, ILogger):
        raise TypeError(f"{who}(): incompatible function arguments (a tensorrt.ILogger is required)")
    device = _dev.DEVICE
    if device.first_logger is None:
        device.first_logger = logger
    elif device.first_logger is not logger:
        warnings.warn(_dev.DoubleWarning(
            f"The logger passed into {who} differs from one already provided for an existing builder, runtime, or "
            f"refitter. Uses of the global logger will return the existing value."), stacklevel=3)
    return logger


def _error(logger, message: str) -> None:
    logger.log(ILogger.Severity.ERROR, message)


# --- ONNX parsing -------------------------------------------------------------------------------------

_ONNX_TO_TRT = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8",
                17: "FP8", 22: "INT4", 23: "FP4"}


class ParserError:
    def __init__(self, description: str, node: int = -1):
        self._description, self._node = description, node

    def desc(self):
        return self._description

    def node(self):
        return self._node

    def __str__(self):
        return self._description


class INetworkDefinition:
    def __init__(self, flags: int):
        self._flags = flags
        self._model = None  # the parsed ONNX model
        self._io = []  # [{"name", "mode", "dtype", "shape"}]

    @property
    def num_inputs(self):
        return sum(entry["mode"] == "INPUT" for entry in self._io)

    @property
    def num_outputs(self):
        return sum(entry["mode"] == "OUTPUT" for entry in self._io)


class OnnxParser:
    def __init__(self, network, logger):
        if not isinstance(network, INetworkDefinition):
            raise TypeError("OnnxParser(): incompatible function arguments")
        self._network, self._logger, self._errors = network, logger, []

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []

    def parse_from_file(self, model):
        import onnx

        try:
            loaded = onnx.load(model)
        except Exception as error:  # a missing or unreadable file
            self._errors.append(ParserError(f"Failed to parse ONNX file {model}: {type(error).__name__}: {error}"))
            return False
        self._errors += _qdq_parser_errors(loaded)
        if self._errors:
            for error in self._errors:
                _error(self._logger, f"ModelImporter: {error}")
            return False
        graph = loaded.graph
        initializers = {init.name for init in graph.initializer}
        io = []
        for mode, values in (("INPUT", [v for v in graph.input if v.name not in initializers]), ("OUTPUT", graph.output)):
            for value in values:
                tensor_type = value.type.tensor_type
                if tensor_type.elem_type not in _ONNX_TO_TRT:
                    self._errors.append(ParserError(f"Unsupported data type {tensor_type.elem_type} of '{value.name}'"))
                    return False
                shape = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim]
                io.append({"name": value.name, "mode": mode, "dtype": _ONNX_TO_TRT[tensor_type.elem_type], "shape": shape})
        self._network._model, self._network._io = loaded, io
        return True


def _qdq_parser_errors(model) -> list[ParserError]:
    """The Q/DQ rules TensorRT's ONNX parser enforces (TensorRT developer guide, "Explicit Quantization")."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    types = {}
    try:
        import onnx

        inferred = onnx.shape_inference.infer_shapes(model)
        for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            types[value.name] = value.type.tensor_type.elem_type
    except Exception:
        pass
    for name, value in constants.items():
        types.setdefault(name, {np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6}.get(value.dtype, 1))
    errors = []
    for index, node in enumerate(model.graph.node):
        where = f"In node {index} with name: {node.name} and operator: {node.op_type}"
        if node.op_type == "DequantizeLinear" and types.get(node.input[0]) == 2:
            errors.append(ParserError(f"{where}: UINT8 input is not supported for DequantizeLinear", index))
        if node.op_type == "DequantizeLinear" and types.get(node.input[0]) == 6:
            errors.append(ParserError(f"{where}: INT32 input is not supported for DequantizeLinear", index))
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zero_point = constants.get(node.input[2])
            if zero_point is not None and np.any(zero_point != 0):
                errors.append(ParserError(f"{where}: non-zero zero point is not supported", index))
    return errors


# --- builder ------------------------------------------------------------------------------------------

class IHostMemory:
    def __init__(self, data: bytes):
        self._data = data

    def __bytes__(self):
        return self._data

    @property
    def nbytes(self):
        return len(self._data)


class ITimingCache:
    def __init__(self, release: str, entries: int = 0):
        self._release, self._entries = release, entries

    def serialize(self):
        header = json.dumps({"release": self._release, "entries": self._entries}).encode()
        return IHostMemory(_CACHE_MAGIC + header)


class IOptimizationProfile:
    def __init__(self):
        self._shapes = {}  # input name -> (min, opt, max)
        self._valid = True

    def set_shape(self, input, min, opt, max):  # noqa: A002 (the real keyword names)
        shapes = tuple(Dims(int(d) for d in shape) for shape in (min, opt, max))
        if len({len(shape) for shape in shapes}) != 1 or not all(
                low <= mid <= high for low, mid, high in zip(*shapes)):
            self._valid = False
        self._shapes[input] = shapes

    def get_shape(self, input):  # noqa: A002
        return list(self._shapes.get(input, []))

    def __bool__(self):
        return self._valid and len(self._shapes) > 0


class IBuilderConfig:
    def __init__(self):
        self._flags = {BuilderFlag.TF32}
        self._pools = {}
        self._verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
        self._profiles = []
        self._timing_cache = None

    def set_memory_pool_limit(self, pool, pool_size):
        if not isinstance(pool, MemoryPoolType) or int(pool_size) <= 0:
            raise TypeError("set_memory_pool_limit(): incompatible function arguments")
        self._pools[pool] = int(pool_size)

    def get_memory_pool_limit(self, pool):
        return self._pools.get(pool, 0)

    @property
    def profiling_verbosity(self):
        return self._verbosity

    @profiling_verbosity.setter
    def profiling_verbosity(self, value):
        if not isinstance(value, ProfilingVerbosity):
            raise TypeError("profiling_verbosity must be a tensorrt.ProfilingVerbosity")
        self._verbosity = value

    def set_flag(self, flag):
        self._flags.add(flag)

    def clear_flag(self, flag):
        self._flags.discard(flag)

    def get_flag(self, flag):
        return flag in self._flags

    def create_timing_cache(self, serialized_timing_cache):
        data = bytes(serialized_timing_cache)
        if _dev.take_fault("create_timing_cache"):
            return None
        if not data:
            return ITimingCache(_RELEASE)
        if not data.startswith(_CACHE_MAGIC):
            return None  # not a timing cache (or a damaged one)
        header = json.loads(data[len(_CACHE_MAGIC):])
        return ITimingCache(header["release"], header["entries"])

    def set_timing_cache(self, cache, ignore_mismatch):
        if not isinstance(cache, ITimingCache):
            raise TypeError("set_timing_cache(): incompatible function arguments; (cache: tensorrt.ITimingCache, "
                            f"ignore_mismatch: bool) was given {type(cache).__name__}")
        if _dev.take_fault("set_timing_cache") or (cache._release != _RELEASE and not ignore_mismatch):
            return False
        self._timing_cache = cache
        return True

    def get_timing_cache(self):
        if _dev.take_fault("get_timing_cache"):
            return None
        return self._timing_cache

    def add_optimization_profile(self, profile):
        if not isinstance(profile, IOptimizationProfile) or not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)


class Builder:
    def __init__(self, logger):
        self._logger = _take_logger(logger, "Builder")

    def create_network(self, flags=0):
        expected = 1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        if flags != expected:
            raise _dev.ContractViolation(
                f"create_network({flags}): the project's networks are strongly typed, flags must be "
                f"1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED) = {expected} in TensorRT {_RELEASE}.x "
                f"(the enum's value is 1 in 10.x and 0 in 11.x; a literal is right for one release only)")
        return INetworkDefinition(flags)

    def create_builder_config(self):
        return IBuilderConfig()

    def create_optimization_profile(self):
        return IOptimizationProfile()

    def build_serialized_network(self, network, config):
        if _dev.take_fault("build_serialized_network"):
            _error(self._logger, "Builder failed (a fault injected by the test)")
            return None
        if network._model is None:
            _error(self._logger, "Network has no layers: was the ONNX model parsed?")
            return None
        refused = [name for name in _PRECISION_FLAGS if getattr(BuilderFlag, name) in config._flags]
        if refused:
            _error(self._logger, f"BuilderFlag {refused} set on a strongly typed network: not allowed (precision "
                                 f"comes from the network's types)")
            return None
        profiles = []
        for entry in (entry for entry in network._io if entry["mode"] == "INPUT"):
            if -1 not in entry["shape"]:
                continue
            if not config._profiles:
                _error(self._logger, f"Network has dynamic input '{entry['name']}' but no optimization profile")
                return None
            for index, profile in enumerate(config._profiles):
                shapes = profile._shapes.get(entry["name"])
                if shapes is None or any(len(shape) != len(entry["shape"]) or any(
                        fixed != -1 and dim != fixed for dim, fixed in zip(shape, entry["shape"])) for shape in shapes):
                    _error(self._logger, f"Optimization profile {index} does not match input '{entry['name']}' "
                                         f"{entry['shape']}")
                    return None
                profiles.append({"input": entry["name"], "shapes": [list(shape) for shape in shapes]})
        if config._timing_cache is not None:
            config._timing_cache._entries += len(network._model.graph.node)
        header = {"release": _RELEASE, "io": network._io, "profiles": profiles or [{"input": None, "shapes": []}],
                  "verbosity": config._verbosity.name, "tf32": BuilderFlag.TF32 in config._flags,
                  "workspace": config._pools.get(MemoryPoolType.WORKSPACE)}
        header_bytes = json.dumps(header).encode()
        return IHostMemory(_PLAN_MAGIC + len(header_bytes).to_bytes(8, "little") + header_bytes
                           + network._model.SerializeToString())


# --- runtime ------------------------------------------------------------------------------------------

class Runtime:
    def __init__(self, logger):
        self._logger = _take_logger(logger, "Runtime")

    def deserialize_cuda_engine(self, serialized_engine):
        data = bytes(serialized_engine)
        if _dev.take_fault("deserialize_cuda_engine") or not data.startswith(_PLAN_MAGIC):
            _error(self._logger, "The engine plan file is not compatible with this version of TensorRT (or not a "
                                 "plan): rebuild it")
            return None
        size = int.from_bytes(data[len(_PLAN_MAGIC):len(_PLAN_MAGIC) + 8], "little")
        start = len(_PLAN_MAGIC) + 8
        return ICudaEngine(json.loads(data[start:start + size]), data[start + size:])


class ICudaEngine:
    def __init__(self, header: dict, model_bytes: bytes):
        self._header, self._model_bytes = header, model_bytes
        self._io = {entry["name"]: entry for entry in header["io"]}
        self._names = [entry["name"] for entry in header["io"]]
        self._session = None

    def _entry(self, name):
        if name not in self._io:
            raise _dev.ContractViolation(f"'{name}' is not an I/O tensor of this engine ({self._names})")
        return self._io[name]

    @property
    def num_io_tensors(self):
        return len(self._names)

    @property
    def num_optimization_profiles(self):
        return len(self._header["profiles"])

    @property
    def num_layers(self):
        return len(_engine_layers(self._model()))

    def get_tensor_name(self, index):
        return self._names[index]

    def get_tensor_mode(self, name):
        return getattr(TensorIOMode, self._entry(name)["mode"])

    def get_tensor_dtype(self, name):
        return getattr(DataType, self._entry(name)["dtype"])

    def get_tensor_shape(self, name):
        return Dims(self._entry(name)["shape"])

    def get_tensor_profile_shape(self, name, profile_index):
        if self._entry(name)["mode"] != "INPUT":
            raise _dev.ContractViolation(f"get_tensor_profile_shape('{name}'): only inputs have profile shapes")
        return [Dims(shape) for shape in self._header["profiles"][profile_index]["shapes"]]

    def create_execution_context(self):
        return IExecutionContext(self)

    def create_engine_inspector(self):
        return EngineInspector(self)

    def _model(self):
        import onnx

        return onnx.load_from_string(self._model_bytes)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import onnxruntime

        if self._session is None:
            options = onnxruntime.SessionOptions()
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # as helpers/onnx_runtime.py does
                options.intra_op_num_threads = max(1, int(os.environ["OMP_NUM_THREADS"]))
            self._session = onnxruntime.InferenceSession(self._model_bytes, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, feeds)))


class IExecutionContext:
    def __init__(self, engine: ICudaEngine):
        self._engine = engine
        self._profile = 0
        self._shapes = {}  # input name -> shape set since the last profile switch
        self._addresses = {}
        self._ran_since_change = False

    @property
    def engine(self):
        return self._engine

    @property
    def active_optimization_profile(self):
        return self._profile

    def set_optimization_profile_async(self, profile_index, stream_handle):
        stream = _dev.DEVICE.stream(stream_handle, "set_optimization_profile_async")
        if _dev.take_fault("set_optimization_profile_async") or not 0 <= profile_index < self._engine.num_optimization_profiles:
            return False
        self._profile = profile_index
        self._shapes.clear()  # the docs: switching invalidates the input shapes; set them again
        self._ran_since_change = False
        _dev.DEVICE.enqueue(stream, _dev.Operation("profile switch", lambda: None, duration_ms=0.001))
        return True

    def _bounds(self, name):
        return self._engine.get_tensor_profile_shape(name, self._profile)

    def set_input_shape(self, name, shape):
        entry = self._engine._entry(name)
        if entry["mode"] != "INPUT":
            raise _dev.ContractViolation(f"set_input_shape('{name}'): not an input")
        shape = Dims(int(dim) for dim in shape)
        low, _, high = self._bounds(name)
        if _dev.take_fault("set_input_shape") or len(shape) != len(low) or not all(
                lo <= dim <= hi for lo, dim, hi in zip(low, shape, high)):
            _error(_dev.DEVICE.first_logger or Logger(), f"setInputShape: {tuple(shape)} for '{name}' is outside "
                                                         f"optimization profile {self._profile} [{tuple(low)}, {tuple(high)}]")
            return False
        self._shapes[name] = shape
        self._ran_since_change = False
        return True

    def get_tensor_shape(self, name):
        entry = self._engine._entry(name)
        if entry["mode"] == "INPUT":
            return self._shapes.get(name, Dims(entry["shape"]))
        inputs = [self._shapes.get(other["name"]) for other in self._engine._header["io"] if other["mode"] == "INPUT"]
        batch = inputs[0][0] if inputs and inputs[0] is not None else -1
        return Dims(batch if dim == -1 else dim for dim in entry["shape"])

    def _tensor_nbytes(self, name):
        shape = self.get_tensor_shape(name)
        if any(dim < 0 for dim in shape):
            return None
        return math.ceil(math.prod(shape) * self._engine.get_tensor_dtype(name).itemsize)

    def set_tensor_address(self, name, memory):
        self._engine._entry(name)
        address = int(memory)
        _dev.DEVICE.allocation(address, f"set_tensor_address('{name}')")
        self._addresses[name] = address
        _dev.DEVICE.bindings.setdefault(address, []).append((self, name))
        return True

    def get_tensor_address(self, name):
        return self._addresses.get(name, 0)

    def execute_async_v3(self, stream_handle):
        device = _dev.DEVICE
        logger = device.first_logger or Logger()
        stream = device.stream(stream_handle, "execute_async_v3")
        graph = device.capturing.get(stream.handle)

        def refuse(message, invalidates_capture=True):
            _error(logger, f"enqueueV3: {message}")
            if graph is not None and invalidates_capture:
                graph.invalid_reason = message
            return False

        if graph is not None and _dev.take_fault("execute_async_v3 during capture, capture kept"):
            return refuse("failed before enqueuing anything (a fault injected by the test)", invalidates_capture=False)

        if _dev.take_fault("execute_async_v3") or (graph is not None and _dev.take_fault("execute_async_v3 during capture")):
            return refuse("failed (a fault injected by the test)")
        io = self._engine._header["io"]
        unset = [entry["name"] for entry in io if entry["mode"] == "INPUT" and entry["name"] not in self._shapes]
        if unset:
            return refuse(f"input shapes of {unset} are not set for optimization profile {self._profile} "
                          f"(call set_input_shape after creating the context and after every profile switch)")
        unbound = [entry["name"] for entry in io if entry["name"] not in self._addresses]
        if unbound:
            return refuse(f"no address set for I/O tensors {unbound} (set_tensor_address)")
        for entry in io:
            allocation = device.allocation(self._addresses[entry["name"]], "execute_async_v3")
            needed = self._tensor_nbytes(entry["name"])
            if allocation.nbytes < needed:
                raise _dev.ContractViolation(f"execute_async_v3: the buffer of '{entry['name']}' holds "
                                             f"{allocation.nbytes} bytes, its shape needs {needed}")
        if graph is not None and not self._ran_since_change:
            return refuse("the first enqueue after a shape change must run outside a CUDA graph capture (TensorRT "
                          "may allocate or set up resources then)")
        inputs = [(entry, device.allocations[self._addresses[entry["name"]]], self.get_tensor_shape(entry["name"]))
                  for entry in io if entry["mode"] == "INPUT"]
        outputs = [(entry, device.allocations[self._addresses[entry["name"]]], self.get_tensor_shape(entry["name"]))
                   for entry in io if entry["mode"] == "OUTPUT"]

        def run():
            snapshot = [(entry, allocation.read(f"execute_async_v3 (input '{entry['name']}')"), shape)
                        for entry, allocation, shape in inputs]
            for entry, allocation, shape in outputs:
                allocation.data, allocation.compute = None, _lazy_output(self._engine, snapshot, entry, shape)

        batch = inputs[0][2][0] if inputs else 1
        device.enqueue(stream, _dev.Operation("execute_async_v3", run, reads=frozenset(a.address for _, a, _ in inputs),
                                              writes=frozenset(a.address for _, a, _ in outputs),
                                              duration_ms=0.05 + 0.002 * batch))
        if graph is None:
            self._ran_since_change = True
        return True


def _numpy_type(name: str):
    try:
        return np.dtype(nptype(getattr(DataType, name)))
    except TypeError:
        return None


def _lazy_output(engine, snapshot, entry, shape):
    """The bytes an engine run writes to one output, computed with ONNX Runtime when something reads them."""

    def compute():
        dtypes = [_numpy_type(item["dtype"]) for item, _, _ in snapshot] + [_numpy_type(entry["dtype"])]
        nbytes = math.ceil(math.prod(shape) * getattr(DataType, entry["dtype"]).itemsize)
        if any(dtype is None for dtype in dtypes):
            return bytes(nbytes)  # numpy cannot hold BF16/FP8/INT4 values: zeros of the right size
        feeds = {item["name"]: np.frombuffer(data, dtype=_numpy_type(item["dtype"]))[:math.prod(in_shape)].reshape(in_shape)
                 for item, data, in_shape in snapshot}
        return np.ascontiguousarray(engine._run(feeds)[entry["name"]], dtype=_numpy_type(entry["dtype"])).tobytes()

    return compute


# --- the engine inspector ---------------------------------------------------------------------------

_FORMATS_10 = {"FP32": "Row major linear FP32", "FP16": "Thirty-two wide channel vectorized row major FP16 format",
               "INT8": "Thirty-two wide channel vectorized row major Int8 format"}  # texts of the real TREx JSON
_TYPES_11 = {"FP32": ("Float", "Row major linear FP32 format (kLINEAR)"),
             "FP16": ("Half", "Thirty-two wide channel vectorized row major FP16 format (kCHW32)"),
             "INT8": ("Int8", "Thirty-two wide channel vectorized row major Int8 format (kCHW32)")}
_PARAMETER_TYPES = {"Conv": "Convolution", "Gemm": "Convolution", "GlobalAveragePool": "Pooling", "MaxPool": "Pooling",
                    "Add": "ElementWise", "Relu": "Activation"}
_LAYER_TYPES = {"Conv": "CaskConvolution", "Gemm": "CaskGemmConvolution", "Add": "ElementWise", "Relu": "PointWise",
                "GlobalAveragePool": "CaskPooling", "MaxPool": "CaskPooling"}


def _engine_layers(model) -> list[dict]:
    """Layers the double pretends TensorRT built: Q/DQ folded into the layers around them, Conv + Relu and
    Conv + Add (+ Relu) fused when nothing sits between them, Conv/Gemm fed by a DequantizeLinear in INT8."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(model).graph
    elem = {value.name: value.type.tensor_type.elem_type for value in [*graph.input, *graph.value_info, *graph.output]}
    for init in graph.initializer:
        elem[init.name] = init.data_type
    producer = {name: node for node in graph.node for name in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def sole_consumer(name):
        found = consumers.get(name, [])
        return found[0] if len(found) == 1 else None

    def precision_of(name):
        return {10: "FP16", 3: "INT8", 2: "INT8"}.get(elem.get(name), "FP32")

    skipped = {"QuantizeLinear", "DequantizeLinear", "Cast", "Flatten", "Constant", "Reshape", "Identity"}
    layers, used = [], set()
    for node in graph.node:
        if node.op_type in skipped or id(node) in used:
            continue
        group, out = [node], node.output[0]
        if node.op_type == "Conv":
            for wanted in ("Relu", "Add", "Relu"):
                follower = sole_consumer(out)
                if follower is None or follower.op_type != wanted or (wanted == "Relu" and group[-1].op_type == "Relu"):
                    continue
                group.append(follower)
                out = follower.output[0]
        elif node.op_type == "Add":
            follower = sole_consumer(out)
            if follower is not None and follower.op_type == "Relu":
                group.append(follower)
                out = follower.output[0]
        used.update(id(member) for member in group)
        first_input = producer.get(node.input[0])
        int8 = node.op_type in ("Conv", "Gemm") and first_input is not None and first_input.op_type == "DequantizeLinear"
        in_name = first_input.input[0] if int8 else node.input[0]
        quantized_out = sole_consumer(out)
        out_precision = "INT8" if quantized_out is not None and quantized_out.op_type == "QuantizeLinear" else precision_of(out)
        layers.append({"name": " + ".join(member.name or member.op_type for member in group),
                       "type": _LAYER_TYPES.get(node.op_type, "Reformat"), "op": node.op_type,
                       "inputs": [(in_name, "INT8" if int8 else precision_of(in_name))],
                       "outputs": [(out, out_precision)],
                       "tactic": "trt_double_i8i8_i8i32_conv_kernel" if int8 else f"trt_double_{precision_of(in_name).lower()}_kernel"})
    return layers


class EngineInspector:
    def __init__(self, engine):
        self._engine, self._context = engine, None

    @property
    def execution_context(self):
        return self._context

    @execution_context.setter
    def execution_context(self, context):
        if not isinstance(context, IExecutionContext) or context._engine is not self._engine:
            raise _dev.ContractViolation("execution_context must be a context of the inspected engine")
        self._context = context

    def _dims(self, name):
        if self._context is None:
            return None
        shape = list(self._context.get_tensor_shape(name)) if name in self._engine._io else None
        return shape

    def get_engine_information(self, format):  # noqa: A002 (the real keyword)
        if format != LayerInformationFormat.JSON:
            raise _dev.ContractViolation("the project reads the inspector's JSON format")
        header = self._engine._header
        layers = _engine_layers(self._engine._model())
        if header["verbosity"] != "DETAILED":
            entries = [layer["name"] for layer in layers]
        else:
            entries = [self._layer_json(layer) for layer in layers]
        info = {"Layers": entries}
        if _RELEASE == "10":
            info["Bindings"] = [entry["name"] for entry in header["io"]]
        else:
            info["I/O Tensors"] = [self._io_json(entry, header) for entry in header["io"]]
        return json.dumps(info)

    def _tensor_json(self, name, precision):
        dims = self._dims(name)
        dynamic = self._context is None or not self._context._shapes
        tensor = {"Name": name, "Location": "Device", "Dimensions": dims if dims is not None else [-1]}
        if _RELEASE == "10":
            tensor["Format/Datatype"] = "N/A due to dynamic shapes" if dynamic else _FORMATS_10[precision]
        else:
            datatype, layout = _TYPES_11[precision]
            tensor["DataType"], tensor["Format"] = datatype, ("N/A due to dynamic shapes" if dynamic else layout)
        return tensor

    def _layer_json(self, layer):
        return {"Name": layer["name"], "LayerType": layer["type"],
                "Inputs": [self._tensor_json(name, precision) for name, precision in layer["inputs"]],
                "Outputs": [self._tensor_json(name, precision) for name, precision in layer["outputs"]],
                "ParameterType": _PARAMETER_TYPES.get(layer["op"], "Reformat"), "TacticName": layer["tactic"],
                "TacticValue": "0x0000000000000000"}

    def _io_json(self, entry, header):
        profile = next((p for p in header["profiles"] if p["input"] == entry["name"]), None)
        datatype = {"FLOAT": "Float", "HALF": "Half", "INT8": "Int8"}.get(entry["dtype"], entry["dtype"])
        record = {"Name": entry["name"], "IOMode": entry["mode"].title(), "DataType": datatype,
                  "Dimensions": entry["shape"], "Location": "Device", "IsShapeInferenceIO": False}
        if profile:
            low, opt, high = profile["shapes"]
            record["ProfileInfo"] = [{"MinShape": low, "OptShape": opt, "MaxShape": high,
                                      "Format": "Row major linear FP32 format (kLINEAR)"}]
        return record
