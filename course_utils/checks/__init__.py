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
import math
import os
import types
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


def _relations(expected: torch.Tensor, sizes: dict[str, int] | None) -> list[tuple[torch.Tensor, str]]:
    """What the usual slips turn ``expected`` into, with the cause each one names."""
    found = [(-expected, "it has the opposite sign (a minus sign too many or missing?)"),
             (2 * expected, "it is twice the expected value (a factor 0.5 missing, or a term counted twice?)"),
             (expected / 2, "it is half the expected value (a factor 0.5 too many, or an average of two terms that "
                            "should be added?)"),
             (expected / math.log(2), "it is in bits (log base 2) where nats (natural log) are expected"),
             (expected * math.log(2), "it is in nats where bits are expected, or multiplied by ln 2"),
             (torch.zeros_like(expected), "it is all zeros: is a term multiplied by 0, or a result never filled in?"),
             (expected ** 2, "it is the square of the expected value"),
             (expected.abs().sqrt(), "it is the square root of the expected value (a norm instead of a sum of "
                                     "squares?)")]
    for name, n in (sizes or {}).items():
        if n > 1:
            found += [(expected * n, f"it is {n} times the expected value: a sum over the {name} where a mean "
                                     "belongs?"),
                      (expected / n, f"it is the expected value divided by {n}: a mean over the {name} where a sum "
                                     "belongs?")]
    if expected.dim() >= 1 and expected.shape[0] > 1:
        found += [(expected.mean().expand_as(expected), "every entry is the average of all of them: a mean (or a "
                                                        "sum divided by the count) over the batch where one value "
                                                        "per row belongs?"),
                  (expected.flip(0), "the values come in reverse order"),
                  (expected.roll(1, 0), "the values are shifted by one position (an off-by-one index?)"),
                  (expected.roll(-1, 0), "the values are shifted by one position (an off-by-one index?)")]
    return found


