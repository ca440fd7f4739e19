"""Run records: which commit a tool's output came from. Imported by the tools beside it (tools/ is on sys.path
when a tool runs as `python tools/<name>.py`)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_commit(repo_root: Path = REPO_ROOT) -> str:
    """The commit this checkout is at, with "+changes" when tracked files differ from it (run records cite it).

    In a copy of the work tree without ``.git`` (a rented GPU machine), the commit the caller names in
    ``$TUTORIAL_GIT_COMMIT``, marked as such.
    """
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=repo_root, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "HEAD")
    if not head:
        return os.environ.get("TUTORIAL_GIT_COMMIT", "unknown") + " (copy without .git)"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def ci_run_record(log: str, install_seconds: int, test_seconds: int) -> dict:
    """What `.ci/run` measured: its phases' seconds (the test parts from the lines the Makefile prints), machine, commit."""
    sys.path.insert(0, str(REPO_ROOT))
    from helpers.envcheck import machine_record

    def took(part: str) -> int | None:
        found = re.findall(rf"^{re.escape(part)} took (\d+) s$", log, re.M)
        return int(found[-1]) if found else None

    machine = machine_record()
    return {"made_by": "bash .ci/run (MODELOPT=1 make test: notebooks 00-06 beside the unit tests, then notebook 07)",
            "git_commit": git_commit(), "device": (machine["gpu"] or {}).get("name") or "cpu", "cpu": machine["cpu"],
            "versions": machine["versions"], "install_seconds": install_seconds, "unit_tests_seconds": took("unit tests"),
            "notebook_tests_00_06_seconds": took("notebook tests (00-06)"),
            "notebook_tests_07_seconds": took("notebook tests (07)"), "test_seconds": test_seconds,
            "total_seconds": install_seconds + test_seconds,
            "summaries": re.findall(r"^=+ (.*(?:passed|failed).*) =+$", log, re.M)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the record of a CI run (called by .ci/run).")
    parser.add_argument("command", choices=["ci-run"])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--install-seconds", type=int, required=True)
    parser.add_argument("--test-seconds", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    record = ci_run_record(args.log.read_text(), args.install_seconds, args.test_seconds)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
