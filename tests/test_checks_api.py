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
