"""tools/records.py: the commit run records cite."""

from __future__ import annotations

import re
import subprocess

import records  # tools/ (tests/conftest.py puts it on sys.path)


def test_git_commit_names_this_checkout_or_the_commit_a_copy_was_made_from(monkeypatch, tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=records.REPO_ROOT).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}(\+changes)?", records.git_commit()) and records.git_commit().startswith(head)
    monkeypatch.setenv("TUTORIAL_GIT_COMMIT", "a7a39aa")
    assert records.git_commit(tmp_path) == "a7a39aa (copy without .git)"  # a work-tree copy without .git
