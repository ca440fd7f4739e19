"""How much of the TensorRT path runs in CI: at least 95 % of the lines of helpers/tensorrt_engine.py and of the
engine timing in tools/benchmark.py (issue 12).

TensorRT cannot be installed here; the lines run against the contract-checking double (tests/trt_double).
This test runs the two test files that drive them under ``coverage`` in a subprocess, prints the figure
(it shows in the output of ``make test``), and fails below 95 %. The figure says which lines ran, not that
they are right on a GPU: that needs a run of notebook 04 on a machine with TensorRT.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DRIVING_TESTS = ["tests/test_tensorrt_double.py", "tests/test_tensorrt_engine.py"]
BENCHMARK = REPO_ROOT / "tools" / "benchmark.py"
ENGINE_TIMING = ("prepare_device_input", "time_engine", "time_engine_cuda_graph", "active_profile", "measure_tensorrt")
FLOOR = 0.95


def function_lines(path: Path, name: str) -> range:
    """The line numbers of a top-level function, decorators and docstring included."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return range(node.lineno, node.end_lineno + 1)
    raise LookupError(f"{name} is not a function of {path}")


def line_figure(executed: set[int], missing: set[int], lines=None) -> tuple[float, int, int, list[int]]:
    """(share of statements run, statements run, statements, statements not run) within ``lines``."""
    if lines is not None:
        executed, missing = executed & set(lines), missing & set(lines)
    total = len(executed) + len(missing)
    return len(executed) / total, len(executed), total, sorted(missing)


def test_line_coverage_of_the_tensorrt_path(tmp_path, capsys):
    data, report_path = tmp_path / "coverage.data", tmp_path / "coverage.json"
    run = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}",
         "--include=helpers/tensorrt_engine.py,tools/benchmark.py", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *DRIVING_TESTS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"the driving tests failed under coverage:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(report_path)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)
    files = json.loads(report_path.read_text())["files"]

    def sets(name):
        return set(files[name]["executed_lines"]), set(files[name]["missing_lines"])

    figures = {
        "helpers/tensorrt_engine.py": line_figure(*sets("helpers/tensorrt_engine.py")),
        "tools/benchmark.py engine timing": line_figure(
            *sets("tools/benchmark.py"), [line for name in ENGINE_TIMING for line in function_lines(BENCHMARK, name)]),
    }
    summary = "; ".join(f"{name} {share:.1%} ({run_lines}/{total} statements; not run: {missing or 'none'})"
                        for name, (share, run_lines, total, missing) in figures.items())
    with capsys.disabled():
        print(f"\nTensorRT path line coverage, against the test double ({' + '.join(DRIVING_TESTS)}): {summary}")
    for name, (share, _, total, missing) in figures.items():
        assert total >= (200 if name.endswith(".py") else 50), f"{name}: only {total} statements found"
        assert share >= FLOOR, f"{name}: {share:.1%} of its lines run in CI, below {FLOOR:.0%}; not run: {missing}"


def test_the_function_line_range_is_the_function():
    lines = function_lines(BENCHMARK, "measure_tensorrt")
    source = BENCHMARK.read_text().splitlines()
    assert source[lines[0] - 1].startswith("def measure_tensorrt(") and source[lines[-1] - 1].strip() == "return rows"
    assert line_figure({1, 2, 3, 10}, {4, 11}, range(1, 5)) == (0.75, 3, 4, [4])
