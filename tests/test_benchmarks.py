"""The DCGAN budget benchmark: it measures at the epochs asked for, writes its JSON, and rejects bad options."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from course_utils.models.classifier import DigitClassifier

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dcgan_budget.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("dcgan_budget", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    stand_in = DigitClassifier().eval()  # untrained: the numbers are meaningless, the plumbing is not
    monkeypatch.setattr(module, "fid_classifier", lambda: stand_in)
    return module


def test_measures_at_the_chosen_epochs_and_writes_json(bench, tmp_path):
    out = tmp_path / "bench.json"
    rows = bench.main(["--epochs", "2", "--eval", "1,2", "--width", "4", "--train-images", "128",
                       "--samples", "40", "--json", str(out)])
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        assert 0 <= row["confident_share"] <= 1 and row["fid"] >= 0 and row["fid_floor"] >= 0
    assert rows[1]["train_seconds"] >= rows[0]["train_seconds"] > 0
    saved = json.loads(out.read_text())
    assert saved["results"] == rows and saved["args"]["width"] == 4


@pytest.mark.parametrize("argv, words", [
    (["--eval", "ten"], "comma-separated epoch numbers"),
    (["--epochs", "3", "--eval", "5"], r"must lie in 1\.\.3"),
    (["--width", "1"], "--width >= 2"),
])
def test_bad_options_are_named(bench, capsys, argv, words):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert re.search(words, capsys.readouterr().err)
