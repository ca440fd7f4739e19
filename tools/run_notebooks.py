"""Run the notebook series in order, headless: the tutorial's main job (`make tutorial`).

Each notebook runs in a fresh kernel with the profile chosen by $TUTORIAL_PROFILE (or the device);
the executed copy, outputs included, is written to artifacts/<profile>/executed/. The notebooks in
notebooks/ stay as committed (without outputs). Stops at the first notebook that fails.

    python tools/run_notebooks.py            # every notebook
    python tools/run_notebooks.py 01 02      # only those whose names start with 01 or 02
    python tools/run_notebooks.py --executed-to results/executed-full-profile   # `make executed-notebooks`

With ``--executed-to FOLDER`` the executed copies go to FOLDER instead, next to ``run_info.json``: the commit,
profile, device, library versions and each notebook's time and outcome (the README links the folder that
`make executed-notebooks` fills on a GPU machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import artifacts_dir, get_profile  # noqa: E402
from records import git_commit  # noqa: E402


def notebooks_to_run(prefixes: list[str]) -> list[Path]:
    notebooks = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        notebooks = [path for path in notebooks if any(path.name.startswith(prefix) for prefix in prefixes)]
    if not notebooks:
        raise SystemExit(f"No notebook matches {prefixes}")
    return notebooks


def run_notebook(path: Path, output_folder: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        output_folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_folder / path.name)
    return time.perf_counter() - started


def run_info(profile, runs: list[dict]) -> dict:
    """Where and how the executed copies were made."""
    import torch

    return {
        "made_by": "python tools/run_notebooks.py --executed-to ...",
        "git_commit": git_commit(),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile.name,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})",
        "python": platform.python_version(),
        "torch": torch.__version__,
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
    print(f"profile {profile.name}; executed notebooks go to {output_folder}")
    runs, status = [], 0
    for path in notebooks_to_run(args.prefixes):
        print(f"running {path.name} ...", flush=True)
        try:
            seconds = run_notebook(path, output_folder)
        except CellExecutionError as error:
            print(f"\n{path.name} FAILED; its executed copy (with the error) is in {output_folder}.\n")
            print(str(error)[-3000:])
            runs.append({"notebook": path.name, "outcome": "failed"})
            status = 1
            break
        runs.append({"notebook": path.name, "outcome": "ran", "seconds": round(seconds, 1)})
        print(f"  done in {seconds:.0f} s", flush=True)
    if args.executed_to is not None:
        (output_folder / "run_info.json").write_text(json.dumps(run_info(profile, runs), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
