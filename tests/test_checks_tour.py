"""The warm-up check of notebook 00 passes the solution and names the cause of typical mistakes."""

import pytest
import torch

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.tour import check_to_unit_range


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def solution(pixels):
    return pixels.float() / 255


def stub(pixels):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_solution_passes():
    result = check_to_unit_range(solution)
    assert result.passed, result.message


def test_true_division_of_uint8_passes():
    assert check_to_unit_range(lambda p: p / 255).passed


def test_stub_fails_with_not_implemented_hint():
    result = check_to_unit_range(stub)
    assert not result.passed
    assert result.message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (lambda p: p.float(), "forget to divide by 255"),
    (lambda p: p // 255, "still uint8"),
    (lambda p: torch.div(p.float(), 255, rounding_mode="floor"), "integer division"),
    (lambda p: p.float() / 256, "divide by 255"),
    (lambda p: p.double() / 255, "float64"),
    (lambda p: (p.float() / 255).flatten(), "keep the input's shape"),
    (lambda p: (p.float() / 255).squeeze(), "keep the input's shape"),
    (lambda p: p.float() / p.max(), "own maximum"),
    (lambda p: (p.float() - p.min()) / (p.max() - p.min()), "own maximum"),
    (lambda p: (p.float() / 255).numpy(), "torch tensor"),
    (lambda p: (p.float() / 255).round(), "rounded away"),
])
def test_typical_mistakes_are_named(wrong, words):
    result = check_to_unit_range(wrong)
    assert not result.passed
    assert words in result.message


def test_in_place_change_of_the_input_is_named():
    def in_place(p):
        out = p.float() / 255
        p.zero_()
        return out

    result = check_to_unit_range(in_place)
    assert not result.passed and "changed its input" in result.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="divide by 255"):
        check_to_unit_range(lambda p: p.float() / 256)


# --- the checked question ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer, words", [(300, "cannot hold 300"), (255, "modulo 256"), (300 / 255, "converting"),
                                           (0, "wraps around"), (None, "not answered yet"), ("44", "a number")])
def test_uint8_question_names_each_wrong_answer(monkeypatch, answer, words):
    from course_utils.checks.questions import check_answer

    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    result = check_answer("tour_uint8_wraps", answer)
    assert not result.passed and words in result.message, result.message
    assert check_answer("tour_uint8_wraps", 44).passed
