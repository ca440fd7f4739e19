"""The learner's copy of every notebook, generated from the instructor's copy in notebooks/ (`make learner-notebooks`).

    python tools/make_learner_notebooks.py           # writes learner-notebooks/NN_*.ipynb
    python tools/make_learner_notebooks.py --check   # fails if learner-notebooks/ is not what it would write

The instructor's copy holds the solutions between nbgrader's solution markers, in cells that nbgrader's metadata marks
as solution cells (so `nbgrader generate_assignment` understands them too):

    def tensorrt_qconfig(...):
        \"\"\"What it returns.\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

* a **lesson** cell (tag ``lesson``) is code the rest of the notebook uses: in the learner's copy its solution becomes
  ``# your code here`` and a ``raise NotImplementedError(...)`` whose message says what to write and which cell checks it,
  so a learner's copy run top to bottom stops at the first lesson not yet written, with that message;
* an **exercise** cell (tag ``exercise``) keeps its starting point (the code outside the markers) and loses only the
  solution, so it still runs; the explanation stays in the collapsed "Discussion" below it.

The learner's copy filled with the solutions is the instructor's copy again (``fill_solutions``; tests check it), so the
notebook tests, which run notebooks/, run the filled learner's copy.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_DIR = REPO_ROOT / "notebooks"
LEARNER_DIR = REPO_ROOT / "learner-notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION(\n?)", re.S | re.M)
STUB = re.compile(r"^([ \t]*)# your code here(?:\n[ \t]*raise NotImplementedError\(.*\))?(\n?)", re.M)
NOTE_TAG = "learner-note"
LEARNER_NOTE = ("> **Learner's copy.** The cells marked *write it* are yours: each holds a signature, a docstring and "
                "`# your code here`, and the cell after it checks your code. Run the notebook top to bottom; it stops at "
                "the first one not yet written and says what to write. Exercises keep their starting point. The "
                "instructor's copy, with solutions, is `notebooks/{name}`.")


class NotebookError(ValueError):
    """A notebook whose solution markers do not follow the convention above."""


def cell_source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def kind(cell: dict) -> str | None:
    tags = cell.get("metadata", {}).get("tags", [])
    return "lesson" if "lesson" in tags else "exercise" if "exercise" in tags else None


def lesson_function(source: str) -> tuple[str, str]:
    """(name, first docstring line) of the function whose body holds the solution region of a lesson cell."""
    tree = ast.parse(source)
    begin_line = source[:source.index(BEGIN)].count("\n") + 1
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.lineno < begin_line <= node.end_lineno:
            docstring = ast.get_docstring(node) or ""
            return node.name, docstring.strip().splitlines()[0] if docstring.strip() else ""
    raise NotImplementedError  # unreachable for checked cells; check_cell reports it first


def check_cell(notebook: str, index: int, cell: dict) -> None:
    """The marker convention, cell by cell: markers only in tagged code cells, one region each, lessons in a function
    with a docstring and a named reference in their metadata."""
    source, cell_kind = cell_source(cell), kind(cell)
    where = f"{notebook} cell {index}"
    if cell_kind is None:
        if BEGIN in source or END in source:
            raise NotebookError(f"{where}: solution markers in a cell tagged neither 'lesson' nor 'exercise'")
        return
    if cell["cell_type"] != "code" or source.count(BEGIN) != 1 or source.count(END) != 1 or not REGION.search(source):
        raise NotebookError(f"{where}: a {cell_kind} cell must be a code cell with one {BEGIN} ... {END} region")
    if not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
        raise NotebookError(f"{where}: mark it as an nbgrader solution cell (metadata nbgrader.solution = true)")
    if cell_kind == "lesson":
        try:
            name, first_line = lesson_function(source)
        except NotImplementedError:
            raise NotebookError(f"{where}: a lesson's solution must sit inside a function definition") from None
        if not first_line:
            raise NotebookError(f"{where}: the lesson function {name} needs a docstring saying what to write")
        reference = cell["metadata"].get("tutorial", {}).get("reference", "")
        if reference.rpartition(".")[2] != name:
            raise NotebookError(f"{where}: metadata tutorial.reference must name the reference of the same name as "
                                f"{name}, got {reference!r}")


def stub(notebook: str, number: int, cell: dict) -> str:
    """The learner's version of a lesson or exercise cell: the solution region replaced by its stub."""
    source = cell_source(cell)
    if kind(cell) == "exercise":
        return REGION.sub(lambda match: f"{match.group(1)}# your code here{match.group(3)}", source)
    name, first_line = lesson_function(source)
    reference = cell["metadata"]["tutorial"]["reference"]
    message = (f"Lesson {number} of {notebook[:2]}: write the body of {name} in this cell ({first_line.rstrip('.')}). "
               f"Then run it and the next cell, which checks your {name} against {reference}.")
    return REGION.sub(lambda match: f"{match.group(1)}# your code here\n{match.group(1)}raise NotImplementedError({message!r})"
                                    f"{match.group(3)}", source)


