"""Conceptual questions, checked: multiple choice, select-all-that-apply, and numbers with a tolerance.

A question's text lives in the notebook (markdown, options labelled ``(a)``, ``(b)``, ...); its answer, the
explanation shown once it is answered right, and what each wrong answer shows live here, registered by the
notebook's checks module (``checks.pixel_models`` registers notebook 03's and 04's questions, and so on)::

    choice("vae_kl_vanishes", answer="b", explanation="...",
           wrong={"a": "why (a) is a tempting but wrong answer", "c": "..."})
    number("pixel_passes", answer=784, explanation="...", wrong={28: "that is one pass per row ..."})

In the notebook, the answer cell and its check cell are two cells::

    q_passes = None                             # the released version: the student replaces None
    check_answer("pixel_passes", q_passes)      # the next cell

:func:`check_answer` returns a :class:`~course_utils.checks.CheckResult` like every exercise check: it never
raises (except under ``$COURSE_STRICT_CHECKS``), says "not answered yet" for None, names the misconception
behind a wrong answer, and shows the explanation once the answer is right.
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
from dataclasses import dataclass, field

from . import STRICT_ENV, CheckFailed, CheckResult

NOT_ANSWERED_HINT = "not answered yet: replace None with your answer"
# The modules that register questions; imported on demand, so check_answer works from any notebook.
_QUESTION_MODULES = ("tour", "unsupervised", "autoencoders", "pixel_models", "vae", "gan", "comparison", "diffusion")


@dataclass(frozen=True)
class Question:
    """One checked question. kind: 'choice' (one letter), 'choices' (a set of letters) or 'number'.

    answer: the letter, the set of letters, or the number; options: the letters a student may give (choice
    kinds); wrong: what a wrong letter (or, for numbers, a wrong value) shows; tolerance: relative, for
    numbers; explanation: shown once the answer is right.
    """

    id: str
    kind: str
    answer: object
    explanation: str
    options: tuple[str, ...] = ()
    wrong: dict = field(default_factory=dict)
    tolerance: float = 0.01


QUESTIONS: dict[str, Question] = {}


def _register(question: Question) -> Question:
    if not question.explanation.strip():
        raise ValueError(f"question {question.id!r} needs an explanation")
    old = QUESTIONS.get(question.id)
    if old is not None and old != question:
        raise ValueError(f"question id {question.id!r} is registered twice with different answers")
    QUESTIONS[question.id] = question
    return question


def _letters(options) -> tuple[str, ...]:
    letters = tuple(str(o).lower() for o in options)
    if not letters or any(len(o) != 1 or not o.isalpha() for o in letters):
        raise ValueError(f"options must be single letters, got {options!r}")
    return letters


def choice(id: str, answer: str, explanation: str, wrong: dict[str, str], options=None) -> Question:
    """Register a multiple-choice question with one right letter; ``wrong`` maps every other letter to the
    misconception it reveals (options default to the right letter and the letters of ``wrong``)."""
    letters = _letters(options or sorted({answer, *wrong}))
    if answer not in letters or set(wrong) - set(letters) or set(letters) - set(wrong) - {answer}:
        raise ValueError(f"question {id!r}: every option but the answer needs a 'wrong' message")
    return _register(Question(id, "choice", answer.lower(), explanation, letters, dict(wrong)))


def choices(id: str, answer: set[str] | str, explanation: str, why: dict[str, str], options=None) -> Question:
    """Register a select-all-that-apply question: ``answer`` the set of right letters; ``why`` says for every
    letter why it belongs (right ones) or does not (wrong ones), shown when a student gets that letter wrong."""
    right = frozenset(str(a).lower() for a in answer)
    letters = _letters(options or sorted(why))
    if not right <= set(letters) or set(letters) != set(why):
        raise ValueError(f"question {id!r}: 'why' needs one message per option, and the answer must be options")
    return _register(Question(id, "choices", right, explanation, letters, dict(why)))


def number(id: str, answer: float, explanation: str, wrong: dict | None = None, tolerance: float = 0.01) -> Question:
    """Register a question answered with a number, right within ``tolerance`` (relative; absolute near 0);
    ``wrong`` maps typical wrong values to the slip each one reveals."""
    if not isinstance(answer, numbers.Real) or not math.isfinite(answer):
        raise ValueError(f"question {id!r}: the answer must be a finite number, got {answer!r}")
    return _register(Question(id, "number", float(answer), explanation, (), dict(wrong or {}), tolerance))


def find(question_id: str) -> Question:
    """The registered question ``question_id``; ``KeyError`` naming the known ids when there is none."""
    if question_id not in QUESTIONS:
        for module in _QUESTION_MODULES:
            importlib.import_module(f"{__package__}.{module}")
    if question_id not in QUESTIONS:
        raise KeyError(f"no question {question_id!r}; known: {', '.join(sorted(QUESTIONS))}")
    return QUESTIONS[question_id]


def _as_letter(answer, q: Question) -> str:
    if not isinstance(answer, str):
        raise CheckFailed(f"answer with one letter in quotes, one of {', '.join(q.options)} (e.g. \"{q.options[0]}\"), "
                          f"got {type(answer).__name__} {answer!r}")
    letter = answer.strip().strip("()").strip().lower()
    if letter not in q.options:
        raise CheckFailed(f"answer with one of the letters {', '.join(q.options)}, got {answer!r}")
    return letter


def _grade_choice(answer, q: Question) -> None:
    letter = _as_letter(answer, q)
    if letter != q.answer:
        raise CheckFailed(f"({letter}) is not it: {q.wrong[letter]}")


def _grade_choices(answer, q: Question) -> None:
    if isinstance(answer, str):
        answer = [a for a in answer.replace(",", " ").split()] if len(answer.strip()) > 1 else [answer]
    if not isinstance(answer, (set, frozenset, list, tuple)):
        raise CheckFailed(f"answer with a set of letters, e.g. {{\"{q.options[0]}\", \"{q.options[-1]}\"}}, "
                          f"got {type(answer).__name__} {answer!r}")
    given = {_as_letter(a, q) for a in answer}
    missing, extra = sorted(q.answer - given), sorted(given - q.answer)
    if missing or extra:
        parts = [f"({x}) belongs too: {q.wrong[x]}" for x in missing]
        parts += [f"({x}) does not belong: {q.wrong[x]}" for x in extra]
        raise CheckFailed("not quite. " + " ".join(parts))


def _grade_number(answer, q: Question) -> None:
    if isinstance(answer, bool) or not _is_number(answer):
        raise CheckFailed(f"answer with a number (int or float), got {type(answer).__name__} {answer!r}")
    value = float(answer.item() if hasattr(answer, "item") else answer)
    if _close(value, q.answer, q.tolerance):
        return
    for wrong_value, why in q.wrong.items():
        if _close(value, float(wrong_value), q.tolerance):
            raise CheckFailed(f"{value:g} is not it: {why}")
    side = "too large" if value > q.answer else "too small"
    raise CheckFailed(f"{value:g} is {side}: go back to the text above the question and count again")


def _is_number(answer) -> bool:
    if isinstance(answer, numbers.Real):
        return math.isfinite(float(answer))
    try:  # a 0-d tensor or numpy scalar
        return answer.numel() == 1 if hasattr(answer, "numel") else answer.size == 1
    except Exception:
        return False


def _close(value: float, target: float, tolerance: float) -> bool:
    return math.isclose(value, target, rel_tol=tolerance, abs_tol=tolerance if target == 0 else 0.0)


_GRADERS = {"choice": _grade_choice, "choices": _grade_choices, "number": _grade_number}


def check_answer(question_id: str, answer) -> CheckResult:
    """Check a conceptual question's answer: a CheckResult that passes with the explanation, or fails naming
    what the wrong answer reveals. None means not answered yet."""
    try:
        q = find(question_id)
    except KeyError as err:
        result = CheckResult(str(question_id), False, f"the check does not know this question: {err.args[0]}")
    else:
        if answer is None:
            result = CheckResult(q.id, False, NOT_ANSWERED_HINT)
        else:
            try:
                _GRADERS[q.kind](answer, q)
                result = CheckResult(q.id, True, f"right. {q.explanation}")
            except CheckFailed as failure:
                result = CheckResult(q.id, False, str(failure))
    if not result.passed and os.environ.get(STRICT_ENV, "") not in ("", "0"):
        raise CheckFailed(repr(result))
    return result
