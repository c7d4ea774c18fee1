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
