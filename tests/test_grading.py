"""The grader (course_utils.grading): metadata, every kind of broken submission in a generated class, exact
CSV and feedback for a small fixed class, and the nbgrader metadata of the solution notebooks.

Grading starts sandboxed worker processes (each imports torch once), so the class is graded once per
module and the tests read its results.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

import course_utils.grading.grade as grading
from course_utils.checks import STRICT_ENV
from course_utils.checks.tour import check_to_unit_range
from course_utils.checks.unsupervised import check_cluster_purity
from course_utils.config import project_root
from course_utils.grading import metadata, report, sandbox
from course_utils.release import notebook_bytes, student_notebook

SOLUTIONS = project_root() / "solutions"
STUDENT = project_root() / "notebooks"
REAL = ["00_setup_and_tour.ipynb", "01_supervised_vs_unsupervised.ipynb"]  # the cheapest real notebooks
MINI = "90_mini.ipynb"

TO_UNIT = ('def to_unit_range(pixels):\n    """uint8 -> float in [0, 1]."""\n'
           "    ### BEGIN SOLUTION\n    return pixels.float() / 255\n    ### END SOLUTION\n")
PURITY = ('def cluster_purity(cluster_ids, labels):\n    """Share of points with their cluster\'s majority label."""\n'
          "    ### BEGIN SOLUTION\n    total = 0\n    for c in torch.unique(cluster_ids):\n"
          "        total += torch.bincount(labels[cluster_ids == c]).max().item()\n"
          "    return total / len(labels)\n    ### END SOLUTION\n")


