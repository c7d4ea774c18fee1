import pytest
import torch

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed, exercise_check, expect, expect_close, expect_shape


@exercise_check
def check_double(fn):
    out = fn(torch.tensor([1.0, 2.0]))
    expect_shape(out, (2,), "double(x)")
    expect(not torch.equal(out, torch.tensor([1.0, 2.0])), "the input came back unchanged: multiply it by 2")
    expect_close(out, torch.tensor([2.0, 4.0]), "double(x)", hint="did you add 2 instead of multiplying?")
    return "doubles every entry"


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def test_pass_and_failure_messages():
    ok = check_double(lambda x: 2 * x)
    assert ok.passed and ok.message == "doubles every entry" and "PASS" in repr(ok)
    assert "passed" in ok._repr_html_()
    wrong = check_double(lambda x: x + 2)
    assert not wrong and "did you add 2 instead of multiplying?" in wrong.message
    assert check_double(lambda x: x).message.startswith("the input came back unchanged")
    assert "shape (1,), expected (2,)" in check_double(lambda x: x[:1]).message


def test_stub_and_crash_are_reported():
    def stub(x):
        raise NotImplementedError("Exercise")

    assert check_double(stub).message == NOT_IMPLEMENTED_HINT
    crash = check_double(lambda x: x @ torch.zeros(3, 3))
    assert not crash and crash.message.startswith("your code raised RuntimeError")


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="did you add 2"):
        check_double(lambda x: x + 2)
    assert check_double(lambda x: 2 * x).passed


def test_the_checks_own_crash_is_not_blamed_on_the_student():
    @exercise_check
    def check_fragile(fn):
        out = fn(torch.ones(2))
        return f"{out.missing_attribute}"  # the check's own code fails on what it got

    result = check_fragile(lambda x: x)
    assert not result.passed and result.message.startswith("the check could not use what your function returned")
    assert "AttributeError" in result.message and "your code raised" not in result.message


def test_a_student_error_is_explained():
    import torch.nn.functional as F

    result = check_double(lambda x: F.binary_cross_entropy(x, x))
    assert result.message.startswith("your code raised RuntimeError") and "binary_cross_entropy_with_logits" in \
        result.message
    shapes = check_double(lambda x: x.view(3, 5))
    assert shapes.message.startswith("your code raised RuntimeError") and "shapes do not fit" in shapes.message


def test_a_missing_return_is_named():
    def forgot(x):
        2 * x

    result = check_double(forgot)
    assert not result.passed and "returned None" in result.message and "return" in result.message


def test_expect_close_on_odd_values():
    @exercise_check
    def check_number(fn):
        expect_close(fn(), 1.0, "fn()")

    assert "should be a number or a tensor" in check_number(lambda: "one").message
    assert "returned None" in check_number(lambda: None).message
    assert check_number(lambda: torch.tensor(1.0, dtype=torch.float64, requires_grad=True)).passed


def test_verdicts_are_kept_for_the_function_itself():
    from course_utils.checks import verdict, yours_or_reference

    def mine(x):
        return 2 * x

    def wrong(x):
        return x + 2

    assert check_double(mine).passed and verdict(mine) is True
    assert not check_double(wrong).passed and verdict(wrong) is False
    assert yours_or_reference(mine, wrong) is mine and yours_or_reference(wrong, mine) is mine


def test_student_code_marks_only_the_students_errors():
    from course_utils.checks import raised_in_student_code, student_code

    def boom(x):
        raise ValueError("inside")

    try:
        student_code(boom)(1)
    except ValueError as err:
        assert raised_in_student_code(err)
    assert not raised_in_student_code(ValueError("elsewhere"))
