"""Release: turn the solution notebooks (``solutions/``) into the student notebooks (``notebooks/``).

An exercise is a region of a code cell between two marker lines (nbgrader's convention)::

    def scale(x):
        \"\"\"Map uint8 pixels to floats in [0, 1].\"\"\"
        ### BEGIN SOLUTION
        return x.float() / 255
        ### END SOLUTION

The student version replaces each region, markers included, with one ``raise NotImplementedError``
line at the marker's indentation, and clears every output and execution count. A region at the top level
of a cell is a conceptual question's answer (``q_passes = 784``): it becomes ``q_passes = None`` with a
comment (:func:`answer_stub`), so "Run All" goes on and the question's check says "not answered yet". Everything else
(markdown, metadata, tags, cell ids) is kept as it is. Files are written with nbformat's own JSON
layout, so releasing twice gives the same bytes and ``release(check=True)`` can tell what is stale.

    python -m course_utils release           # write notebooks/ (and delete student files without a solution)
    python -m course_utils release --check   # write nothing; exit 1 naming every stale notebook
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .config import project_root

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code")'
ANSWER_STUB = "# your answer: replace None (see the question above)"
SOLUTIONS_DIR = "solutions"
STUDENT_DIR = "notebooks"


def has_solution(source: str) -> bool:
    """True when a cell's source holds a ``### BEGIN SOLUTION`` line (it is an exercise cell)."""
    return any(line.strip() == BEGIN for line in source.splitlines())


def stub_source(source: str, where: str = "cell") -> str:
    """The cell ``source`` with every solution region (markers included) replaced by one stub line.

    The stub keeps the BEGIN marker's indentation. ``where`` (e.g. 'notebook.ipynb, cell 7') names
    the cell in errors. Raises ``ValueError`` for BEGIN without END, END without BEGIN, a nested
    BEGIN, a marker sharing its line with code, or a stub that is no longer valid Python.
    """
    out: list[str] = []
    begin_line = None
    lines = source.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text not in (BEGIN, END) and ("BEGIN SOLUTION" in text or "END SOLUTION" in text):
            raise ValueError(f"{where}, line {number}: a solution marker must stand alone on its line "
                             f"as {BEGIN!r} or {END!r}, got {text!r}")
        if text == BEGIN:
            if begin_line is not None:
                raise ValueError(f"{where}, line {number}: nested {BEGIN!r} (the region opened on line "
                                 f"{begin_line} is not closed): expected {END!r} first")
            begin_line, region = number, []
            indent = line[: len(line) - len(line.lstrip())]
        elif text == END:
            if begin_line is None:
                raise ValueError(f"{where}, line {number}: {END!r} without a {BEGIN!r} before it")
            stub = answer_stub("".join(region), f"{where}, line {begin_line}") if not indent else indent + STUB
            out.append(stub + ("\n" if line.endswith("\n") else ""))
            begin_line = None
        elif begin_line is None:
            out.append(line)
        else:
            region.append(line)
    if begin_line is not None:
        raise ValueError(f"{where}, line {begin_line}: {BEGIN!r} without a matching {END!r}")
    stubbed = "".join(out)
    try:
        if _parses(source):  # cells with IPython magics are not plain Python: nothing to compare
            ast.parse(stubbed)
    except SyntaxError as err:
        raise ValueError(f"{where}: the student version of this cell is not valid Python "
                         f"({err.msg}, line {err.lineno}); keep each region inside one block") from None
    return stubbed


