"""The DCGAN budget benchmark: it measures at the epochs asked for, writes its JSON, and rejects bad options."""

import json
import re

import pytest

from tests.conftest import benchmark_with_stand_in_classifier

pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture
def bench(monkeypatch):
    return benchmark_with_stand_in_classifier("dcgan_budget", monkeypatch)


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
