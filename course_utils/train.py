"""The course's one training loop.

``run_steps(step, loader, epochs)`` is the loop: it calls ``step(batch)`` for every batch, where
``step`` does one update and returns its numbers (``{"loss": 0.41}`` or, for a GAN,
``{"d_loss": ..., "g_loss": ...}``). ``fit`` builds the usual step from a model, a loss function and
an optimizer. Both give back a :class:`History` and share the same behaviour:

- a tqdm progress bar with the running numbers;
- a non-finite number (nan/inf) stops training with :class:`NonFiniteLossError`, which names the
  number, epoch and step; the model and the history so far are kept (``err.history``);
- Ctrl-C (KeyboardInterrupt) stops cleanly after the current step: the model keeps its weights and
  the returned history is marked ``interrupted``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm


class NonFiniteLossError(FloatingPointError):
    """A training number became nan or inf; ``history`` holds everything recorded before it."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What training recorded: ``steps`` (one dict per update) and ``epochs`` (per-epoch means)."""

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def series(self, key: str, per: str = "epoch") -> list[float]:
        """The values of one number over training, ``per`` 'epoch' (means) or 'step'."""
        rows = self.epochs if per == "epoch" else self.steps
        if per not in ("epoch", "step"):
            raise ValueError(f"per must be 'epoch' or 'step', got {per!r}")
        if rows and key not in rows[-1]:
            raise KeyError(f"no number {key!r} in the history; it has {sorted(rows[-1])}")
        return [row[key] for row in rows if key in row]

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "interrupted": self.interrupted,
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        if not isinstance(data, dict) or not {"steps", "epochs"} <= data.keys():
            raise ValueError("expected a dict with 'steps' and 'epochs' lists (History.to_dict())")
        return cls(list(data["steps"]), list(data["epochs"]), bool(data.get("interrupted", False)),
                   float(data.get("seconds", 0.0)))

    def save(self, path: str | Path) -> None:
        """Write the history as JSON, atomically (an interrupt never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> History:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a saved History (invalid JSON: {err})") from None


def _as_numbers(out, where: str) -> dict[str, float]:
    if torch.is_tensor(out) or isinstance(out, (int, float)):
        out = {"loss": out}
    if not isinstance(out, dict) or not out:
        raise TypeError(f"{where} must return a number or a dict of numbers, got {type(out).__name__}")
    return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items()}


def run_steps(step: Callable[[object], dict | float | torch.Tensor], loader: Iterable, epochs: int = 1,
              history: History | None = None, max_steps: int | None = None, progress: bool = True,
              on_epoch_end: Callable[[int, History], dict | None] | None = None) -> History:
    """Call ``step(batch)`` over ``loader`` for ``epochs`` epochs (at most ``max_steps`` updates).

    step returns a dict of floats/0-d tensors (or one number, stored as 'loss'). on_epoch_end(epoch,
    history) may return extra numbers (e.g. a test loss) that join that epoch's means. Pass an
    existing ``history`` to continue it. Returns the history, also when interrupted by Ctrl-C.
    """
    import time

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
    history = history if history is not None else History()
    start, first_epoch, done = time.perf_counter(), len(history.epochs), 0
    try:
        for epoch in range(first_epoch, first_epoch + epochs):
            totals: dict[str, float] = {}
            count = 0
            bar = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, disable=not progress)
            for batch in bar:
                numbers = _as_numbers(step(batch), "step(batch)")
                bad = [k for k, v in numbers.items() if not math.isfinite(v)]
                if bad:
                    raise NonFiniteLossError(
                        f"{bad[0]} became {numbers[bad[0]]} at epoch {epoch + 1}, step {len(history.steps) + 1}: "
                        "try a smaller learning rate, or look for log(0) or a division by zero in the loss",
                        history)
                history.steps.append(numbers)
                for k, v in numbers.items():
                    totals[k] = totals.get(k, 0.0) + v
                count, done = count + 1, done + 1
                bar.set_postfix({k: f"{v / count:.4g}" for k, v in totals.items()}, refresh=False)
                if max_steps is not None and done >= max_steps:
                    break
            means = {k: v / max(count, 1) for k, v in totals.items()}
            history.epochs.append(means)
            if on_epoch_end is not None:
                means.update(_as_numbers(on_epoch_end(epoch, history) or {"epoch": epoch + 1}, "on_epoch_end"))
            if progress:
                print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in means.items()))
            if max_steps is not None and done >= max_steps:
                break
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted after {len(history.steps)} steps: the model keeps its weights, "
              "and the history so far is returned.")
    finally:
        history.seconds += time.perf_counter() - start
    return history


def fit(model: torch.nn.Module, loss_fn: Callable, loader: Iterable, epochs: int = 1,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, device: torch.device | str = "cpu",
        history: History | None = None, max_steps: int | None = None, progress: bool = True,
        on_epoch_end: Callable[[int, History], dict | None] | None = None) -> History:
    """Train ``model`` by minimising ``loss_fn(model, batch)`` with Adam (or ``optimizer``).

    loss_fn returns a 0-d loss tensor, or a dict whose 'loss' entry is minimised and whose other
    entries are recorded. Batches (tensors or tuples of tensors) are moved to ``device``.
    """
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    model.to(device)

    def step(batch):
        model.train()
        batch = [t.to(device) for t in batch] if isinstance(batch, (list, tuple)) else batch.to(device)
        out = loss_fn(model, batch)
        loss = out["loss"] if isinstance(out, dict) else out
        if not torch.is_tensor(loss) or loss.dim() != 0:
            raise ValueError("loss_fn must return a 0-d tensor (or a dict with one under 'loss'), got "
                             + (f"shape {tuple(loss.shape)}" if torch.is_tensor(loss) else type(loss).__name__))
        if not torch.isfinite(loss):
            return out  # no update with a bad loss: run_steps stops here, the weights stay as they were
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return out

    return run_steps(step, loader, epochs, history, max_steps, progress, on_epoch_end)
