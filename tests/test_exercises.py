"""Every exercise in solutions/: its check passes on the solution and fails on the student stub.

The conventions (see course_utils.release): an exercise code cell holds ``### BEGIN SOLUTION`` /
``### END SOLUTION`` regions and uses only names imported earlier in the notebook; the code cell
right after it is the check, a single expression such as ``check_scale(scale)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course_utils.checks import STRICT_ENV, CheckResult
from course_utils.config import project_root, seed_everything
from course_utils.release import has_solution, stub_source

SOLUTIONS = project_root() / "solutions"


def exercise_cells(folder: Path) -> list[tuple[Path, int]]:
    """(notebook, cell index) of every exercise cell in ``folder/*.ipynb``."""
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        cells = nbformat.read(str(path), as_version=4).cells
        found += [(path, i) for i, c in enumerate(cells) if c.cell_type == "code" and has_solution(c.source)]
    return found


def _defined_names(source: str) -> list[str]:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _params(folder: Path) -> list:
    params = []
    for path, index in exercise_cells(folder):
        cell = nbformat.read(str(path), as_version=4).cells[index]
        try:
            label = "-".join(_defined_names(cell.source)) or "exercise"
        except SyntaxError:
            label = "syntax-error"
        params.append(pytest.param(path, index, id=f"{path.stem}-cell{index}-{label}"))
    return params or [pytest.param(None, None, id="no-exercises", marks=pytest.mark.skip(
        reason=f"no exercise cells in {SOLUTIONS} yet (the solution notebooks are being written)"))]


def import_source(cells, before: int) -> str:
    """The module-level import statements of the code cells before index ``before``, as source."""
    to_python = TransformerManager()
    statements = []
    for index, cell in enumerate(cells[:before]):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(to_python.transform_cell(cell.source))  # %magics become plain calls
        except SyntaxError as err:
            pytest.fail(f"cell {index} is not valid Python ({err.msg}, line {err.lineno})")
        statements += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                       and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    return "\n".join(statements)


def check_expression(cells, index: int) -> str:
    """The source of the check cell after exercise cell ``index``; fails the test if it breaks the convention."""
    convention = ("the cell right after an exercise cell must be its check: a code cell holding one "
                  "expression that calls a check on the exercise, e.g. `check_scale(scale)`")
    if index + 1 >= len(cells) or cells[index + 1].cell_type != "code":
        pytest.fail(f"exercise cell {index} is not followed by a code cell: {convention}")
    source = cells[index + 1].source
    try:
        ast.parse(source, mode="eval")
    except SyntaxError:
        pytest.fail(f"cell {index + 1} (after exercise cell {index}) is not a single expression: {convention}. "
                    f"It holds:\n{source}")
    return source


def run_check(cells, index: int, exercise_source: str, where: str) -> CheckResult:
    """Exec the imports and ``exercise_source`` in a fresh namespace, then evaluate the check cell."""
    namespace: dict = {"__name__": "__exercise__"}
    exec(compile(import_source(cells, index), f"<{where}: imports>", "exec"), namespace)
    exec(compile(exercise_source, f"<{where}>", "exec"), namespace)
    seed_everything(0)
    result = eval(compile(check_expression(cells, index), f"<{where}: check>", "eval"), namespace)
    assert isinstance(result, CheckResult), \
        f"{where}: the check cell returned {type(result).__name__}, expected a CheckResult from course_utils.checks"
    return result


def assert_check_separates(path: Path, index: int) -> None:
    """The check passes on the solution of exercise cell ``index`` and fails on its stub."""
    cells = nbformat.read(str(path), as_version=4).cells
    where = f"{path.name}, cell {index}"
    solution = cells[index].source
    result = run_check(cells, index, solution, where)
    assert result.passed, f"{where}: the check fails on the solution: {result.message}"
    stub = run_check(cells, index, stub_source(solution, where), f"{where} (stub)")
    assert not stub.passed, f"{where}: the check passes on the student stub, so it cannot tell a done exercise " \
                            f"from an untouched one ({stub.message})"


def assert_check_follows(path: Path, index: int) -> None:
    """The cell after exercise cell ``index`` is a check expression that uses a name the exercise defines."""
    cells = nbformat.read(str(path), as_version=4).cells
    defined = _defined_names(cells[index].source)
    assert defined, f"{path.name}, cell {index}: the exercise cell defines no function or class"
    used = {node.id for node in ast.walk(ast.parse(check_expression(cells, index), mode="eval"))
            if isinstance(node, ast.Name)}
    assert used & set(defined), (f"{path.name}, cell {index + 1}: the check does not use what exercise cell "
                                 f"{index} defines ({', '.join(defined)})")


@pytest.fixture(autouse=True)
def _checks_report_instead_of_raising(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.chdir(SOLUTIONS if SOLUTIONS.is_dir() else Path.cwd())


@pytest.mark.parametrize("path, index", _params(SOLUTIONS))
def test_check_passes_on_solution_and_fails_on_stub(path, index):
    assert_check_separates(path, index)


@pytest.mark.parametrize("path, index", _params(SOLUTIONS))
def test_exercise_is_followed_by_its_check(path, index):
    assert_check_follows(path, index)


SAMPLE_CHECKS = '''
from course_utils.checks import exercise_check, expect

@exercise_check
def check_double(double):
    expect(double(2) == 4, "double(2) should be 4")

@exercise_check
def check_nothing(fn):
    return "accepts anything"
'''


def test_harness_on_a_sample_notebook(tmp_path, monkeypatch, make_notebook):
    (tmp_path / "sample_checks.py").write_text(SAMPLE_CHECKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "00_sample.ipynb"
    nbformat.write(make_notebook([
        ("code", 'profile = "lecture"', ["parameters"]),
        ("code", "%matplotlib inline\nimport math\nfrom sample_checks import check_double\nx = 3"),
        ("code", 'def double(x):\n    """Twice x."""\n'
                 "    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"),
        ("code", "check_double(double)"),
        ("code", "def bad(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"),
        ("code", "result = check_double(bad)"),
        ("code", "from sample_checks import check_nothing"),
        ("code", "def lazy(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"),
        ("code", "check_nothing(lazy)"),
    ]), str(path))
    assert exercise_cells(tmp_path) == [(path, 2), (path, 4), (path, 7)]
    assert import_source(nbformat.read(str(path), as_version=4).cells, 2) == \
        "import math\nfrom sample_checks import check_double"
    assert_check_separates(path, 2)
    assert_check_follows(path, 2)
    with pytest.raises(pytest.fail.Exception, match="not a single expression"):
        assert_check_follows(path, 4)
    with pytest.raises(AssertionError, match="passes on the student stub"):
        assert_check_separates(path, 7)
