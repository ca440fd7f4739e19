"""The learner's copy (tools/make_learner_notebooks.py): generated from the instructor's copy, up to date, stopping at
the first lesson not yet written with a message that says what to write, and equal to the instructor's copy once the
solutions are filled in - which is why the one notebook run of `make test` (notebooks/) runs the filled learner's copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

import make_learner_notebooks as learner  # tools/ (tests/conftest.py puts it on sys.path)

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSONS_AT_LEAST = {"01": 1, "02": 2, "03": 2, "04": 1, "06": 1, "07": 1}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def code_sources(notebook: dict) -> list[str]:
    return [learner.cell_source(cell) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_the_committed_learner_copies_are_what_the_tool_writes():
    assert learner.main(["--check"]) == 0, "learner-notebooks/ is out of date: run `make learner-notebooks`"
    assert sorted(path.name for path in (REPO_ROOT / "learner-notebooks").glob("*.ipynb")) == [path.name for path in INSTRUCTOR]


def test_enough_lessons_in_each_notebook():
    counts = {name[:2]: count for name, count in learner.lesson_counts(INSTRUCTOR).items()}
    assert all(counts.get(number, 0) >= least for number, least in LESSONS_AT_LEAST.items()), counts


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda path: path.name)
def test_filled_with_the_solutions_the_learner_copy_is_the_instructor_copy(path):
    instructor = read(path)
    learner_copy = learner.learner_copy(instructor, path.name)
    assert code_sources(learner.fill_solutions(learner_copy, instructor)) == code_sources(instructor)
    assert [cell["cell_type"] for cell in learner.fill_solutions(learner_copy, instructor)["cells"]] == \
        [cell["cell_type"] for cell in instructor["cells"]]


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda path: path.name)
def test_the_learner_copy_holds_no_solution(path):
    instructor = read(path)
    learner_copy = learner.learner_copy(instructor, path.name)
    for original, cell in zip([c for c in instructor["cells"]], [c for c in learner_copy["cells"] if c.get("id") != learner.NOTE_TAG]):
        if learner.kind(original):
            solution = learner.REGION.search(learner.cell_source(original)).group(2).strip()
            assert solution and solution not in learner.cell_source(cell)
            assert learner.BEGIN not in learner.cell_source(cell) and "# your code here" in learner.cell_source(cell)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda path: path.name)
def test_each_unwritten_lesson_stops_with_what_to_write_and_which_cell_checks_it(path):
    lessons = [cell for cell in learner.learner_copy(read(path), path.name)["cells"] if learner.kind(cell) == "lesson"]
    import torch

    for number, cell in enumerate(lessons, start=1):
        reference = cell["metadata"]["tutorial"]["reference"]
        name = reference.rpartition(".")[2]
        namespace: dict = {"torch": torch}  # the cells' imports come earlier in the notebook; annotations stay unevaluated
        exec(compile("from __future__ import annotations\n" + learner.cell_source(cell), f"{path.name}-lesson-{number}", "exec"),
             namespace)
        arguments = [None] * namespace[name].__code__.co_argcount
        with pytest.raises(NotImplementedError) as raised:
            namespace[name](*arguments)
        message = str(raised.value)
        assert f"Lesson {number} of {path.name[:2]}" in message and name in message and reference in message, message


def test_markers_outside_a_tagged_cell_or_a_lesson_without_reference_are_refused():
    cell = {"cell_type": "code", "metadata": {}, "source": "x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION\n"}
    with pytest.raises(learner.NotebookError, match="tagged neither"):
        learner.check_cell("NN_x.ipynb", 3, cell)
    cell["metadata"] = {"tags": ["lesson"], "nbgrader": {"solution": True}, "tutorial": {"reference": "helpers.x.other"}}
    cell["source"] = 'def mine():\n    """Do it."""\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n'
    with pytest.raises(learner.NotebookError, match="same name"):
        learner.check_cell("NN_x.ipynb", 3, cell)
    cell["metadata"]["tutorial"]["reference"] = "helpers.x.mine"
    learner.check_cell("NN_x.ipynb", 3, cell)
    del cell["metadata"]["nbgrader"]
    with pytest.raises(learner.NotebookError, match="nbgrader"):
        learner.check_cell("NN_x.ipynb", 3, cell)


@pytest.mark.skipif(os.environ.get("CIFAR10_ARCHIVE") is None and os.environ.get("CI") != "true",
                    reason="needs CIFAR-10 (CIFAR10_ARCHIVE) for notebook 01's first cells")
def test_run_top_to_bottom_the_learner_copy_stops_at_its_first_lesson(tmp_path, monkeypatch):
    """The real thing, on notebook 01 (its first lesson comes after the data is loaded, a few seconds in)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = REPO_ROOT / "notebooks" / "01_train_fp32_resnet18.ipynb"
    notebook = nbformat.reads(learner.serialized(learner.learner_copy(read(path), path.name)), as_version=4)
    lesson_index = next(index for index, cell in enumerate(notebook.cells) if learner.kind(cell) == "lesson")
    notebook.cells = notebook.cells[:lesson_index + 3]  # up to the cell that checks the lesson, and one more
    monkeypatch.setenv("TUTORIAL_PROFILE", "test")
    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with pytest.raises(CellExecutionError) as stopped:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}).execute()
    assert "NotImplementedError" in str(stopped.value) and "Lesson 1 of 01: write the body of train_step" in str(stopped.value)
    ran = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.get("execution_count")]
    assert max(ran) == lesson_index + 1  # the check right after the lesson is where it stopped
