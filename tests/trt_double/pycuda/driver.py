"""Test double of ``pycuda.driver`` (tests only; see tests/trt_double/README.md).

Only the names the project uses, with their documented behaviour: driver initialization and the device count,
page-locked host arrays, device allocations, streams, asynchronous copies that run when the stream is synchronized,
events. Every
public name here exists in pycuda 2026.1's sources (tests/test_tensorrt_api.py checks).
"""

from __future__ import annotations

import numpy as np

import trt_double_device as _dev


class Error(Exception):
    pass


class LogicError(Error):
    pass


def init(flags=0):
    """cuInit: the driver API needs it before anything else (``pycuda.autoprimaryctx`` calls it too)."""
    if _dev.take_fault("init"):
        raise Error("cuInit failed: no CUDA-capable device is detected")
    _dev.DEVICE.initialized = True


class Device:
    @staticmethod
    def count():
        if not _dev.DEVICE.initialized:
            raise LogicError("cuDeviceGetCount failed: initialization error (call pycuda.driver.init() first)")
        return _dev.DEVICE.gpu_count


class _PagelockedArray(np.ndarray):
    """A numpy array in page-locked host memory (async copies need it)."""


def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
    _dev.DEVICE.require_context("pagelocked_empty")
    array = np.empty(shape, dtype=dtype, order=order).view(_PagelockedArray)
    if array.dtype.kind == "f":
        array.fill(np.nan)  # a stale read shows up as NaN
    else:
        array.view(np.uint8).fill(0xAB)
    return array


class DeviceAllocation:
    def __init__(self, allocation):
        self._allocation = allocation

    def __int__(self):
        return self._allocation.address

    def __index__(self):
        return self._allocation.address

    def free(self):
        self._allocation.freed = True


def mem_alloc(bytesize):
    return DeviceAllocation(_dev.DEVICE.allocate(bytesize))


class Stream:
    def __init__(self, flags=0):
        _dev.DEVICE.require_context("Stream")
        self._stream = _dev.DEVICE.new_stream()

    @property
    def handle(self):
        return self._stream.handle

    def synchronize(self):
        _dev.DEVICE.synchronize(self._stream)

    def is_done(self):
        return not self._stream.queue


class Event:
    def __init__(self, flags=0):
        _dev.DEVICE.require_context("Event")
        self._event = _dev.TimingEvent()

    def record(self, stream=None):
        if stream is None:
            raise _dev.ContractViolation("record events on the engine's stream, not the default stream")
        self._event.record_on(stream._stream)
        return self

    def synchronize(self):
        _dev.DEVICE.synchronize_all()
        return self

    def query(self):
        return self._event.time_ms is not None

    def time_since(self, event):
        """Milliseconds from ``event`` to this one (cuEventElapsedTime(event, self))."""
        try:
            return self._event.elapsed_from(event._event)
        except RuntimeError as error:
            raise LogicError(str(error)) from None

    def time_till(self, event):
        return -self.time_since(event)


def _check_host(array, who):
    if not isinstance(array, np.ndarray):
        raise _dev.ContractViolation(f"{who}: the host side must be a numpy array, got {type(array).__name__}")
    if not array.flags["C_CONTIGUOUS"]:
        raise _dev.ContractViolation(f"{who}: the host array is not contiguous; the copy would take the wrong bytes")
    if not isinstance(array, _PagelockedArray):
        import warnings

        warnings.warn(_dev.DoubleWarning(f"{who} from pageable host memory is not asynchronous; use pagelocked_empty"),
                      stacklevel=3)


def _check_size(allocation, nbytes, who):
    if nbytes > allocation.nbytes:
        raise _dev.ContractViolation(f"{who}: {nbytes} bytes do not fit the {allocation.nbytes}-byte device allocation")
    for context, name in _dev.DEVICE.bindings.get(allocation.address, []):
        expected = context._tensor_nbytes(name)
        if expected is not None and nbytes != expected:
            raise _dev.ContractViolation(
                f"{who}: {nbytes} bytes for tensor '{name}', whose current shape {tuple(context.get_tensor_shape(name))} "
                f"holds {expected} bytes (shape x itemsize); copy exactly that")


def memcpy_htod_async(dest, src, stream=None):
    who = "memcpy_htod_async"
    if stream is None:
        raise _dev.ContractViolation(f"{who} without a stream runs on the default stream, unordered with the engine's")
    _check_host(src, who)
    allocation = _dev.DEVICE.allocation(int(dest), who)
    _check_size(allocation, src.nbytes, who)

    def run():  # the copy reads host memory when it runs, as on the GPU
        allocation.data, allocation.compute = src.tobytes(), None

    _dev.DEVICE.enqueue(stream._stream, _dev.Operation(who, run, writes=frozenset({allocation.address}),
                                                       duration_ms=0.002 + src.nbytes / 25e6))


def memcpy_dtoh_async(dest, src, stream=None):
    who = "memcpy_dtoh_async"
    if stream is None:
        raise _dev.ContractViolation(f"{who} without a stream runs on the default stream, unordered with the engine's")
    _check_host(dest, who)
    allocation = _dev.DEVICE.allocation(int(src), who)
    _check_size(allocation, dest.nbytes, who)

    def run():
        data = allocation.read(who)
        dest.view(np.uint8).reshape(-1)[:] = np.frombuffer(data, dtype=np.uint8)[:dest.nbytes]

    _dev.DEVICE.enqueue(stream._stream, _dev.Operation(who, run, reads=frozenset({allocation.address}),
                                                       duration_ms=0.002 + dest.nbytes / 25e6))
