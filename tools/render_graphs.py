"""Render notebook 03's Netron figures from one profile's models and store them for the repository.

    python tools/render_graphs.py                 # profile from $TUTORIAL_PROFILE (or the device)
    python tools/render_graphs.py --out DIR       # somewhere else than notebooks/figures/03_graph_surgery

Inputs: the raw INT8 export of notebook 02 and the fixed graph of notebook 03 (artifacts
``int8_onnx_raw`` and ``int8_onnx_fixed``). Writes, into the output folder:

* ``stem_block_raw.svg`` / ``stem_block_fixed.svg`` - the stem and first residual block, before and after surgery;
* ``whole_graph_fixed.svg`` - the whole fixed graph;
* ``render_info.json`` - which models these came from (file, sha256, metadata), the profile, the
  Netron and Chromium versions, and when.

Notebook 03 shows these committed copies only on a machine without a browser; everywhere else it
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

from helpers.config import get_profile, require_artifact  # noqa: E402
from helpers.netron_render import (  # noqa: E402
    COMMITTED_FIGURES,
    RENDER_INFO,
    browser_unavailable_reason,
    chromium_executable,
    render_before_after,
)
from helpers.onnx_export import read_metadata  # noqa: E402
from helpers.surgery import file_sha256, write_json  # noqa: E402

MODEL_FACTS = ("precision", "produced_by", "source_checkpoint", "source_checkpoint_sha256")


def chromium_version() -> str:
    result = subprocess.run([chromium_executable(), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip() or result.stderr.strip()


def describe_model(path: Path) -> dict:
    metadata = read_metadata(path)
    return {"file": path.name, "sha256": file_sha256(path), **{key: metadata.get(key, "") for key in MODEL_FACTS}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=COMMITTED_FIGURES, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)

    reason = browser_unavailable_reason()
    if reason:
        print(f"Cannot render: {reason}.", file=sys.stderr)
        return 2
    import netron

    profile = get_profile()
    raw_path, fixed_path = require_artifact("int8_onnx_raw", profile), require_artifact("int8_onnx_fixed", profile)
    print(f"rendering {raw_path} and {fixed_path} (profile {profile.name}) into {args.out}", flush=True)
    with tempfile.TemporaryDirectory() as regions_folder:
        written = render_before_after(raw_path, fixed_path, args.out, whole_graphs=True, regions_dir=Path(regions_folder))
    info = {
        "made_by": "python tools/render_graphs.py",
        "profile": profile.name,
        "rendered_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "netron": netron.__version__,
        "chromium": chromium_version(),
        "models": {"raw": describe_model(raw_path), "fixed": describe_model(fixed_path)},
        "figures": {path.name: key for key, path in written.items()},
    }
    write_json(args.out / RENDER_INFO, info)
    for path in [*written.values(), args.out / RENDER_INFO]:
        print(f"  wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
