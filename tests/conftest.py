"""Shared fixtures: small throwaway notebooks written into a temporary course folder; one torch thread."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch


def _make_notebook(cells: list[tuple[str, str] | tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    """A notebook from ``(kind, source[, tags])`` tuples; kind is 'code' or 'markdown'. Cell ids are fixed."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for index, (kind, source, *tags) in enumerate(cells):
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = new(source, id=f"cell-{index}")
        if tags:
            cell.metadata["tags"] = list(tags[0])
        nb.cells.append(cell)
    return nb


@pytest.fixture
def make_notebook():
    """The notebook builder: ``make_notebook([("code", "x = 1"), ("code", "p = 1", ["parameters"])])``."""
    return _make_notebook


@pytest.fixture
def course_root(tmp_path: Path):
    """A temporary course folder with an empty ``solutions/``; call it with a name and cells to add a notebook."""
    (tmp_path / "solutions").mkdir()

    def add(name: str, cells, folder: str = "solutions") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(exist_ok=True)
        nbformat.write(_make_notebook(cells), str(path))
        return path

    add.root = tmp_path
    return add



@pytest.fixture
def one_thread():
    """Run the test with one torch thread: tiny models train far faster than on two threads that the
    other test worker also uses (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_run_in_force():
    """Each test starts as a fresh process would: no ``setup`` in force (no notebook, no profile)."""
    from course_utils import config

    saved = dict(config._RUN)
    config._RUN.update(notebook=None, profile=None)
    yield
    config._RUN.update(saved)


def benchmark_with_stand_in_classifier(script: str, monkeypatch):
    """Load ``benchmarks/<script>.py`` as a module whose ``fid_classifier`` is an untrained DigitClassifier:
    the benchmark's numbers are meaningless then, its plumbing is not, and no classifier is trained."""
    import importlib.util

    from course_utils.models.classifier import DigitClassifier

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{script}.py"
    spec = importlib.util.spec_from_file_location(script, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    stand_in = DigitClassifier().eval()
    monkeypatch.setattr(module, "fid_classifier", lambda *args, **kwargs: stand_in)
    return module

