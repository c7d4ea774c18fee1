import json

import pytest

from course_utils import results
from course_utils.config import setup
from course_utils.results import notebook_numbers, read_results, record


def test_record_prints_and_stores_when_run_by_the_course(monkeypatch, tmp_path, capsys):
    target = tmp_path / "results" / "01.json"
    monkeypatch.setenv("COURSE_RESULTS", str(target))
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert record("accuracy", 0.9, "fraction") == 0.9
    record("nll", 81.3, "nats")
    record("accuracy", 0.95, "fraction")  # recorded again: the later value counts
    assert "[recorded] nll = 81.3 nats" in capsys.readouterr().out
    rows = read_results(target)
    assert rows == [{"name": "nll", "value": 81.3, "unit": "nats", "profile": None},
                    {"name": "accuracy", "value": 0.95, "unit": "fraction", "profile": None}]


def test_record_without_runner_only_prints(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COURSE_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    record("x", 1)
    assert "[recorded] x = 1" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "fast", None])
def test_record_rejects_non_numbers(value):
    with pytest.raises(ValueError, match="record\\('x'"):
        record("x", value)


def test_record_needs_a_name():
    with pytest.raises(ValueError, match="non-empty name"):
        record("  ", 1.0)


def test_damaged_results_file(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_results(bad)
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="expected a list"):
        read_results(bad)
    assert read_results(tmp_path / "missing.json") == []


def test_a_notebook_run_in_jupyter_records_under_its_name_and_profile(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_RESULTS", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(results, "results_dir", lambda: tmp_path)
    setup("smoke", notebook="02_autoencoders", quiet=True)
    record("ae_error", 30.0)
    setup("lecture", notebook="02_autoencoders", quiet=True)
    record("ae_error", 13.6)
    assert [r["profile"] for r in read_results(tmp_path / "02_autoencoders.json")] == ["smoke", "lecture"]
    setup("lecture", notebook="05_vae", quiet=True)  # a later notebook reads this profile's numbers
    assert notebook_numbers("02_autoencoders") == {"ae_error": 13.6}
    assert notebook_numbers("02_autoencoders", "smoke") == {"ae_error": 30.0}
    assert notebook_numbers("03_pixelrnn") == {}


def test_a_run_without_setup_takes_the_profile_from_the_environment(monkeypatch, tmp_path):
    target = tmp_path / "r.json"
    monkeypatch.setenv("COURSE_RESULTS", str(target))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    record("x", 1.0)
    assert read_results(target)[0]["profile"] == "smoke"
