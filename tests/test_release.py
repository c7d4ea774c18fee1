"""Release: exercise regions become stubs, outputs go, everything else stays; --check finds stale files."""

from __future__ import annotations

import nbformat
import pytest

from course_utils import release
from course_utils.__main__ import main
from course_utils.config import project_root
from course_utils.release import ANSWER_STUB, STUB, compare, notebook_bytes, stub_source, student_notebook

EXERCISE = '''def scale(x):
    """Map uint8 pixels to [0, 1]."""
    ### BEGIN SOLUTION
    y = x.float()
    return y / 255
    ### END SOLUTION
'''


def test_single_indented_region_keeps_def_and_docstring():
    assert stub_source(EXERCISE) == f'def scale(x):\n    """Map uint8 pixels to [0, 1]."""\n    {STUB}\n'


def test_top_level_region_is_a_question_answer_and_becomes_none():
    """A question's answer, at the top level, becomes `name = None`: a top-level raise would stop Run All."""
    assert stub_source("import torch\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION") == \
        f"import torch\nx = None  {ANSWER_STUB}"
    assert stub_source("### BEGIN SOLUTION\na = 'b'\nn = m = 3\n### END SOLUTION\ncheck_answer('q', a)\n") == \
        f"a = None  {ANSWER_STUB}\nn = None  {ANSWER_STUB}\nm = None  {ANSWER_STUB}\ncheck_answer('q', a)\n"


@pytest.mark.parametrize("region", ["print(1)\n", "x += 1\n", "", "a.b = 1\n"])
def test_top_level_region_with_more_than_assignments_is_refused(region):
    with pytest.raises(ValueError, match="top-level solution region"):
        stub_source(f"### BEGIN SOLUTION\n{region}### END SOLUTION\n", "demo.ipynb, cell 3")


def test_two_regions_in_one_cell():
    source = ("def a():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n\n\n"
              "class B:\n    def f(self):\n        ### BEGIN SOLUTION\n        return 2\n        ### END SOLUTION\n")
    out = stub_source(source)
    assert out == f"def a():\n    {STUB}\n\n\nclass B:\n    def f(self):\n        {STUB}\n"
    assert "return" not in out


@pytest.mark.parametrize("source, problem", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "without a matching"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "nested"),
    ("x = 1  ### BEGIN SOLUTION\n### END SOLUTION\n", "stand alone"),
])
def test_malformed_regions_name_notebook_and_cell(source, problem, make_notebook):
    nb = make_notebook([("markdown", "# title"), ("code", "import torch"), ("code", source)])
    with pytest.raises(ValueError, match=rf"demo\.ipynb, cell 2.*{problem}"):
        student_notebook(nb, "demo.ipynb")


def test_region_that_breaks_the_syntax_is_refused():
    source = "def f():\n### BEGIN SOLUTION\n    return 1\n### END SOLUTION\n"  # marker not indented
    with pytest.raises(ValueError, match="not valid Python"):
        stub_source(source, "demo.ipynb, cell 4")


def test_student_notebook_strips_outputs_and_keeps_everything_else(make_notebook):
    nb = make_notebook([("markdown", "# Title\n$x^2$"), ("code", 'profile = "lecture"', ["parameters"]),
                        ("code", EXERCISE, ["exercise"]), ("code", "print(1)")])
    nb.metadata["custom"] = {"keep": True}
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[3].execution_count = 7
    nb.cells[2].execution_count = 3
    student = student_notebook(nb, "demo.ipynb")
    assert nb.cells[2].source == EXERCISE and nb.cells[3].outputs, "the solution must not change"
    assert student.metadata == nb.metadata
    assert [c.id for c in student.cells] == [c.id for c in nb.cells]
    for index in (0, 1):
        assert student.cells[index] == nb.cells[index]
    assert student.cells[2].metadata == {"tags": ["exercise"]}
    assert STUB in student.cells[2].source and "255" not in student.cells[2].source
    assert student.cells[3].source == "print(1)"
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")