def mini_notebook() -> nbformat.NotebookNode:
    """A small course notebook with two exercises on real course checks (fixed, whatever the real ones become)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [
        ("markdown", "# Mini"),
        ("code", 'profile = "lecture"'),
        ("code", "%matplotlib inline\nimport torch\n\nfrom course_utils.checks.tour import check_to_unit_range\n"
                 "from course_utils.checks.unsupervised import check_cluster_purity"),
        ("code", "data = torch.arange(4)  # not an import: grading does not run it"),
        ("code", TO_UNIT),
        ("code", "check_to_unit_range(to_unit_range)"),
        ("markdown", "Exercise 2"),
        ("code", PURITY),
        ("code", "check_cluster_purity(cluster_purity)\n"  # what follows the check call is not graded
                 "purity_fn = yours_or_reference(cluster_purity, reference_purity)"),
        ("code", "print('the end')"),
    ]
    for index, (kind, source) in enumerate(cells):
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(new(source, id=f"mini-{index}"))
    nb.cells[1].metadata["tags"] = ["parameters"]
    metadata.annotate(nb)
    return nb


def with_answer(nb, index: int, source: str):
    """A copy of ``nb`` whose cell ``index`` holds ``source``."""
    nb = copy.deepcopy(nb)
    nb.cells[index].source = source
    return nb


def write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(notebook_bytes(nb))


WRONG_TO_UNIT = "def to_unit_range(pixels):\n    return pixels.float() / 256\n"
RIGHT_TO_UNIT = "def to_unit_range(pixels):\n    return pixels.float() / 255\n"

# student -> (answer cell 4 of the mini notebook, expected verdict, words the message must hold)
BROKEN = {
    "renamed": ("def to_unit_range_v2(pixels):\n    return pixels.float() / 255\n", "missing", "renamed"),
    "syntax": ("def to_unit_range(pixels)\n    return pixels.float() / 255\n", "error", "syntax error"),
    "loop": ("while True:\n    pass\n", "timeout", "endless loop"),
    "loop_in_function": ("def to_unit_range(pixels):\n    while True:\n        pass\n", "timeout", "endless loop"),
    "alloc": ("import torch\nbig = torch.ones(5 * 1024**3, dtype=torch.uint8)\n" + RIGHT_TO_UNIT, "error",
              "out of memory"),
    "alloc_in_function": ("import torch\ndef to_unit_range(pixels):\n"
                          "    big = bytearray(5 * 1024**3)\n    return pixels.float() / 255\n", "fail",
                          "out of memory"),
    "exits": ("import sys\nsys.exit(3)\n" + RIGHT_TO_UNIT, "error", "sys.exit(3)"),
    "exits_in_function": ("import os\ndef to_unit_range(pixels):\n    os._exit(0)\n", "error", "os._exit"),
    "patches_module": ("import course_utils.checks.tour as tour\n"
                       "from course_utils.checks import CheckResult\n"
                       "tour.check_to_unit_range = lambda f: CheckResult('to_unit_range', True, 'ok')\n"
                       + WRONG_TO_UNIT, "tampered", "course_utils.checks.tour.check_to_unit_range"),
    "patches_expect": ("import course_utils.checks as checks\nchecks.expect = lambda *a, **k: None\n"
                       + WRONG_TO_UNIT, "tampered", "course_utils.checks.expect"),
    "patches_torch": ("import torch\ntorch.allclose = lambda *a, **k: True\n" + WRONG_TO_UNIT, "tampered",
                      "torch.allclose"),
    "patches_during_check": ("def to_unit_range(pixels):\n    import torch\n"
                             "    torch.allclose = lambda *a, **k: True\n    return pixels.float() / 256\n",
                             "tampered", "while it was checked"),
    "fake_check": ("from course_utils.checks import CheckResult\n"
                   "def check_to_unit_range(fn):\n    return CheckResult('to_unit_range', True, 'fake pass')\n"
                   + WRONG_TO_UNIT, "fail", "256"),
    "writes_files": (None, "error", "PermissionError"),  # filled in by the fixture (needs a path)
    "kills_worker": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + RIGHT_TO_UNIT, None, ""),
    "reads_env": ("import os\nassert 'GRADER_SECRET' not in os.environ, 'the environment leaked'\n"
                  "assert os.path.realpath(os.environ['HOME']) == os.path.realpath(os.getcwd())\n" + RIGHT_TO_UNIT,
                  "pass", ""),
    "cell_magic": ("%%time\n" + RIGHT_TO_UNIT, "pass", ""),
    "prints_a_lot": ("print('x' * 10_000_000)\n" + RIGHT_TO_UNIT, "pass", ""),
    "wrong": (WRONG_TO_UNIT, "fail", "256"),
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A generated class graded once: real 00/01 solutions and stubs, a partly right one, and every kind of
    broken submission on the mini notebook. Returns (results folder, rows, paths)."""
    base = tmp_path_factory.mktemp("grading")
    solutions, subs, out, instructor = base / "solutions", base / "submissions", base / "results", base / "instructor"
    instructor.mkdir()
    precious = instructor / "grades_by_hand.txt"
    precious.write_text("do not touch")
    for name in REAL:
        nb = nbformat.read(str(SOLUTIONS / name), as_version=4)
        metadata.annotate(nb)
        write(solutions / name, nb)
    mini = mini_notebook()
    write(solutions / MINI, mini)
    stub = student_notebook(mini, MINI)
    (subs / "full_marks").mkdir(parents=True)
    for name in REAL:
        shutil.copy(solutions / name, subs / "full_marks" / name)
        write(subs / "all_stubs" / name, student_notebook(nbformat.read(str(solutions / name), as_version=4)))
    write(subs / "full_marks" / MINI, mini)
    write(subs / "all_stubs" / MINI, stub)
    # partly right: the first exercise of 01 solved, the others left as stubs; mini: one right one wrong
    partly = student_notebook(nbformat.read(str(solutions / REAL[1]), as_version=4))
    first = metadata.graded_cells(nbformat.read(str(solutions / REAL[1]), as_version=4))[0]
    partly.cells[first.answer_index].source = first.answer_source
    write(subs / "partly" / REAL[1], partly)
    write(subs / "partly" / MINI, with_answer(with_answer(stub, 4, RIGHT_TO_UNIT), 7, "def cluster_purity(c, l):\n"
                                              "    return 0.5\n"))
    broken = dict(BROKEN)
    broken["writes_files"] = (f"open({str(precious)!r}, 'w').write('changed')\n" + RIGHT_TO_UNIT, *BROKEN[
        "writes_files"][1:])
    for student, (answer, _, _) in broken.items():
        write(subs / student / MINI, with_answer(stub, 4, answer))
    (subs / "invalid_json").mkdir()
    (subs / "invalid_json" / MINI).write_text('{"cells": [')
    nb = copy.deepcopy(mini)
    nb.cells[5].source = "pass"
    write(subs / "check_replaced" / MINI, nb)
    nb = copy.deepcopy(stub)
    del nb.cells[4]
    write(subs / "deleted_cell" / MINI, nb)
    nb = copy.deepcopy(mini)
    nb.cells[4].id = "a-new-id"  # copied and pasted without its metadata: found by what it defines
    nb.cells[4].metadata = {}
    write(subs / "moved_cell" / "work" / "90_mini-Copy1.ipynb", nb)
    (subs / "moved_cell" / "notes.ipynb").write_text("{}")
    os.environ["GRADER_SECRET"] = "instructor's token"
    try:
        rows = grading.grade(subs, out, solutions=solutions, timeout=15, memory=1024**3, workers=2, progress=False)
    finally:
        del os.environ["GRADER_SECRET"]
    return out, rows, {"precious": precious, "solutions": solutions}


