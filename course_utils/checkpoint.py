"""Checkpoints: save and load a model's weights (plus optimizer state, history and metadata).

Files are written atomically (to a temporary file, then renamed), so an error or Ctrl-C while
saving never destroys an earlier checkpoint. Loading uses ``torch.load(weights_only=True)``: a
checkpoint can hold tensors and plain data, never code. A truncated file, a file that is not a
course checkpoint, or weights for another architecture each raise :class:`CheckpointError`
saying which.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .train import History

FORMAT = "dgm-course-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says why and what was expected."""


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    history: History | None = None, **meta) -> Path:
    """Save ``model``'s state (and optionally optimizer, history, plain-data ``meta``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": history.to_dict() if history is not None else None,
        "meta": meta,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Returns {'history': History or None, 'meta': dict, 'model_class': str}.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, or not a torch file): {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a course checkpoint: expected format {FORMAT!r}, found {found!r}")
    if payload["model_class"] != type(model).__name__:
        raise CheckpointError(f"{path} holds weights for a {payload['model_class']}, "
                              f"not for the {type(model).__name__} given")
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit this {type(model).__name__} (was it built with other "
                              f"sizes?): {str(err).splitlines()[1] if len(str(err).splitlines()) > 1 else err}"
                              ) from None
    if optimizer is not None and payload["optimizer"] is not None:
        optimizer.load_state_dict(payload["optimizer"])
    history = History.from_dict(payload["history"]) if payload["history"] is not None else None
    return {"history": history, "meta": payload["meta"], "model_class": payload["model_class"]}


def cached_model_path(name: str, profile: str) -> Path:
    """Where a notebook caches a trained model: ``<cache>/models/<profile>/<name>.pt``.

    Each profile has its own folder, so a quick smoke run never replaces a lecture-trained model.
    """
    from .config import cache_dir, check_profile

    if not name or any(c in name for c in "/\\"):
        raise ValueError(f"model name must be a plain file name, got {name!r}")
    return cache_dir() / "models" / check_profile(profile) / f"{name}.pt"


def _changed_meta(cached: dict, wanted: dict) -> list[str]:
    """The keys whose text or number values differ between a checkpoint's meta and the wanted meta."""
    plain = (str, int, float, bool)
    return [key for key, value in wanted.items()
            if isinstance(value, plain) and isinstance(cached.get(key), plain) and cached[key] != value]


def load_or_train(path: str | Path, model: torch.nn.Module, train, **meta) -> History | None:
    """Load ``model`` from the checkpoint at ``path`` if there is a usable one; else train and save it.

    train: a function ``train(model) -> History`` (it may return None). meta: plain data saved with
    the weights; its text and number values (the recipe, the data source, ...) must match the cached
    ones for the cache to be used. A cached checkpoint that cannot be used (truncated, other
    architecture) is moved aside to ``<name>.unusable``, one made with another recipe to
    ``<name>.stale``, rather than overwritten, and the model is trained afresh. An interrupted
    training run is not cached. Returns the history (the cached one, or the new one).
    """
    path = Path(path)
    if path.exists():
        try:
            info = load_checkpoint(path, model)
        except CheckpointError as err:
            aside = path.with_name(path.name + ".unusable")
            path.replace(aside)
            print(f"Cached model not usable ({err}); moved it to {aside} and training afresh.")
        else:
            changed = _changed_meta(info["meta"], meta)
            if not changed:
                print(f"Loaded the trained model from {path}")
                return info["history"]
            aside = path.with_name(path.name + ".stale")
            path.replace(aside)
            print(f"The cached model at {path} was made with another {', '.join(changed)}; moved it to {aside} "
                  "and training afresh.")
    history = train(model)
    if history is not None and history.interrupted:
        print("Training was interrupted: the model is kept in memory but not cached.")
        return history
    save_checkpoint(path, model, history=history, **meta)
    print(f"Saved the trained model to {path}")
    return history
