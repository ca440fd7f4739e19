"""Small conveniences every notebook uses: the opening line, showing a helper's source, tables, skips.

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
_skip_reasons_shown: dict[str, str] = {}  # reason -> the first step skipped for it (this kernel)


def start_notebook(notebook: str) -> tuple[config.Profile, torch.device]:
    """Print the versions, profile and device a notebook runs with; return (profile, device)."""
    _started[notebook] = time.perf_counter()
    profile = config.get_profile()
    device = config.default_device()
    print(f"{notebook} | python {platform.python_version()} | torch {torch.__version__}")
    print(config.describe_run(profile, device))
    return profile, device


def finish_notebook(notebook: str) -> None:
    """Print how long the notebook took since ``start_notebook`` (its last cell calls this).

    Returns nothing, so that the notebook's last cell shows the line and not a bare number after it.
    """
    if notebook not in _started:
        print(f"{notebook}: no start time (the kernel restarted after the first cell?); run the notebook from the top to time it")
        return
    seconds = time.perf_counter() - _started[notebook]
    profile, device = config.get_profile(), config.default_device()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{notebook} finished in {seconds / 60:.1f} min ({seconds:.0f} s), {profile.name} profile, {where}")


def show_source(*functions) -> None:
    """Show the source of helper functions in the notebook, highlighted, so the lesson stays visible."""
    from IPython.display import Code, display

    for function in functions:
        display(Code(inspect.getsource(function), language="python"))


def report_skip(step: str, reason: str, record: list[dict] | None = None) -> str:
    """Print why a step was skipped, in one recognisable line; return that line.

    A reason is printed in full once per kernel; later steps skipped for the same reason name the first
    one instead of repeating it. With ``record`` (a list), also append ``{"step": step, "reason": reason}``
    (always the full reason) to it, so a results file can say what was skipped and why.
    """
    first_step = _skip_reasons_shown.setdefault(reason, step)
    if first_step == step:
        line = f"{SKIP_PREFIX}: {step} - {reason}"
    else:
        line = f"{SKIP_PREFIX}: {step} - same reason as '{first_step}' above"
    print(line)
    if record is not None:
        record.append({"step": step, "reason": reason})
    return line


class Table:
    """Rows of a table that Jupyter shows as HTML and a terminal as aligned text (see ``show_table``)."""

    def __init__(self, rows: list[dict], columns: list[str] | None = None, title: str | None = None):
        self.columns = list(columns) if columns else list(dict.fromkeys(key for row in rows for key in row))
        self.cells = [[_format_cell(row.get(column, "")) for column in self.columns] for row in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [max([len(column)] + [len(row[index]) for row in self.cells]) for index, column in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(column.ljust(width) for column, width in zip(self.columns, widths)).rstrip())
        lines.append("  ".join("-" * width for width in widths))
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in self.cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(column)}</th>" for column in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in self.cells)
        caption = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _format_cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def show_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None) -> Table:
    """Show ``rows`` (one dict per row) as one table instead of a dump of lines; return the ``Table``.

    ``columns`` picks and orders the keys (default: every key, in first-seen order); floats are shown with
    4 decimals below 10, otherwise with one. Format a value yourself (a string) to show it differently.
    """
    from IPython.display import display

    table = Table(rows, columns, title)
    display(table)
    return table
