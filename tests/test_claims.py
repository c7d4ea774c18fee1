"""claim(): the verdict printed and recorded, and the claims section of build/metrics.md."""

import pytest

from course_utils import results
from course_utils.claims import SMOKE_NOTE, claim
from course_utils.config import setup
from course_utils.results import read_results
from course_utils.runner import NotebookRun, metrics_markdown, write_summary


@pytest.fixture
def store(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_RESULTS", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(results, "results_dir", lambda: tmp_path)
    return tmp_path


def test_a_supported_claim_prints_a_tick_and_its_numbers(store, capsys):
    setup("lecture", notebook="02_autoencoders", quiet=True)
    assert claim("conv_beats_pca", "the conv autoencoder beats PCA", 13.6 < 21.7, {"conv": 13.6, "PCA": 21.7})
    assert capsys.readouterr().out == "\u2714 the conv autoencoder beats PCA (conv 13.6; PCA 21.7)\n"
    row = read_results(store / "02_autoencoders.json")[0]
    assert row == {"name": "conv_beats_pca", "kind": "claim", "statement": "the conv autoencoder beats PCA",
                   "holds": True, "numbers": {"conv": 13.6, "PCA": 21.7}, "profile": "lecture"}


def test_an_unsupported_claim_says_so_and_smoke_says_why(store, capsys):
    setup("lecture", notebook="05_vae", quiet=True)
    assert not claim("prior_misses", "the prior misses by tens of nats", False, {"gap": 0.0})
    out = capsys.readouterr().out
    assert out.startswith("\u2718 not in this run: the prior misses") and SMOKE_NOTE not in out
    setup("smoke", notebook="05_vae", quiet=True)
    claim("prior_misses", "the prior misses by tens of nats", False, {"gap": 0.0})
    assert SMOKE_NOTE in capsys.readouterr().out
    assert [r["profile"] for r in read_results(store / "05_vae.json")] == ["lecture", "smoke"]


@pytest.mark.parametrize("args, match", [
    (("", "s", True), "non-empty name"),
    (("x", " ", True), "statement in words"),
    (("x", "s", True, {"a": float("nan")}), "only finite"),
    (("x", "s", True, {"a": "big"}), "real number"),
])
def test_claim_rejects_bad_input(store, args, match):
    with pytest.raises(ValueError, match=match):
        claim(*args)


def test_metrics_markdown_lists_claims_with_verdicts(tmp_path):
    rows = [{"name": "n", "value": 1.5, "unit": "nats"},
            {"name": "c1", "kind": "claim", "statement": "A beats B", "holds": True, "numbers": {"A": 1.0}},
            {"name": "c2", "kind": "claim", "statement": "C | D", "holds": False, "numbers": {}}]
    summary = write_summary([NotebookRun("02_x", "ok", 3.0, rows)], "lecture", 3.0, tmp_path)
    text = metrics_markdown(summary)
    assert "n = 1.5 nats" in text and "c1" not in text.split("## Claims")[0]
    assert "## Claims: 1 of 2 supported by this run" in text
    assert "| 02_x | A beats B | \u2714 supported | A 1 |" in text
    assert "| 02_x | C \\| D | \u2718 not in this run | - |" in text
