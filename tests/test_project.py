"""The repository's promises about itself: one dependency list, lint-clean code and notebooks,
a CI script that runs the README's test command."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_passes_on_code_and_notebooks():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_config_is_valid():
    result = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_environment_yml_has_no_second_dependency_list():
    lines = [line.split("#")[0].strip() for line in (ROOT / "environment.yml").read_text().splitlines()]
    items = [line[1:].strip() for line in lines if line.startswith("-")]
    assert items == ["conda-forge", "python=3.11", "pip", "pip:", "-e .[dev]"], items


def test_pins_cover_torch_pair_and_every_dependency():
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in names:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
        if name == project["name"]:  # an extra that pulls in another extra, e.g. dgm-course[grading]
            continue
        assert name in pins, f"{name} is a dependency but has no pinned version in constraints.txt"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", ci, flags=re.M)


@pytest.mark.parametrize("target", ["install", "lab", "test", "course"])
def test_makefile_targets(target):
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), flags=re.M)


def _repository() -> str:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_license_is_mit_with_the_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the Deep Generative Models, hands-on authors" in text
    assert "[`LICENSE`](LICENSE)" in (ROOT / "README.md").read_text()


def test_lecture_notes_live_in_the_repository_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text()
    notes = (ROOT / "docs" / "lecture-notes.md").read_text()
    assert "(docs/lecture-notes.md)" in readme and "../shared" not in readme
    order = ["## 1. Learning with and without labels", "a map of them", "## 3. Autoencoders", "### PixelRNN",
             "### PixelCNN", "## 5. Variational autoencoders", "evidence lower bound", "### The two-player game",
             "minimax", "non-saturating loss", "(DCGAN)", "### Arithmetic in the latent space",
             "diffusion and flow matching"]
    body = notes[notes.index("\n---\n"):]  # after the table of contents
    places = [body.find(words) for words in order]
    assert -1 not in places and places == sorted(places), dict(zip(order, places, strict=True))
    for target in re.findall(r"\]\(#([^)]+)\)", notes):  # the table of contents' anchors
        heading = re.sub(r"[^\w\- ]", "", target.replace("-", " "))
        assert any(re.sub(r"[^\w ]", "", line[3:].lower()).split() == heading.split()
                   for line in notes.splitlines() if line.startswith("## ")), target


def test_repository_address_is_in_one_place_and_every_notebook_has_a_colab_badge():
    repository = _repository()
    owner_repo = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", repository).group(1)
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        url = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.name}"
        assert f"]({url})" in readme, f"README has no 'Open in Colab' badge for {path.name}"
    texts = {"README.md": readme} | {str(p.relative_to(ROOT)): p.read_text()
                                     for p in sorted((ROOT / "solutions").glob("*.ipynb"))
                                     + sorted((ROOT / "notebooks").glob("*.ipynb"))}
    for name, text in texts.items():
        pattern = r"(?:github\.com/|colab\.research\.google\.com/github/|/v2/gh/)([\w.-]+/[\w.-]+)"
        for found in re.findall(pattern, text):
            assert found == owner_repo, f"{name} names the repository {found!r}, pyproject.toml says {owner_repo!r}"


def test_notebooks_install_the_package_when_missing():
    """Colab and Binder: each notebook's first code cell installs course_utils from the repository if needed."""
    import json

    repository = _repository()
    first_cells = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first_cells[path] = "".join(next(c["source"] for c in cells if c["cell_type"] == "code"))
    if not any("find_spec" in source for source in first_cells.values()):
        pytest.skip("no notebook has the first-cell install line yet (README: 'Run the notebooks elsewhere')")
    for path, source in first_cells.items():
        assert f"git+{repository}" in source and 'find_spec("course_utils")' in source, \
            f"{path.relative_to(ROOT)}: the first code cell does not install course_utils when it is missing"


def test_readme_command_lines_work_as_written():
    """Every `-m course_utils` line in the README's code blocks calls the project's Python with a real command."""
    from course_utils.__main__ import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines() if "-m course_utils" in line]
    assert lines
    for line in lines:
        assert line.startswith(".venv/bin/python -m course_utils "), line
        assert line.split()[3] in commands, line


# --- the Makefile: options take effect after the first install, PROFILE and COURSE_PROFILE reach the runner ---

FAKE_PYTHON = """#!/bin/sh
# stands in for an interpreter: says what it was asked to do
case "$*" in
  *base_prefix*) echo "NAME" ;;
  *version_info*) exit 0 ;;
  *"-m venv"*) echo "FAKE $*" ;;
  *) echo "FAKE python $* COURSE_PROFILE=${COURSE_PROFILE:-unset}" ;;
esac
"""