def _rows(rows, student, notebook=MINI):
    return {r.exercise: r for r in rows if r.student == student and r.notebook == notebook}


def test_solutions_score_full_marks_and_stubs_zero(graded_class):
    _, rows, _ = graded_class
    full = [r for r in rows if r.student == "full_marks"]
    assert full and all(r.verdict == "pass" and r.points == r.max_points for r in full), \
        [(r.notebook, r.exercise, r.message) for r in full if r.verdict != "pass"]
    assert not any(r.flags for r in full), [r.flags for r in full if r.flags]
    stubs = [r for r in rows if r.student == "all_stubs"]
    assert stubs and all(r.verdict == "not attempted" and r.points == 0 for r in stubs), \
        [(r.notebook, r.exercise, r.message) for r in stubs if r.verdict != "not attempted"]
    assert {r.notebook for r in full} == {r.notebook for r in stubs} == {*REAL, MINI}


def test_partly_right(graded_class):
    _, rows, _ = graded_class
    real = _rows(rows, "partly", REAL[1])
    verdicts = [r.verdict for r in real.values()]
    assert verdicts[0] == "pass" and set(verdicts[1:]) == {"not attempted"}
    mini = _rows(rows, "partly")
    assert (mini["to_unit_range"].verdict, mini["cluster_purity"].verdict) == ("pass", "fail")
    missing = _rows(rows, "partly", REAL[0])["to_unit_range"]
    assert (missing.verdict, missing.points) == ("missing", 0) and "no 00_setup_and_tour.ipynb" in missing.message


@pytest.mark.parametrize("student", [s for s, (_, verdict, _) in BROKEN.items() if verdict])
def test_broken_submission_gets_zero_with_a_reason(graded_class, student):
    _, rows, _ = graded_class
    _, verdict, words = BROKEN[student]
    row = _rows(rows, student)["to_unit_range"]
    if student == "writes_files" and not sandbox.landlock_abi():
        pytest.skip("this kernel has no Landlock: writes outside the exercise's folder are not blocked")
    assert row.verdict == verdict, row.message
    assert words in row.message, row.message
    assert row.points == (row.max_points if verdict == "pass" else 0)
    other = _rows(rows, student)["cluster_purity"]  # the other exercise of the same notebook is unaffected
    assert other.verdict == "not attempted", other.message


def test_a_student_function_named_like_a_check_is_flagged(graded_class):
    _, rows, _ = graded_class
    row = _rows(rows, "fake_check")["to_unit_range"]
    assert any("check_to_unit_range" in flag for flag in row.flags)


def test_instructor_files_are_safe(graded_class):
    _, rows, paths = graded_class
    assert paths["precious"].read_text() == "do not touch"
    if not sandbox.landlock_abi():
        pytest.skip("this kernel has no Landlock: the write protection is not available")


def test_killing_the_worker_does_not_stop_the_batch(graded_class):
    _, rows, _ = graded_class
    row = _rows(rows, "kills_worker")["to_unit_range"]
    assert row.points == 0 or row.verdict == "pass"  # Landlock >= 6 stops the signal; else the worker is restarted
    assert _rows(rows, "wrong")["to_unit_range"].verdict == "fail"


def test_unreadable_deleted_replaced_and_moved(graded_class):
    _, rows, _ = graded_class
    for exercise in ("to_unit_range", "cluster_purity"):
        row = _rows(rows, "invalid_json")[exercise]
        assert (row.verdict, row.points) == ("unreadable", 0) and "invalid JSON" in row.message
    deleted = _rows(rows, "deleted_cell")["to_unit_range"]
    assert deleted.verdict == "missing" and "`to_unit_range`" in deleted.message
    replaced = _rows(rows, "check_replaced")["to_unit_range"]
    assert replaced.verdict == "pass" and replaced.points == 1
    assert any("check cell of `to_unit_range` was changed (it reads `pass`)" in f for f in replaced.flags)
    moved = _rows(rows, "moved_cell")
    assert all(r.verdict == "pass" for r in moved.values())


def test_outputs_and_notes(graded_class):
    out, rows, _ = graded_class
    with open(out / "grades.csv", newline="") as file:
        lines = list(csv.reader(file))
    assert tuple(lines[0]) == report.CSV_COLUMNS and len(lines) == len(rows) + 1
    students = {r.student for r in rows}
    assert {p.stem for p in (out / "feedback").glob("*.md")} == students
    moved = (out / "feedback" / "moved_cell.md").read_text()
    assert "work/90_mini-Copy1.ipynb was graded as 90_mini.ipynb" in moved
    assert "notes.ipynb is not one of the graded notebooks: ignored" in moved
    text = (out / "summary.md").read_text()
    assert f"{MINI}: {len(students)} students" in text and "most common failure" in text


