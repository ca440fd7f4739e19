"""Retains the device's primary context, the one PyTorch uses (what the real module does)."""

import trt_double_device as _dev

_dev.DEVICE.initialized = True  # the real module calls cuda.init() first
_dev.DEVICE.primary_context = True
