"""Mutation testing of the lesson code: do the tests of the graph reader, the surgery passes, the rule checker
and the quantization recipe notice when that code is wrong?

    make mutation                                      # every module, then the report
    python tools/mutation_testing.py --module surgery  # one module (the report keeps the others' last figures)
    python tools/mutation_testing.py --report-only     # rewrite the report from the last runs
    python tools/mutation_testing.py --recheck-survivors --module surgery  # only the last survivors, against new tests

mutmut (pinned in pyproject.toml's ``mutation`` extra) makes small deliberate bugs ("mutants") in one
module at a time, ``helpers/onnx_inspect.py`` (the graph reader the passes and the checker share),
``helpers/surgery.py``, ``helpers/qdq_rules.py``, ``helpers/quantization.py`` and ``helpers/beyond_ptq.py``, and runs that module's
own test file against each; a mutant is *killed* when a test fails. Each module runs in
its own scratch copy of the repository's helpers and tests under ``.mutation/<module>/`` (mutmut reads its
settings from the working folder, so this is how each module gets its own test file). For every mutant
mutmut runs only the tests of that file that call the mutated function (it records which ones in a first,
unmutated run), in file order, stopping at the first failure. A call made inside a session fixture is
credited to the first test that uses the fixture only, which can only leave a mutant alive, never kill one.

Three things keep the run complete, fair and tractable on 2 cores, all only in the scratch copy:

* mutmut skips decorated functions, which would leave out every rule of the checker (``@rule``) and the
  ``@torch.inference_mode()`` functions of the quantization recipe. The scratch copy writes them the
  equivalent undecorated way (``def f ...`` then ``f = rule(f)``), so they are mutated too.
* Each test runs in its own empty working folder (an autouse fixture added to the scratch conftest), so a mutant
  that writes a file to a relative path cannot leave it behind for the mutants after it.
* The real ResNet18 graphs of tests/conftest.py take about 2 s to export and fix. Where the mutated module
  plays no part in making a graph (``PREBUILT_GRAPHS``), the graph is made once, before any mutant, by those
  same fixtures with the unmutated helpers, and the scratch conftest copies it for each mutant.

A surviving mutant is either killed by a new test or listed in ``tools/mutation_equivalents.py`` with why no
test can tell it from the original. Writes ``results/mutation/mutation_report.md`` and ``mutation_report.json``;
exits 1 when a module has less than 90 % of its non-equivalent mutants detected. Not part of ``make test`` or CI.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from helpers.config import write_json  # noqa: E402
from helpers.envcheck import cpu_description  # noqa: E402
from mutation_equivalents import EQUIVALENT  # noqa: E402  (tools/, beside this file)

MODULES = {
    "onnx_inspect": "tests/test_onnx_inspect.py",
    "surgery": "tests/test_surgery.py",
    "qdq_rules": "tests/test_qdq_rules.py",
    "quantization": "tests/test_quantization.py",
    "beyond_ptq": "tests/test_beyond_ptq.py",
}
# What the test files import besides the helpers package and themselves.
TEST_SUPPORT_FILES = ["tests/conftest.py", "tests/qdq_graphs.py", "tests/synthetic.py"]
WORK_DIR = REPO_ROOT / ".mutation"
RESULTS_DIR = REPO_ROOT / "results" / "mutation"
REPORT_JSON = RESULTS_DIR / "mutation_report.json"
REPORT_MD = RESULTS_DIR / "mutation_report.md"
COMMAND = "make mutation"
TARGET_DETECTED = 0.90

# The conftest graphs the mutated module plays no part in making (surgery makes the fixed and fused
# graphs, quantization the raw export), so they can be made once with the unmutated helpers. The graph
# reader plays a part in making the fixed and fused graphs, but its test file checks what it reads on them,
# not how they were made: made once, they can only let a mutant of the reader live, never kill one.
PREBUILT_GRAPHS = {
    "onnx_inspect": ["resnet18_int8_raw_onnx", "resnet18_int8_fixed_onnx", "resnet18_int8_fused"],
    "surgery": ["resnet18_int8_raw_onnx"],
    "qdq_rules": ["resnet18_int8_raw_onnx", "resnet18_int8_fixed_onnx", "resnet18_int8_fused"],
    "quantization": [],
    "beyond_ptq": [],
}
PREBUILD_TEST = '''"""Written by tools/mutation_testing.py: keeps the conftest graphs made by the unmutated helpers."""
import shutil
from pathlib import Path


def test_keep_the_graphs(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, resnet18_int8_fused):
    folder = Path(__file__).resolve().parents[1] / "prebuilt"
    folder.mkdir(exist_ok=True)
    for path in (resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, resnet18_int8_fused.path):
        shutil.copyfile(path, folder / path.name)
'''
# Appended to the scratch conftest: the same fixtures, reading the graphs made before mutation (the later
# definition of a name is the one pytest uses). The fused fixture gives only ``.path``: test_qdq_rules.py and
# test_onnx_inspect.py use nothing else, and a test that did would fail mutmut's clean run, which comes before any mutant.
PREBUILT_FIXTURES = {
    "resnet18_int8_raw_onnx": '''
@pytest.fixture(scope="session")
def resnet18_int8_raw_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("resnet18_int8") / "resnet18_int8_raw.onnx"
    _shutil.copyfile(_PREBUILT / path.name, path)
    return path
''',
    "resnet18_int8_fixed_onnx": '''
@pytest.fixture(scope="session")
def resnet18_int8_fixed_onnx(resnet18_int8_raw_onnx):
    path = resnet18_int8_raw_onnx.with_name("resnet18_int8_trt.onnx")
    _shutil.copyfile(_PREBUILT / path.name, path)
    return path
''',
    "resnet18_int8_fused": '''
@pytest.fixture(scope="session")
def resnet18_int8_fused(resnet18_int8_fixed_onnx):
    path = resnet18_int8_fixed_onnx.with_name("resnet18_int8_trt_fused_residuals.onnx")
    _shutil.copyfile(_PREBUILT / path.name, path)
    return _SimpleNamespace(path=path)
''',
}

# Appended to every scratch conftest: a mutant that writes to a relative path (save_graph(graph, None) makes a
# file named "None") must not leave that file where the next mutant runs: a mutant reading "None" would then pass.
OWN_FOLDER_FIXTURE = '''

# --- appended by tools/mutation_testing.py: each test runs in its own empty folder ---
@pytest.fixture(autouse=True)
def _in_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
'''

# mutmut's statuses, grouped the way the report counts them ("no tests": no test of the file calls the function).
STATUS_GROUP = {"killed": "killed", "caught by type check": "killed", "segfault": "killed",
                "timeout": "timeout", "survived": "survived", "no tests": "survived", "suspicious": "survived"}


def mutmut_settings(module: str) -> str:
    return f"""