def test_exact_csv_and_feedback_for_a_small_class(tmp_path, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")  # the grader ignores it: graded checks report, never raise
    mini = mini_notebook()
    stub = student_notebook(mini, MINI)
    write(tmp_path / "solutions" / MINI, mini)
    write(tmp_path / "class" / "ada" / MINI, mini)
    write(tmp_path / "class" / "bob" / MINI, with_answer(stub, 4, WRONG_TO_UNIT))
    (tmp_path / "class" / "cy").mkdir()
    printed = io.StringIO()
    grading.grade(tmp_path / "class", tmp_path / "out", solutions=tmp_path / "solutions", timeout=30,
                  workers=1, progress=False, echo=lambda line: print(line, file=printed))
    monkeypatch.delenv(STRICT_ENV)  # the expected messages come from the checks run here
    namespace: dict = {}
    exec("import torch\n" + TO_UNIT + PURITY, namespace)
    right = check_to_unit_range(namespace["to_unit_range"]).message
    purity = check_cluster_purity(namespace["cluster_purity"]).message
    exec(WRONG_TO_UNIT, namespace)
    wrong = check_to_unit_range(namespace["to_unit_range"]).message
    stubbed = check_cluster_purity(lambda ids, labels: (_ for _ in ()).throw(NotImplementedError())).message
    assert (tmp_path / "out" / "grades.csv").read_text() == (
        "student,notebook,exercise,points,max_points,verdict\n"
        f"ada,{MINI},to_unit_range,1,1,pass\n"
        f"ada,{MINI},cluster_purity,1,1,pass\n"
        f"bob,{MINI},to_unit_range,0,1,fail\n"
        f"bob,{MINI},cluster_purity,0,1,not attempted\n"
        f"cy,{MINI},to_unit_range,0,1,missing\n"
        f"cy,{MINI},cluster_purity,0,1,missing\n")
    assert (tmp_path / "out" / "feedback" / "bob.md").read_text() == (
        "# Feedback for bob\n\nTotal: 0 / 2 points\n\n"
        f"## {MINI}: 0 / 2 points\n\n"
        f"- **to_unit_range** (0 / 1, fail): {wrong}\n"
        f"- **cluster_purity** (0 / 1, not attempted): {stubbed}\n")
    assert (tmp_path / "out" / "feedback" / "ada.md").read_text() == (
        "# Feedback for ada\n\nTotal: 2 / 2 points\n\n"
        f"## {MINI}: 2 / 2 points\n\n"
        f"- **to_unit_range** (1 / 1, pass): {right}\n"
        f"- **cluster_purity** (1 / 1, pass): {purity}\n")
    assert (tmp_path / "out" / "feedback" / "cy.md").read_text().startswith(
        "# Feedback for cy\n\nTotal: 0 / 2 points\n\n")
    shown = wrong if len(wrong) <= 110 else wrong[:107] + "..."
    assert (tmp_path / "out" / "summary.md").read_text() == (
        f"{MINI}: 3 students, mean 0.67 / 2 (33%), spread (sd) 0.94, min 0, max 2\n"
        f"  to_unit_range   1/3 pass; most common failure (1x): {shown}\n"
        f"  cluster_purity  1/3 pass; most common failure (1x): {stubbed}\n")
    assert "grading 3 students, 1 notebook: 4 exercises" in printed.getvalue()


# ---------------------------------------------------------------------------------------------------------
# metadata


def test_annotate_marks_answer_and_check_cells_and_is_idempotent():
    nb = mini_notebook()
    answer, check = nb.cells[4].metadata["nbgrader"], nb.cells[5].metadata["nbgrader"]
    assert answer == {"grade": False, "grade_id": "to_unit_range_answer", "locked": False, "schema_version": 3,
                      "solution": True}
    assert check == {"grade": True, "grade_id": "to_unit_range", "locked": True, "points": 1,
                     "schema_version": 3, "solution": False}
    assert not metadata.annotate(nb)
    assert [c.id for c in nb.cells] == [f"mini-{i}" for i in range(10)]
    assert all("nbgrader" not in c.metadata for i, c in enumerate(nb.cells) if i not in (4, 5, 7, 8))
    assert nb.cells[1].metadata["tags"] == ["parameters"]
    nb.cells[8].metadata["nbgrader"]["points"] = 3  # an instructor's choice is kept
    assert not metadata.annotate(nb)
    items = metadata.graded_cells(nb, MINI)
    assert [(i.grade_id, i.points, i.needs) for i in items] == [("to_unit_range", 1, ("to_unit_range",)),
                                                                ("cluster_purity", 3, ("cluster_purity",))]
    assert "import torch" in items[0].setup and "data" not in items[0].setup


def test_a_check_cell_marked_by_hand_is_graded():
    nb = mini_notebook()
    question = nbformat.v4.new_code_cell("check_to_unit_range(to_unit_range)", id="question")
    question.metadata["nbgrader"] = {"grade": True, "points": 2}
    nb.cells.insert(6, question)
    metadata.annotate(nb)
    items = metadata.graded_cells(nb)
    assert [(i.grade_id, i.points, i.answer_index) for i in items] == [
        ("to_unit_range", 1, 4), ("to_unit_range_2", 2, 4), ("cluster_purity", 1, 8)]


def test_a_question_checked_with_its_name_gets_that_grade_id():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from course_utils.checks import check_answer", id="a"),
                nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer = 'B'\n### END SOLUTION", id="b"),
                nbformat.v4.new_code_cell('check_answer("vae blur?", answer)', id="c")]
    assert metadata.annotate(nb)
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "vae_blur"
    assert metadata.graded_cells(nb)[0].needs == ("answer",)


