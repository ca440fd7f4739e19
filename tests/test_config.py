"""helpers.config: profile choice, artifacts folder, messages that name the notebook to run."""

import pytest
import torch

from helpers import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "FULL")
    assert config.get_profile().name == "full"
    monkeypatch.setenv(config.PROFILE_ENV, "quick")
    assert config.get_profile().name == "quick"


def test_default_profile_follows_the_device(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    expected = "full" if torch.cuda.is_available() else "quick"
    assert config.get_profile().name == expected


def test_unknown_profile_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "fast")
    with pytest.raises(config.TutorialError, match=r"Unknown profile 'fast'.*\['full', 'quick', 'test'\]"):
        config.get_profile()


def test_quick_profile_is_small():
    quick, full = config.PROFILES["quick"], config.PROFILES["full"]
    assert quick.train_images and quick.train_images <= 5000 and full.train_images is None and full.test_images is None
    assert max(full.benchmark_batch_sizes) >= 256


def test_missing_artifact_names_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ARTIFACTS_ENV, str(tmp_path))
    quick = config.PROFILES["quick"]
    with pytest.raises(config.TutorialError, match="01_train_fp32_resnet18.ipynb"):
        config.require_artifact("fp32_checkpoint", quick)
    path = config.artifact_path("fp32_checkpoint", quick)
    assert path.parent == tmp_path / "quick"
    path.write_bytes(b"x")
    assert config.require_artifact("fp32_checkpoint", quick) == path


def test_every_artifact_names_an_existing_notebook():
    notebooks = {path.name for path in (config.REPO_ROOT / "notebooks").glob("*.ipynb")}
    for key, (_, notebook) in config.ARTIFACTS.items():
        assert notebook in notebooks, f"{key} names {notebook}, which does not exist"


def test_written_atomically_replaces_only_on_success(tmp_path):
    target = tmp_path / "nested" / "report.json"
    with config.written_atomically(target) as partial:
        assert partial.suffix == ".json" and partial != target
        partial.write_text("first")
    assert target.read_text() == "first"

    with pytest.raises(RuntimeError, match="step failed"):
        with config.written_atomically(target) as partial:
            partial.write_text("half")
            raise RuntimeError("step failed")
    assert target.read_text() == "first"  # the old file survives a failed write
    assert sorted(path.name for path in target.parent.iterdir()) == ["report.json"]  # no partial left behind


def test_read_json_says_what_is_wrong(tmp_path):
    from helpers.config import TutorialError, read_json, write_json

    assert read_json(write_json(tmp_path / "ok.json", {"a": 1})) == {"a": 1}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TutorialError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(TutorialError, match="does not exist"):
        read_json(tmp_path / "missing.json")


def test_profiles_choose_the_model_source():
    from helpers.config import PROFILES

    assert PROFILES["quick"].uses_shipped_model and not PROFILES["full"].uses_shipped_model
    assert PROFILES["quick"].test_images == 1000 and PROFILES["full"].test_images is None
