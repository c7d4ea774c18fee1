"""Running the released student notebooks as a student would, for test_student_path*.py: headless,
smoke profile, no strict checks (a failing check answers "not yet" instead of raising), one fresh
cache and results folder per test module."""

from __future__ import annotations

from pathlib import Path

import nbformat

from course_utils.checks.questions import NOT_ANSWERED_HINT
from course_utils.config import project_root
from course_utils.release import ANSWER_STUB, STUB

STUDENT = project_root() / "notebooks"
SOLUTIONS = project_root() / "solutions"
NOT_YET = "[NOT YET]"
# test_student_path.py runs these in this order on one cache: 07 trains every model, then 03-06 twice each
ORDER = ["07", "03", "03", "04", "04", "05", "05", "06", "06"]


def notebook(number: str) -> Path:
    found = sorted(STUDENT.glob(f"{number}_*.ipynb"))
    assert len(found) == 1, f"expected one student notebook {number}_*.ipynb in {STUDENT}, found {found}"
    return found[0]


def student_env_for(tmp_path_factory) -> dict:
    """One fresh cache and results folder shared by every run of this module, as one student's machine."""
    root = tmp_path_factory.mktemp("student")
    return {"COURSE_CACHE": str(root / "cache"), "COURSE_RESULTS_DIR": str(root / "results"),
            "COURSE_PROFILE": "smoke", "COURSE_THREADS": "1", "MPLBACKEND": "Agg"}


def execute(nb: nbformat.NotebookNode, out: Path, env: dict, monkeypatch) -> nbformat.NotebookNode:
    """Run ``nb`` as a student would (no strict checks); returns the executed notebook."""
    import papermill

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("COURSE_STRICT_CHECKS", "COURSE_RESULTS"):
        monkeypatch.delenv(key, raising=False)
    source = out.with_suffix(".in.ipynb")
    nbformat.write(nb, str(source))
    return papermill.execute_notebook(str(source), str(out), kernel_name="python3", cwd=str(STUDENT),
                                      progress_bar=False, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])


def text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def check_cells(nb) -> list[int]:
    """Indices of the check cells: the code cell right after each exercise (a cell with a stub)."""
    return [i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code" and STUB in c.source]


def question_check_cells(nb) -> list[int]:
    """Indices of the check cells of the conceptual questions: the code cell right after each answer stub."""
    return [i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code" and ANSWER_STUB in c.source]


def assert_runs_with_every_exercise_undone(number: str, env: dict, out: Path, monkeypatch) -> None:
    """Run student notebook ``number`` as released: it finishes, and each exercise's check says 'not yet'."""
    ran = execute(nbformat.read(str(notebook(number)), as_version=4), out, env, monkeypatch)
    checks = check_cells(ran)
    assert checks, f"notebook {number} has no exercises"
    for index in checks:
        said = text(ran.cells[index])
        assert NOT_YET in said and "not implemented yet" in said, (
            f"notebook {number}, cell {index}: the check of an undone exercise should answer 'not yet', got {said!r}")
    for index in question_check_cells(ran):
        said = text(ran.cells[index])
        assert NOT_YET in said and NOT_ANSWERED_HINT in said, (
            f"notebook {number}, cell {index}: the check of an unanswered question should say "
            f"{NOT_ANSWERED_HINT!r}, got {said!r}")
    assert all(o.get("output_type") != "error" for c in ran.cells for o in c.get("outputs", []))
    assert sum(text(c).count("not implemented yet") for c in ran.cells) == len(checks), \
        "one 'not implemented yet' per exercise"


