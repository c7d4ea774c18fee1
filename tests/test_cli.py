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
    numbers = [{k: m[k] for k in ("name", "value", "unit")} for m in tiny["metrics"]]
    assert numbers == [{"name": "answer", "value": 42.0, "unit": "units"}], "stale numbers were kept"
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


def test_a_partial_run_of_notebook_0_keeps_the_other_rows_and_another_profile_keeps_its_table(tmp_path):
    from course_utils.runner import NotebookRun, resolve_notebooks, write_summary

    (tmp_path / "solutions").mkdir()
    for name in ("00_a", "01_b"):
        (tmp_path / "solutions" / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in resolve_notebooks(["0"], tmp_path)] == ["00_a"]
    build = tmp_path / "build"
    write_summary([NotebookRun("00_a", "ok", 1.0), NotebookRun("01_b", "ok", 2.0,
                                                               [{"name": "y", "value": 2.0, "unit": ""}])],
                  "lecture", 3.0, build)
    write_summary([NotebookRun("00_a", "ok", 1.5)], "lecture", 1.5, build)  # `run 0`
    assert list(json.loads((build / "metrics.json").read_text())["notebooks"]) == ["00_a", "01_b"]
    assert "| 01_b | ok |" in (build / "metrics.md").read_text()
    write_summary([NotebookRun("00_a", "ok", 0.1)], "smoke", 0.1, build)  # `run --profile smoke 0`
    assert list(json.loads((build / "metrics.json").read_text())["notebooks"]) == ["00_a"]
    lecture = json.loads((build / "metrics-lecture.json").read_text())
    assert list(lecture["notebooks"]) == ["00_a", "01_b"] and "y = 2" in (build / "metrics-lecture.md").read_text()
    again = write_summary([NotebookRun("00_a", "ok", 1.0)], "lecture", 1.0, build)  # back to lecture: 01_b is there
    assert list(again["notebooks"]) == ["00_a", "01_b"] and again["notebooks"]["01_b"]["metrics"][0]["value"] == 2.0


def test_a_summary_written_before_per_profile_tables_is_kept_when_another_profile_runs(tmp_path):
    from course_utils.runner import NotebookRun, write_summary

    old = {"profile": "lecture", "machine": "m", "total_seconds": 2.0, "run_seconds": 2.0,
           "notebooks": {"01_b": {"status": "ok", "seconds": 2.0, "metrics": []}}}
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    (tmp_path / "metrics.md").write_text("the old lecture table\n")
    write_summary([NotebookRun("00_a", "ok", 0.1)], "smoke", 0.1, tmp_path)
    assert json.loads((tmp_path / "metrics-lecture.json").read_text()) == old
    assert (tmp_path / "metrics-lecture.md").read_text() == "the old lecture table\n"


def test_no_arguments_lists_the_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("doctor", "release", "run", "data"):
        assert f"    {command} " in out, out


def test_run_profile_explicit_then_environment_then_lecture(monkeypatch):
    from course_utils.__main__ import run_profile

    assert run_profile(None) == "lecture"
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert run_profile(None) == "smoke"
    assert run_profile("full") == "full", "an explicit --profile wins over COURSE_PROFILE"
    monkeypatch.setenv("COURSE_PROFILE", "bogus")
    with pytest.raises(ValueError, match="COURSE_PROFILE.*'bogus'"):
        run_profile(None)


def test_run_follows_course_profile_from_the_environment(course_root, monkeypatch, capsys):
    course_root("01_tiny.ipynb", [("code", 'profile = "lecture"', ["parameters"])])
    ran = {}

    def fake_run_course(names, profile, root):
        ran.update(names=names, profile=profile)
        return 0

    monkeypatch.setattr("course_utils.runner.run_course", fake_run_course)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert main(["run", "--root", str(course_root.root), "01"]) == 0 and ran["profile"] == "smoke"
    assert main(["run", "--profile", "full", "--root", str(course_root.root)]) == 0 and ran["profile"] == "full"
    monkeypatch.setenv("COURSE_PROFILE", "bogus")
    with pytest.raises(SystemExit) as stop:
        main(["run", "--root", str(course_root.root)])
    assert stop.value.code == 2 and "COURSE_PROFILE" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("COURSE_PROFILE", "bogus", False), ("COURSE_PROFILE", "smoke", True),
    ("COURSE_THREADS", "many", False), ("COURSE_THREADS", "0", False), ("COURSE_THREADS", "2", True)])
def test_doctor_checks_the_course_settings(name, value, ok, monkeypatch, capsys):
    monkeypatch.setenv(name, value)
    rows = {row.item: row for row in doctor.settings_rows()}
    assert rows[name].ok is ok and value in rows[name].value
    assert doctor.print_report(list(rows.values())) is ok
    if not ok:
        assert f"- {name}: " in capsys.readouterr().out


def test_doctor_names_a_cache_folder_that_cannot_be_used(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("COURSE_CACHE", str(blocker))
    row = next(r for r in doctor.settings_rows() if r.item == "cache folder")
    assert not row.ok and "not a folder" in row.value and "COURSE_CACHE" in row.value
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "new"))
    assert next(r for r in doctor.settings_rows() if r.item == "cache folder").ok
