"""Notebooks are stored without outputs (README, "How notebooks are stored"), and open the same way."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [path.name[:2] for path in NOTEBOOKS] == [f"{index:02d}" for index in range(len(NOTEBOOKS))]
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_no_outputs(path):
    notebook = json.loads(path.read_text())
    dirty = [index for index, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; strip them (see README)"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_opens_with_goals_and_prints_profile_and_device(path):
    cells = json.loads(path.read_text())["cells"]
    first_markdown = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first_markdown.startswith("# ")
    assert "Time" in first_markdown
    first_code = next("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    assert "start_notebook(" in first_code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_gives_measured_times_and_prints_its_own(path):
    cells = json.loads(path.read_text())["cells"]
    header = "".join(cells[0]["source"])
    assert "TIME_" not in header, "a time placeholder was left in the header"
    assert "Time (measured" in header
    if path.name[:2] != "00":
        assert "laptop path" in header and "GPU path" in header
    last_code = [("".join(cell["source"])) for cell in cells if cell["cell_type"] == "code"][-1]
    assert f'finish_notebook("{path.stem}")' in last_code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_refers_to_no_file_outside_the_repository(path):
    assert "../shared" not in path.read_text()


def test_readme_has_no_unfilled_placeholder():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "{{" not in readme and "TIME_" not in readme
