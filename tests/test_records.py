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


def test_the_ci_record_takes_each_parts_time_from_the_lines_the_makefile_prints():
    log = ("notebook tests (00-06) took 455 s\n"
           "============ 549 passed, 1 skipped in 300.1s ============\nunit tests took 305 s\n"
           "============ 17 passed in 99.0s ============\nnotebook tests (07) took 101 s\n")
    record = records.ci_run_record(log, install_seconds=180, test_seconds=470)
    assert (record["unit_tests_seconds"], record["notebook_tests_00_06_seconds"], record["notebook_tests_07_seconds"]) == (305, 455, 101)
    assert record["total_seconds"] == 650 and record["summaries"] == ["549 passed, 1 skipped in 300.1s", "17 passed in 99.0s"]
    assert records.ci_run_record("", 1, 2)["unit_tests_seconds"] is None  # a part that printed nothing has no time


def test_the_makefile_prints_the_lines_the_ci_record_reads():
    makefile = (records.REPO_ROOT / "Makefile").read_text()
    for label in ("unit tests took %0R s", "notebook tests (00-06) took %0R s", "notebook tests (07) took %0R s"):
        assert f"TIMEFORMAT='{label}'" in makefile, label
