"""Graded cells: which cells of a solution notebook are exercises and checks, and their nbgrader metadata.

Exercises are found from the notebook itself, never from a list kept elsewhere: an *answer cell* is a code
cell holding a ``### BEGIN SOLUTION`` region (or already marked ``nbgrader.solution``), and the first code
cell after it that calls a ``check_...`` function is its *check cell*. A check cell that an instructor marked
by hand (``nbgrader.grade: true``, e.g. a conceptual question checked like an exercise) is graded too, with
the nearest answer cell before it. Every check cell can carry points.

:func:`annotate` writes nbgrader's cell metadata (schema 3) onto those cells, so the notebooks grade with
``python -m course_utils grade`` and with nbgrader unchanged::

    answer cell: {"nbgrader": {"grade": false, "grade_id": "to_unit_range_answer", "locked": false,
                               "schema_version": 3, "solution": true}}
    check cell:  {"nbgrader": {"grade": true, "grade_id": "to_unit_range", "locked": true, "points": 1,
                               "schema_version": 3, "solution": false}}

``grade_id`` comes from the check's name (``check_to_unit_range`` -> ``to_unit_range``), or from a string
that the check is called with first (``check_answer("q3", answer)`` -> ``q3``, for questions); points come from
the cell's existing metadata when it has some (an instructor's choice is kept), else :data:`POINTS`, else 1.
Annotating twice changes nothing. From the command line::

    python -m course_utils.grading.metadata solutions/*.ipynb          # annotate in place
    python -m course_utils.grading.metadata --check solutions/*.ipynb  # exit 1 naming unannotated cells
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..release import has_solution

SCHEMA_VERSION = 3
DEFAULT_POINTS = 1
# Exercises with several steps to get right are worth more; anything not listed is worth DEFAULT_POINTS.
POINTS: dict[str, float] = {
    "sample_gmm": 2,
    "conv_decoder": 2,
    "classifier_from_encoder": 2,
    "sample_raster": 2,
    "receptive_field": 2,
    "negative_elbo": 2,
    "iw_log_likelihood": 2,
    "gan_step": 2,
    # the core exercises, 15-30 minutes each
    "train_step": 3,
    "row_lstm": 3,
    "gated_layer": 3,
    "vae_step": 3,
    "gradient_penalty": 3,
    "flow_matching_loss": 2,
    "euler_sample": 2,
}
ANSWER_SUFFIX = "_answer"


@dataclass(frozen=True)
class GradedCell:
    """One graded item of a notebook: an answer cell and the check cell that scores it.

    ``grade_id`` names the item (the check's name without ``check_``); ``check_names`` are the
    ``check_...`` functions the check cell calls; ``needs`` the other names it reads (what the student
    must define, e.g. ``("pca_project", "pca_reconstruct")``); ``setup`` the ``parameters`` cell (profile,
    seed, device) and the import statements of the code cells before the answer cell (what the exercise may
    use; no data, no training); ``earlier`` the course's solutions of the
    notebook's earlier answer cells (an exercise may use a function from an earlier one: it gets the course's
    version, so each exercise is graded on its own).
    """

    notebook: str
    grade_id: str
    points: float
    answer_index: int
    answer_id: str
    answer_source: str
    check_index: int
    check_id: str
    check_source: str
    check_names: tuple[str, ...]
    needs: tuple[str, ...]
    setup: str
    earlier: tuple[str, ...] = ()


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@functools.lru_cache(maxsize=8192)  # a class hands in the same cells many times over
def python_source(source: str) -> str:
    """A cell's source as plain Python: IPython magics (``%matplotlib``, ``!pip``) become calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


@functools.lru_cache(maxsize=8192)
def _parse_cached(source: str) -> ast.Module | None:
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return None


def _parse(source: str) -> ast.Module | None:
    return _parse_cached(source)  # callers only read the tree


def check_calls(source: str) -> list[str]:
    """Names of the ``check_...`` functions that a cell's source calls, in order (none: not a check cell)."""
    tree = _parse(source)
    if tree is None:
        return []
    calls = [node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_")]
    return list(dict.fromkeys(calls))


def defined_names(source: str, imports: bool = True) -> list[str]:
    """Names bound at the top level of a cell: functions, classes, assignments, and imports (unless not
    ``imports``)."""
    tree = _parse(source)
    if tree is None:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    return names


def import_statements(source: str) -> list[str]:
    """The top-level import statements of a cell, as source lines (``from __future__`` left out)."""
    tree = _parse(source)
    if tree is None:
        return []
    return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]


