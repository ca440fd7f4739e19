"""The simulated GPU shared by the TensorRT and pycuda test doubles (tests only; see README.md here).

Device memory, streams, events, CUDA-graph capture and a made-up GPU clock. Work enqueued on a stream
runs when the stream is synchronized, in order, as on a GPU; what the documented contracts forbid
raises ``ContractViolation`` at the moment it would go wrong on real hardware (reading device memory
nobody wrote, a copy of the wrong size, a race between two streams, ...). Where the real API reports a
failure by its return value (None, False), the doubles return that value and log the reason instead.

Nothing here is a measurement: the clock advances by invented durations.
"""

from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass, field

RELEASE = os.environ.get("TRT_DOUBLE_RELEASE", "10")
if RELEASE not in ("10", "11"):
    raise ImportError(f"TRT_DOUBLE_RELEASE must be 10 or 11, got {RELEASE!r}")
if os.environ.get("TRT_CONTRACT_DOUBLE") != "1":
    raise ImportError("tests/trt_double is a test double of TensorRT and pycuda; only the tests import it "
                      "(they set TRT_CONTRACT_DOUBLE=1)")


class ContractViolation(AssertionError):
    """The code under test broke a documented contract of TensorRT, pycuda or CUDA."""


class DoubleWarning(UserWarning):
    """Something the real library would warn about (a second logger, the default stream, ...)."""


# --- failures on demand -----------------------------------------------------------------------------

FAULTS: dict[str, list] = {}  # call name -> [calls to let through first, calls that then fail]


def fail_next(name: str, times: int = 1, after: int = 0) -> None:
    """Make ``times`` calls of ``name`` fail the documented way (None or False), after ``after`` good ones."""
    FAULTS[name] = [after, times]


def take_fault(name: str) -> bool:
    plan = FAULTS.get(name)
    if not plan:
        return False
    if plan[0] > 0:
        plan[0] -= 1
        return False
    if plan[1] > 0:
        plan[1] -= 1
        return True
    return False


# --- memory, streams, events --------------------------------------------------------------------------

@dataclass
class Allocation:
    address: int
    nbytes: int
    data: bytes | None = None  # None until something writes it
    compute: object = None  # a callable giving the bytes an enqueued engine run wrote (computed when read)
    freed: bool = False

    def read(self, who: str) -> bytes:
        if self.compute is not None:
            self.data, self.compute = self.compute(), None
        if self.data is None:
            raise ContractViolation(f"{who} reads device memory at {self.address:#x} that nothing ever wrote "
                                    f"(uninitialised GPU memory)")
        return self.data


@dataclass
class Operation:
    kind: str
    run: object  # callable, no arguments
    reads: frozenset = frozenset()  # device addresses
    writes: frozenset = frozenset()
    duration_ms: float = 0.0


@dataclass
class Stream:
    handle: int
    queue: list = field(default_factory=list)


@dataclass
class Graph:
    operations: list = field(default_factory=list)
    invalid_reason: str | None = None


class Device:
    """One simulated GPU: its memory, streams, clock, and what the doubles logged."""

    def __init__(self):
        self.allocations: dict[int, Allocation] = {}
        self.addresses = itertools.count(0x7F0000000000, 0x100000)
        self.handles = itertools.count(0x5500)
        self.streams: dict[int, Stream] = {}
        self.capturing: dict[int, Graph] = {}  # stream handle -> the graph being captured on it
        self.clock_ms = 0.0
        self.bindings: dict[int, list] = {}  # address -> [(execution context, tensor name)]
        self.log: list[tuple[str, str]] = []  # (severity, message), as TensorRT's logger would print
        self.initialized = False  # pycuda.driver.init() called
        self.gpu_count = 1  # what pycuda.driver.Device.count() reports once initialized
        self.primary_context = False  # pycuda.autoprimaryctx imported
        self.first_logger = None

    # memory
    def allocate(self, nbytes: int) -> Allocation:
        self.require_context("mem_alloc")
        if nbytes <= 0:
            raise ContractViolation(f"mem_alloc({nbytes}): allocations must be at least one byte")
        allocation = Allocation(next(self.addresses), int(nbytes))
        self.allocations[allocation.address] = allocation
        return allocation

    def allocation(self, address: int, who: str) -> Allocation:
        allocation = self.allocations.get(int(address))
        if allocation is None or allocation.freed:
            raise ContractViolation(f"{who}: {int(address):#x} is not a live device allocation")
        return allocation

    def require_context(self, who: str) -> None:
        if not self.primary_context:
            raise ContractViolation(f"{who} without a CUDA context: import pycuda.autoprimaryctx first")

    # streams
    def new_stream(self) -> Stream:
        stream = Stream(next(self.handles))
        self.streams[stream.handle] = stream
        return stream

    def stream(self, handle: int, who: str) -> Stream:
        if int(handle) == 0:
            warnings.warn(DoubleWarning(f"{who} on the default (legacy) stream: TensorRT synchronizes extra there; "
                                        f"use a stream of your own"), stacklevel=3)
            return self.streams.setdefault(0, Stream(0))
        stream = self.streams.get(int(handle))
        if stream is None:
            raise ContractViolation(f"{who}: {int(handle):#x} is not a stream handle of this device")
        return stream

    def enqueue(self, stream: Stream, operation: Operation) -> None:
        graph = self.capturing.get(stream.handle)
        if graph is not None:
            graph.operations.append(operation)
            return
        touched = operation.reads | operation.writes
        for other in self.streams.values():
            if other is stream:
                continue
            for pending in other.queue:
                if pending.writes & touched or pending.reads & operation.writes:
                    raise ContractViolation(
                        f"stream order: {operation.kind} on stream {stream.handle:#x} touches device memory that "
                        f"{pending.kind} still pending on stream {other.handle:#x} uses; synchronize that stream "
                        f"first (or enqueue both on one stream)")
        stream.queue.append(operation)

    def synchronize(self, stream: Stream) -> None:
        if stream.handle in self.capturing:
            self.capturing[stream.handle].invalid_reason = "a stream synchronize during capture"
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        while stream.queue:
            operation = stream.queue.pop(0)
            self.clock_ms += operation.duration_ms
            operation.run()

    def synchronize_all(self) -> None:
        for stream in list(self.streams.values()):
            self.synchronize(stream)

    def record_log(self, severity: str, message: str) -> None:
        self.log.append((severity, message))

    def errors(self) -> list[str]:
        return [message for severity, message in self.log if severity in ("ERROR", "INTERNAL_ERROR")]


