"""Conceptual questions: the checker's verdicts, and every question of the solutions wired to the registry."""

from __future__ import annotations

import ast
import importlib
import re

import numpy as np
import pytest
import torch

from course_utils.checks import questions as q
from course_utils.config import project_root
from course_utils.grading.metadata import python_source
from course_utils.release import BEGIN, END, read_notebook


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


@pytest.fixture()
def registry(monkeypatch):
    """A scratch registry with one question of each kind (the course's own are registered first, so that
    importing a checks module later cannot register them into the scratch one)."""
    _import_question_modules()
    monkeypatch.setattr(q, "QUESTIONS", {})
    q.choice("demo_choice", "b", "B explained.", {"a": "A's misconception", "c": "C's misconception"})
    q.number("demo_number", 784, "one pass per pixel.", {28: "one pass per row"})
    q.choices("demo_set", {"a", "c"}, "A and C.", {"a": "A belongs", "b": "B does not", "c": "C belongs"})
    return q.QUESTIONS


@pytest.mark.parametrize("qid, answer", [("demo_choice", "b"), ("demo_choice", " (B) "), ("demo_number", 784),
                                         ("demo_number", 784.0), ("demo_number", torch.tensor(784)),
                                         ("demo_number", np.int64(784)), ("demo_set", {"a", "c"}),
                                         ("demo_set", ["c", "a"]), ("demo_set", "a, c")])
def test_right_answers_pass_with_the_explanation(registry, qid, answer):
    result = q.check_answer(qid, answer)
    assert result.passed and registry[qid].explanation in result.message


@pytest.mark.parametrize("qid, answer, says", [
    ("demo_choice", None, q.NOT_ANSWERED_HINT), ("demo_choice", "a", "A's misconception"),
    ("demo_choice", "c", "C's misconception"), ("demo_choice", "z", "one of the letters a, b, c"),
    ("demo_choice", 2, "one letter in quotes"), ("demo_number", 28, "one pass per row"),
    ("demo_number", 1000, "too large"), ("demo_number", "784", "a number"), ("demo_number", True, "a number"),
    ("demo_number", float("nan"), "a number"), ("demo_number", torch.ones(3), "a number"),
    ("demo_set", {"a"}, "(c) belongs too: C belongs"), ("demo_set", {"a", "b", "c"}, "(b) does not belong"),
    ("demo_set", 5, "a set of letters"), ("nobody", 1, "does not know this question")])
def test_wrong_answers_fail_naming_why(registry, qid, answer, says):
    result = q.check_answer(qid, answer)
    assert not result.passed and says in result.message, result.message


def test_strict_mode_raises_on_a_wrong_answer(registry, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="A's misconception"):
        q.check_answer("demo_choice", "a")


def test_registering_needs_a_message_for_every_wrong_option(registry):
    with pytest.raises(ValueError, match="every option"):
        q.choice("bad", "a", "x", {"b": "B"}, options="abc")
    with pytest.raises(ValueError, match="explanation"):
        q.number("bad2", 1, " ")
    with pytest.raises(ValueError, match="registered twice"):
        q.number("demo_number", 785, "other")


def _import_question_modules() -> None:
    for module in q._QUESTION_MODULES:
        importlib.import_module(f"course_utils.checks.{module}")


# --- every question the solutions ask ------------------------------------------------------------

def _asked() -> list[tuple[str, str, dict]]:
    """(notebook, question id, the names the solution's answer region assigns) for every check_answer call."""
    found = []
    for path in sorted((project_root() / "solutions").glob("*.ipynb")):
        cells = [c for c in read_notebook(path).cells if c.cell_type == "code"]
        for before, cell in zip(cells, cells[1:], strict=False):
            for node in ast.walk(ast.parse(python_source(cell.source))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_answer":
                    qid = node.args[0].value
                    region = before.source.split(BEGIN)[-1].split(END)[0] if BEGIN in before.source else ""
                    answers: dict = {}
                    exec(region, {}, answers)  # the solution's answer: plain assignments only
                    found.append((path.stem, qid, answers, ast.unparse(node.args[1])))
    return found


ASKED = _asked()


def test_every_notebook_from_01_asks_questions():
    per_notebook = {nb for nb, *_ in ASKED}
    missing = [p.stem for p in sorted((project_root() / "solutions").glob("0[1-8]_*.ipynb"))
               if p.stem not in per_notebook]
    assert not missing, f"notebooks without a checked conceptual question: {missing}"


@pytest.mark.parametrize("notebook, qid, answers, expr", ASKED, ids=[f"{a[0][:2]}-{a[1]}" for a in ASKED])
def test_solution_answers_pass_and_every_wrong_option_is_explained(notebook, qid, answers, expr):
    question = q.find(qid)
    result = q.check_answer(qid, eval(expr, {}, answers))
    assert result.passed, f"{notebook}: the solution's answer to {qid} fails: {result.message}"
    if question.kind == "choice":
        for letter in question.options:
            if letter != question.answer:
                wrong = q.check_answer(qid, letter)
                assert not wrong.passed and question.wrong[letter] in wrong.message
    source = "\n".join(c.source for c in read_notebook(project_root() / "solutions" / f"{notebook}.ipynb").cells
                       if c.cell_type == "markdown")
    for letter in question.options:
        assert re.search(rf"\({letter}\)", source), f"{notebook}: option ({letter}) of {qid} is not in the text"


def test_every_registered_question_is_asked_once():
    _import_question_modules()
    asked = [qid for _, qid, *_ in ASKED]
    assert sorted(set(asked)) == sorted(asked), "a question is asked twice"
    assert set(q.QUESTIONS) - set(asked) == set(), "registered but never asked"