@pytest.fixture
def fake_venv(tmp_path):
    """A made-up .venv whose python only echoes, installed with the default options."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = tmp_path / "python3"  # the interpreter the fake venv was "made" with
    for path, name in ((venv / "bin" / "python", "python3"), (python, "python3"),
                       (tmp_path / "python-other", "another python")):
        path.write_text(FAKE_PYTHON.replace("NAME", name))
        path.chmod(0o755)
    (venv / ".install-options.mk").write_text(
        f"INSTALLED := PYTHON={python} PINS=constraints.txt TORCH=\nINSTALLED_PYTHON := {python}\n"
        "INSTALLED_PINS := constraints.txt\nINSTALLED_TORCH := \n")
    (venv / ".installed").touch()
    return venv


def _make(venv, *args, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "MAKE", "PYTHON", "PINS",
                                                                             "TORCH", "PROFILE"))}
    environment.update(env or {})
    done = subprocess.run(["make", "--no-print-directory", f"VENV={venv}", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_make_course_honours_profile_and_course_profile(fake_venv):
    status, out = _make(fake_venv, "course")
    assert status == 0 and "course_utils run COURSE_PROFILE=unset" in out, out
    status, out = _make(fake_venv, "course", env={"COURSE_PROFILE": "smoke"})
    assert status == 0 and "course_utils run COURSE_PROFILE=smoke" in out, out
    status, out = _make(fake_venv, "course", "COURSE_PROFILE=smoke")
    assert status == 0 and "course_utils run COURSE_PROFILE=smoke" in out, out
    status, out = _make(fake_venv, "course", "PROFILE=full", env={"COURSE_PROFILE": "smoke"})
    assert status == 0 and "course_utils run --profile full" in out, out


def test_make_install_options_take_effect_after_the_first_install(fake_venv, tmp_path):
    status, out = _make(fake_venv, "install")
    assert status == 0 and "pip install" not in out, out  # nothing changed: nothing to do
    status, out = _make(fake_venv, "-n", "install", "PINS=")
    assert status == 0 and "--upgrade --upgrade-strategy eager -e '.[dev]'" in out and "-c constraints" not in out
    status, out = _make(fake_venv, "-n", "install", "TORCH=cpu")
    assert status == 0 and "--index-url https://download.pytorch.org/whl/cpu" in out and "torch torchvision" in out
    status, out = _make(fake_venv, "install", "PINS=")  # for real, with the echoing python
    assert status == 0 and "FAKE python -m pip install" in out and "Installed into" in out, out
    assert "INSTALLED_PINS := \n" in (fake_venv / ".install-options.mk").read_text()
    status, out = _make(fake_venv, "install")  # remembered: no reinstall without PINS=
    assert status == 0 and "pip install" not in out, out
    other = tmp_path / "python-other"
    status, out = _make(fake_venv, "install", f"PYTHON={other}")
    assert status == 0 and "Recreating" in out and f"FAKE -m venv --clear {fake_venv}" in out, out
    assert "FAKE python -m pip install" in out
    status, out = _make(fake_venv, "install", "TORCH=gpu")
    assert status != 0 and "TORCH=cpu" in out


def test_readme_exercise_table_lists_every_exercise_and_question():
    """The README's 'Exercises and questions' table names each notebook's exercise functions and counts its
    questions as the solutions have them."""
    import ast as _ast
    import re as _re

    import nbformat

    from course_utils.grading.metadata import python_source
    from course_utils.release import has_solution

    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Exercises and questions", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(0) for m in _re.finditer(r"^\| (\d\d) \|.*$", table, _re.M)}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        number = path.stem[:2]
        assert number in rows, f"README's exercise table has no row for {path.stem}"
        cells = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]
        functions = [n.name for c in cells if has_solution(c.source)
                     for n in _ast.parse(python_source(c.source)).body if isinstance(n, _ast.FunctionDef)]
        questions = sum(python_source(c.source).count("check_answer(") for c in cells)
        for name in functions:
            assert f"`{name}`" in rows[number], f"README's exercise table: {path.stem} row does not name `{name}`"
        cell = rows[number].split("|")[3].strip()
        assert cell.startswith(f"{questions}:") or (questions == 0 and cell in ("", "none")), \
            f"README's exercise table: {path.stem} asks {questions} questions, the row says {cell!r}"