def expect_close(actual, expected, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-4,
                 sizes: dict[str, int] | None = None) -> None:
    """Fail unless ``actual`` matches ``expected`` (numbers or tensors) within tolerance.

    When it does not, the message names the usual slips it matches (opposite sign, a factor 2, bits for nats,
    reversed or shifted values, and with ``sizes`` such as {"pixels": 784} a sum where a mean belongs).
    """
    expect(actual is not None, f"{what} is None: did you forget the `return` statement?")
    try:
        actual_t = torch.as_tensor(actual.detach() if torch.is_tensor(actual) else actual, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        expect(False, f"{what} should be a number or a tensor of numbers, got {type(actual).__name__}")
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    expect(actual_t.shape == expected_t.shape,
           f"{what} has shape {tuple(actual_t.shape)}, expected {tuple(expected_t.shape)}")
    if not torch.allclose(actual_t, expected_t, atol=atol, rtol=rtol):
        if torch.isfinite(actual_t).all() and torch.isfinite(expected_t).all():
            for wrong, why in _relations(expected_t, sizes):
                if torch.allclose(actual_t, wrong, atol=atol, rtol=rtol) and \
                        not torch.allclose(wrong, expected_t, atol=atol, rtol=rtol):
                    expect(False, f"{what} is wrong: {why}" + (f". {hint}" if hint else ""))
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
    why = ("yours does not pass its check yet" if passed is False
           else "yours has not been checked yet (run its check cell)")
    print(f"using the reference `{name}`: {why}")
    return reference


# --- whose code raised: the student's function or the check itself -------------------------------

_FROM_STUDENT = "_course_raised_in_student_code"

# Torch's own error messages for the usual mistakes, and what they mean in the student's terms.
_KNOWN_ERRORS: list[tuple[tuple[str, ...], str]] = [
    (("between 0 and 1", "between 0.0 and 1.0"),
     "F.binary_cross_entropy takes probabilities in [0, 1] but got logits (any real number): use "
     "F.binary_cross_entropy_with_logits(logits, x), or F.logsigmoid, which apply the sigmoid themselves"),
    (("modified by an inplace operation",),
     "an in-place operation (+=, .add_(), x[...] = ...) changed a tensor that backpropagation still needs: "
     "compute a new tensor instead"),
    (("does not require grad and does not have a grad_fn",),
     "backward() found no gradient to follow: the tensor it starts from must be built, with torch operations, "
     "from tensors that require grad (requires_grad=True on an input you made yourself); did you call .detach(), "
     ".item(), .numpy() or work under torch.no_grad()?"),
    (("'NoneType' object is not subscriptable", "'NoneType' object has no attribute"),
     "something is None: a tensor's .grad stays None until .backward() reaches it (it needs requires_grad=True), "
     "and a function without `return` gives None"),
    (("must be Number, not Tensor", "only supports 0-dimensional start"),
     "this torch function takes plain numbers, not tensors (e.g. torch.linspace(0, 1, steps) for the weights; "
     "mix the tensors with them afterwards)"),
    (("expanded size of the tensor",),
     "a value of one shape was written into a slot of another: compare the .shape of both sides "
     "(x[:, :, i, j] is (N, 1); logits[:, 0, i, j] is (N,))"),
    (("backward through the graph a second time",),
     "backward() went through a graph that an earlier backward() had already freed: build the second loss "
     "from a new forward pass (or detach what the first loss should not reach)"),
    (("expected scalar type", "same dtype", "Double did not match Float", "Float did not match Double",
      "dtype mismatch", "expected both vectors to have same dtype",
      "found dtype"),
     "two tensors of different dtypes met (e.g. float64 and float32): keep the inputs' dtype "
     "(torch.zeros_like, dtype=x.dtype, .to(x)) instead of creating float64 or float32 tensors of your own"),
    (("must match the size of tensor", "shapes cannot be multiplied", "size mismatch", "mat1 and mat2",
      "not broadcastable", "Sizes of tensors must match", "shape '[", "is invalid for input of size"),
     "the shapes do not fit together: print the .shape of each tensor and compare with the statement"),
    (("'NoneType' object", "NoneType"),
     "something is None: does every function you call (and yours) end with a `return`?"),
    (("same device",),
     "tensors on different devices met: create new tensors on the inputs' device (device=x.device)"),
    (("result type Float can't be cast", "can't be cast to the desired output type"),
     "an in-place operation on an integer tensor cannot hold the float result: convert first (x.float()), "
     "then compute, without in-place operations on the input"),
    (("GreaterThan(lower_bound=0.0)", "scale must be positive", "std must be positive"),
     "a standard deviation must be positive: with logvar = log(variance) it is exp(logvar / 2), not logvar"),
    (("Dimension out of range",),
     "a dim= argument names a dimension the tensor does not have: check the tensor's number of dimensions"),
]


def explain_error(err: BaseException) -> str:
    """The likely cause of a torch or Python error in the student's terms ('' when unknown)."""
    text = str(err)
    for needles, hint in _KNOWN_ERRORS:
        if any(n in text for n in needles):
            return hint
    return ""


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""


def raised_in_student_code(err: BaseException) -> bool:
    """True when ``err`` came out of a function the check was given (the student's code)."""
    return bool(getattr(err, _FROM_STUDENT, False))


def student_code(fn, calls: list | None = None):
    """``fn`` (the student's function, or a module the student's code returned) wrapped so that an exception
    it raises is marked as the student's, not the check's; ``calls`` collects what each call returned."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except CheckFailed:
            raise
        except Exception as err:
            try:
                setattr(err, _FROM_STUDENT, True)
            except Exception:  # an exception type without attributes: reported as the check's own
                pass
            raise
        if calls is not None:
            calls.append(out)
        return out

    return call


def _wrappable(value) -> bool:
    return isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial))


def exercise_check(check):
    """Turn ``check(student_fn, ...)`` into one that returns a :class:`CheckResult` instead of raising.

    The functions passed in are wrapped (:func:`student_code`), so that an error raised inside them is
    reported as "your code raised ...", with its likely cause where torch's message is a known one, while an
    error inside the check's own code (e.g. on a result of an unexpected type) is reported as such.
    """

    @functools.wraps(check)
    def run(*args, **kwargs) -> CheckResult:
        name = check.__name__.removeprefix("check_")
        returned: list = []
        wrapped = [student_code(a, returned) if _wrappable(a) else a for a in args]
        wrapped_kw = {k: student_code(v, returned) if _wrappable(v) else v for k, v in kwargs.items()}
        try:
            message = check(*wrapped, **wrapped_kw) or "all checks passed"
            result = CheckResult(name, True, message)
        except NotImplementedError:
            result = CheckResult(name, False, NOT_IMPLEMENTED_HINT)
        except CheckFailed as failure:
            result = CheckResult(name, False, str(failure))
        except Exception as err:
            why = explain_error(err)
            if raised_in_student_code(err):  # the student's code crashed: show where, in one line
                text = f"your code raised {type(err).__name__}: {_first_line(err)}"
            else:  # the check itself could not go on with what the student's code gave it
                text = (f"the check could not use what your function returned ({type(err).__name__}: "
                        f"{_first_line(err)})" + ("" if why else ": compare its type, shape and dtype with the "
                                                  "statement"))
            result = CheckResult(name, False, text + (f" -- {why}" if why else ""))
        if not result.passed and any(out is None for out in returned):
            result = CheckResult(name, False, "your function returned None: did you forget the `return` statement "
                                              f"(or does a branch end without one)? ({result.message})")
        _remember(args, result.passed)
        if not result.passed and os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise CheckFailed(repr(result))
        return result

    return run
