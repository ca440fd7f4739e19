"""pycuda.autoinit creates a *new* context; next to PyTorch (which uses the primary context) that gives
invalid-resource errors. The project must import pycuda.autoprimaryctx instead."""

import trt_double_device as _dev

raise _dev.ContractViolation("import pycuda.autoprimaryctx, not pycuda.autoinit (a second CUDA context clashes "
                             "with PyTorch's primary context)")
