"""Run records: which commit a tool's output came from. Imported by the tools beside it (tools/ is on sys.path
when a tool runs as `python tools/<name>.py`)."""

from __future__ import annotations

import os
import subprocess
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
