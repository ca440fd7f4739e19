"""What an executed notebook may not show, and a pytest plugin that checks it cell by cell during the nbval run.

A learner's outputs are short and honest: no warning or log line (nothing on stderr), no path of the machine that ran the notebook, no helper source
longer than ``display.SOURCE_LINES_SHOWN`` lines unfolded, at most one progress bar per cell. ``output_problems`` says
what breaks these rules in one cell's outputs; tests/test_executed_notebooks.py applies it to the committed executed
copies, and the nbval run (`make test`) loads this module as a plugin (``-p notebook_outputs``) so that a cell of
notebooks/ fails the moment its outputs break them.
"""

from __future__ import annotations

import re

import pytest

from helpers.display import SOURCE_LINES_SHOWN

MACHINE_PATH = re.compile(r"(?<![\w.])/(?:tmp|home|root|work|usr|opt|var|mnt|srv|private|Users)/[\w.\-/]+")
WIDGET = "application/vnd.jupyter.widget-view+json"


def output_texts(output: dict) -> list[str]:
    """The texts a reader sees in one output: a stream's text, a display's plain text and HTML, an error's message."""
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    if output.get("output_type") == "error":
        return [f"{output.get('ename')}: {output.get('evalue')}"]
    data = output.get("data", {})
    return ["".join(data.get(kind, "")) for kind in ("text/plain", "text/html", "text/markdown") if kind in data]


def output_problems(outputs: list[dict]) -> list[str]:
    """Everything in one cell's outputs that a learner should not see."""
    problems = []
    for output in outputs:
        for text in output_texts(output):
            text = re.sub(r'src="data:image/[^"]+"', "", text)  # embedded pictures are not paths
            if output.get("output_type") == "stream" and output.get("name") == "stderr" and text.strip():
                problems.append(f"stderr (warnings and logs go there): {text.strip()[:200]}")
            for path in MACHINE_PATH.findall(text):
                problems.append(f"a path of the machine that ran it: {path}")
        lines = output.get("metadata", {}).get("source_lines")
        if lines is not None and lines > SOURCE_LINES_SHOWN:
            problems.append(f"{lines} lines of helper source shown unfolded (at most {SOURCE_LINES_SHOWN})")
    bars = sum(WIDGET in output.get("data", {}) for output in outputs)
    if bars > 1:
        problems.append(f"{bars} progress bars in one cell (one per long loop)")
    return problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After each nbval cell runs: fail it if its outputs break the rules above."""
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if call.when != "call" or report.failed or outputs is None:
        return
    problems = output_problems([dict(output) for output in outputs])
    if problems:
        report.outcome = "failed"
        report.longrepr = f"{item.name}: outputs a learner should not see:\n  " + "\n  ".join(problems)
