"""Run notebook 04 alone on a machine with TensorRT, and write one results JSON with its provenance.

    python tools/run_tensorrt_notebook.py                 # the device's profile: full with a GPU
    python tools/run_tensorrt_notebook.py --out results/<gpu>-tensorrt/notebook04_run.json
    make tensorrt-notebook                                # the same, through the Makefile

Notebook 04 reads notebooks 01-03's files of the same profile. Those that are missing are made first by running
notebooks 01-03 (on a GPU the full profile trains the model for about 6 minutes; `--no-prerequisites` stops
instead). Without a usable TensorRT the tool stops before running anything (`--allow-without-tensorrt` runs the
notebook anyway; its engine steps then say why they skipped).

Writes the executed notebook, outputs included, to ``artifacts/<profile>/executed/04_tensorrt_engines.ipynb`` and the
run record (default ``artifacts/<profile>/tensorrt_notebook_run.json``): the git commit, the NVIDIA driver, the
command, start time and duration, then everything notebook 04's ``benchmark.json`` holds: its provenance (machine,
GPU, CUDA, TensorRT, pycuda and library versions), every measurement (each TensorRT row with its optimization
profile and warm-up), the launch overhead, the settings (engine builds, accuracies) and the skipped steps. Copy it under ``results/`` to
quote it; a record of a run with the TensorRT test double is never written there.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

from benchmark import made_with_test_double, nvidia_driver_version, write_results  # noqa: E402
from helpers import config, tensorrt_engine  # noqa: E402
from records import git_commit  # noqa: E402

SCHEMA = "trt-quant-tutorial/tensorrt-notebook-run/1"
NOTEBOOK = "04_tensorrt_engines"
PREREQUISITES = ("fp32_checkpoint", "fp32_onnx", "int8_model", "int8_onnx_fixed", "quantization_report")


def missing_prerequisites(profile: config.Profile) -> list[str]:
    """The files of notebooks 01-03 that notebook 04 reads and that do not exist yet, as 'file (notebook)'."""
    return [f"{config.artifact_path(key, profile).name} ({config.ARTIFACTS[key][1]})" for key in PREREQUISITES
            if not config.artifact_path(key, profile).exists()]


def run_record(benchmark_json: Path, started_at: str, notebook_seconds: float, executed_notebook: Path,
               command: str) -> dict:
    """The run record: how and where notebook 04 ran, and everything its benchmark.json holds."""
    results = config.read_json(benchmark_json)
    return {
        "schema": SCHEMA,
        "what": "notebook 04 (TensorRT engines: accuracy, per-layer precision, latency) run by tools/run_tensorrt_notebook.py",
        "git_commit": git_commit(),
        "nvidia_driver": nvidia_driver_version(),
        "command": command,
        "started_at": started_at,
        "notebook_seconds": round(notebook_seconds, 1),
        "executed_notebook": config.shown_path(executed_notebook),
        "tensorrt": results["provenance"]["versions"]["tensorrt"],
        "tensorrt_rows": sum(row["runtime"] == "TensorRT" for row in results["measurements"]),
        "from_test_double": made_with_test_double(results),
        **{key: results[key] for key in ("made_by", "provenance", "settings", "measurements", "launch_overhead", "skipped")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="run record to write (default artifacts/<profile>/tensorrt_notebook_run.json)")
    parser.add_argument("--no-prerequisites", action="store_true", help="stop if notebooks 01-03's files are missing")
    parser.add_argument("--allow-without-tensorrt", action="store_true",
                        help="run the notebook even where TensorRT is not usable (its engine steps skip)")
    args = parser.parse_args(argv)

    from run_notebooks import notebooks_to_run, run_notebook

    profile = config.get_profile()
    executed_folder = config.artifacts_dir(profile) / "executed"
    reason = tensorrt_engine.tensorrt_unavailable_reason()
    if reason and not args.allow_without_tensorrt:
        print(f"TensorRT is not usable here: {reason}\nNothing was run (--allow-without-tensorrt runs the notebook anyway).")
        return 2
    missing = missing_prerequisites(profile)
    if missing:
        if args.no_prerequisites:
            print(f"Notebook 04 needs these files of the '{profile.name}' profile first: {', '.join(missing)}")
            return 3
        print(f"missing for notebook 04: {', '.join(missing)}; running notebooks 01-03 ({profile.name} profile) first")
        for path in notebooks_to_run(["01", "02", "03"]):
            print(f"running {path.name} ...", flush=True)
            print(f"  done in {run_notebook(path, executed_folder)['runner_seconds']:.0f} s", flush=True)
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    print(f"running {NOTEBOOK}.ipynb ({profile.name} profile) ...", flush=True)
    run_notebook(REPO_ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", executed_folder)
    seconds = time.perf_counter() - started
    command = " ".join(["python", config.shown_path(sys.argv[0]), *map(shlex.quote, sys.argv[1:])])
    record = run_record(config.artifact_path("benchmark_results", profile), started_at, seconds,
                        executed_folder / f"{NOTEBOOK}.ipynb", command)
    out = args.out or config.artifacts_dir(profile) / "tensorrt_notebook_run.json"
    write_results(out, record)
    print(f"wrote {config.shown_path(out)}: {len(record['measurements'])} measurements ({record['tensorrt_rows']} TensorRT rows), "
          f"TensorRT {record['tensorrt']}, {len(record['skipped'])} skipped steps, notebook {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
