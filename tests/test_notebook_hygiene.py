"""Notebooks in solutions/ and notebooks/ are stored clean: no outputs, no execution counts, valid
nbformat with cell ids; each solution has one ``parameters`` cell that sets ``profile``."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from course_utils.config import PROFILES, project_root

ROOT = project_root()
ALL = sorted(ROOT.glob("solutions/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb"))
SOLUTIONS = [p for p in ALL if p.parent.name == "solutions"]
STRIP = "strip them with `jupyter nbconvert --clear-output --inplace FILE` (or `nbstripout FILE`)"


def _params(paths):
    if not paths:
        return [pytest.param(None, id="none", marks=pytest.mark.skip(reason="no notebooks yet in solutions/"))]
    return [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in paths]


@pytest.mark.parametrize("path", _params(ALL))
def test_stored_without_outputs_and_valid(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.reads(json.dumps(raw), as_version=4)
    nbformat.validate(nb)  # raises ValidationError naming the offending field
    if (raw["nbformat"], raw.get("nbformat_minor", 0)) >= (4, 5):
        missing = [i for i, cell in enumerate(raw["cells"]) if "id" not in cell]
        assert not missing, f"{path.name}: cells {missing} have no 'id'; open and save the notebook in Jupyter"
    with_outputs = [i for i, c in enumerate(raw["cells"]) if c["cell_type"] == "code" and c.get("outputs")]
    counted = [i for i, c in enumerate(raw["cells"]) if c["cell_type"] == "code" and c.get("execution_count")]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have stored outputs; {STRIP}"
    assert not counted, f"{path.name}: cells {counted} have execution counts; {STRIP}"


@pytest.mark.parametrize("path", _params(SOLUTIONS))
def test_one_parameters_cell_that_sets_the_profile(path):
    cells = nbformat.read(str(path), as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found cells {tagged}"
    cell = cells[tagged[0]]
    assert cell.cell_type == "code", f"{path.name}: the 'parameters' cell {tagged[0]} must be a code cell"
    body = ast.parse(cell.source).body
    others = [ast.unparse(node) for node in body if not isinstance(node, (ast.Assign, ast.AnnAssign))]
    assert not others, f"{path.name}: the 'parameters' cell should only assign values, it also has {others}"
    values = {t.id: node.value for node in body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name)}
    assert "profile" in values, f"{path.name}: the 'parameters' cell must assign `profile = \"lecture\"`"
    profile = values["profile"]
    assert isinstance(profile, ast.Constant) and profile.value in PROFILES, \
        f"{path.name}: `profile` should be one of {', '.join(PROFILES)}, got {ast.unparse(profile)}"
