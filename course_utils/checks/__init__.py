"""Exercise feedback: a check runs the student's function on inputs whose answer is known and says
either that it passes or, when it fails, the most likely cause.

A check is written with :func:`exercise_check` and :func:`expect`; one module per notebook
(``checks.tour``, ``checks.unsupervised``, ...) holds that notebook's checks::

    @exercise_check
    def check_scale(scale):
        out = scale(torch.tensor([0, 255], dtype=torch.uint8))
        expect(out.is_floating_point(), "the result is not a float tensor: convert with .float()")
        expect_close(out, torch.tensor([0.0, 1.0]), "scale([0, 255])", hint="did you divide by 255?")
        return "values map to [0, 1]"

Calling ``check_scale(scale)`` returns a :class:`CheckResult` that a notebook shows as a green
pass or a red failure with its hint. It never raises, so a student's "Run all" keeps going,
unless ``$COURSE_STRICT_CHECKS`` is set (the course runner and the test suite set it), where a
failure raises :class:`CheckFailed` so a broken solution cannot slip through CI.

Later cells that need the exercise's function take it through :func:`yours_or_reference`: the
student's own function once its check passed, else the course's reference version, with one line
saying which, so the rest of the notebook always runs::

    scale_fn = yours_or_reference(scale, reference_scale)
"""

from __future__ import annotations

import functools
import html
import os
from dataclasses import dataclass

import torch

STRICT_ENV = "COURSE_STRICT_CHECKS"
NOT_IMPLEMENTED_HINT = "not implemented yet: replace the `raise NotImplementedError` line with your code"


class CheckFailed(AssertionError):
    """Raised by :func:`expect` inside a check; its message is the hint the student sees."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed`` and the message shown to the student."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASS" if self.passed else "NOT YET"
        return f"[{mark}] {self.exercise}: {self.message}"

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "&#10004; passed") if self.passed else ("#cf222e", "&#10008; not yet")
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">'
                f'<b style="color:{colour}">{mark}</b> <code>{html.escape(self.exercise)}</code>: '
                f"{html.escape(self.message)}</div>")


def expect(condition: bool, hint: str) -> None:
    """Fail the check with ``hint`` (the likely cause, in the student's terms) unless ``condition``."""
    if not condition:
        raise CheckFailed(hint)


def expect_shape(value, shape: tuple, what: str) -> None:
    """Fail unless ``value`` is a tensor of exactly ``shape``; the hint names both shapes."""
    expect(torch.is_tensor(value), f"{what} should be a torch tensor, got {type(value).__name__}")
    expect(tuple(value.shape) == tuple(shape), f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")


def expect_close(actual, expected, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail unless ``actual`` matches ``expected`` (numbers or tensors) within tolerance."""
    actual_t = torch.as_tensor(actual, dtype=torch.float64)
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    expect(actual_t.shape == expected_t.shape,
           f"{what} has shape {tuple(actual_t.shape)}, expected {tuple(expected_t.shape)}")
    if not torch.allclose(actual_t, expected_t, atol=atol, rtol=rtol):
        diff = (actual_t - expected_t).abs().max().item()
        got = f"{actual_t.item():.6g}" if actual_t.numel() == 1 else f"values off by up to {diff:.3g}"
        want = f" (expected {expected_t.item():.6g})" if expected_t.numel() == 1 else ""
        expect(False, f"{what} is wrong: got {got}{want}" + (f". {hint}" if hint else ""))


# id(function checked) -> (the function, passed): the last verdict of every checked function
_VERDICTS: dict[int, tuple[object, bool]] = {}


def _remember(args: tuple, passed: bool) -> None:
    for value in args:
        if callable(value):
            _VERDICTS[id(value)] = (value, passed)


def verdict(fn) -> bool | None:
    """True/False: the last check run on ``fn`` (this very object) passed/failed; None: never checked."""
    entry = _VERDICTS.get(id(fn))
    return entry[1] if entry is not None and entry[0] is fn else None


def yours_or_reference(yours, reference, name: str | None = None):
    """The student's ``yours`` if its exercise check passed, else the course's ``reference``; prints which.

    A function redefined after its check counts as unchecked (run the check cell again).
    """
    name = name or getattr(yours, "__name__", None) or getattr(reference, "__name__", "function")
    passed = verdict(yours)
    if passed:
        print(f"using your `{name}`: it passes its check")
        return yours
    why = "yours does not pass its check yet" if passed is False else "yours has not been checked yet (run its check cell)"
    print(f"using the reference `{name}`: {why}")
    return reference


def exercise_check(check):
    """Turn ``check(student_fn, ...)`` into one that returns a :class:`CheckResult` instead of raising."""

    @functools.wraps(check)
    def run(*args, **kwargs) -> CheckResult:
        name = check.__name__.removeprefix("check_")
        try:
            message = check(*args, **kwargs) or "all checks passed"
            result = CheckResult(name, True, message)
        except NotImplementedError:
            result = CheckResult(name, False, NOT_IMPLEMENTED_HINT)
        except CheckFailed as failure:
            result = CheckResult(name, False, str(failure))
        except Exception as err:  # the student's code crashed: show where, in one line
            result = CheckResult(name, False, f"your code raised {type(err).__name__}: {err}")
        _remember(args, result.passed)
        if not result.passed and os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise CheckFailed(repr(result))
        return result

    return run
