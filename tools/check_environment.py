"""What this machine has for the series, what each missing piece costs, and the versions it runs against the pins.

    python tools/check_environment.py   # or `make check`; notebook 00 runs it and shows its output

Every line is checked when it runs: an import, a version, a device query. It exits with status 1, naming what to
install, when a piece notebooks 01-03 cannot do without is missing (a core package, the qnnpack engine), so that a
workshop can check each laptop from the shell before anyone opens a notebook. It runs in the project's environment
(torch and numpy installed: `make check` runs `make setup` first).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402

from helpers.config import shown_path  # noqa: E402
from helpers.data import ARCHIVE_ENV, data_dir  # noqa: E402
from helpers.display import Table  # noqa: E402
from helpers.envcheck import browser_unavailable_reason, chromium_executable, cpu_description, import_problem, package_version  # noqa: E402

# Without these notebooks 01-03 cannot run at all; everything else costs a part of the series (the check says which).
REQUIRED = ("torch", "torchvision", "onnx", "onnxruntime", "onnx-graphsurgeon", "matplotlib", "numpy", "qnnpack engine")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    cost_if_missing: str  # what the learner loses without it ("" when nothing)


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


def format_versions(rows: list[dict]) -> str:
    """The version rows as a plain-text table, then one line saying what differs."""
    table = repr(Table(rows))
    differing = [row for row in rows if row["as pinned"] != "yes"]
    if not differing:
        return f"{table}\n\nAll {len(rows)} pinned packages run as pinned."
    return "\n".join([table, "", f"{len(differing)} of {len(rows)} differ from the pins: "
                      + ", ".join(f"{row['package']} {row['running']}" for row in differing),
                      "Expect small differences from the README's numbers; where the behaviour itself depends on the "
                      "version (notebook 02: which activation types qnnpack runs), the notebook shows what your version "
                      "does."])


def main() -> int:
    checks = run_all_checks()
    print(f"CPU: {cpu_description()}\n\n{format_checks(checks)}\n")
    print(f"Pinned in pyproject.toml, running here:\n{format_versions(version_differences())}\n")
    missing = [check.name for check in checks if check.name in REQUIRED and not check.ok]
    if missing:
        print(f"Install these before going on (run `make setup`): {', '.join(missing)}")
        return 1
    print("All required pieces are present.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
