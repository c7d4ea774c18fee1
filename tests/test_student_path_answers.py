"""The student's path, part 2: the other student notebooks run to the end with every exercise undone, a
wrong answer runs on with its check naming the mistake, and a right answer is what later cells use."""

from __future__ import annotations

import re

import nbformat
import pytest
from student_runs import (
    ORDER,
    SOLUTIONS,
    STUB,
    assert_runs_with_every_exercise_undone,
    execute,
    notebook,
    student_env_for,
    text,
)

from course_utils.release import has_solution

pytestmark = pytest.mark.student_path
OTHERS = sorted({p.name[:2] for p in SOLUTIONS.glob("*.ipynb")} - set(ORDER))


@pytest.fixture(scope="module")
def student_env(tmp_path_factory):
    return student_env_for(tmp_path_factory)


@pytest.mark.parametrize("number", OTHERS)
def test_untouched_student_notebook_runs_to_the_end(number, student_env, tmp_path, monkeypatch):
    assert_runs_with_every_exercise_undone(number, student_env, tmp_path / "out.ipynb", monkeypatch)


def _answer(nb, name: str, body: str) -> int:
    """Put ``body`` in place of the stub of the exercise that defines ``name``; returns its cell index."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and STUB in cell.source and re.search(rf"^def {name}\(", cell.source, re.M):
            cell.source = cell.source.replace(STUB, body, 1)
            return index
    raise AssertionError(f"no exercise defines {name}")


def test_a_wrong_answer_runs_on_and_is_named(student_env, tmp_path, monkeypatch):
    nb = nbformat.read(str(notebook("00")), as_version=4)
    index = _answer(nb, "to_unit_range", "return pixels.float() / 256")
    ran = execute(nb, tmp_path / "out.ipynb", student_env, monkeypatch)
    assert "divide by 255" in text(ran.cells[index + 1])
    later = "".join(text(c) for c in ran.cells[index + 2:])
    assert "using the reference `to_unit_range`: yours does not pass its check yet" in later


def test_a_right_answer_is_used_by_the_later_cells(student_env, tmp_path, monkeypatch):
    solution = nbformat.read(str(SOLUTIONS / notebook("00").name), as_version=4)
    nb = nbformat.read(str(notebook("00")), as_version=4)
    index = next(i for i, c in enumerate(solution.cells) if c.cell_type == "code" and has_solution(c.source))
    nb.cells[index].source = solution.cells[index].source
    ran = execute(nb, tmp_path / "out.ipynb", student_env, monkeypatch)
    assert "[PASS]" in text(ran.cells[index + 1])
    assert "using your `to_unit_range`: it passes its check" in "".join(text(c) for c in ran.cells[index + 2:])