def test_notebook_bytes_are_stable_and_end_with_newline(make_notebook):
    nb = make_notebook([("code", EXERCISE)])
    first = notebook_bytes(student_notebook(nb))
    assert first == notebook_bytes(student_notebook(nbformat.reads(first.decode(), as_version=4)))
    assert first.endswith(b"\n")


def _sample_course(course_root):
    course_root("00_tour.ipynb", [("code", 'profile = "lecture"', ["parameters"]), ("code", "import math"),
                                  ("code", EXERCISE), ("code", "check_scale(scale)")])
    course_root("01_next.ipynb", [("markdown", "# Next"), ("code", 'profile = "lecture"', ["parameters"])])
    return course_root.root


def test_release_writes_then_check_passes(course_root, capsys):
    root = _sample_course(course_root)
    assert release.release(root) is True
    assert "created notebooks/00_tour.ipynb" in capsys.readouterr().out
    written = (root / "notebooks" / "00_tour.ipynb").read_bytes()
    cells = nbformat.reads(written.decode(), as_version=4).cells
    assert STUB in cells[2].source and "255" not in written.decode()
    assert release.release(root, check=True) is True
    assert "all 2 student notebooks are in sync" in capsys.readouterr().out
    release.release(root)
    assert (root / "notebooks" / "00_tour.ipynb").read_bytes() == written, "releasing twice changed bytes"


def test_check_names_out_of_date_missing_and_extra_and_writes_nothing(course_root, capsys):
    root = _sample_course(course_root)
    release.release(root)
    course_root("00_tour.ipynb", [("code", 'profile = "smoke"', ["parameters"])])  # the solution changed
    (root / "notebooks" / "01_next.ipynb").unlink()
    course_root("99_old.ipynb", [("markdown", "stale")], folder="notebooks")
    before = {p.name: p.read_bytes() for p in (root / "notebooks").iterdir()}
    capsys.readouterr()
    assert release.release(root, check=True) is False
    out = capsys.readouterr().out
    assert "out of date: notebooks/00_tour.ipynb" in out
    assert "missing: notebooks/01_next.ipynb" in out
    assert "extra: notebooks/99_old.ipynb" in out
    assert {p.name: p.read_bytes() for p in (root / "notebooks").iterdir()} == before, "check mode wrote"
    assert {s.name: s.state for s in compare(root)} == {
        "00_tour.ipynb": "out of date", "01_next.ipynb": "missing", "99_old.ipynb": "extra"}

    assert release.release(root) is True
    assert "deleted notebooks/99_old.ipynb" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "notebooks").iterdir()) == ["00_tour.ipynb", "01_next.ipynb"]
    assert all(s.state == "in sync" for s in compare(root))


def test_cli_check_exits_nonzero_naming_the_notebook(course_root, capsys):
    root = _sample_course(course_root)
    assert main(["release", "--check", "--root", str(root)]) == 1
    assert "missing: notebooks/00_tour.ipynb" in capsys.readouterr().out
    assert not (root / "notebooks").exists()
    assert main(["release", "--root", str(root)]) == 0
    assert main(["release", "--check", "--root", str(root)]) == 0


def test_cell_without_id_is_refused(course_root):
    path = course_root("00_tour.ipynb", [("code", "x = 1")])
    path.write_text(path.read_text().replace('"id": "cell-0",', ""))
    with pytest.raises(ValueError, match=r"00_tour\.ipynb, cell 0: no 'id'"):
        compare(course_root.root)


def test_real_repo_is_in_sync():
    root = project_root()
    if not list((root / "solutions").glob("*.ipynb")):
        pytest.skip("solutions/ has no notebooks yet: nothing to release")
    stale = [f"{s.state}: notebooks/{s.name}" for s in compare(root) if s.state != "in sync"]
    assert not stale, "student notebooks out of sync, run `python -m course_utils release`: " + "; ".join(stale)
