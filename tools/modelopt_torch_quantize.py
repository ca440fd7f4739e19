"""ModelOpt's PyTorch quantization (mtq) of the FP32 model, exported to ONNX. Runs INSIDE ModelOpt's environment.

    .venv-modelopt/bin/python tools/modelopt_torch_quantize.py FX_TRACE.pt CALIBRATION.npy OUT.onnx TIMINGS.json

Started by `python tools/run_modelopt.py torch-quantize` (notebook 06), which writes the FP32 model as a torch.fx trace and
the calibration images. The lines between the USER CODE markers (two blocks: quantize, export) are all a ModelOpt user
writes; notebook 06 shows them and counts them.
"""

import importlib.metadata
import json
import sys
import time
import warnings

import numpy as np
import torch

trace_path, calibration_path, onnx_path, timings_path = sys.argv[1:5]
model = torch.load(trace_path, weights_only=False).eval()  # a torch.fx trace written by tools/run_modelopt.py
calibration = torch.from_numpy(np.load(calibration_path))
started = time.perf_counter()
import modelopt.torch.quantization as mtq  # noqa: E402

import_seconds = time.perf_counter() - started
started = time.perf_counter()
# --- USER CODE: quantize with a forward loop over the calibration images ---
def forward_loop(model):
    with torch.no_grad():
        for start in range(0, len(calibration), 64):
            model(calibration[start:start + 64])


model = mtq.quantize(model, mtq.INT8_DEFAULT_CFG, forward_loop)
# --- END USER CODE ---
quantize_seconds = time.perf_counter() - started
started = time.perf_counter()
warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings, at length
# --- USER CODE: export to ONNX ---
torch.onnx.export(model, (calibration[:1],), onnx_path, dynamo=False, opset_version=17,
                  input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
# --- END USER CODE ---
export_seconds = time.perf_counter() - started
quantizers = [name for name, module in model.named_modules() if type(module).__name__ == "TensorQuantizer" and module.is_enabled]
with open(timings_path, "w") as handle:
    json.dump({"import_seconds": round(import_seconds, 1), "quantize_seconds": round(quantize_seconds, 1),
               "export_seconds": round(export_seconds, 1), "calibration_images": int(len(calibration)),
               "enabled_quantizers": len(quantizers), "nvidia-modelopt": importlib.metadata.version("nvidia-modelopt")},
              handle)
