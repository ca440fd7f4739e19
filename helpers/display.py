"""What the notebooks print and show: opening and closing lines, sources, tables, skips, images, tools (notebook 00)."""

from __future__ import annotations

import base64
import html
import inspect
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from . import config

SKIP_PREFIX = "SKIPPED"
SOURCE_LINES_SHOWN = 15
_started: dict[str, float] = {}
_skip_reasons_shown: dict[str, str] = {}  # reason -> the first step skipped for it (this kernel)


def start_notebook(notebook: str) -> tuple[config.Profile, torch.device]:
    """Print the versions, profile, device and artifacts folder a notebook runs with; return (profile, device)."""
    _started[notebook] = time.perf_counter()
    profile, device = config.get_profile(), config.default_device()
    print(f"{notebook} | python {platform.python_version()} | torch {torch.__version__}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"profile: {profile.name} | device: {device.type} ({where}) | "
          f"artifacts: {config.shown_path(config.artifacts_dir(profile))}")
    return profile, device


def finish_notebook(notebook: str) -> None:
    """Print how long the notebook took since ``start_notebook`` (its last cell calls this)."""
    if notebook not in _started:
        print(f"{notebook}: no start time (the kernel restarted after the first cell?); run it from the top to time it")
        return
    seconds, device = time.perf_counter() - _started[notebook], config.default_device()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{notebook} finished in {seconds:.0f} s, {config.get_profile().name} profile, {where}")


def show_source(*functions, lines: int = SOURCE_LINES_SHOWN) -> None:
    """Show helper functions' source, highlighted: the first ``lines`` lines, the rest folded away."""
    from IPython.display import HTML, Code, display
    for function in map(inspect.unwrap, functions):  # a decorated function's own file, not the decorator's
        source = inspect.getsource(function).rstrip().splitlines()
        where = f"{config.shown_path(inspect.getsourcefile(function))}, line {inspect.getsourcelines(function)[1]}"
        display(Code("\n".join(source[:lines]), language="python"), metadata={"source_lines": min(len(source), lines)})
        if len(source) > lines:
            rest = html.escape("\n".join(source[lines:]))
            summary = f"<summary>{len(source) - lines} more lines ({where})</summary>"
            display(HTML(f"<details>{summary}<pre>{rest}</pre></details>"), metadata={"folded": True})


def report_skip(step: str, reason: str, record: list[dict] | None = None) -> str:
    """Print why a step was skipped in one line (a repeated reason names its first step); append it to ``record``."""
    first_step = _skip_reasons_shown.setdefault(reason, step)
    line = f"{SKIP_PREFIX}: {step} - " + (reason if first_step == step else f"same reason as '{first_step}' above")
    print(line)
    if record is not None:
        record.append({"step": step, "reason": reason})
    return line


def _format_cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


class Table:
    """Rows of a table that Jupyter shows as HTML and a terminal as aligned text."""

    def __init__(self, rows: list[dict], columns: list[str] | None = None, title: str | None = None):
        self.columns = list(columns) if columns else list(dict.fromkeys(key for row in rows for key in row))
        self.cells = [[_format_cell(row.get(column, "")) for column in self.columns] for row in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [max([len(column)] + [len(row[index]) for row in self.cells])
                  for index, column in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(column.ljust(width) for column, width in zip(self.columns, widths)).rstrip())
        lines.append("  ".join("-" * width for width in widths))
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in self.cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(column)}</th>" for column in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in self.cells)
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def show_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None) -> Table:
    """Show ``rows`` (one dict per row) as one table; floats get 4 decimals below 10, else one. Returns the Table."""
    from IPython.display import display
    table = Table(rows, columns, title)
    display(table)
    return table


def show_side_by_side(images: dict[str, Path], legend: dict[str, str] | None = None, max_height: int = 900) -> None:
    """PNG images side by side under their titles (``{title: png}``), with an optional legend ``{colour: meaning}``."""
    from IPython.display import HTML, display
    keys = "".join(f'<span style="border:3px solid {color};padding:0 6px;margin-right:12px">'
                   f'{html.escape(meaning)}</span>' for color, meaning in (legend or {}).items())
    columns = "".join(
        f'<div style="flex:1;text-align:center"><b>{html.escape(title)}</b><br><img style="max-height:{max_height}px;'
        f'max-width:100%" src="data:image/png;base64,{base64.b64encode(Path(png).read_bytes()).decode()}"></div>'
        for title, png in images.items())
    display(HTML(f'<div>{keys}</div><div style="display:flex;gap:24px;align-items:flex-start">{columns}</div>'))


def run_tool(script: str, *arguments: str | Path, tail: int = 12) -> str:
    """Run ``python tools/<script> <arguments>``, print the last ``tail`` lines it wrote to stdout and return its whole
    output. The command is printed with paths (``Path`` arguments) relative to the repository, the rest as given."""
    shown = [config.shown_path(argument) if isinstance(argument, Path) else str(argument) for argument in arguments]
    print("$ python " + " ".join([f"tools/{script}", *shown]))
    passed = [str(argument.resolve()) if isinstance(argument, Path) else str(argument) for argument in arguments]
    result = subprocess.run([sys.executable, str(config.REPO_ROOT / "tools" / script), *passed],
                            capture_output=True, text=True, cwd=config.REPO_ROOT)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise config.TutorialError(f"tools/{script} failed (exit {result.returncode}):\n{output[-3000:]}")
    print("\n".join(result.stdout.strip().splitlines()[-tail:]))
    return output
