"""Every notebook from 01 on has exercises with hidden solutions, and every solution runs (so none rots).

The convention (README, "Exercises"): an exercise is a code cell tagged ``exercise`` that runs as it is
(the learner's starting point); the markdown cell right after it holds the solution inside a collapsed
``<details>`` block, as one ```python fence. Each solution checks itself with at least one ``assert``.

``test_solutions_run`` executes each notebook with every exercise cell replaced by its solution, in order,
in a fresh kernel, on the quick profile, into its own artifacts folder (a few minutes on a laptop CPU).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TAUGHT = [path for path in NOTEBOOKS if path.name[:2] != "00"]
EXERCISE_TAG = "exercise"
SOLUTION = re.compile(r"<details>.*?```python\n(.*?)```.*?</details>", re.S)


def exercises(path: Path) -> list[tuple[int, str]]:
    """(index of the exercise cell, its solution's code) for each exercise of a notebook."""
    cells = json.loads(path.read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        if EXERCISE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        assert cell["cell_type"] == "code", f"{path.name} cell {index}: an exercise must be a code cell"
        following = cells[index + 1] if index + 1 < len(cells) else {"cell_type": "none", "source": []}
        match = SOLUTION.search("".join(following["source"]))
        assert following["cell_type"] == "markdown" and match, (
            f"{path.name} cell {index}: the cell after an exercise must hold its solution in <details> ... ```python")
        found.append((index, match.group(1)))
    return found


def test_the_solution_pattern_finds_a_solution_and_only_inside_details():
    text = "<details><summary>Solution</summary>\n\n```python\nx = 1\nassert x == 1\n```\n\n</details>"
    assert SOLUTION.search(text).group(1) == "x = 1\nassert x == 1\n"
    assert SOLUTION.search("```python\nx = 1\n```") is None


@pytest.mark.parametrize("path", TAUGHT, ids=lambda path: path.name)
def test_every_notebook_has_an_exercise_whose_solution_checks_itself(path):
    found = exercises(path)
    assert found, f"{path.name} has no exercise (a code cell tagged '{EXERCISE_TAG}')"
    for index, code in found:
        tree = ast.parse(code)  # a solution that does not parse fails here, not in the workshop
        assert any(isinstance(node, ast.Assert) for node in ast.walk(tree)), (
            f"{path.name} cell {index}: the solution has no assert, so it cannot show it worked")


@pytest.fixture(scope="module")
def solutions_artifacts(tmp_path_factory):
    return tmp_path_factory.mktemp("solutions-artifacts")


@pytest.mark.parametrize("path", [path for path in NOTEBOOKS if exercises(path) or path.name[:2] == "00"],
                         ids=lambda path: path.name)
def test_solutions_run(path, solutions_artifacts, monkeypatch):
    """Run the notebook with its solutions in place of the exercises (after the earlier ones, in order)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TUTORIAL_PROFILE", "quick")
    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(solutions_artifacts))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = nbformat.read(path, as_version=4)
    for index, code in exercises(path):
        notebook.cells[index].source = code
    NotebookClient(notebook, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