# --- written by tools/mutation_testing.py for helpers/{module}.py ---
[tool.mutmut]
source_paths = ["helpers"]
only_mutate = ["helpers/{module}.py"]
pytest_add_cli_args_test_selection = ["{MODULES[module]}"]
pytest_add_cli_args = ["-p", "no:cacheprovider"]
# torch is not safe to fork once it has run: each mutant forks from a server that has only collected the tests
process_isolation = "forkserver"
use_git_change_detection = false
# the shipped and QAT models (tests of notebook 07's helpers load them), linked into the scratch copy
also_copy = ["models"]
"""


def undecorated(source: str) -> str:
    """The same module with each decorated top-level function written as ``def f ...`` then ``f = deco(f)``
    (what the decorator syntax means), because mutmut does not mutate decorated functions."""
    lines = source.splitlines(keepends=True)
    functions = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.decorator_list]
    for node in reversed(functions):
        wrapped = node.name
        for decorator in reversed(node.decorator_list):
            wrapped = f"{ast.get_source_segment(source, decorator)}({wrapped})"
        lines[node.end_lineno:node.end_lineno] = [f"{node.name} = {wrapped}\n"]
        del lines[node.decorator_list[0].lineno - 1:node.lineno - 1]
    return "".join(lines)


def prepare(module: str) -> Path:
    """A fresh scratch copy: helpers/ (the mutated module undecorated), the module's test file with what it
    imports, the prebuilt graphs, and a pyproject.toml whose [tool.mutmut] section selects this module and file."""
    work = WORK_DIR / module
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(REPO_ROOT / "helpers", work / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "models").symlink_to(REPO_ROOT / "models")
    mutated = work / "helpers" / f"{module}.py"
    mutated.write_text(undecorated(mutated.read_text()))
    (work / "tests").mkdir()
    for name in [*TEST_SUPPORT_FILES, MODULES[module]]:
        shutil.copy2(REPO_ROOT / name, work / name)
    (work / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text() + mutmut_settings(module))
    with open(work / "tests" / "conftest.py", "a") as conftest:
        conftest.write(OWN_FOLDER_FIXTURE)
    if PREBUILT_GRAPHS[module]:
        prebuild = work / "tests" / "test_prebuild_graphs.py"
        prebuild.write_text(PREBUILD_TEST)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(prebuild.relative_to(work))],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
        prebuild.unlink()
        with open(work / "tests" / "conftest.py", "a") as conftest:
            conftest.write("\n\n# --- appended by tools/mutation_testing.py: graphs made before mutation ---\n"
                           "import shutil as _shutil\nfrom pathlib import Path as _Path\nfrom types import SimpleNamespace as _SimpleNamespace\n"
                           f"_PREBUILT = _Path({str(work / 'prebuilt')!r})\n")
            conftest.writelines(PREBUILT_FIXTURES[name] for name in PREBUILT_GRAPHS[module])
    return work


def mutmut_executable() -> str:
    return str(Path(sys.executable).with_name("mutmut"))


def run_mutmut(module: str, max_children: int) -> float:
    started = time.perf_counter()
    work = prepare(module)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    log_path = work / "mutmut.log"
    with open(log_path, "w") as log:
        result = subprocess.run([mutmut_executable(), "run", "--max-children", str(max_children)], cwd=work,
                                env=environment, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"mutmut failed for helpers/{module}.py (exit {result.returncode}); "
                         f"the end of {log_path}:\n{log_path.read_text()[-3000:]}")
    return time.perf_counter() - started


def recheck_survivors(module: str, max_children: int) -> float:
    """Run the survivors of the last run again against the current test files (copied into the scratch copy;
    its conftest, with the prebuilt graphs, stays). mutmut first records which of the new tests call what."""
    started = time.perf_counter()
    work = WORK_DIR / module
    for name in [*TEST_SUPPORT_FILES, MODULES[module]]:
        if not name.endswith("conftest.py"):
            shutil.copy2(REPO_ROOT / name, work / name)
    survivors = [name for name, status in mutant_statuses(module).items() if STATUS_GROUP.get(status) == "survived"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    with open(work / "mutmut-recheck.log", "w") as log:
        subprocess.run([mutmut_executable(), "run", "--max-children", str(max_children), *survivors], cwd=work,
                       env=environment, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def mutant_statuses(module: str) -> dict[str, str]:
    """Mutant name -> mutmut's status, from the record mutmut keeps beside the mutated copy."""
    from mutmut.stats import status_by_exit_code

    meta = WORK_DIR / module / "mutants" / "helpers" / f"{module}.py.meta"
    exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in exit_codes.items()}


