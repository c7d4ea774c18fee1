"""The student's path, part 1: any notebook runs whatever the others left in the cache, in any order, and
twice in a row. Student notebooks as released (exercises undone) run on one fresh cache: 07 first (it
trains every model with its recipe), then 03 to 06, each twice in a row. (Part 2, the other notebooks
and wrong answers: test_student_path_answers.py; the two files run on the two test workers.)"""

from __future__ import annotations

import pytest
from student_runs import ORDER, assert_runs_with_every_exercise_undone, student_env_for

pytestmark = pytest.mark.student_path


@pytest.fixture(scope="module")
def student_env(tmp_path_factory):
    return student_env_for(tmp_path_factory)


@pytest.mark.parametrize("number", [pytest.param(n, id=f"{step:02d}-{n}") for step, n in enumerate(ORDER)])
def test_student_notebook_runs_in_any_order_and_twice(number, student_env, tmp_path, monkeypatch):
    assert_runs_with_every_exercise_undone(number, student_env, tmp_path / "out.ipynb", monkeypatch)
