"""Put the TensorRT/pycuda test double (tests/trt_double) in place for one test, and take it away after.

Only tests use this. The double is imported under the real module names (``tensorrt``, ``pycuda``) so that
``helpers.tensorrt_engine`` runs unchanged: pycuda's double reports one CUDA GPU. PyTorch sees none here, so the
stand-in for torch.cuda's graph capture (``torch_cuda``) is patched into ``tools/benchmark.py`` for the duration of
the test only, to run the CUDA-graph path too; nothing else is patched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

DOUBLE_ROOT = Path(__file__).resolve().parent / "trt_double"
DOUBLE_MODULES = ("tensorrt", "pycuda", "trt_double_device")


def _forget_double_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in DOUBLE_MODULES:
            del sys.modules[name]


def load_double(release: str, monkeypatch) -> SimpleNamespace:
    """Import the double of TensorRT ``release`` ("10" or "11") and pycuda; patch the CUDA-graph stand-in in."""
    import benchmark as benchmark_tool  # tools/benchmark.py

    from helpers import tensorrt_engine

    monkeypatch.setenv("TRT_CONTRACT_DOUBLE", "1")
    monkeypatch.setenv("TRT_DOUBLE_RELEASE", release)
    monkeypatch.syspath_prepend(str(DOUBLE_ROOT))
    _forget_double_modules()
    import tensorrt
    import trt_double_device

    import pycuda.driver

    monkeypatch.setattr(benchmark_tool, "torch_cuda", lambda: trt_double_device.GRAPHS)
    tensorrt_engine.get_logger.cache_clear()  # a fresh tensorrt module gets its own logger
    trt_double_device.reset()
    return SimpleNamespace(trt=tensorrt, device=trt_double_device, cuda=pycuda.driver, release=release)


@pytest.fixture(params=["10", "11"], ids=["trt10.16", "trt11.4"])
def trt_double(request, monkeypatch):
    """The double of TensorRT 10.16 and, in a second run of the test, 11.4."""
    double = load_double(request.param, monkeypatch)
    yield double
    _forget_double_modules()


@pytest.fixture
def trt_double_11(monkeypatch):
    """The double of TensorRT 11.4 only (for tests whose point does not depend on the release)."""
    double = load_double("11", monkeypatch)
    yield double
    _forget_double_modules()
