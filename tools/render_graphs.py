"""Draw one region of two ONNX graphs with Netron (headless Chromium), before and after an edit, changes outlined.

    python tools/render_graphs.py --before RAW.onnx --after FIXED.onnx --region stem-conv --out DIR [--whole-after]
    python tools/render_graphs.py --committed 03 05    # the current profile's models into notebooks/figures/ (make renders)

Regions: stem-conv (notebook 03: the stem convolution, raw export vs fixed graph) and residual-block (notebook 05:
block layer2.0, notebook 03's graph vs its fused-residual version). Writes into the output folder:

* before.svg / after.svg - Netron's drawing of the region (a viewBox and concrete fonts added);
* before.png / after.png - the same drawn by the same Chromium, each changed node outlined
  (red removed, orange rewritten, green added);
* after_whole.svg - the whole second graph (with --whole-after);
* render_info.json - the command, commit, profile, time, Netron and Chromium versions, each model's file, sha256,
  precision and producer; the legend, the outlined nodes, and what the tool read from its own SVGs: node types
  drawn, distinct texts drawn, and the labels Chromium finds outside their boxes ([] when all fit).

``--committed 03`` renders the current profile's raw export and fixed graph (``--whole-after``) into
notebooks/figures/03_graph_surgery, ``--committed 05`` the fixed graph and its fused-residual version (made here when
missing) into notebooks/figures/05_qdq_placement; notebooks 03 and 05 show those where no browser is present.
Needs Chromium, netron and playwright (helpers.envcheck.browser_unavailable_reason says what is missing).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import (  # noqa: E402
    TutorialError, artifact_path, artifacts_dir, get_profile, require_artifact, shown_path, write_json,
)
from helpers.data import sha256_of  # noqa: E402
from helpers.envcheck import browser_unavailable_reason  # noqa: E402
from helpers.onnx_export import read_metadata  # noqa: E402
from helpers.surgery import fuse_residual_adds  # noqa: E402
from netron_render import REGIONS, render_before_after  # noqa: E402
from records import git_commit  # noqa: E402

RENDER_INFO = "render_info.json"
COMMITTED_FIGURES = {"03": REPO_ROOT / "notebooks" / "figures" / "03_graph_surgery",
                     "05": REPO_ROOT / "notebooks" / "figures" / "05_qdq_placement"}


def portable_path(path: Path) -> str:
    """A path as render_info.json records it: relative to the repository or artifacts, else ".../<name>"."""
    shown = shown_path(path)
    return f".../{Path(path).name}" if Path(shown).is_absolute() else shown


def describe_model(path: Path) -> dict:
    metadata = read_metadata(path)
    return {"file": path.name, "sha256": sha256_of(path),
            "precision": metadata.get("precision", ""), "produced_by": metadata.get("produced_by", "")}


def committed_render(notebook: str) -> dict:
    """The arguments of ``--committed 03`` or ``--committed 05``: the current profile's models of that notebook."""
    if notebook == "03":
        return {"before": require_artifact("int8_onnx_raw"), "after": require_artifact("int8_onnx_fixed"),
                "region": "stem-conv", "whole_after": True, "out": COMMITTED_FIGURES["03"]}
    fixed_path, fused_path = require_artifact("int8_onnx_fixed"), artifact_path("int8_onnx_fused")
    if not fused_path.exists():
        fuse_residual_adds(fixed_path, fused_path)
    return {"before": fixed_path, "after": fused_path, "region": "residual-block", "whole_after": False,
            "out": COMMITTED_FIGURES["05"]}


def render(before: Path, after: Path, region: str, out: Path, whole_after: bool, made_by: str) -> Path:
    """Render and write render_info.json; returns its path."""
    import netron

    before, after, out = Path(before), Path(after), Path(out)
    print(f"rendering the {REGIONS[region]['label']} of {shown_path(before)} and {shown_path(after)}", flush=True)
    facts = render_before_after(before, after, region, out, whole_after)
    profile = get_profile()
    in_profile = all(path.resolve().parent == artifacts_dir(profile).resolve() for path in (before, after))
    info = {
        "made_by": made_by,
        "git_commit": git_commit(),
        "profile": profile.name if in_profile else None,
        "rendered_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "netron": netron.__version__,
        "chromium": facts.pop("chromium"),
        "models": {"before": describe_model(before), "after": describe_model(after)},
        "files": ["before.svg", "before.png", "after.svg", "after.png"] + (["after_whole.svg"] if whole_after else []),
        **facts,
    }
    info_path = write_json(out / RENDER_INFO, info)
    for name in [*info["files"], RENDER_INFO]:
        print(f"  wrote {shown_path(out / name)}")
    counts = {kind: sum(found == kind for side in info["outlined"].values() for found in side.values())
              for kind in ("removed", "rewritten", "added")}
    print("outlined:", ", ".join(f"{count} {kind}" for kind, count in counts.items() if count) or "nothing changed")
    spilled = sum(map(len, info["text_outside_boxes"].values()))
    print(f"labels outside their boxes: {spilled}" if spilled else "every label fits its box")
    return info_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="the graph before the edit (ONNX)")
    parser.add_argument("--after", type=Path, help="the graph after the edit (ONNX)")
    parser.add_argument("--region", choices=sorted(REGIONS), help="which part of the graphs to draw")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--whole-after", action="store_true", help="also draw the whole --after graph (after_whole.svg)")
    parser.add_argument("--committed", nargs="+", choices=sorted(COMMITTED_FIGURES),
                        help="render the current profile's models of these notebooks into notebooks/figures/")
    args = parser.parse_args(argv)
    explicit = [args.before, args.after, args.region, args.out]
    if args.committed and (any(explicit) or args.whole_after):
        parser.error("--committed renders the notebooks' own models; give it alone")
    if not args.committed and not all(explicit):
        parser.error("give --before, --after, --region and --out (or --committed 03 05)")

    reason = browser_unavailable_reason()
    if reason:
        print(f"Cannot render: {reason}.", file=sys.stderr)
        return 2
    try:
        if args.committed:
            for notebook in args.committed:
                render(**committed_render(notebook), made_by=f"python tools/render_graphs.py --committed {notebook}")
        else:
            command = ["--before", portable_path(args.before), "--after", portable_path(args.after), "--region",
                       args.region, "--out", portable_path(args.out)] + ["--whole-after"] * args.whole_after
            render(args.before, args.after, args.region, args.out, args.whole_after,
                   made_by=shlex.join(["python", "tools/render_graphs.py", *command]))
    except TutorialError as error:
        print(f"Cannot render: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
