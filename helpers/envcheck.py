"""What this machine has for the tutorial and what each missing piece costs (notebook 00), whether a browser (Netron
renders) and ModelOpt's environment are here (notebooks 03-06), and ``machine_record()`` for every results file."""

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
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import REPO_ROOT, shown_path
from .data import ARCHIVE_ENV, data_dir

CHROMIUM_ENV = "NETRON_CHROMIUM"
MODELOPT_VENV_ENV = "MODELOPT_VENV"
MODELOPT_INSTALLED_MARKER = ".modelopt-installed"  # written by `python tools/run_modelopt.py setup` once it worked
# CPU flags that decide ONNX Runtime's INT8 kernels (notebook 03): AVX2 u8 x s8 products can saturate, the others not.
INT8_INSTRUCTION_SETS = {"avx2": "AVX2", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8",
                         "asimddp": "ARM dot product"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    cost_if_missing: str  # what the learner loses without it ("" when nothing)


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


def check_core_packages() -> list[Check]:
    needed_by = {"torch": "every notebook", "torchvision": "01 (data, model)", "onnx": "01-05",
                 "onnxruntime": "01-05 (CPU reference executor)", "onnx-graphsurgeon": "03, 05",
                 "matplotlib": "every plot", "numpy": "everything", "netron": "03, 05 (graph renders)",
                 "playwright": "03, 05 (drives Chromium for renders)"}
    versions = {name: package_version(name) for name in needed_by}
    return [Check(name, version is not None, version or "not installed",
                  "" if version else f"needed by notebook {needed_by[name]}: run `make setup`")
            for name, version in versions.items()]


def check_quantized_engine() -> Check:
    engines = torch.backends.quantized.supported_engines
    xnnpack = bool(getattr(torch._C, "_is_xnnpack_enabled", lambda: False)())
    ok = "qnnpack" in engines
    return Check("qnnpack engine", ok, f"engines {engines}; XNNPACK {'on' if xnnpack else 'off'}",
                 "" if ok else "notebook 02 cannot quantize: install the pinned torch build")


def check_gpu() -> Check:
    if not torch.cuda.is_available():
        return Check("CUDA GPU", False, f"none visible to torch {torch.__version__}",
                     "training the full profile would take many hours; the series defaults to the laptop path "
                     "(notebook 01 shows training on a subset, then continues with the shipped model); "
                     "notebook 04 measures CPU only (no TensorRT, no GPU baselines)")
    properties = torch.cuda.get_device_properties(0)
    return Check("CUDA GPU", True,
                 f"{properties.name}, {properties.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}", "")


def _import_check(name: str, module: str, version, cost_if_missing: str) -> Check:
    problem = import_problem(module)
    return Check(name, True, version(), "") if problem is None else Check(name, False, problem, cost_if_missing)


def check_tensorrt() -> Check:
    return _import_check("TensorRT", "tensorrt", lambda: f"tensorrt {sys.modules['tensorrt'].__version__}",
                         "notebook 04 skips engine builds, engine accuracy and TensorRT timings "
                         "(install with `pip install tensorrt` on a machine with an NVIDIA GPU)")


def check_pycuda() -> Check:
    return _import_check("pycuda", "pycuda.driver", lambda: f"pycuda {package_version('pycuda')}",
                         "notebook 04 cannot run TensorRT engines (install `pycuda`, or conda-forge's binary)")


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


def check_browser() -> Check:
    """The same test notebooks 03 and 05 make before rendering."""
    reason = browser_unavailable_reason()
    if reason is None:
        return Check("headless browser", True, f"{Path(chromium_executable()).name} via playwright, for Netron", "")
    return Check("headless browser", False, reason,
                 "notebooks 03 and 05 show the committed Netron renders instead of renders of your own models")


def check_dataset() -> Check:
    archive = os.environ.get(ARCHIVE_ENV, "").strip()
    if archive:
        ok = Path(archive).expanduser().is_file()
        return Check("CIFAR-10", ok, f"{ARCHIVE_ENV} names {Path(archive).name}" + ("" if ok else " (file not found)"),
                     "" if ok else f"fix {ARCHIVE_ENV} or unset it to download with torchvision")
    downloaded = (data_dir() / "torchvision" / "cifar-10-batches-py").is_dir()
    return Check("CIFAR-10", True, "already downloaded by torchvision" if downloaded else
                 f"will be downloaded by torchvision into {shown_path(data_dir())} (about 170 MB)", "")


def run_all_checks() -> list[Check]:
    return [*check_core_packages(), check_quantized_engine(), check_gpu(), check_tensorrt(), check_pycuda(),
            check_browser(), check_dataset()]


def format_checks(checks: list[Check]) -> str:
    """A plain-text table: name, status, detail; then what each missing piece costs."""
    width = max(len(check.name) for check in checks)
    lines = [f"{check.name:<{width}}  {'ok' if check.ok else 'MISSING':<7}  {check.detail}" for check in checks]
    missing = [f"  - {check.name}: {check.cost_if_missing}" for check in checks if not check.ok]
    return "\n".join(lines + (["", "What the missing pieces cost you:", *missing] if missing
                              else ["", "Everything is here: every notebook runs in full."]))


def version_differences(pins: dict[str, str] | None = None) -> list[dict]:
    """One row per dependency pinned in pyproject.toml (or ``pins``): requirement, running version, whether it fits."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    if pins is None:
        pyproject = (REPO_ROOT / "pyproject.toml").read_text()
        block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
        pins = {req.name: str(req.specifier) for req in map(Requirement, re.findall(r'^\s*"([^"]+)"', block, re.M))}
    rows = []
    for name, requirement in pins.items():
        running = package_version(name)
        release = running.split("+")[0] if running else None  # torch's "+cu130" build tag is no version difference
        satisfied = release is not None and SpecifierSet(requirement).contains(release, prereleases=True)
        rows.append({"package": name, "pinned": requirement, "running": running or "not installed",
                     "as pinned": "yes" if satisfied else "NO"})
    return rows


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
