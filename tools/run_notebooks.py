"""Run the notebook series in order, headless: the tutorial's main job (`make tutorial`).

Each notebook runs in a fresh kernel with the profile chosen by $TUTORIAL_PROFILE (or the device);
the executed copy, outputs included, is written to artifacts/<profile>/executed/. The notebooks in
notebooks/ stay as committed (without outputs). Stops at the first notebook that fails.

    python tools/run_notebooks.py            # every notebook
    python tools/run_notebooks.py 01 02      # only those whose names start with 01 or 02
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import artifacts_dir, get_profile  # noqa: E402


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


def main(prefixes: list[str]) -> int:
    profile = get_profile()
    output_folder = artifacts_dir(profile) / "executed"
    print(f"profile {profile.name}; executed notebooks go to {output_folder}")
    for path in notebooks_to_run(prefixes):
        print(f"running {path.name} ...", flush=True)
        try:
            seconds = run_notebook(path, output_folder)
        except CellExecutionError as error:
            print(f"\n{path.name} FAILED; its executed copy (with the error) is in {output_folder}.\n")
            print(str(error)[-3000:])
            return 1
        print(f"  done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