def learner_copy(instructor: dict, name: str) -> dict:
    """The learner's copy of one notebook (outputs cleared, solutions replaced by stubs, a note on top)."""
    notebook = copy.deepcopy(instructor)
    lessons = 0
    for index, cell in enumerate(notebook["cells"]):
        check_cell(name, index, cell)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if kind(cell):
            lessons += kind(cell) == "lesson"
            cell["source"] = stub(name, lessons, cell)
    note = {"cell_type": "markdown", "id": NOTE_TAG, "metadata": {"tags": [NOTE_TAG]}, "source": LEARNER_NOTE.format(name=name)}
    notebook["cells"].insert(1, note)
    return notebook


def fill_solutions(learner: dict, instructor: dict) -> dict:
    """The learner's copy with the instructor's solutions put back in place of the stubs (and the note taken out)."""
    filled = copy.deepcopy(learner)
    filled["cells"] = [cell for cell in filled["cells"] if NOTE_TAG not in cell.get("metadata", {}).get("tags", [])]
    for cell, original in zip(filled["cells"], instructor["cells"]):
        if kind(cell):
            solution = REGION.search(cell_source(original))
            cell["source"] = STUB.sub(lambda match: f"{match.group(1)}{BEGIN}\n{solution.group(2)}{match.group(1)}{END}"
                                                    f"{match.group(2)}", cell_source(cell), count=1)
    return filled


def lesson_counts(notebooks: list[Path]) -> dict[str, int]:
    return {path.name: sum(kind(cell) == "lesson" for cell in json.loads(path.read_text())["cells"]) for path in notebooks}


def serialized(notebook: dict) -> str:
    """As nbformat writes notebooks (every tool of this project writes them this way)."""
    import nbformat

    return nbformat.writes(nbformat.from_dict(notebook)) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that learner-notebooks/ is up to date")
    parser.add_argument("--out", type=Path, default=LEARNER_DIR)
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(INSTRUCTOR_DIR.glob("[0-9][0-9]_*.ipynb")):
        try:
            text = serialized(learner_copy(json.loads(path.read_text()), path.name))
        except NotebookError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        target = args.out / path.name
        if args.check:
            if not target.is_file() or target.read_text() != text:
                stale.append(target.name)
            continue
        args.out.mkdir(exist_ok=True)
        target.write_text(text)
    if stale:
        print(f"learner-notebooks/ is out of date ({', '.join(stale)}): run `make learner-notebooks`", file=sys.stderr)
        return 1
    counts = lesson_counts(sorted(INSTRUCTOR_DIR.glob("[0-9][0-9]_*.ipynb")))
    print(("checked" if args.check else "wrote") + f" {len(counts)} learner notebooks; lesson cells: "
          + ", ".join(f"{name[:2]} {count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