def mutant_diffs(module: str, names: list[str]) -> dict[str, str]:
    """What ``mutmut show`` prints for each mutant (mutmut reads its settings from the scratch folder)."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant

    here = os.getcwd()
    os.chdir(WORK_DIR / module)
    reset_config()
    try:
        return {name: get_diff_for_mutant(name, path=find_mutant(name).path) for name in names}
    finally:
        os.chdir(here)
        reset_config()


def changed_lines(diff: str) -> tuple[str, str]:
    """The original and the mutated line(s) of a mutant's diff, whitespace-stripped."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(removed), " / ".join(added)


def function_of(name: str) -> str:
    """helpers.qdq_rules.x_positive_scale__mutmut_12 -> positive_scale; helpers.m.xǁFindingǁmethod__mutmut_1 -> Finding.method."""
    mangled = re.sub(r"__mutmut_\d+$", "", name.rsplit(".", 1)[-1])
    return mangled[2:] if mangled.startswith("x_") else ".".join(mangled.split("ǁ")[1:])


def equivalence_reason(module: str, function: str, original: str, mutated: str) -> str | None:
    return next((reason for (entry_module, entry_function, entry_original, entry_mutated, reason) in EQUIVALENT
                 if (entry_module, entry_function, entry_original, entry_mutated) == (module, function, original, mutated)),
                None)


