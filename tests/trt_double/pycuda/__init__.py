"""Test double of pycuda (tests only; see tests/trt_double/README.md). Not pycuda."""

import trt_double_device  # noqa: F401  (refuses to load outside the tests)

VERSION_TEXT = "2026.1+testdouble"
