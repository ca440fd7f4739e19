"""display.show_source: the first lines shown, the rest folded, labelled with the helper's own file (also for a
function wrapped by a decorator such as ``torch.inference_mode``); display.run_tool: the command it prints."""

from __future__ import annotations

import IPython.display

from helpers import display, training
from helpers.config import REPO_ROOT


def shown(monkeypatch, *functions, **settings) -> list[tuple[object, dict]]:
    outputs = []
    monkeypatch.setattr(IPython.display, "display", lambda value, metadata=None: outputs.append((value, metadata or {})))
    display.show_source(*functions, **settings)
    return outputs


def test_a_long_decorated_function_is_folded_and_labelled_with_its_own_file(monkeypatch):
    assert training.predict.__wrapped__  # decorated: inspect would name torch's file without unwrapping
    code, folded = shown(monkeypatch, training.predict, lines=5)
    assert code[1]["source_lines"] == 5 and folded[1] == {"folded": True}
    assert "(helpers/training.py, line " in folded[0].data and "_contextlib" not in folded[0].data


def test_a_short_function_is_shown_whole(monkeypatch):
    (code, metadata), = shown(monkeypatch, display.report_skip)
    assert metadata["source_lines"] < display.SOURCE_LINES_SHOWN and "def report_skip" in code.data


def test_run_tool_prints_paths_relative_to_the_repository_and_other_arguments_as_given(capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "notebooks")  # a notebook's kernel runs here
    output = display.run_tool("sync_times.py", "--help", REPO_ROOT / "notebooks", tail=1)
    assert capsys.readouterr().out.splitlines()[0] == "$ python tools/sync_times.py --help notebooks"
    assert output.startswith("usage: sync_times.py")
