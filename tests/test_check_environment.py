"""tools/check_environment.py (notebook 00, `make check`): every check reports honestly, each missing piece says what
it costs, versions are held against the pins, and a missing required piece fails the check."""

import subprocess
import sys
from pathlib import Path

import onnx

import check_environment
from helpers import envcheck
from helpers.data import ARCHIVE_ENV
from helpers.envcheck import CHROMIUM_ENV, chromium_executable
from netron_render import CHROMIUM_ARGS, drawn_node_types, netron_export


def test_checks_cover_the_pieces_notebook_00_promises():
    names = {check.name for check in check_environment.run_all_checks()}
    assert {"torch", "onnxruntime", "qnnpack engine", "CUDA GPU", "TensorRT", "pycuda", "headless browser", "CIFAR-10"} <= names


def test_installed_packages_are_found_and_missing_modules_explained():
    checks = {check.name: check for check in check_environment.check_core_packages()}
    assert checks["torch"].ok and checks["onnx"].ok
    assert envcheck.import_problem("json") is None
    assert envcheck.import_problem("no_such_module_xyz").startswith("ModuleNotFoundError")


def test_tensorrt_check_agrees_with_a_fresh_interpreter():
    """The independent truth: does `import tensorrt` work in a new Python process?"""
    imports = subprocess.run([sys.executable, "-c", "import tensorrt"], capture_output=True).returncode == 0
    check = check_environment.check_tensorrt()
    assert check.ok == imports
    if imports:
        assert check.detail.startswith("tensorrt ") and check.cost_if_missing == ""
    else:
        assert "tensorrt" in check.detail and "notebook 04" in check.cost_if_missing


def test_missing_tensorrt_says_why_and_what_it_costs(monkeypatch):
    problem = "ModuleNotFoundError: No module named 'tensorrt'"
    monkeypatch.setattr(check_environment, "import_problem", lambda name: problem if name == "tensorrt" else None)
    check = check_environment.check_tensorrt()
    assert not check.ok and check.detail == problem
    assert "notebook 04 skips engine builds" in check.cost_if_missing and "pip install tensorrt" in check.cost_if_missing


def one_relu_onnx(folder: Path) -> Path:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"], name="relu")], "one_relu", [x], [y])
    path = folder / "one_relu.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(path))
    return path


def test_browser_check_says_ok_exactly_where_netron_can_render(tmp_path):
    """The independent truth is a render in a Chromium launched here directly (tools/netron_render.py's
    headless_chromium would ask the check first)."""
    check = check_environment.check_browser()
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, timeout=60_000)
            try:
                svg = netron_export(browser, one_relu_onnx(tmp_path), "svg").data
            finally:
                browser.close()
        renders = drawn_node_types(svg)["Relu"] == 1
    except Exception:  # no Chromium, no playwright: the render itself fails
        renders = False
    if renders and not check.ok:
        assert "font" in check.detail  # it renders, but the brackets Netron draws would come out as boxes
    else:
        assert check.ok == renders
    if check.ok:
        assert Path(chromium_executable()).name in check.detail and "/" not in check.detail  # no machine path shown


def test_browser_check_follows_netron_chromium(monkeypatch, tmp_path):
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-such-browser"))
    check = check_environment.check_browser()
    assert not check.ok
    assert CHROMIUM_ENV in check.detail and "notebooks 03 and 05" in check.cost_if_missing


def test_missing_pieces_are_listed_with_their_cost():
    checks = [check_environment.Check("thing", False, "absent", "notebook 9 skips"), check_environment.Check("other", True, "1.0", "")]
    text = check_environment.format_checks(checks)
    assert "MISSING" in text and "thing: notebook 9 skips" in text
    assert "Everything is here" in check_environment.format_checks(checks[1:])


def test_versions_are_held_against_the_pins_ignoring_build_tags(monkeypatch):
    running = {"torch": "2.14.1+cu130", "numpy": "1.25.0", "onnx": None}
    monkeypatch.setattr(check_environment, "package_version", running.get)
    rows = check_environment.version_differences({"torch": "==2.14.1", "numpy": ">=1.26", "onnx": ">=1.17"})
    assert [(row["package"], row["running"], row["as pinned"]) for row in rows] == [
        ("torch", "2.14.1+cu130", "yes"), ("numpy", "1.25.0", "NO"), ("onnx", "not installed", "NO")]
    text = check_environment.format_versions(rows)
    assert "2 of 3 differ from the pins: numpy 1.25.0, onnx not installed" in text
    assert "run as pinned" in check_environment.format_versions(rows[:1])


def test_the_pins_are_read_from_pyproject():
    rows = {row["package"]: row for row in check_environment.version_differences()}
    assert rows["torch"]["pinned"].startswith("==") and {"torchvision", "onnx", "onnxruntime"} <= set(rows)
    assert rows["numpy"]["running"] == envcheck.package_version("numpy")


def test_the_check_fails_exactly_when_a_required_piece_is_missing(monkeypatch, capsys):
    present = [check_environment.Check(name, True, "1.0", "") for name in check_environment.REQUIRED]
    optional_missing = check_environment.Check("TensorRT", False, "absent", "notebook 04 skips")
    monkeypatch.setattr(check_environment, "run_all_checks", lambda: [*present, optional_missing])
    assert check_environment.main() == 0
    assert "All required pieces are present." in capsys.readouterr().out
    present[-1] = check_environment.Check("qnnpack engine", False, "engines []", "notebook 02 cannot quantize")
    assert check_environment.main() == 1
    assert "Install these before going on (run `make setup`): qnnpack engine" in capsys.readouterr().out


def test_the_check_runs_from_the_shell():
    result = subprocess.run([sys.executable, str(Path(check_environment.__file__))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "qnnpack engine" in result.stdout and "Pinned in pyproject.toml" in result.stdout


def test_dataset_check_reports_a_missing_archive(monkeypatch, tmp_path):
    monkeypatch.setenv(ARCHIVE_ENV, str(tmp_path / "nope.tar.xz"))
    check = check_environment.check_dataset()
    assert not check.ok and "not found" in check.detail

