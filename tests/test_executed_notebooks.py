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


def test_there_are_executed_copies_of_every_notebook():
    names = sorted(path.name for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for folder in RUNS:
        assert sorted(path.name for path in folder.glob("[0-9][0-9]_*.ipynb")) == names, folder


@pytest.mark.parametrize("path", COPIES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_an_executed_copy_shows_nothing_a_learner_should_not_see(path):
    cells = json.loads(path.read_text())["cells"]
    problems = [f"cell {index}: {problem}" for index, cell in enumerate(cells) if cell["cell_type"] == "code"
                for problem in output_problems(cell.get("outputs", []))]
    assert not problems, "\n".join(problems)
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