def summarize(module: str, seconds: float | None) -> dict:
    statuses = mutant_statuses(module)
    counts = {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0}
    survivors, equivalents = [], []
    diffs = mutant_diffs(module, [name for name, status in statuses.items() if STATUS_GROUP.get(status, "survived") == "survived"])
    for name, status in sorted(statuses.items(), key=lambda item: (function_of(item[0]), len(item[0]), item[0])):
        group = STATUS_GROUP.get(status, "survived")
        if group != "survived":
            counts[group] += 1
            continue
        original, mutated = changed_lines(diffs[name])
        entry = {"mutant": name, "function": function_of(name), "status": status, "original": original, "mutated": mutated}
        reason = equivalence_reason(module, entry["function"], original, mutated)
        if reason:
            counts["equivalent"] += 1
            equivalents.append({**entry, "reason": reason})
        else:
            counts["survived"] += 1
            survivors.append(entry)
    non_equivalent = len(statuses) - counts["equivalent"]
    detected = counts["killed"] + counts["timeout"]  # a timeout: the tests stopped a mutant that never finishes
    return {"module": f"helpers/{module}.py", "test_file": MODULES[module], "mutants": len(statuses), **counts,
            "non_equivalent": non_equivalent, "detected": detected,
            "detected_share": round(detected / non_equivalent, 4) if non_equivalent else None,
            "prebuilt_graphs": PREBUILT_GRAPHS[module], "seconds": None if seconds is None else round(seconds),
            "survivors": survivors, "equivalents": equivalents}


