"""Headline numbers: ``record(name, value, unit)`` notes a number the notebook measured.

It always prints the number. When the course runner executes a notebook it sets
``$COURSE_RESULTS`` to a JSON file; ``record`` then also appends the number there, and
``python -m course_utils run`` gathers every notebook's file into ``build/metrics.json``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

RESULTS_ENV = "COURSE_RESULTS"


def record(name: str, value: float, unit: str = "") -> float:
    """Print and store one headline number; returns ``value`` so it can be used inline.

    name: a short unique key such as 'pixelcnn_test_nll'. value: a finite real number. unit: e.g. 'nats'.
    Recording the same name twice keeps the later value.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record() needs a non-empty name, got {name!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"record({name!r}, ...) needs a real number, got {type(value).__name__} {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"record({name!r}, ...) got {number}: only finite numbers can be recorded")
    print(f"[recorded] {name} = {number:.6g}{' ' + unit if unit else ''}")
    target = os.environ.get(RESULTS_ENV)
    if target:
        _store(Path(target), {"name": name, "value": number, "unit": unit})
    return value


def read_results(path: Path) -> list[dict]:
    """The numbers stored in one results file, as a list of {'name', 'value', 'unit'} dicts."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"results file {path} is not valid JSON ({err})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"name", "value", "unit"} <= r.keys()
                                             for r in rows):
        raise ValueError(f"results file {path}: expected a list of {{name, value, unit}} objects")
    return rows


def _store(path: Path, row: dict) -> None:
    rows = [r for r in read_results(path) if r["name"] != row["name"]] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(path)  # atomic: an interrupt never leaves half a file
