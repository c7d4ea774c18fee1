"""Profiles, seeding, device choice and the course's folders: the settings every notebook shares.

A notebook's papermill ``parameters`` cell names a profile; ``setup`` turns it into a
:class:`RunConfig`, applying the ``COURSE_PROFILE`` environment override (used by CI), seeding
every random generator and choosing the device.

    cfg = setup(profile="lecture", seed=0, device="auto")
    epochs = cfg.pick(smoke=1, lecture=10, full=50)   # budgets are in epochs/steps, not seconds
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROFILES = ("smoke", "lecture", "full")
PROFILE_HELP = {
    "smoke": "proves every cell runs (CI): tiny data, one short epoch",
    "lecture": "a 2-core laptop CPU: at most 5 minutes per notebook, results worth looking at",
    "full": "GPU-scale training on full MNIST, aiming at the papers' numbers",
}
DEVICES = ("auto", "cpu", "cuda", "mps")
# The most digits a run loads when a notebook asks for "all" (limit=None), per profile: the lecture
# budget is the same work with the 4,000 offline digits or the 60,000 of full MNIST.
DATA_BUDGET = {"smoke": {"train": 4000, "test": 1000}, "lecture": {"train": 4000, "test": 1000},
               "full": {"train": None, "test": None}}
PROFILE_ENV = "COURSE_PROFILE"
THREADS_ENV = "COURSE_THREADS"


@dataclass(frozen=True)
class RunConfig:
    """What one notebook run uses: the profile, the seed and the torch device."""

    profile: str
    seed: int
    device: torch.device

    def pick(self, *, smoke, lecture, full):
        """Return the value for this run's profile, e.g. ``cfg.pick(smoke=1, lecture=10, full=50)``."""
        return {"smoke": smoke, "lecture": lecture, "full": full}[self.profile]

    def __str__(self) -> str:
        return f"profile={self.profile} ({PROFILE_HELP[self.profile]}), seed={self.seed}, device={self.device}"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise a ``ValueError`` naming them."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def resolve_profile(profile: str | None = None) -> str:
    """The profile in force: ``$COURSE_PROFILE`` when set (CI's override), else ``profile``, else 'lecture'."""
    override = os.environ.get(PROFILE_ENV, "").strip()
    if override:
        try:
            return check_profile(override)
        except ValueError as err:
            raise ValueError(f"environment variable {PROFILE_ENV}: {err}") from None
    return check_profile(profile or "lecture")


def choose_device(device: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device that is not available raises ``ValueError``."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": has_mps}
    if device == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[device]:
        raise ValueError(f"device {device!r} was asked for but is not available here: use 'auto' or 'cpu'")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) so a run repeats."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def limit_threads() -> int | None:
    """Apply ``$COURSE_THREADS`` (CPU threads for torch, BLAS and OpenMP) if set; returns it.

    The test suite runs two notebooks at once on two cores and sets it to 1: without a limit each
    kernel starts one thread per core and the oversubscribed runs take about three times longer.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"environment variable {THREADS_ENV} must be a positive integer, got {value!r}")
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(int(value))
    threadpool_limits(int(value))
    return int(value)


SMOKE_BANNER = ("SMOKE PROFILE: this run only proves that every cell runs. Its models barely train, so its numbers "
                "and the verdicts of its claims are not meaningful; use profile = \"lecture\" for real results.")


# The notebook and profile of the run in force, set by ``setup`` (None before any setup).
_RUN: dict[str, str | None] = {"notebook": None, "profile": None}


def current_run() -> dict[str, str | None]:
    """{'notebook': name or None, 'profile': profile or None} of the last ``setup`` in this process."""
    return dict(_RUN)


def setup(profile: str | None = "lecture", seed: int = 0, device: str = "auto", quiet: bool = False,
          notebook: str | None = None) -> RunConfig:
    """Resolve the profile (environment override first), seed everything, choose the device; print a line.

    notebook: the notebook's name (e.g. '05_vae'), under which ``record`` and ``claim`` store its numbers.
    A smoke run prints a banner saying that its numbers are not meaningful.
    """
    cfg = RunConfig(profile=resolve_profile(profile), seed=seed, device=choose_device(device))
    seed_everything(seed)
    limit_threads()
    _RUN.update(notebook=notebook, profile=cfg.profile)
    if not quiet:
        if cfg.profile == "smoke":
            print(SMOKE_BANNER)
        print(f"Run settings: {cfg}")
    return cfg


def cache_dir() -> Path:
    """Where data, trained models and (outside a checkout) results live: ``$COURSE_CACHE`` or ``~/.cache/dgm-course``.

    The same wherever the package is installed from (a checkout, a wheel, Colab), so nothing is written next
    to the package itself.
    """
    return Path(os.environ.get("COURSE_CACHE") or Path.home() / ".cache" / "dgm-course").expanduser()


def _is_checkout(folder: Path) -> bool:
    return (folder / "solutions").is_dir() and (folder / "course_utils").is_dir()


def project_root() -> Path:
    """The course checkout (the folder holding ``solutions/`` and ``course_utils/``), else the working folder.

    Found next to this package when it runs from a checkout (an editable install), else in the working
    folder or one above it (an installed wheel used inside a clone, e.g. from ``notebooks/``). Outside any
    checkout (a notebook copied elsewhere, Colab) it is the working folder, and nothing assumes ``solutions/``.
    """
    here = Path(__file__).resolve().parent.parent
    if _is_checkout(here):
        return here
    cwd = Path.cwd().resolve()
    return next((folder for folder in (cwd, *cwd.parents) if _is_checkout(folder)), cwd)
