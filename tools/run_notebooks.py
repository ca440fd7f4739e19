"""Run the notebook series in order, headless: the tutorial's main job (`make tutorial`).

Each notebook runs in a fresh kernel with the profile chosen by $TUTORIAL_PROFILE (or the device); the executed copy,
outputs included, goes to artifacts/<profile>/executed/ next to ``run_info.json``: the commit, profile, machine, library
versions and each notebook's outcome and time (the time the notebook printed in its last cell, so a header that quotes
the record matches the notebook's own output). notebooks/ stays as committed (without outputs). Stops at the first
notebook that fails.

    python tools/run_notebooks.py            # every notebook
    python tools/run_notebooks.py 01 02      # only those whose names start with 01 or 02
    python tools/run_notebooks.py --executed-to results/executed-full-profile   # `make executed-notebooks`

``tools/sync_times.py`` copies the times of the committed run records into the notebook headers, README and WORKSHOP.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import artifacts_dir, get_profile, shown_path  # noqa: E402
from helpers.envcheck import machine_record, package_version  # noqa: E402
from records import git_commit  # noqa: E402

FINISHED = re.compile(r"^(\d\d_\w+) finished in (\d+) s, (\w+) profile, (.+)$", re.M)


def notebooks_to_run(prefixes: list[str]) -> list[Path]:
    notebooks = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        notebooks = [path for path in notebooks if any(path.name.startswith(prefix) for prefix in prefixes)]
    if not notebooks:
        raise SystemExit(f"No notebook matches {prefixes}")
    return notebooks


def printed_seconds(notebook) -> int | None:
    """The seconds the notebook printed in its last line (``display.finish_notebook``), or None."""
    for cell in reversed(notebook.cells):
        for output in reversed(cell.get("outputs", [])):
            match = FINISHED.search(output.get("text", ""))
            if match:
                return int(match.group(2))
    return None


def run_notebook(path: Path, output_folder: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        output_folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_folder / path.name)
    return {"notebook": path.name, "outcome": "ran", "seconds": printed_seconds(notebook),
            "runner_seconds": round(time.perf_counter() - started, 1)}


def run_info(profile, runs: list[dict]) -> dict:
    """Where and how the executed copies were made."""
    machine = machine_record()
    return {
        "made_by": "python tools/run_notebooks.py" + ("" if profile.name == "quick" else f" (TUTORIAL_PROFILE={profile.name})"),
        "git_commit": git_commit(),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile.name,
        "device": (machine["gpu"] or {}).get("name") or "cpu",
        "cpu": machine["cpu"],
        "python": machine["python"],
        "versions": {**machine["versions"], **{name: package_version(name) for name in ("torchao", "onnxscript", "netron")}},
        "notebooks": runs,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="run only the notebooks whose names start with these")
    parser.add_argument("--executed-to", type=Path, default=None,
                        help="write the executed copies and run_info.json here (default: artifacts/<profile>/executed)")
    args = parser.parse_args(argv)
    profile = get_profile()
    output_folder = args.executed_to or artifacts_dir(profile) / "executed"
    print(f"profile {profile.name}; executed notebooks go to {shown_path(output_folder)}")
    runs, status = [], 0
    for path in notebooks_to_run(args.prefixes):
        print(f"running {path.name} ...", flush=True)
        try:
            runs.append(run_notebook(path, output_folder))
        except CellExecutionError as error:
            print(f"\n{path.name} FAILED; its executed copy (with the error) is in {shown_path(output_folder)}.\n")
            print(str(error)[-3000:])
            runs.append({"notebook": path.name, "outcome": "failed"})
            status = 1
            break
        print(f"  done in {runs[-1]['runner_seconds']:.0f} s", flush=True)
    (output_folder / "run_info.json").write_text(json.dumps(run_info(profile, runs), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
