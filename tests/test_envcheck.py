"""helpers.envcheck: every check reports honestly, and each missing piece says what it costs."""

from helpers import envcheck
from helpers.data import ARCHIVE_ENV
from helpers.netron_render import CHROMIUM_ENV, browser_unavailable_reason, chromium_executable


def test_checks_cover_the_pieces_notebook_00_promises():
    names = {check.name for check in envcheck.run_all_checks()}
    assert {"torch", "onnxruntime", "qnnpack engine", "CUDA GPU", "TensorRT", "pycuda", "headless browser", "CIFAR-10"} <= names


def test_installed_packages_are_found_and_missing_modules_explained():
    checks = {check.name: check for check in envcheck.check_core_packages()}
    assert checks["torch"].ok and checks["onnx"].ok
    assert envcheck.import_problem("json") is None
    assert envcheck.import_problem("no_such_module_xyz").startswith("ModuleNotFoundError")


def test_tensorrt_check_matches_reality():
    check = envcheck.check_tensorrt()
    assert check.ok == (envcheck.import_problem("tensorrt") is None)
    if not check.ok:
        assert "notebook 04" in check.cost_if_missing


def test_missing_tensorrt_says_why_and_what_it_costs(monkeypatch):
    problem = "ModuleNotFoundError: No module named 'tensorrt'"
    monkeypatch.setattr(envcheck, "import_problem", lambda name: problem if name == "tensorrt" else None)
    check = envcheck.check_tensorrt()
    assert not check.ok and check.detail == problem
    assert "notebook 04 skips engine builds" in check.cost_if_missing and "pip install tensorrt" in check.cost_if_missing


def test_browser_check_is_the_one_notebooks_03_and_05_make():
    check, reason = envcheck.check_browser(), browser_unavailable_reason()
    assert check.ok == (reason is None)
    if reason:
        assert check.detail == reason
    else:
        assert chromium_executable() in check.detail


def test_browser_check_follows_netron_chromium(monkeypatch, tmp_path):
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-such-browser"))
    check = envcheck.check_browser()
    assert not check.ok
    assert CHROMIUM_ENV in check.detail and "notebooks 03 and 05" in check.cost_if_missing


def test_missing_pieces_are_listed_with_their_cost():
    checks = [envcheck.Check("thing", False, "absent", "notebook 9 skips"), envcheck.Check("other", True, "1.0", "")]
    text = envcheck.format_checks(checks)
    assert "MISSING" in text and "thing: notebook 9 skips" in text
    assert "Everything is here" in envcheck.format_checks(checks[1:])


def test_dataset_check_reports_a_missing_archive(monkeypatch, tmp_path):
    monkeypatch.setenv(ARCHIVE_ENV, str(tmp_path / "nope.tar.xz"))
    check = envcheck.check_dataset()
    assert not check.ok and "not found" in check.detail


def test_int8_instruction_sets_are_read_from_the_cpu_flags():
    found = envcheck.int8_instruction_sets({"sse4_2", "avx2", "avx512_vnni"})
    assert found == {"AVX2": True, "AVX-512 VNNI": True, "AVX-VNNI": False, "AMX-INT8": False, "ARM dot product": False}
    assert envcheck.int8_instruction_sets({"asimd", "asimddp"})["ARM dot product"] is True
    assert set(envcheck.int8_instruction_sets()) == set(envcheck.INT8_INSTRUCTION_SETS.values())
