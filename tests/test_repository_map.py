"""The README's map of the repository stays true: every folder and every helpers module is in it, and each module's
row names exactly the notebooks that import it (so a module that no notebook uses cannot hide in helpers/)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAP_HEADING = "## Map of the repository"


def readme_map() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    assert MAP_HEADING in text, f"the README has no '{MAP_HEADING}' section"
    return text.split(MAP_HEADING, 1)[1].split("\n## ", 1)[0]


def notebooks_importing(module: str) -> set[str]:
    """Numbers of the notebooks (notebooks/NN_*.ipynb) whose code imports helpers.<module>."""
    users = set()
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        code = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code")
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == "helpers":
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers."):
                names = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                names = [alias.name.split(".")[1] for alias in node.names if alias.name.startswith("helpers.")]
            if module in names:
                users.add(path.name[:2])
    return users


def test_every_helpers_module_is_in_the_map_with_the_notebooks_that_use_it():
    rows = {match.group(1): match.group(2) for match in
            re.finditer(r"^\| `helpers/(\w+)\.py` \|[^|]*\|\s*([^|]*?)\s*\|$", readme_map(), re.M)}
    modules = sorted(path.stem for path in (REPO_ROOT / "helpers").glob("*.py") if path.stem != "__init__")
    assert sorted(rows) == modules, "the README's map and helpers/ list different modules"
    for module in modules:
        listed = set(re.findall(r"\b\d\d\b", rows[module]))
        assert listed == notebooks_importing(module), (
            f"helpers/{module}.py: the map says notebooks {sorted(listed)}, the notebooks that import it are "
            f"{sorted(notebooks_importing(module))}")


def test_every_folder_of_the_repository_is_in_the_map():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.splitlines()
    folders = sorted({path.split("/", 1)[0] for path in tracked if "/" in path and not path.startswith(".")})
    text = readme_map()
    missing = [folder for folder in folders if f"`{folder}/`" not in text]
    assert not missing, f"folders missing from the README's map: {missing}"


def test_every_tool_is_in_the_map():
    text = readme_map()
    missing = [path.name for path in sorted((REPO_ROOT / "tools").glob("*.py")) if f"`{path.name}`" not in text]
    assert not missing, f"tools missing from the README's map: {missing}"


def test_helpers_import_nothing_from_tools_or_tests():
    """The layers run one way: tools/ and tests/ use helpers/, never the reverse (no circle, no test double known)."""
    below = {"tools", "tests"} | {path.stem for folder in ("tools", "tests") for path in (REPO_ROOT / folder).glob("*.py")}
    for path in sorted((REPO_ROOT / "helpers").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        assert not imported & below, f"{path.name} imports {sorted(imported & below)} from tools/ or tests/"
