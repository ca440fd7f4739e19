"""Run the ModelOpt comparison of notebook 05 end to end and write its table (artifact ``modelopt_comparison``).

    python tools/modelopt_compare.py               # profile from $TUTORIAL_PROFILE (or the device)
    python tools/modelopt_compare.py --setup-only  # only create ModelOpt's virtual environment

Steps: create ModelOpt's own virtual environment if it is missing (.venv-modelopt, or $MODELOPT_VENV;
about 6.5 GB, a few minutes), write notebook 02's calibration images as calib.npy, run
``python -m modelopt.onnx.quantization`` on notebook 01's FP32 ONNX model in that environment, then
count Q/DQ nodes and their placement per op type and measure top-1 with ONNX Runtime (CPU) for the
project's unoptimized INT8 graph (notebook 03), its fused-residual graph (notebook 05's pass) and
ModelOpt's graph. Writes artifacts/<profile>/modelopt_comparison.json (ModelOpt's graph, its log and
calib.npy go to artifacts/<profile>/modelopt/). Needs notebooks 01-03 of the same profile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers import modelopt_compare, surgery  # noqa: E402
from helpers.config import TutorialError, artifact_path, artifacts_dir, get_profile, require_artifact  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup-only", action="store_true", help="only create ModelOpt's virtual environment")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        modelopt_compare.create_modelopt_venv()
        if args.setup_only:
            return 0
        profile = get_profile()
        fp32_onnx = require_artifact("fp32_onnx", profile)
        unoptimized = require_artifact("int8_onnx_fixed", profile)
        fused = artifact_path("int8_onnx_fused", profile)
        changes = surgery.fuse_residual_adds(unoptimized, fused)  # same call as notebooks 04 and 05
        print(f"{fused.name}: {len(changes)} Q/DQ pair(s) removed between a Conv and its residual Add")
        record = modelopt_compare.compare(fp32_onnx, unoptimized, fused, profile, artifacts_dir(profile) / "modelopt",
                                          artifact_path("modelopt_comparison", profile))
    except TutorialError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(modelopt_compare.format_table(modelopt_compare.comparison_rows(record)))
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
