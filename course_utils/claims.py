"""Measured claims: the lesson's statements about a run, checked against that run's numbers.

The text of a notebook never quotes a number from a run. Right after a measurement, ``claim``
prints whether this run supports what the lesson expects, with the numbers behind the verdict, and
records the verdict (next to the numbers of :mod:`course_utils.results`, and in
``build/metrics.md``)::

    claim("conv_beats_pca", "the conv autoencoder beats PCA at every bottleneck size",
          all(c < p for c, p in zip(conv, pca)), {"conv, k=16": conv[-1], "PCA, k=16": pca[-1]})

prints ``✔ the conv autoencoder beats PCA at every bottleneck size (conv, k=16 13.6; PCA, k=16 21.7)``
or ``✘ not in this run: ...``; in the smoke profile a failed claim adds that its budget is too
small to show it.
"""

from __future__ import annotations

from .config import current_run
from .results import _finite, store_row

SMOKE_NOTE = "expected: the smoke budget is too small to show it"


def _format(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def format_numbers(numbers: dict[str, float]) -> str:
    """'label value; label value' with three significant figures (one decimal from 100 up)."""
    return "; ".join(f"{label} {_format(value)}" for label, value in numbers.items())


def claim(name: str, statement: str, holds, numbers: dict[str, float] | None = None) -> bool:
    """Print and record whether this run supports ``statement``; returns the verdict as a bool.

    name: a short unique key ('conv_beats_pca'). statement: what the lesson expects, in words.
    holds: the verdict, computed from this run's numbers (a bool, or a one-element tensor).
    numbers: {label: finite value}, the headline numbers behind the verdict.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"claim() needs a non-empty name, got {name!r}")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"claim({name!r}, ...) needs the statement in words, got {statement!r}")
    try:
        verdict = bool(holds)
    except (TypeError, RuntimeError, ValueError):
        raise ValueError(f"claim({name!r}, ...) needs a true/false verdict, got {type(holds).__name__}") from None
    numbers = {str(label): _finite(value, f"claim({name!r}, ...) number {label!r}")
               for label, value in (numbers or {}).items()}
    shown = f" ({format_numbers(numbers)})" if numbers else ""
    if verdict:
        print(f"\u2714 {statement}{shown}")
    else:
        print(f"\u2718 not in this run: {statement}{shown}")
        if current_run()["profile"] == "smoke":
            print(f"  {SMOKE_NOTE}")
    store_row({"name": name, "kind": "claim", "statement": statement, "holds": verdict, "numbers": numbers})
    return verdict

