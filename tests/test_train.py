import pytest
import torch
from torch import nn

from course_utils.data import make_loader
from course_utils.train import History, NonFiniteLossError, fit, run_steps


def _regression(n=64):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    return make_loader(x, x.sum(1, keepdim=True), batch_size=16, seed=0)


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_fit_lowers_the_loss_and_records_history():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, mse, _regression(), epochs=20, lr=0.05, progress=False)
    losses = history.series("loss")
    assert len(losses) == 20 and len(history.steps) == 80
    assert losses[-1] < 0.1 * losses[0]
    assert history.seconds > 0 and not history.interrupted


def test_on_epoch_end_numbers_join_the_epoch():
    model = nn.Linear(3, 1)
    history = fit(model, mse, _regression(), epochs=2, progress=False,
                  on_epoch_end=lambda epoch, h: {"test_loss": 1.0 + epoch})
    assert history.series("test_loss") == [1.0, 2.0]


def test_non_finite_loss_stops_and_keeps_model_and_history():
    model = nn.Linear(3, 1)
    calls = {"n": 0}

    def loss_fn(m, batch):
        calls["n"] += 1
        loss = mse(m, batch)
        return loss * float("nan") if calls["n"] == 3 else loss

    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 1, step 3") as info:
        fit(model, loss_fn, _regression(), epochs=5, progress=False)
    assert len(info.value.history.steps) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no update with the bad loss


def test_ctrl_c_returns_the_history():
    seen = []

    def step(batch):
        seen.append(1)
        if len(seen) == 5:
            raise KeyboardInterrupt
        return {"loss": 1.0}

    history = run_steps(step, _regression(), epochs=3, progress=False)
    assert history.interrupted and len(history.steps) == 4


def test_run_steps_with_two_numbers_and_max_steps():
    history = run_steps(lambda b: {"d_loss": 1.0, "g_loss": torch.tensor(2.0)}, _regression(), epochs=10,
                        max_steps=6, progress=False)
    assert len(history.steps) == 6 and history.series("g_loss", per="step")[-1] == 2.0


def test_history_continues_and_round_trips(tmp_path):
    model = nn.Linear(3, 1)
    history = fit(model, mse, _regression(), epochs=1, progress=False)
    fit(model, mse, _regression(), epochs=2, history=history, progress=False)
    assert len(history.epochs) == 3
    history.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json").epochs == history.epochs
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a saved History"):
        History.load(tmp_path / "bad.json")


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        run_steps(lambda b: 1.0, _regression(), epochs=0)
    with pytest.raises(ValueError, match="0-d tensor.*shape \\(16, 1\\)"):
        fit(nn.Linear(3, 1), lambda m, b: m(b[0]), _regression(), progress=False)
    with pytest.raises(KeyError, match="no number 'acc'"):
        History(epochs=[{"loss": 1.0}]).series("acc")