def _is_answer(cell) -> bool:
    return cell.get("cell_type") == "code" and (
        has_solution(_source(cell)) or bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution")))


def _marked_graded(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def _pairs(cells) -> list[tuple[int, int]]:
    """(answer index, check index) of every graded item, in notebook order."""
    pairs: list[tuple[int, int]] = []
    taken: set[int] = set()
    for index, cell in enumerate(cells):
        if not _is_answer(cell):
            continue
        following = next((j for j in range(index + 1, len(cells)) if cells[j].get("cell_type") == "code"), None)
        if following is not None and check_calls(_source(cells[following])) and not _is_answer(cells[following]):
            pairs.append((index, following))
            taken.add(following)
    for index, cell in enumerate(cells):  # check cells marked graded by hand
        if cell.get("cell_type") == "code" and _marked_graded(cell) and index not in taken \
                and check_calls(_source(cell)):
            answer = next((j for j in range(index - 1, -1, -1) if _is_answer(cells[j])), None)
            if answer is not None:
                pairs.append((answer, index))
    return sorted(pairs, key=lambda pair: pair[1])


def _base_id(source: str) -> str:
    """The check's name without ``check_``; for a check called with a string first (``check_answer("q3", a)``,
    a question), that string. Only letters, digits, ``_`` and ``-`` (what nbgrader accepts)."""
    name = check_calls(source)[0]
    base = name.removeprefix("check_")
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.strip():
                base = first.value
            break
    return re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_") or "exercise"


def _grade_ids(cells, pairs) -> list[str]:
    ids: list[str] = []
    for _, check in pairs:
        base = _base_id(_source(cells[check]))
        grade_id, n = base, 2
        while grade_id in ids:
            grade_id, n = f"{base}_{n}", n + 1
        ids.append(grade_id)
    return ids


def graded_cells(nb, notebook: str = "notebook") -> list[GradedCell]:
    """Every graded item of notebook ``nb`` (a solution notebook), in order; ``notebook`` names it."""
    cells = nb["cells"]
    pairs = _pairs(cells)
    items = []
    for (answer, check), grade_id in zip(pairs, _grade_ids(cells, pairs), strict=True):
        check_source = _source(cells[check])
        names = check_calls(check_source)
        tree = _parse(check_source)
        used = list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                                  and isinstance(n.ctx, ast.Load))) if tree else []
        setup = [_source(cell) for cell in cells[:answer] if cell.get("cell_type") == "code"
                 and "parameters" in cell.get("metadata", {}).get("tags", []) and _parse(_source(cell))]
        setup += [s for cell in cells[:answer] if cell.get("cell_type") == "code"
                  for s in import_statements(_source(cell))]
        needs = tuple(n for n in used if n not in names and n in defined_names(_source(cells[answer])))
        meta = cells[check].get("metadata", {}).get("nbgrader", {})
        points = meta.get("points", POINTS.get(grade_id, DEFAULT_POINTS))
        items.append(GradedCell(
            notebook=notebook, grade_id=grade_id, points=float(points),
            answer_index=answer, answer_id=cells[answer].get("id", ""), answer_source=_source(cells[answer]),
            check_index=check, check_id=cells[check].get("id", ""), check_source=check_source,
            check_names=tuple(names), needs=needs, setup="\n".join(dict.fromkeys(setup)),
            earlier=tuple(_source(c) for c in cells[:answer] if _is_answer(c))))
    return items


def _points_value(points: float):
    return int(points) if float(points).is_integer() else float(points)


def annotate(nb) -> bool:
    """Write nbgrader metadata on every answer and check cell of ``nb`` (in place); True if anything changed.

    Idempotent. Keeps every other key of the cells' metadata, and a check cell's existing ``points``.
    """
    changed = False
    cells = nb["cells"]
    for item in graded_cells(nb):
        wanted = {
            item.answer_index: {"grade": False, "grade_id": item.grade_id + ANSWER_SUFFIX, "locked": False,
                                "schema_version": SCHEMA_VERSION, "solution": True},
            item.check_index: {"grade": True, "grade_id": item.grade_id, "locked": True,
                               "points": _points_value(item.points), "schema_version": SCHEMA_VERSION,
                               "solution": False},
        }
        for index, meta in wanted.items():
            metadata = cells[index].setdefault("metadata", nbformat.NotebookNode())
            if dict(metadata.get("nbgrader", {})) != meta:
                metadata["nbgrader"] = nbformat.NotebookNode(meta)
                changed = True
    return changed


def missing_metadata(nb, notebook: str = "notebook") -> list[str]:
    """What :func:`annotate` would still change in ``nb``: one line per cell, empty when annotated."""
    import copy

    problems = []
    annotated = copy.deepcopy(nb)
    annotate(annotated)
    for index, (cell, want) in enumerate(zip(nb["cells"], annotated["cells"], strict=True)):
        have = cell.get("metadata", {}).get("nbgrader")
        if have != want.get("metadata", {}).get("nbgrader"):
            problems.append(f"{notebook}, cell {index} ({cell.get('id', '?')}): nbgrader metadata "
                            f"{dict(have) if have else None} should be {dict(want['metadata']['nbgrader'])}")
    return problems


def annotate_files(paths: Sequence[str | Path], check: bool = False, echo=print) -> bool:
    """Annotate each notebook file in place (``check``: write nothing, report). True when all were annotated.

    Each file is read, annotated and written back at once, in nbformat's layout (the one ``release`` uses),
    so cell sources, ids and everything else stay as they are.
    """
    from ..release import notebook_bytes, read_notebook

    ok = True
    for path in map(Path, paths):
        nb = read_notebook(path)
        if check:
            problems = missing_metadata(nb, path.name)
            for line in problems:
                echo(line)
            ok &= not problems
            continue
        if annotate(nb):
            path.write_bytes(notebook_bytes(nb))
            echo(f"annotated {path} ({len(graded_cells(nb))} graded cells)")
        else:
            echo(f"unchanged {path}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.metadata",
                                     description="Write nbgrader points metadata on the exercise and check cells.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a cell lacks its metadata")
    parser.add_argument("notebooks", nargs="+", help="solution notebooks (.ipynb)")
    args = parser.parse_args(argv)
    return 0 if annotate_files(args.notebooks, check=args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
