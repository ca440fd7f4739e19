"""What this machine has for the tutorial, and what each missing piece costs.

Introduced in notebook 00, the check a workshop participant runs first.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import ARCHIVE_ENV, data_dir


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    cost_if_missing: str  # what the learner loses without it ("" when nothing)

    @property
    def status(self) -> str:
        return "ok" if self.ok else "MISSING"


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


def cpu_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores"


# CPU flags (as /proc/cpuinfo names them) that decide which integer kernels ONNX Runtime's optimized
# INT8 path uses, and so what it computes (notebook 03): AVX2 u8 x s8 products can saturate, the
# dot-product instructions of the others do not.
INT8_INSTRUCTION_SETS = {
    "avx2": "AVX2",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "amx_int8": "AMX-INT8",
    "asimddp": "ARM dot product",
}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo ('flags' on x86, 'Features' on ARM); empty elsewhere.

    ``cpuinfo``: the text of such a file to read instead of this machine's (another machine's, in the tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def int8_instruction_sets(flags: set[str] | None = None) -> dict[str, bool]:
    """Which of the INT8-relevant instruction sets this CPU has, by readable name."""
    flags = cpu_flags() if flags is None else flags
    return {name: flag in flags for flag, name in INT8_INSTRUCTION_SETS.items()}


def check_core_packages() -> list[Check]:
    rows = []
    for distribution, needed_by in [
        ("torch", "every notebook"), ("torchvision", "01 (data, model)"), ("onnx", "01-05"),
        ("onnxruntime", "01-05 (CPU reference executor)"), ("onnx-graphsurgeon", "03, 05"),
        ("matplotlib", "every plot"), ("numpy", "everything"), ("netron", "03, 05 (graph renders)"),
        ("playwright", "03, 05 (drives Chromium for renders)"),
    ]:
        version = package_version(distribution)
        rows.append(Check(distribution, version is not None, version or "not installed",
                          "" if version else f"needed by notebook {needed_by}: run `make setup`"))
    return rows


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


def check_tensorrt() -> Check:
    problem = import_problem("tensorrt")
    if problem is None:
        import tensorrt

        return Check("TensorRT", True, f"tensorrt {tensorrt.__version__}", "")
    return Check("TensorRT", False, problem,
                 "notebook 04 skips engine builds, engine accuracy and TensorRT timings "
                 "(install with `pip install tensorrt` on a machine with an NVIDIA GPU)")


def check_pycuda() -> Check:
    problem = import_problem("pycuda.driver")
    if problem is None:
        return Check("pycuda", True, f"pycuda {package_version('pycuda')}", "")
    return Check("pycuda", False, problem,
                 "notebook 04 cannot run TensorRT engines (install `pycuda`, or conda-forge's binary)")


def check_browser() -> Check:
    """The same test notebooks 03 and 05 make before rendering (helpers.netron_render)."""
    from .netron_render import browser_unavailable_reason, chromium_executable

    reason = browser_unavailable_reason()
    if reason is None:
        return Check("headless browser", True, f"{chromium_executable()} via playwright, for Netron", "")
    return Check("headless browser", False, reason,
                 "notebooks 03 and 05 show the committed Netron renders instead of renders of your own models")


def check_dataset() -> Check:
    archive = os.environ.get(ARCHIVE_ENV, "").strip()
    if archive:
        ok = Path(archive).expanduser().is_file()
        return Check("CIFAR-10", ok, f"{ARCHIVE_ENV}={archive}" + ("" if ok else " (file not found)"),
                     "" if ok else f"fix {ARCHIVE_ENV} or unset it to download with torchvision")
    downloaded = (data_dir() / "torchvision" / "cifar-10-batches-py").is_dir()
    return Check("CIFAR-10", True,
                 "already downloaded by torchvision" if downloaded else
                 f"will be downloaded by torchvision into {data_dir()} (about 170 MB)", "")


def run_all_checks() -> list[Check]:
    return [
        *check_core_packages(), check_quantized_engine(), check_gpu(),
        check_tensorrt(), check_pycuda(), check_browser(), check_dataset(),
    ]


def format_checks(checks: list[Check]) -> str:
    """A plain-text table: name, status, detail; then what each missing piece costs."""
    width = max(len(check.name) for check in checks)
    lines = [f"{check.name:<{width}}  {check.status:<7}  {check.detail}" for check in checks]
    missing = [check for check in checks if not check.ok]
    if missing:
        lines += ["", "What the missing pieces cost you:"]
        lines += [f"  - {check.name}: {check.cost_if_missing}" for check in missing]
    else:
        lines += ["", "Everything is here: every notebook runs in full."]
    return "\n".join(lines)