def format_report(record: dict) -> str:
    lines = [
        "# Mutation testing of the lesson code",
        "",
        f"Made by `{record['command']}` (which runs `python tools/mutation_testing.py`) on {record['date']}: "
        f"mutmut {record['mutmut']}, Python {record['python']}, {record['machine']}, "
        f"{record['max_children']} mutants at a time.",
        f"Time: {record['total_seconds'] / 60:.0f} min for the modules together (the \"minutes\" column; each "
        "includes copying the module and making its prebuilt graphs).",
        "",
        "Each module is mutated alone and tested with its own test file only. For each mutant mutmut runs the "
        "tests of that file that call the mutated function, in file order, stopping at the first failure; no test is "
        "left out for speed (the slowest, on the real ResNet18 graphs, take a few seconds). mutmut credits a call made "
        "inside a session fixture to the first test that uses the fixture only; that can leave a mutant alive, never "
        "kill one. *Killed*: a test failed. "
        "*Timeout*: the tests did not finish in time (counted as detected). *Survived*: every test passed "
        "(including mutants of functions no test of the file calls). *Equivalent*: a survivor that no test can tell "
        "from the original, with the reason below.",
        "",
        "| module | test file | mutants | killed | timeout | survived | equivalent | detected / non-equivalent | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for summary in record["modules"]:
        minutes = "" if summary["seconds"] is None else f"{summary['seconds'] / 60:.1f}"
        if summary.get("recheck_seconds"):
            minutes += f" + {summary['recheck_seconds'] / 60:.1f} (recheck)"
        lines.append(f"| `{summary['module']}` | `{summary['test_file']}` | {summary['mutants']} | {summary['killed']} | "
                     f"{summary['timeout']} | {summary['survived']} | {summary['equivalent']} | "
                     f"{summary['detected']} / {summary['non_equivalent']} = {summary['detected_share']:.1%} | {minutes} |")
    if any(summary.get("recheck_seconds") for summary in record["modules"]):
        lines += ["", "\"(recheck)\": the survivors of that module's run were run again (`python tools/mutation_testing.py "
                  "--recheck-survivors`) against the tests written after it; the mutants it had killed stay killed, "
                  "since tests were only added."]
    lines += [
        "",
        f"Target: at least {TARGET_DETECTED:.0%} of the non-equivalent mutants detected in each module.",
        "",
        "In the scratch copy only, each test runs in its own empty folder (so a mutant that writes a file named "
        "`None` cannot leave it for the next mutant), decorated functions (the checker's `@rule` functions, quantization's "
        "`@torch.inference_mode()` ones) are written undecorated (`f = rule(f)`) so that mutmut mutates them, and "
        "the real ResNet18 graphs that the mutated module plays no part in making are made once, before mutation, "
        "by the conftest fixtures: " + "; ".join(f"`{s['module']}`: {', '.join(s['prebuilt_graphs']) or 'none'}"
                                                   for s in record["modules"]) + ".",
    ]
    for summary in record["modules"]:
        lines += ["", f"## `{summary['module']}`"]
        if summary["survivors"]:
            lines += ["", f"Surviving mutants ({len(summary['survivors'])}), not yet killed by a test:", ""]
            lines += [f"- `{s['function']}`: `{s['original']}` -> `{s['mutated']}` ({s['status']})" for s in summary["survivors"]]
        if summary["equivalents"]:
            lines += ["", f"Equivalent mutants ({len(summary['equivalents'])}):", ""]
            lines += [f"- `{s['function']}`: `{s['original']}` -> `{s['mutated']}`. {s['reason']}" for s in summary["equivalents"]]
        if not summary["survivors"] and not summary["equivalents"]:
            lines += ["", "Every mutant was detected."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", choices=list(MODULES), action="append",
                        help="mutate only this module (repeatable); default: all")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at a time")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the last runs")
    parser.add_argument("--recheck-survivors", action="store_true",
                        help="run only the last run's survivors again, against the current tests")
    args = parser.parse_args(argv)
    previous = json.loads(REPORT_JSON.read_text()) if REPORT_JSON.is_file() else {"modules": []}
    seconds = {summary["module"]: summary["seconds"] for summary in previous["modules"]}
    rechecks = {summary["module"]: summary.get("recheck_seconds") for summary in previous["modules"]}
    if args.recheck_survivors:
        for module in args.module or list(MODULES):
            print(f"rechecking the survivors of helpers/{module}.py against the current {MODULES[module]} ...", flush=True)
            rechecks[f"helpers/{module}.py"] = recheck_survivors(module, args.max_children)
    elif not args.report_only:
        for module in args.module or list(MODULES):
            print(f"mutating helpers/{module}.py, tested by {MODULES[module]} ...", flush=True)
            seconds[f"helpers/{module}.py"] = run_mutmut(module, args.max_children)
            rechecks[f"helpers/{module}.py"] = None
            print(f"  done in {seconds[f'helpers/{module}.py'] / 60:.1f} min", flush=True)
    summaries = [{**summarize(module, seconds.get(f"helpers/{module}.py")), "recheck_seconds": rechecks.get(f"helpers/{module}.py")}
                 for module in MODULES if (WORK_DIR / module / "mutants").is_dir()]
    record = {
        "command": COMMAND,
        "date": datetime.date.today().isoformat(),
        "mutmut": importlib.metadata.version("mutmut"),
        "python": platform.python_version(),
        "machine": cpu_description(),
        "max_children": args.max_children,
        "total_seconds": round(sum(summary["seconds"] or 0 for summary in summaries)),
        "modules": summaries,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    write_json(REPORT_JSON, record)
    REPORT_MD.write_text(format_report(record))
    for summary in summaries:
        print(f"{summary['module']}: {summary['detected']} / {summary['non_equivalent']} non-equivalent mutants detected "
              f"({summary['detected_share']:.1%}), {summary['survived']} surviving, {summary['equivalent']} equivalent")
    print(f"report: {REPORT_MD.relative_to(REPO_ROOT)}")
    below = [s["module"] for s in summaries if s["detected_share"] is not None and s["detected_share"] < TARGET_DETECTED]
    if below:
        print(f"below the {TARGET_DETECTED:.0%} target: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
