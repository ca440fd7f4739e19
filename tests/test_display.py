"""display.show_source: the first lines shown, the rest folded, labelled with the helper's own file (also for a
function wrapped by a decorator such as ``torch.inference_mode``)."""

from __future__ import annotations

import IPython.display

from helpers import benchmark, display


def shown(monkeypatch, *functions) -> list[tuple[object, dict]]:
    outputs = []
    monkeypatch.setattr(IPython.display, "display", lambda value, metadata=None: outputs.append((value, metadata or {})))
    display.show_source(*functions)
    return outputs


def test_a_long_decorated_function_is_folded_and_labelled_with_its_own_file(monkeypatch):
    assert benchmark.time_torch_gpu.__wrapped__  # decorated: inspect would name torch's file without unwrapping
    code, folded = shown(monkeypatch, benchmark.time_torch_gpu)
    assert code[1]["source_lines"] == display.SOURCE_LINES_SHOWN and folded[1] == {"folded": True}
    assert "(helpers/benchmark.py, line " in folded[0].data and "_contextlib" not in folded[0].data


def test_a_short_function_is_shown_whole(monkeypatch):
    (code, metadata), = shown(monkeypatch, display.report_skip)
    assert metadata["source_lines"] < display.SOURCE_LINES_SHOWN and "def report_skip" in code.data
