"""NVIDIA ModelOpt, in its own virtual environment: make it, and run its two INT8 routes on this series' model.

    python tools/run_modelopt.py setup            # `make modelopt-setup`: .venv-modelopt (or $MODELOPT_VENV), about 6.5 GB
    python tools/run_modelopt.py onnx-ptq         # notebook 05: ModelOpt's ONNX PTQ of notebook 01's FP32 ONNX model
    python tools/run_modelopt.py torch-quantize   # notebook 06: ModelOpt's PyTorch quantization (mtq) of the FP32 checkpoint

ModelOpt pins its own onnx and onnxruntime, so it cannot share the project's environment: each route runs as a
subprocess in ModelOpt's environment, on the CPU, calibrated on notebook 02's calibration images (the same fixed,
class-balanced subset of the training split, preprocessed as the FP32 model's metadata says). The profile is
$TUTORIAL_PROFILE's (or the device's). Each route writes into artifacts/<profile>/modelopt/: the INT8 ONNX graph (with
the FP32 model's metadata, marked as ModelOpt's), ModelOpt's log, and a JSON record (command, seconds, versions). The
notebooks measure the graphs themselves, the same way as their own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402

from helpers.config import TutorialError, artifacts_dir, get_profile, require_artifact, shown_path, write_json  # noqa: E402
from helpers.data import load_cifar10, sha256_of, take_subset  # noqa: E402
from helpers.envcheck import MODELOPT_INSTALLED_MARKER, modelopt_unavailable_reason, modelopt_venv  # noqa: E402
from helpers.onnx_export import load_onnx, preprocess_from_metadata, read_metadata, set_metadata  # noqa: E402

# lief: ModelOpt's ONNX PTQ needs it. requests, huggingface_hub: nvidia-modelopt 0.47.0's `modelopt.torch` imports them
# but declares them only in its [hf] extra (measured 2026-11-27).
REQUIREMENTS = ("nvidia-modelopt[onnx]==0.47.0", "lief", "requests>=2.32", "huggingface_hub>=0.24")
TORCH_SCRIPT = Path(__file__).with_name("modelopt_torch_quantize.py")
FILES = {"onnx-ptq": "resnet18_int8_modelopt.onnx", "torch-quantize": "resnet18_int8_modelopt_torch.onnx"}
PRECISIONS = {"onnx-ptq": "int8-qdq-modelopt", "torch-quantize": "int8-qdq-modelopt-torch"}
VERSIONS_SCRIPT = ("import importlib.metadata as m, json, platform\n"
                   "def version(name):\n    try:\n        return m.version(name)\n"
                   "    except m.PackageNotFoundError:\n        return None\n"
                   "names = ['nvidia-modelopt', 'onnx', 'onnxruntime', 'torch', 'numpy']\n"
                   "print(json.dumps({'python': platform.python_version(), **{n: version(n) for n in names}}))")


def python_in(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def setup(venv: Path) -> None:
    """Make ModelOpt's virtual environment with pip (nothing to do when it holds today's requirements)."""
    wanted = " ".join(REQUIREMENTS) + "\n"
    marker = venv / MODELOPT_INSTALLED_MARKER
    if python_in(venv).exists() and marker.exists() and marker.read_text() == wanted:
        print(f"ModelOpt's environment is installed: {shown_path(venv)}")
        return
    started = time.perf_counter()
    print(f"creating {shown_path(venv)} with {' '.join(REQUIREMENTS)} (about 6.5 GB) ...", flush=True)
    for command in ([sys.executable, "-m", "venv", str(venv)],
                    [str(python_in(venv)), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                    [str(python_in(venv)), "-m", "pip", "install", "--quiet", *REQUIREMENTS]):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise TutorialError(f"`{' '.join(command)}` failed:\n{(result.stdout + result.stderr)[-3000:]}")
    marker.write_text(wanted)
    print(f"installed in {time.perf_counter() - started:.0f} s")


def versions(venv: Path) -> dict:
    """ModelOpt's version and those of the packages it runs on, read inside its environment."""
    result = subprocess.run([str(python_in(venv)), "-c", VERSIONS_SCRIPT], capture_output=True, text=True)
    if result.returncode != 0:
        raise TutorialError(f"Cannot read versions in ModelOpt's environment: {result.stderr[-1000:]}")
    return {name: version for name, version in json.loads(result.stdout).items() if version is not None}