def test_release_keeps_the_metadata():
    nb = mini_notebook()
    student = student_notebook(nb)
    assert [c.metadata for c in student.cells] == [c.metadata for c in nb.cells]
    assert "NotImplementedError" in student.cells[4].source


def test_every_exercise_and_check_in_solutions_carries_metadata():
    problems = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        problems += metadata.missing_metadata(nbformat.read(str(path), as_version=4), path.name)
    assert not problems, (f"{len(problems)} cells lack their nbgrader metadata: run `python -m "
                          "course_utils.grading.metadata solutions/*.ipynb`, then `python -m course_utils release`:\n"
                          + "\n".join(problems[:5]))
    count = sum(len(metadata.graded_cells(nbformat.read(str(p), as_version=4))) for p in SOLUTIONS.glob("*.ipynb"))
    assert count >= 10


def test_student_notebooks_carry_the_same_metadata():
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        solution = nbformat.read(str(path), as_version=4)
        student = nbformat.read(str(STUDENT / path.name), as_version=4)
        assert [c.metadata.get("nbgrader") for c in student.cells] == \
               [c.metadata.get("nbgrader") for c in solution.cells], path.name


def test_cli_errors(tmp_path, capsys):
    from course_utils.__main__ import main

    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--memory", "lots"]) == 1
    assert "not a size" in capsys.readouterr().err
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--notebook", "99"]) == 1
    assert "--notebook 99" in capsys.readouterr().err
    assert grading.parse_size("1.5G") == int(1.5 * 1024**3) and grading.parse_size("512M") == 512 * 1024**2


def test_read_cells_refuses_what_is_not_a_notebook(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": "no"}))
    with pytest.raises(ValueError, match="no list of cells"):
        grading.read_cells(path)
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]}, 3]}))
    assert [c["source"] for c in grading.read_cells(path)] == ["a = 1\nb = 2"]


def test_metadata_command_annotates_in_place_and_checks(tmp_path, capsys):
    nb = mini_notebook()
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    path = tmp_path / MINI
    write(path, nb)
    assert metadata.main(["--check", str(path)]) == 1
    assert "cell 4 (mini-4): nbgrader metadata None" in capsys.readouterr().out
    assert metadata.main([str(path)]) == 0
    assert path.read_bytes() == notebook_bytes(mini_notebook())
    assert metadata.main([str(path)]) == 0 and "unchanged" in capsys.readouterr().out.splitlines()[-1]
    assert metadata.main(["--check", str(path)]) == 0


def test_an_exercise_may_use_an_earlier_one_in_its_course_version(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    item = {"grade_id": "half", "notebook": MINI, "cell": 9, "student_imports": "",
            "setup": "import torch\nfrom course_utils.checks.tour import check_to_unit_range",
            "earlier": [TO_UNIT], "answer": "def half(p):\n    return to_unit_range(p)  # the earlier exercise",
            "check": "check_to_unit_range(half)", "check_names": ["check_to_unit_range"], "needs": ["half"]}
    assert sandbox.run_item(item, 1024**3)["verdict"] == "pass"
    item["earlier"] = []
    outcome = sandbox.run_item(item, 1024**3)
    assert outcome["verdict"] == "fail" and "NameError" in outcome["message"]
