"""The executed copies committed under results/ (the GPU run and the laptop-path run) show what a learner may see: no
warning, no machine path, sources folded, one progress bar per loop; every cell ran; and their run record quotes the
time each notebook printed, which is the time its header gives (tools/sync_times.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from notebook_outputs import output_problems

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNS = [REPO_ROOT / "results" / "executed-full-profile", REPO_ROOT / "results" / "laptop-path" / "executed"]
COPIES = [path for folder in RUNS for path in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
FINISHED = re.compile(r"^(\d\d_\w+) finished in (\d+) s", re.M)

# Outputs the GPU run (commit 903c416) produced before the cause behind them was fixed, kept as produced (the folder's
# README says so): (copy, cell) -> the texts its problems there contain (each must still be there), and why.
KNOWN_DEFECTS = {
    ("executed-full-profile/06_routes_after_eager_mode.ipynb", 13): (
        ("FutureWarning: `isinstance(treespec, LeafSpec)` is deprecated",
         "a path of the machine that ran it: /usr/lib/python3.12/copyreg.py"),
        "torch 2.11 (the GPU machine's, not the pin) warned in the PT2E cell; filtered since in both "
        "quantization_routes.quantize_pt2e and export_pt2e_onnx"),
    ("executed-full-profile/07_when_ptq_is_not_enough.ipynb", 16): (
        ("3 progress bars in one cell",),
        "one bar per k (the full profile's evaluations); the cell shows one bar over its loop since"),
}


def allowed(copy: str, index: int, problem: str) -> bool:
    return any(text in problem for text in KNOWN_DEFECTS.get((copy, index), ((),))[0])


def test_there_are_executed_copies_of_every_notebook():
    """Both runs hold every notebook, and each run record lists exactly the copies beside it."""
    names = sorted(path.name for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for folder in RUNS:
        assert sorted(path.name for path in folder.glob("[0-9][0-9]_*.ipynb")) == names, folder
        ran = sorted(run["notebook"] for run in json.loads((folder / "run_info.json").read_text())["notebooks"])
        assert ran == names, folder


@pytest.mark.parametrize("path", COPIES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_an_executed_copy_shows_nothing_a_learner_should_not_see(path):
    cells = json.loads(path.read_text())["cells"]
    copy = f"{path.parent.name}/{path.name}"
    problems = [f"cell {index}: {problem}" for index, cell in enumerate(cells) if cell["cell_type"] == "code"
                for problem in output_problems(cell.get("outputs", [])) if not allowed(copy, index, problem)]
    assert not problems, "\n".join(problems)
    for (known_copy, index), (texts, _) in KNOWN_DEFECTS.items():  # a known defect is still there, or gets deleted here
        if known_copy == copy:
            assert {text for text in texts for problem in output_problems(cells[index]["outputs"]) if text in problem} == set(texts)
    unrun = [index for index, cell in enumerate(cells) if cell["cell_type"] == "code" and cell.get("execution_count") is None]
    assert not unrun, f"cells never executed: {unrun}"


@pytest.mark.parametrize("folder", RUNS, ids=lambda folder: folder.parent.name if folder.name == "executed" else folder.name)
def test_the_run_record_quotes_the_time_each_notebook_printed(folder):
    record = json.loads((folder / "run_info.json").read_text())
    assert record["git_commit"] and record["device"] and record["versions"]["torch"]
    for run in record["notebooks"]:
        text = "".join("".join(output.get("text", "")) for cell in json.loads((folder / run["notebook"]).read_text())["cells"]
                       for output in cell.get("outputs", []))
        printed = FINISHED.findall(text)
        assert printed and int(printed[-1][1]) == run["seconds"], run["notebook"]
