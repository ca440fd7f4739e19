"""Small conveniences every notebook uses: the opening line, showing a helper's source, skips.

Introduced in notebook 00.
"""

from __future__ import annotations

import inspect
import platform
import time

import torch

from . import config

SKIP_PREFIX = "SKIPPED"
_started: dict[str, float] = {}


def start_notebook(notebook: str) -> tuple[config.Profile, torch.device]:
    """Print the versions, profile and device a notebook runs with; return (profile, device)."""
    _started[notebook] = time.perf_counter()
    profile = config.get_profile()
    device = config.default_device()
    print(f"{notebook} | python {platform.python_version()} | torch {torch.__version__}")
    print(config.describe_run(profile, device))
    return profile, device


def finish_notebook(notebook: str) -> float:
    """Print how long the notebook took since ``start_notebook`` (its last cell calls this); return the seconds."""
    if notebook not in _started:
        print(f"{notebook}: no start time (the kernel restarted after the first cell?); run the notebook from the top to time it")
        return float("nan")
    seconds = time.perf_counter() - _started[notebook]
    profile, device = config.get_profile(), config.default_device()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{notebook} finished in {seconds / 60:.1f} min ({seconds:.0f} s), {profile.name} profile, {where}")
    return seconds


def show_source(*functions) -> None:
    """Show the source of helper functions in the notebook, highlighted, so the lesson stays visible."""
    from IPython.display import Code, display

    for function in functions:
        display(Code(inspect.getsource(function), language="python"))


def report_skip(step: str, reason: str, record: list[dict] | None = None) -> str:
    """Print why a step was skipped, in one recognisable line; return that line.

    With ``record`` (a list), also append ``{"step": step, "reason": reason}`` to it, so a results file
    can say what was skipped and why (notebook 04's benchmark JSON).
    """
    line = f"{SKIP_PREFIX}: {step} - {reason}"
    print(line)
    if record is not None:
        record.append({"step": step, "reason": reason})
    return line