def write_calibration(fp32_onnx: Path, profile, path: Path) -> dict:
    """Notebook 02's calibration images, preprocessed from the FP32 model's metadata, as one float32 NCHW .npy."""
    dataset = load_cifar10(profile)
    inputs = preprocess_from_metadata(take_subset(dataset.train, profile.calibration_images).images, read_metadata(fp32_onnx))
    np.save(path, inputs)
    return {"file": path.name, "images": int(len(inputs)), "sha256": sha256_of(path), "data_source": dataset.source,
            "selection": f"take_subset(train, {profile.calibration_images}), notebook 02's calibration images"}


def onnx_ptq_command(venv: Path, fp32_onnx: Path, calibration: Path, output: Path) -> list[str]:
    """ModelOpt's INT8 PTQ on the CPU. ``--high_precision_dtype fp32``: its default (fp16) gives graphs that ONNX Runtime
    on the CPU computes wrongly."""
    return [str(python_in(venv)), "-m", "modelopt.onnx.quantization", "--onnx_path", str(fp32_onnx),
            "--quantize_mode", "int8", "--calibration_data_path", str(calibration), "--calibration_method", "max",
            "--calibration_eps", "cpu", "--high_precision_dtype", "fp32", "--output_path", str(output)]


def torch_quantize_command(venv: Path, checkpoint: Path, calibration: Path, output: Path, record: Path) -> list[str]:
    """tools/modelopt_torch_quantize.py in ModelOpt's environment (it reads an fx trace of the FP32 model)."""
    return [str(python_in(venv)), str(TORCH_SCRIPT), str(checkpoint), str(calibration), str(output), str(record)]


def trace_fp32_model(checkpoint: Path, path: Path) -> Path:
    """The FP32 model as a pickled torch.fx trace: its modules are torch's own classes, so ModelOpt's environment
    (torch, no torchvision, no helpers) can load it."""
    import torch

    from helpers.model import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    torch.save(torch.fx.symbolic_trace(model.eval()), path)
    return path


def run_route(route: str, venv: Path, profile) -> dict:
    """Run one ModelOpt route on the profile's artifacts; write its graph and record; return the record."""
    fp32_onnx = require_artifact("fp32_onnx", profile)
    work = artifacts_dir(profile) / "modelopt"
    work.mkdir(exist_ok=True)
    output, record_path = work / FILES[route], work / FILES[route].replace(".onnx", ".json")
    output.unlink(missing_ok=True)
    calibration = write_calibration(fp32_onnx, profile, work / "calibration.npy")
    if route == "onnx-ptq":
        command = onnx_ptq_command(venv, fp32_onnx, work / "calibration.npy", output)
    else:
        trace = trace_fp32_model(require_artifact("fp32_checkpoint", profile), work / "fp32_fx_trace.pt")
        command = torch_quantize_command(venv, trace, work / "calibration.npy", output, work / "mtq_timings.json")
    print("running ModelOpt:", " ".join(shown_path(part) for part in command[1:]), flush=True)
    started = time.perf_counter()
    # ModelOpt's environment is self-contained: nothing on this environment's PYTHONPATH (a test double, say) may leak in
    result = subprocess.run(command, capture_output=True, text=True, cwd=work, env={**os.environ, "PYTHONPATH": ""})
    seconds = time.perf_counter() - started
    (work / FILES[route].replace(".onnx", ".log")).write_text(result.stdout + result.stderr)
    if result.returncode != 0 or not output.is_file():
        raise TutorialError(f"ModelOpt's {route} failed (exit {result.returncode}); last lines of its log:\n"
                            + "\n".join((result.stdout + result.stderr).strip().splitlines()[-12:]))
    model = load_onnx(output)
    set_metadata(model, {**read_metadata(fp32_onnx), "precision": PRECISIONS[route],
                         "produced_by": f"tools/run_modelopt.py {route} (NVIDIA ModelOpt)"})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(output))
    record = {"route": route, "made_by": f"python tools/run_modelopt.py {route}", "profile": profile.name,
              "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": "python " + " ".join(shown_path(part) for part in command[1:]), "seconds": round(seconds, 1),
              "calibration": calibration, "versions": versions(venv), "graph": output.name}
    if route == "torch-quantize":
        record["mtq"] = json.loads((work / "mtq_timings.json").read_text())
    write_json(record_path, record)
    print(f"wrote {shown_path(output)} and {shown_path(record_path)} ({seconds:.0f} s)")
    return record


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("setup", "onnx-ptq", "torch-quantize"))
    args = parser.parse_args(argv)
    venv = modelopt_venv()
    try:
        if args.command == "setup":
            setup(venv)
            return 0
        reason = modelopt_unavailable_reason()
        if reason:
            raise TutorialError(reason)
        run_route(args.command, venv, get_profile())
    except TutorialError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
