"""nbgrader, for real: our solution notebooks work unchanged with nbgrader, and its points equal ours.

A temporary nbgrader course gets notebook 01 (four exercises, one worth 2 points) with the nbgrader
metadata that ``course_utils.grading.metadata.annotate`` writes. nbgrader's own ``generate_assignment``
and ``autograde`` run on three submissions: the full solution, the untouched student notebook, and one
partly right (the first exercise solved). nbgrader's points per grade cell must equal the points our
``grade`` command gives. nbgrader runs the whole notebook (smoke profile, checks strict, so a failing
check is an error in its cell, which is how nbgrader scores); our grader runs only the exercises.

nbgrader is in the optional extra ``.[grading]`` (``make test`` installs it through ``.[dev]``); without it
this test is skipped and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

nbgrader_api = pytest.importorskip(
    "nbgrader.api", reason="nbgrader is not installed: pip install -e '.[grading]' to run the nbgrader test")

import course_utils.grading.grade as grading  # noqa: E402
from course_utils.config import project_root  # noqa: E402
from course_utils.grading import metadata  # noqa: E402
from course_utils.release import notebook_bytes, student_notebook  # noqa: E402

NOTEBOOK = "01_supervised_vs_unsupervised.ipynb"
ASSIGNMENT = "ps1"


def _nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, COURSE_PROFILE="smoke", COURSE_STRICT_CHECKS="1", COURSE_THREADS="1",
               MPLBACKEND="Agg")  # PATH: see the test (nbgrader runs `alembic` from it)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(course)],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_nbgrader_points_equal_ours(tmp_path, monkeypatch):
    # nbgrader's gradebook runs the `alembic` command: the one next to this Python, also outside an activated venv
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    solution = nbformat.read(str(project_root() / "solutions" / NOTEBOOK), as_version=4)
    metadata.annotate(solution)  # what solutions/ carries (a no-op once they are annotated)
    items = metadata.graded_cells(solution, NOTEBOOK)
    assert len(items) >= 2, "notebook 01 should have several exercises"

    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'dgm'\n")
    (course / "source" / ASSIGNMENT / NOTEBOOK).write_bytes(notebook_bytes(solution))
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--create", "--force")
    released = course / "release" / ASSIGNMENT / NOTEBOOK
    assert released.exists()

    ours = student_notebook(solution, NOTEBOOK)
    partly = student_notebook(solution, NOTEBOOK)
    partly.cells[items[0].answer_index].source = items[0].answer_source
    submissions = {"full": solution, "untouched": ours, "partly": partly}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_bytes(notebook_bytes(nb))
    _nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force", "--Execute.timeout=600")

    theirs = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            for item in items:
                grade = gradebook.find_grade(item.grade_id, NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, student)
                theirs[student, item.grade_id] = float(grade.score)
            assert gradebook.find_grade_cell(items[0].grade_id, NOTEBOOK.removesuffix(".ipynb"),
                                             ASSIGNMENT).max_score == items[0].points

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / NOTEBOOK).write_bytes(notebook_bytes(solution))
    for student, nb in submissions.items():
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / NOTEBOOK).write_bytes(notebook_bytes(nb))
    rows = grading.grade(tmp_path / "class", tmp_path / "results", solutions=tmp_path / "solutions",
                         progress=False, workers=1, echo=lambda line: None)
    mine = {(r.student, r.exercise): r.points for r in rows}

    assert theirs == mine
    total = sum(i.points for i in items)
    assert sum(v for (s, _), v in mine.items() if s == "full") == total
    assert sum(v for (s, _), v in mine.items() if s == "untouched") == 0
    assert sum(v for (s, _), v in mine.items() if s == "partly") == items[0].points
