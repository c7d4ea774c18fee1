import pytest
import torch

from course_utils import config


def test_pick_follows_profile():
    cfg = config.RunConfig("smoke", 0, torch.device("cpu"))
    assert cfg.pick(smoke=1, lecture=10, full=50) == 1
    assert config.RunConfig("full", 0, torch.device("cpu")).pick(smoke=1, lecture=10, full=50) == 50


def test_environment_overrides_notebook_profile(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert config.resolve_profile("full") == "smoke"
    monkeypatch.delenv("COURSE_PROFILE")
    assert config.resolve_profile("full") == "full"
    assert config.resolve_profile(None) == "lecture"


def test_unknown_profiles_are_named(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke, lecture, full"):
        config.resolve_profile("fast")
    monkeypatch.setenv("COURSE_PROFILE", "tiny")
    with pytest.raises(ValueError, match="COURSE_PROFILE.*'tiny'"):
        config.resolve_profile("lecture")


def test_setup_seeds_everything(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    cfg = config.setup("lecture", seed=3, device="cpu", quiet=True)
    a = torch.rand(3)
    config.setup("lecture", seed=3, device="cpu", quiet=True)
    assert torch.equal(a, torch.rand(3))
    assert cfg.device == torch.device("cpu") and cfg.profile == "lecture"


def test_device_choice():
    assert config.choose_device("cpu").type == "cpu"
    assert config.choose_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        config.choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            config.choose_device("cuda")


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        config.seed_everything(seed)


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert config.cache_dir() == tmp_path


def test_thread_limit_from_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("COURSE_THREADS", "1")
        assert config.limit_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("COURSE_THREADS", "many")
        with pytest.raises(ValueError, match="COURSE_THREADS must be a positive integer"):
            config.limit_threads()
        monkeypatch.delenv("COURSE_THREADS")
        assert config.limit_threads() is None
    finally:
        torch.set_num_threads(before)


def test_project_root_without_a_checkout_next_to_the_package(monkeypatch, tmp_path):
    """An installed wheel (the package in site-packages): the checkout is found from the working folder,
    inside it or below it (e.g. notebooks/); elsewhere the working folder is the root."""
    site = tmp_path / "site-packages" / "course_utils"
    site.mkdir(parents=True)
    monkeypatch.setattr(config, "__file__", str(site / "config.py"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert config.project_root() == elsewhere.resolve()
    clone = tmp_path / "clone"
    for folder in ("solutions", "course_utils", "notebooks"):
        (clone / folder).mkdir(parents=True)
    monkeypatch.chdir(clone / "notebooks")
    assert config.project_root() == clone.resolve()


def test_project_root_is_this_checkout():
    from pathlib import Path

    assert config.project_root() == Path(config.__file__).resolve().parent.parent


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.cache_dir() == tmp_path / ".cache" / "dgm-course"
