"""Headline numbers: ``record(name, value, unit)`` notes a number the notebook measured.

It always prints the number and stores it, tagged with the run's profile, in one JSON file per
notebook: ``$COURSE_RESULTS`` when the course runner executes the notebook, else
``results_dir()/<notebook>.json`` (the notebook named by ``setup(..., notebook=...)``), so a
notebook run in Jupyter feeds later notebooks too. ``python -m course_utils run`` gathers every
notebook's file into ``build/metrics.json``. Verdicts of measured claims (``course_utils.claims``)
are stored in the same file.

    record("pixelcnn_test_nll", 90.9, "nats")
    notebook_numbers("02_autoencoders", "lecture")   # {'ae_pca_error_k16': 21.7, ...} or {}
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .config import PROFILE_ENV, cache_dir, current_run, project_root

RESULTS_ENV = "COURSE_RESULTS"
RESULTS_DIR_ENV = "COURSE_RESULTS_DIR"


def results_dir() -> Path:
    """Where notebooks store their numbers: ``$COURSE_RESULTS_DIR``, else ``build/results`` of the course
    checkout, else ``results`` in the cache (a course installed from a wheel)."""
    if os.environ.get(RESULTS_DIR_ENV):
        return Path(os.environ[RESULTS_DIR_ENV])
    root = project_root()
    return root / "build" / "results" if (root / "solutions").is_dir() else cache_dir() / "results"


def results_file() -> Path | None:
    """This run's results file: ``$COURSE_RESULTS``, else the named notebook's; None when neither is known."""
    target = os.environ.get(RESULTS_ENV)
    if target:
        return Path(target)
    notebook = current_run()["notebook"]
    return results_dir() / f"{notebook}.json" if notebook else None


def record(name: str, value: float, unit: str = "") -> float:
    """Print and store one headline number; returns ``value`` so it can be used inline.

    name: a short unique key such as 'pixelcnn_test_nll'. value: a finite real number. unit: e.g. 'nats'.
    Recording the same name twice (same profile) keeps the later value.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record() needs a non-empty name, got {name!r}")
    number = _finite(value, f"record({name!r}, ...)")
    print(f"[recorded] {name} = {number:.6g}{' ' + unit if unit else ''}")
    store_row({"name": name, "value": number, "unit": unit})
    return value


def _finite(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} needs a real number, got {type(value).__name__} {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} got {number}: only finite numbers can be recorded")
    return number


def store_row(row: dict) -> None:
    """Add ``row`` (a number or a claim) to this run's results file, tagged with the profile."""
    path = results_file()
    if path is None:
        return
    row = {**row, "profile": current_run()["profile"] or os.environ.get(PROFILE_ENV) or None}
    rows = [r for r in read_results(path) if (r["name"], r.get("profile")) != (row["name"], row["profile"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(rows + [row], indent=1))
    tmp.replace(path)  # atomic: an interrupt never leaves half a file


def is_claim(row: dict) -> bool:
    """True for a claim's verdict, False for a number."""
    return row.get("kind") == "claim"


def read_results(path: Path) -> list[dict]:
    """The rows of one results file: numbers {'name', 'value', 'unit', 'profile'} and claims
    {'name', 'kind': 'claim', 'statement', 'holds', 'numbers', 'profile'}; [] when there is no file."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"results file {path} is not valid JSON ({err})") from None

    def valid(r) -> bool:
        keys = {"name", "statement", "holds", "numbers"} if isinstance(r, dict) and is_claim(r) \
            else {"name", "value", "unit"}
        return isinstance(r, dict) and keys <= r.keys()

    if not isinstance(rows, list) or not all(valid(r) for r in rows):
        raise ValueError(f"results file {path}: expected a list of {{name, value, unit}} numbers "
                         "and {name, kind, statement, holds, numbers} claims")
    return rows


def notebook_numbers(notebook: str, profile: str | None = None) -> dict[str, float]:
    """The numbers that ``notebook`` (e.g. '02_autoencoders') recorded with ``profile`` (default: this
    run's), wherever it ran (runner or Jupyter): {name: value}, empty when it has not run yet."""
    profile = profile or current_run()["profile"]
    try:
        rows = read_results(results_dir() / f"{notebook}.json")
    except ValueError:
        return {}
    return {r["name"]: r["value"] for r in rows
            if not is_claim(r) and (r.get("profile") is None or r.get("profile") == profile)}