DEVICE = Device()


def reset() -> None:
    """A fresh device and no pending failures (tests call this between tests)."""
    global DEVICE
    DEVICE = Device()
    FAULTS.clear()
    GRAPHS.current = None


def device() -> Device:
    return DEVICE


# --- events (shared by the pycuda and torch.cuda stand-ins) -----------------------------------------

class TimingEvent:
    """A CUDA event: ``record`` enqueues it; it completes when its stream runs up to it."""

    def __init__(self):
        self.time_ms: float | None = None
        self.recorded = False

    def record_on(self, stream: Stream) -> None:
        self.recorded, self.time_ms = True, None

        def complete():
            self.time_ms = DEVICE.clock_ms

        DEVICE.enqueue(stream, Operation("event record", complete))

    def elapsed_from(self, start: "TimingEvent") -> float:
        if not (start.recorded and self.recorded):
            raise ContractViolation("elapsed time between events that were never recorded")
        if start.time_ms is None or self.time_ms is None:
            raise RuntimeError("cuEventElapsedTime failed: device not ready (synchronize the stream before reading "
                               "event times)")
        return self.time_ms - start.time_ms


# --- torch.cuda's CUDA-graph API, for tools/benchmark.py's time_engine_cuda_graph -----------------

class TorchCudaGraphs:
    """Stand-in for the few ``torch.cuda`` names ``time_engine_cuda_graph`` uses (no GPU here).

    Every name exists in the real ``torch.cuda`` (a test checks). Capture records what is enqueued on the
    capturing stream; ending a capture that was invalidated raises RuntimeError, as PyTorch does.
    """

    def __init__(self):
        self.current = None  # the stream of the innermost ``stream(...)`` block

    @staticmethod
    def is_available():
        return True  # the stand-in's own simulated GPU

    class Stream:
        def __init__(self):
            self._stream = DEVICE.new_stream()

        @property
        def cuda_stream(self):
            return self._stream.handle

        def synchronize(self):
            DEVICE.synchronize(self._stream)

    class Event:
        def __init__(self, enable_timing: bool = False):
            if not enable_timing:
                raise ContractViolation("torch.cuda.Event(enable_timing=False) cannot time anything")
            self._event = TimingEvent()

        def record(self, stream=None):
            if stream is None:
                raise ContractViolation("this stand-in needs the stream to record on")
            self._event.record_on(stream._stream)

        def elapsed_time(self, end):
            return end._event.elapsed_from(self._event)

    class CUDAGraph:
        def __init__(self):
            self._graph = None

        def replay(self):
            if self._graph is None:
                raise RuntimeError("CUDAGraph.replay: the graph was never captured")
            stream = GRAPHS.current
            if stream is None:
                raise ContractViolation("replay outside a `with torch.cuda.stream(...)` block would run on the "
                                        "default stream, not the one the events are recorded on")
            for operation in self._graph.operations:
                DEVICE.enqueue(stream._stream, operation)

    def graph(self, cuda_graph, stream=None, capture_error_mode="global"):
        return _Capture(cuda_graph, stream, capture_error_mode)

    def stream(self, stream):
        return _CurrentStream(self, stream)


class _Capture:
    def __init__(self, cuda_graph, stream, capture_error_mode):
        if stream is None:
            raise ContractViolation("capture on an explicit stream (the one the engine runs on)")
        self.cuda_graph, self.stream = cuda_graph, stream

    def __enter__(self):
        DEVICE.capturing[self.stream.cuda_stream] = Graph()
        return self.cuda_graph

    def __exit__(self, exc_type, exc, traceback):
        graph = DEVICE.capturing.pop(self.stream.cuda_stream)
        if exc_type is None and graph.invalid_reason:
            raise RuntimeError(f"CUDA error: operation failed due to a previous error during capture "
                               f"({graph.invalid_reason})")
        self.cuda_graph._graph = graph
        return False


class _CurrentStream:
    def __init__(self, owner, stream):
        self.owner, self.stream, self.saved = owner, stream, None

    def __enter__(self):
        self.saved, self.owner.current = self.owner.current, self.stream

    def __exit__(self, *exc):
        self.owner.current = self.saved
        return False


GRAPHS = TorchCudaGraphs()