def answer_stub(region: str, where: str = "cell") -> str:
    """The student version of a top-level solution region, a conceptual question's answer: each name the
    region assigns becomes ``name = None`` with :data:`ANSWER_STUB` after it. Anything but plain assignments
    at the top level is refused (a top-level ``raise`` would stop "Run All")."""
    try:
        tree = ast.parse(region)
    except SyntaxError as err:
        raise ValueError(f"{where}: this top-level solution region is not valid Python ({err.msg})") from None
    names = []
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not all(isinstance(t, ast.Name) for t in node.targets):
            raise ValueError(f"{where}: a top-level solution region (a question's answer) may only assign names, "
                             f"e.g. `q_passes = 784`; got {ast.dump(node)[:60]}...: put code in a function instead")
        names += [t.id for t in node.targets if t.id not in names]
    if not names:
        raise ValueError(f"{where}: a top-level solution region must assign the answer, e.g. `q_passes = 784`")
    return "\n".join(f"{name} = None  {ANSWER_STUB}" for name in names)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of solution notebook ``nb`` with exercises stubbed and all outputs and counts cleared.

    ``name`` names the notebook in errors ('<name>, cell <index>' with 0-based cell indices).
    """
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            cell.source = stub_source(cell.source, where=f"{name}, cell {index}")
        cell.outputs = []
        cell.execution_count = None
    return student


def notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    """The notebook as nbformat writes it (sorted keys, one-space indent), ending in a newline."""
    text = nbformat.writes(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook file; ``ValueError`` names the file and what is wrong.

    Cells without an ``id`` (nbformat 4.5) are refused: nbformat would invent random ones, and
    the released bytes would change on every run.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read it as a notebook ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise ValueError(f"{path}: expected a notebook (a JSON object with a 'cells' list)")
    if (raw.get("nbformat"), raw.get("nbformat_minor", 0)) >= (4, 5):
        for index, cell in enumerate(raw["cells"]):
            if isinstance(cell, dict) and "id" not in cell:
                raise ValueError(f"{path.name}, cell {index}: no 'id' field (nbformat 4.5 needs one); "
                                 "open and save the notebook in Jupyter to add the ids")
    problem: dict = {}
    nb = nbformat.reads(json.dumps(raw), as_version=4, capture_validation_error=problem)
    if "ValidationError" in problem:
        raise ValueError(f"{path}: not a valid notebook: {problem['ValidationError'].message}")
    return nb


@dataclass(frozen=True)
class NotebookState:
    """One student notebook compared with its solution: ``state`` is one of :data:`STATES`."""

    name: str
    state: str
    expected: bytes | None = None  # the released bytes (None for an extra file)


STATES = ("in sync", "out of date", "missing", "extra")


def compare(root: str | Path | None = None) -> list[NotebookState]:
    """Compare ``<root>/notebooks`` with what ``<root>/solutions`` releases to (root: the project).

    Returns one :class:`NotebookState` per notebook name, solutions first in name order, then the
    student files that have no solution ('extra').
    """
    root = Path(root) if root is not None else project_root()
    solutions, student_dir = root / SOLUTIONS_DIR, root / STUDENT_DIR
    if not solutions.is_dir():
        raise ValueError(f"no {SOLUTIONS_DIR}/ folder in {root}: expected the course checkout")
    states = []
    for path in sorted(solutions.glob("*.ipynb")):
        expected = notebook_bytes(student_notebook(read_notebook(path), path.name))
        target = student_dir / path.name
        if not target.exists():
            state = "missing"
        else:
            state = "in sync" if target.read_bytes() == expected else "out of date"
        states.append(NotebookState(path.name, state, expected))
    released = {s.name for s in states}
    extras = sorted(p.name for p in student_dir.glob("*.ipynb") if p.name not in released) \
        if student_dir.is_dir() else []
    return states + [NotebookState(name, "extra") for name in extras]


def release(root: str | Path | None = None, check: bool = False, echo: Callable[[str], None] = print) -> bool:
    """Write the student notebooks from the solutions, or with ``check`` only report what is stale.

    Writing also deletes student notebooks that have no solution, and says so. Returns True when
    everything was already in sync (check mode) or has been brought in sync (write mode).
    """
    root = Path(root) if root is not None else project_root()
    states = compare(root)
    stale = [s for s in states if s.state != "in sync"]
    if not states:
        echo(f"no notebooks in {root / SOLUTIONS_DIR}: nothing to release")
        return True
    if check:
        for s in stale:
            echo(f"{s.state:>11}: {STUDENT_DIR}/{s.name}")
        if stale:
            echo(f"{len(stale)} of {len(states)} student notebooks are not in sync with {SOLUTIONS_DIR}/: "
                 "run `python -m course_utils release`")
            return False
        echo(f"all {len(states)} student notebooks are in sync with {SOLUTIONS_DIR}/")
        return True
    student_dir = root / STUDENT_DIR
    student_dir.mkdir(exist_ok=True)
    verbs = {"missing": "created", "out of date": "updated", "extra": "deleted"}
    for s in stale:
        target = student_dir / s.name
        if s.state == "extra":
            target.unlink()
        else:
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(s.expected)
            tmp.replace(target)  # atomic: an interrupt never leaves half a notebook
        reason = f" (there is no {SOLUTIONS_DIR}/{s.name})" if s.state == "extra" else ""
        echo(f"{verbs[s.state]:>8} {STUDENT_DIR}/{s.name}{reason}")
    released = sum(s.state != "extra" for s in states)
    echo(f"released {released} notebook{'s' if released != 1 else ''} to {student_dir}: "
         f"{sum(s.state != 'extra' for s in stale)} written, {len(states) - len(stale)} already in sync")
    return True
