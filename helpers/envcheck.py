"""What the machine has: package versions, import problems, the CPU and its INT8 instruction sets, whether a browser
(Netron renders, notebooks 03 and 05) and ModelOpt's environment (notebooks 05 and 06) are here, and ``machine_record()``
for every results file. tools/check_environment.py (notebook 00) builds its checks from these."""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from .config import REPO_ROOT

CHROMIUM_ENV = "NETRON_CHROMIUM"
MODELOPT_VENV_ENV = "MODELOPT_VENV"
MODELOPT_INSTALLED_MARKER = ".modelopt-installed"  # written by `python tools/run_modelopt.py setup` once it worked
# CPU flags that decide ONNX Runtime's INT8 kernels (notebook 03): AVX2 u8 x s8 products can saturate, the others not.
INT8_INSTRUCTION_SETS = {"avx2": "AVX2", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8",
                         "asimddp": "ARM dot product"}


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def import_problem(module: str) -> str | None:
    """None when ``module`` imports; else a one-line reason."""
    try:
        importlib.import_module(module)
        return None
    except Exception as error:  # ImportError, OSError for missing shared libraries, ...
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_description() -> str:
    models = re.findall(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.M)
    model = models[0].strip() if models else platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} logical cores"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo ('flags' on x86, 'Features' on ARM) or the text ``cpuinfo``."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def int8_instruction_sets(flags: set[str] | None = None) -> dict[str, bool]:
    """Which of the INT8-relevant instruction sets this CPU has, by readable name."""
    flags = cpu_flags() if flags is None else flags
    return {name: flag in flags for flag, name in INT8_INSTRUCTION_SETS.items()}


def chromium_executable() -> str | None:
    """The Chromium to use: $NETRON_CHROMIUM when set (only that one), else /usr/bin/chromium or one on the PATH."""
    named = os.environ.get(CHROMIUM_ENV, "").strip()
    candidates = [named] if named else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((path for path in candidates if path and os.path.isfile(path) and os.access(path, os.X_OK)), None)


def _has_bracket_font() -> bool | None:
    """Whether fontconfig knows a font with U+3008, which Netron draws around shapes (None: no fc-list to ask)."""
    if shutil.which("fc-list") is None:
        return None
    try:
        result = subprocess.run(["fc-list", ":charset=3008", "family"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(result.stdout.strip())


def browser_unavailable_reason() -> str | None:
    """Why Netron renders (tools/render_graphs.py) cannot be made on this machine, or None when they can."""
    for module in ("netron", "playwright.sync_api"):
        if import_problem(module):
            return f"the Python package '{module.split('.')[0]}' is missing (pip install netron playwright)"
    if chromium_executable() is None:
        named = os.environ.get(CHROMIUM_ENV, "").strip()
        where = f"{CHROMIUM_ENV}={named} is not an executable file" if named else "no Chromium browser found"
        return (f"{where} (install it with `sudo apt-get install -y chromium fonts-wqy-microhei`, "
                f"or set {CHROMIUM_ENV} to a Chromium binary)")
    if _has_bracket_font() is False:
        return ("no font with the bracket characters Netron draws around shapes "
                "(sudo apt-get install -y fonts-wqy-microhei)")
    return None


def modelopt_venv() -> Path:
    """Where NVIDIA ModelOpt's own virtual environment lives: $MODELOPT_VENV, else .venv-modelopt in the repository."""
    return Path(os.environ.get(MODELOPT_VENV_ENV) or REPO_ROOT / ".venv-modelopt")


def modelopt_unavailable_reason() -> str | None:
    """Why ModelOpt (notebooks 05 and 06) cannot run here, or None when its environment is installed."""
    venv = modelopt_venv()
    if not (venv / "bin" / "python").exists() or not (venv / MODELOPT_INSTALLED_MARKER).exists():
        return (f"ModelOpt's virtual environment ({venv.name}) is not installed; `make modelopt-setup` makes it "
                "(about 6.5 GB, 2 minutes)")
    return None


def machine_record() -> dict:
    """Where and with what a result was produced: time, CPU, GPU, library versions (every results file holds one)."""
    gpu = None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        gpu = {"name": properties.name, "memory_gib": round(properties.total_memory / 2**30, 1),
               "compute_capability": f"{properties.major}.{properties.minor}", "cuda_runtime_torch": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version()}
    packages = ("torch", "torchvision", "onnx", "onnxruntime", "numpy", "pycuda")
    versions = {name: package_version(name) for name in packages}
    versions["tensorrt"] = sys.modules["tensorrt"].__version__ if import_problem("tensorrt") is None else None
    return {"recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_description(),
            "cpu_int8_instruction_sets": int8_instruction_sets(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "versions": versions}
