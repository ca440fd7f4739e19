"""Render notebook 03's Netron figures from one profile's models and store them for the repository.

    python tools/render_graphs.py                 # profile from $TUTORIAL_PROFILE (or the device)
    python tools/render_graphs.py --out DIR       # somewhere else than notebooks/figures/03_graph_surgery
    python tools/render_graphs.py --notebook 05   # notebook 05's residual block, into notebooks/figures/05_qdq_placement

Inputs: the raw INT8 export of notebook 02 and the fixed graph of notebook 03 (artifacts
``int8_onnx_raw`` and ``int8_onnx_fixed``). Writes, into the output folder:

* ``stem_conv_raw.svg`` / ``stem_conv_fixed.svg`` - the stem convolution, before and after surgery, and the same as
  ``.png`` with the changed nodes outlined (``stem_conv_changes.json`` lists them);
* ``whole_graph_fixed.svg`` - the whole fixed graph;
* ``render_info.json`` - which models these came from (file, sha256, metadata), the profile, the
  Netron and Chromium versions, and when.

With ``--notebook 05`` the inputs are notebook 03's graph and its fused-residual version (artifact
``int8_onnx_fused``, made here with ``helpers.surgery.fuse_residual_adds`` when it is missing), and
the figures ``residual_block_unoptimized.svg`` / ``residual_block_fused.svg`` (block layer2.0).

Notebooks 03 and 05 show these committed copies only on a machine without a browser; everywhere else it
renders the learner's own models. Needs Chromium (see helpers/netron_render.py).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import artifact_path, get_profile, require_artifact  # noqa: E402
from records import git_commit  # noqa: E402
from helpers.netron_render import (  # noqa: E402
    COMMITTED_FIGURES,
    COMMITTED_FIGURES_05,
    RENDER_INFO,
    browser_unavailable_reason,
    chromium_executable,
    render_before_after,
    render_residual_block,
)
from helpers.onnx_export import read_metadata  # noqa: E402
from helpers.config import write_json  # noqa: E402
from helpers.surgery import file_sha256, fuse_residual_adds  # noqa: E402

MODEL_FACTS = ("precision", "produced_by", "source_checkpoint", "source_checkpoint_sha256")


def chromium_version() -> str:
    result = subprocess.run([chromium_executable(), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip() or result.stderr.strip()


def describe_model(path: Path) -> dict:
    metadata = read_metadata(path)
    return {"file": path.name, "sha256": file_sha256(path), **{key: metadata.get(key, "") for key in MODEL_FACTS}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", choices=("03", "05"), default="03", help="whose figures to render (default: 03)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: {COMMITTED_FIGURES} or, for 05, {COMMITTED_FIGURES_05})")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = COMMITTED_FIGURES_05 if args.notebook == "05" else COMMITTED_FIGURES

    reason = browser_unavailable_reason()
    if reason:
        print(f"Cannot render: {reason}.", file=sys.stderr)
        return 2
    import netron

    profile = get_profile()
    if args.notebook == "05":
        fixed_path = require_artifact("int8_onnx_fixed", profile)
        fused_path = artifact_path("int8_onnx_fused", profile)
        if not fused_path.exists():
            fuse_residual_adds(fixed_path, fused_path)
        models = {"unoptimized": fixed_path, "fused": fused_path}
    else:
        models = {"raw": require_artifact("int8_onnx_raw", profile), "fixed": require_artifact("int8_onnx_fixed", profile)}
    print(f"rendering {' and '.join(map(str, models.values()))} (profile {profile.name}) into {args.out}", flush=True)
    with tempfile.TemporaryDirectory() as regions_folder:
        if args.notebook == "05":
            written = render_residual_block(models["unoptimized"], models["fused"], args.out, regions_dir=Path(regions_folder))
        else:
            written = render_before_after(models["raw"], models["fixed"], args.out, whole_graphs=True,
                                          regions_dir=Path(regions_folder))
    info = {
        "made_by": "python tools/render_graphs.py" + (" --notebook 05" if args.notebook == "05" else ""),
        "git_commit": git_commit(),
        "profile": profile.name,
        "rendered_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "netron": netron.__version__,
        "chromium": chromium_version(),
        "models": {name: describe_model(path) for name, path in models.items()},
        "figures": {path.name: key for key, path in written.items()},
    }
    write_json(args.out / RENDER_INFO, info)
    for path in [*written.values(), args.out / RENDER_INFO]:
        print(f"  wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
