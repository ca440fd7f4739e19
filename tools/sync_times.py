"""One source for every time the series prints: the committed run records, copied into the texts that quote them.

    python tools/sync_times.py           # rewrite the marked places from the records
    python tools/sync_times.py --check   # fail if a marked place differs from what the records say (a test runs this)

Records (each says its machine and commit):
* results/laptop-path/executed/run_info.json - `make tutorial` (quick profile) on this project's 2-core CPU machine;
* results/executed-full-profile/run_info.json - `make executed-notebooks` (full profile) on the GPU machine;
* results/laptop-path/ci_run.json          - `bash .ci/run` in a fresh clone (installs, unit tests, notebook tests).

Marked places, between ``<!-- times:KEY -->`` and ``<!-- /times -->``: the header of each notebook in notebooks/ (KEY =
the notebook's number) and of its executed copies in results/executed-full-profile/ and results/laptop-path/executed/, the README's tables (KEY =
"notebooks", "commands") and WORKSHOP.md's (KEY = "notebooks"). A notebook no record has a time for says "not measured"
instead of a number: no figure that no run produced is printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAPTOP = REPO_ROOT / "results" / "laptop-path" / "executed" / "run_info.json"
GPU = REPO_ROOT / "results" / "executed-full-profile" / "run_info.json"
CI = REPO_ROOT / "results" / "laptop-path" / "ci_run.json"
MARKED = re.compile(r"<!-- times:(\w+) -->.*?<!-- /times -->", re.S)


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def notebook_seconds(record: dict | None, prefix: str) -> int | None:
    for run in (record or {}).get("notebooks", []):
        if run["notebook"].startswith(prefix) and run.get("outcome") == "ran" and run.get("seconds") is not None:
            return int(run["seconds"])
    return None


def where(record: dict) -> str:
    """'2-core AMD EPYC, commit 1a2b3c4' / 'NVIDIA H200, commit 1a2b3c4'."""
    machine = record["device"] if record["device"] != "cpu" else "{}-core {}".format(
        record["cpu"].rsplit(", ", 1)[1].split()[0], record["cpu"].rsplit(", ", 1)[0])
    return f"{machine}, commit `{record['git_commit'][:7]}`"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "not measured"
    if seconds == 0:  # the notebook printed "finished in 0 s": less than half a second between its first and last cell
        return "under 1 s"
    return f"{seconds} s" if seconds < 120 else f"{seconds} s ({seconds / 60:.1f} min)"


def header_times(prefix: str, laptop: dict | None, gpu: dict | None) -> str:
    """The 'Time' line of a notebook's header."""
    parts = []
    for label, record in (("laptop path", laptop), ("GPU path", gpu)):
        seconds = notebook_seconds(record, prefix)
        parts.append(f"{label} {duration(seconds)}" + (f" ({where(record)})" if seconds is not None else ""))
    return "**Time (measured, from the run records in `results/`):** " + "; ".join(parts) + "."


def notebooks_table(laptop: dict | None, gpu: dict | None) -> str:
    names = sorted(path.stem for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    lines = ["| notebook | laptop path | GPU path |", "|---|---|---|"]
    lines += [f"| `{name}` | {duration(notebook_seconds(laptop, name[:2]))} | {duration(notebook_seconds(gpu, name[:2]))} |"
              for name in names]
    sources = [f"laptop path: `make tutorial` on {where(laptop)}" if laptop else "laptop path: no record yet",
               f"GPU path: `make executed-notebooks` on {where(gpu)}" if gpu else "GPU path: no record yet"]
    return "\n".join(lines) + "\n\nEach time is the one the notebook printed in its last cell (" + "; ".join(sources) + ")."


def commands_table(laptop: dict | None, ci: dict | None) -> str:
    lines = ["| command | what it ran | time |", "|---|---|---|"]
    if laptop:
        total = sum(run.get("runner_seconds", 0) for run in laptop["notebooks"])
        lines.append(f"| `make tutorial` | notebooks {laptop['notebooks'][0]['notebook'][:2]}-{laptop['notebooks'][-1]['notebook'][:2]}, "
                     f"quick profile ({where(laptop)}) | {duration(round(total))} of notebooks, installs excluded |")
    if ci:
        lines.append(f"| `make test` | notebooks 00-06 {duration(ci['notebook_tests_00_06_seconds'])} beside unit tests "
                     f"{duration(ci['unit_tests_seconds'])} then notebook 07 {duration(ci['notebook_tests_07_seconds'])}, "
                     f"ModelOpt's environment present, as `.ci/run` calls it ({where(ci)}) | "
                     f"{duration(ci['test_seconds'])}, installs excluded |")
        lines.append(f"| `bash .ci/run` | installs {duration(ci['install_seconds'])} and `make test` | {duration(ci['total_seconds'])} |")
    return "\n".join(lines)


def rendered(key: str, laptop: dict | None, gpu: dict | None, ci: dict | None) -> str:
    if key.isdigit():
        body = header_times(key, laptop, gpu)
    elif key == "notebooks":
        body = notebooks_table(laptop, gpu)
    elif key == "commands":
        body = commands_table(laptop, ci)
    else:
        raise ValueError(f"unknown times marker {key!r}")
    return f"<!-- times:{key} -->\n{body}\n<!-- /times -->"


def synced(text: str, laptop, gpu, ci) -> str:
    return MARKED.sub(lambda match: rendered(match.group(1), laptop, gpu, ci), text)


def targets() -> list[Path]:
    return [*sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")),
            *sorted((REPO_ROOT / "results" / "executed-full-profile").glob("[0-9][0-9]_*.ipynb")),
            *sorted((REPO_ROOT / "results" / "laptop-path" / "executed").glob("[0-9][0-9]_*.ipynb")),
            REPO_ROOT / "README.md", REPO_ROOT / "WORKSHOP.md"]


def sync_file(path: Path, laptop, gpu, ci) -> str:
    """The file's new text (notebooks: only their markdown cells change)."""
    if path.suffix != ".ipynb":
        return synced(path.read_text(), laptop, gpu, ci)
    import nbformat

    notebook = nbformat.reads(path.read_text(), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = synced(cell.source, laptop, gpu, ci)
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a marked place differs from the records")
    args = parser.parse_args(argv)
    laptop, gpu, ci = read(LAPTOP), read(GPU), read(CI)
    differing = []
    for path in targets():
        text = sync_file(path, laptop, gpu, ci)
        if text != path.read_text():
            differing.append(str(path.relative_to(REPO_ROOT)))
            if not args.check:
                path.write_text(text)
    if args.check and differing:
        print("times differ from the run records in: " + ", ".join(differing) + " (run `python tools/sync_times.py`)",
              file=sys.stderr)
        return 1
    print(("checked " if args.check else "synced ") + f"{len(targets())} files" + (f"; rewrote {len(differing)}" if differing and not args.check else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
