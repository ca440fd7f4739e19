"""Notebook 04's measurements from a command line, for GPU machines without Jupyter.

    python tools/benchmark.py --out artifacts/full/benchmark_gpu.json --plots artifacts/full/plots
    python tools/benchmark.py --out gpu.json --engine "TensorRT INT8=INT8=artifacts/full/resnet18_int8.plan"

Measures PyTorch on the GPU (FP32 with TF32 off and FP16, eager and CUDA graph), optionally PyTorch FP32 on the CPU
(``--cpu``) and TensorRT plans (``--engine``), with ``helpers.benchmark``. Writes one JSON: the measurements, the
skipped steps with their reasons, the settings, and the provenance: ``helpers.envcheck.machine_record()`` (time,
platform, CPU, GPU, library versions, TensorRT's included), the NVIDIA driver and the commit. A record that a test
double of TensorRT made (its version says ``+testdouble``) is never written under ``results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

import torch  # noqa: E402

from helpers import config, envcheck  # noqa: E402
from helpers.benchmark import (cpu_plan, measure_tensorrt, measure_torch_cpu, measure_torch_gpu, rows_for_plot,  # noqa: E402
                               warmup_iterations)
from helpers.config import TutorialError  # noqa: E402
from helpers.gpu_timing import TimingPlan  # noqa: E402
from records import git_commit  # noqa: E402

GPU_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TEST_DOUBLE_MARK = "testdouble"  # the local version label of tests/trt_double's tensorrt.__version__
DATA_COPY_NOTE = ("'excluded': input already on the GPU, output left there (trtexec's GPU Compute Time); 'included': "
                  "pinned host input copied in and logits copied out (trtexec's Latency); CPU rows have no copies")


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers, got {text!r}") from error
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


def nvidia_driver_version() -> str:
    """The NVIDIA driver version from nvidia-smi, or why it is unknown."""
    executable = shutil.which("nvidia-smi")
    if not executable:
        return "unknown (no nvidia-smi on PATH)"
    try:
        result = subprocess.run([executable, "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True)
        return result.stdout.strip().splitlines()[0]
    except (subprocess.SubprocessError, OSError, IndexError) as error:
        return f"unknown (nvidia-smi failed: {type(error).__name__})"


def provenance(profile_name: str | None = None) -> dict:
    """Where and with what the measurements were taken: the machine record, the NVIDIA driver and the commit."""
    return {**envcheck.machine_record(), "nvidia_driver": nvidia_driver_version(), "git_commit": git_commit(),
            "profile": profile_name}


def made_with_test_double(record: dict) -> bool:
    """Whether anything in a record (a version, a row, a build) comes from the TensorRT test double."""
    return TEST_DOUBLE_MARK in json.dumps(record)


def write_results(path: Path, record: dict) -> Path:
    """Write a results JSON in one step; never one a test double made under results/ (measured results only)."""
    if made_with_test_double(record) and Path(path).resolve().is_relative_to((REPO_ROOT / "results").resolve()):
        raise TutorialError(f"Refusing to write {config.shown_path(path)}: it holds rows of a test double of TensorRT, "
                            f"not of TensorRT; results/ holds measurements only.")
    return config.write_json(path, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results JSON to write")
    parser.add_argument("--batch-sizes", type=parse_batch_sizes, default=GPU_BATCH_SIZES)
    parser.add_argument("--iterations", type=int, default=200, help="minimum timed iterations per GPU row (CPU: exact)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="minimum measuring time per GPU row (trtexec: 3)")
    parser.add_argument("--warmup-seconds", type=float, default=0.2, help="warm-up per GPU row (trtexec: 0.2)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="FP32 checkpoint of notebook 01 (default: random weights; timing does not depend on them)")
    parser.add_argument("--cpu", action="store_true", help="also time PyTorch FP32 on the CPU (capped batch sizes)")
    parser.add_argument("--engine", action="append", default=[], metavar="LABEL=PRECISION=PLAN",
                        help="also time a TensorRT plan, e.g. 'TensorRT INT8=INT8=artifacts/full/resnet18_int8.plan'")
    parser.add_argument("--plots", type=Path, default=None, help="folder for latency/throughput plots (PNG)")
    args = parser.parse_args(argv)

    from helpers.model import build_resnet18_cifar, load_checkpoint

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        weights = args.checkpoint.name
    else:
        model, weights = build_resnet18_cifar().eval(), "random (latency does not depend on weight values)"
    timing = TimingPlan(warmup_seconds=args.warmup_seconds, min_seconds=args.min_seconds, min_iterations=args.iterations)
    measurements, skipped = [], []
    if torch.cuda.is_available():
        measurements += measure_torch_gpu(model, args.batch_sizes, timing)
    else:
        skipped.append({"step": "PyTorch GPU baselines", "reason": "no CUDA GPU visible to PyTorch"})
        print("SKIPPED: PyTorch GPU baselines - no CUDA GPU visible to PyTorch")
    if args.cpu:
        sizes, iterations = cpu_plan(args.batch_sizes, args.iterations)
        measurements += measure_torch_cpu("PyTorch FP32 (CPU)", "FP32", model, sizes, iterations)
    for spec in args.engine:
        label, precision, plan = spec.split("=", 2)
        measurements += measure_tensorrt(label, precision, Path(plan), args.batch_sizes, timing, skipped=skipped)
    record = {"made_by": "tools/benchmark.py", "provenance": provenance(os.environ.get(config.PROFILE_ENV)),
              "settings": {"batch_sizes": list(args.batch_sizes), "gpu_timing": timing.as_dict(),
                           "cpu_iterations": args.iterations, "cpu_warmup_iterations": warmup_iterations(args.iterations),
                           "weights": weights, "data_copy": DATA_COPY_NOTE, "command": " ".join(["python", config.shown_path(sys.argv[0]), *sys.argv[1:]])},
              "measurements": measurements, "skipped": skipped}
    print(f"wrote {config.shown_path(write_results(args.out, record))} ({len(measurements)} measurements)")
    if args.plots and measurements:
        from helpers.plotting import latency_vs_batch, save_figure, throughput_vs_batch

        title_note = (record["provenance"]["gpu"] or {}).get("name") or record["provenance"]["cpu"]
        for data_copy in ("excluded", "included"):
            rows = rows_for_plot(measurements, data_copy)
            for name, plot in (("latency", latency_vs_batch), ("throughput", throughput_vs_batch)):
                path = args.plots / f"{name}_copies_{data_copy}.png"
                save_figure(plot(rows, f"copies {data_copy} | {title_note}"), path)
                print("wrote", config.shown_path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
