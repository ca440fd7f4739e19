"""Every time the series prints comes from a committed run record (tools/sync_times.py), and each record names its
machine and commit."""

from __future__ import annotations

import re
import subprocess
import sys

import sync_times  # tools/ (tests/conftest.py puts it on sys.path)

LAPTOP = {"device": "cpu", "cpu": "AMD EPYC, 2 logical cores", "git_commit": "1234567890abcdef",
          "notebooks": [{"notebook": "01_train.ipynb", "outcome": "ran", "seconds": 51, "runner_seconds": 53.2},
                        {"notebook": "02_quantize.ipynb", "outcome": "failed"}]}
GPU = {"device": "NVIDIA H200", "cpu": "Intel Xeon, 16 logical cores", "git_commit": "abcdef1234567890",
       "notebooks": [{"notebook": "01_train.ipynb", "outcome": "ran", "seconds": 284, "runner_seconds": 290.0}]}


def test_the_marked_places_agree_with_the_run_records():
    result = subprocess.run([sys.executable, str(sync_times.__file__), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_header_names_each_time_with_its_machine_and_commit():
    line = sync_times.header_times("01", LAPTOP, GPU)
    assert "laptop path 51 s (2-core AMD EPYC, commit `1234567`)" in line
    assert "GPU path 284 s (4.7 min) (NVIDIA H200, commit `abcdef1`)" in line


def test_a_notebook_that_printed_0_s_is_said_to_take_under_a_second():
    record = {**LAPTOP, "notebooks": [{"notebook": "00_check.ipynb", "outcome": "ran", "seconds": 0}]}
    assert "laptop path under 1 s (2-core AMD EPYC" in sync_times.header_times("00", record, None)


def test_a_notebook_no_run_measured_gets_no_number():
    line = sync_times.header_times("02", LAPTOP, GPU)  # failed on the laptop, never run on the GPU
    assert "laptop path not measured" in line and "GPU path not measured" in line
    assert not re.search(r"\d+ s\b", line)
    assert "not measured" in sync_times.header_times("07", None, None)


def test_every_notebook_header_and_executed_copy_has_its_marker():
    for path in sync_times.targets():
        text = path.read_text()
        if path.suffix == ".ipynb":
            assert f"<!-- times:{path.name[:2]} -->" in text, f"{path.name} has no times marker in its header"
    readme = (sync_times.REPO_ROOT / "README.md").read_text()
    assert "<!-- times:notebooks -->" in readme and "<!-- times:commands -->" in readme


def test_a_marked_place_is_rewritten_from_the_records():
    text = "before\n<!-- times:01 -->\nsomething stale: 999 s\n<!-- /times -->\nafter"
    synced = sync_times.synced(text, LAPTOP, GPU, None)
    assert "999" not in synced and "51 s" in synced and synced.startswith("before\n") and synced.endswith("\nafter")
    assert sync_times.synced(synced, LAPTOP, GPU, None) == synced


def test_the_commands_table_gives_each_part_of_make_test_as_its_ci_record_measured_it():
    record = {"device": "cpu", "cpu": "AMD EPYC, 2 logical cores", "git_commit": "86e78b6abc", "install_seconds": 216,
              "unit_tests_seconds": 305, "notebook_tests_00_06_seconds": 455, "notebook_tests_07_seconds": 101,
              "test_seconds": 470, "total_seconds": 686}
    table = sync_times.commands_table(None, record)
    assert "notebooks 00-06 455 s (7.6 min) beside unit tests 305 s (5.1 min) then notebook 07 101 s" in table
    assert "| 470 s (7.8 min), installs excluded |" in table and "| 686 s (11.4 min) |" in table
