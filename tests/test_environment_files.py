"""environment.yml (conda) and pyproject.toml (pip) must list the same packages and versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def split_requirement(text: str) -> tuple[str, str]:
    """'torch==2.14.1  # comment' -> ('torch', '==2.14.1')"""
    text = text.split("#", 1)[0].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", text)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(split_requirement(line) for line in requirements)


def conda_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    found = {}
    for entry in environment["dependencies"]:
        lines = entry["pip"] if isinstance(entry, dict) else [entry]
        for line in lines:
            name, spec = split_requirement(line)
            if name not in CONDA_ONLY:
                found[CONDA_TO_PIP.get(name, name)] = spec
    return found


def test_conda_and_pip_list_the_same_packages_and_versions():
    assert conda_requirements() == pip_requirements()


def test_gpu_extra_is_optional_and_documented_in_environment_yml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    gpu = dict(split_requirement(line) for line in project["optional-dependencies"]["gpu"])
    assert set(gpu) == {"tensorrt", "pycuda"}
    assert not set(gpu) & set(pip_requirements())
    text = (ROOT / "environment.yml").read_text()
    for name, spec in gpu.items():
        assert f"#   - {name}{spec}" in text


def test_every_environment_line_says_which_notebook_needs_it():
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        stripped = line.strip()
        if stripped.startswith("- ") and not stripped.startswith(("- python", "- pip")):
            assert "#" in stripped, f"no comment on: {line}"
