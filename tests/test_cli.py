"""The command line: help, doctor, and a real headless run of tiny notebooks in a temporary course."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from course_utils import doctor
from course_utils.__main__ import main
from course_utils.runner import resolve_notebooks


@pytest.fixture(autouse=True)
def _no_course_environment(monkeypatch):
    for name in ("COURSE_PROFILE", "COURSE_RESULTS", "COURSE_STRICT_CHECKS"):
        monkeypatch.delenv(name, raising=False)


def test_help_lists_the_commands():
    done = subprocess.run([sys.executable, "-m", "course_utils", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("doctor", "release", "run", "data"):
        assert command in done.stdout


@pytest.mark.parametrize("command", ["data", "release", "run"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and "usage: python -m course_utils " + command in capsys.readouterr().out


def test_doctor_passes_here(capsys):
    assert main(["doctor"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    for item in ("Python", "torch", "torchvision", "device", "MNIST data", "Jupyter kernel 'python3'"):
        assert item in out
    assert "All good" in out


def test_doctor_rows_name_a_broken_package_and_the_fix():
    row = doctor.package_row("no_such_module_for_doctor", "no-such-dist")
    assert not row.ok and "fails to import" in row.value and "pip install" in row.value
    assert all(isinstance(r, tuple) and len(r) == 3 for r in [doctor.python_row(), doctor.kernel_row()])


def test_doctor_flags_a_kernel_that_runs_another_python(tmp_path, monkeypatch):
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": ["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # searched before this environment's kernels
    row = doctor.kernel_row()
    assert not row.ok
    assert "/opt/other/bin/python" in row.value and "ipykernel install --user --name python3" in row.value


def test_unknown_notebook_lists_the_available_ones(course_root, capsys):
    course_root("01_tiny.ipynb", [("code", 'profile = "lecture"', ["parameters"])])
    with pytest.raises(SystemExit) as stop:
        main(["run", "--root", str(course_root.root), "07"])
    assert stop.value.code != 0
    err = capsys.readouterr().err
    assert "unknown notebook '07'" in err and "available notebooks: 01_tiny" in err


def test_notebook_names_resolve(course_root):
    path = course_root("01_tiny.ipynb", [("code", "x = 1")])
    for name in ("01", "1", "01_tiny", "01_tiny.ipynb", str(path)):
        assert resolve_notebooks([name], course_root.root) == [path.resolve()], name


def test_run_smoke_gathers_numbers_and_survives_a_failing_notebook(course_root, capsys):
    parameters = ("code", 'profile = "lecture"\nseed = 0', ["parameters"])
    course_root("00_broken.ipynb", [parameters, ("code", 'raise RuntimeError("broken on purpose")')])
    course_root("01_tiny.ipynb", [parameters, ("code", "import os\nfrom course_utils.results import record\n"
                                                     'assert profile == os.environ["COURSE_PROFILE"] == "smoke"\n'
                                                     'record("answer", 42, "units")')])
    root = course_root.root
    stale = root / "build" / "results" / "01_tiny.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps([{"name": "old_number", "value": 1.0, "unit": ""}]))

    status = main(["run", "--profile", "smoke", "--root", str(root)])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "[1/2] 00_broken ... FAILED" in out and "RuntimeError: broken on purpose" in out
    assert "[2/2] 01_tiny ... ok in" in out
    summary = json.loads((root / "build" / "metrics.json").read_text())
    assert summary["profile"] == "smoke" and "torch" in summary["machine"]
    assert summary["notebooks"]["00_broken"]["status"] == "failed"
    tiny = summary["notebooks"]["01_tiny"]
    assert tiny["status"] == "ok" and tiny["seconds"] > 0
    assert tiny["metrics"] == [{"name": "answer", "value": 42.0, "unit": "units"}], "stale numbers were kept"
    assert (root / "build" / "01_tiny.ipynb").exists()
    table = (root / "build" / "metrics.md").read_text()
    assert "| 01_tiny | ok |" in table and "answer = 42 units" in table and table in out + "\n"



def test_a_partial_run_updates_its_rows_and_keeps_the_others(tmp_path):
    from course_utils.runner import NotebookRun, write_summary

    write_summary([NotebookRun("00_a", "ok", 10.0, [{"name": "x", "value": 1.0, "unit": ""}]),
                   NotebookRun("01_b", "ok", 20.0)], "lecture", 30.0, tmp_path)
    summary = write_summary([NotebookRun("01_b", "ok", 5.0)], "lecture", 5.0, tmp_path)
    assert list(summary["notebooks"]) == ["00_a", "01_b"]
    assert summary["notebooks"]["00_a"]["metrics"][0]["value"] == 1.0
    assert summary["total_seconds"] == 15.0 and summary["run_seconds"] == 5.0
    other = write_summary([NotebookRun("01_b", "ok", 1.0)], "smoke", 1.0, tmp_path)
    assert list(other["notebooks"]) == ["01_b"], "rows of another profile must not be mixed in"
