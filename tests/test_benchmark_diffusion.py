"""The diffusion budget benchmark: both objectives measure every sampler and scale, write JSON, reject bad options."""

import json
import re

import pytest

from tests.conftest import benchmark_with_stand_in_classifier

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--steps", "2", "--batch-size", "8", "--channels", "8,8,8", "--emb-dim", "8", "--train-images", "64",
        "--samples", "20"]


@pytest.fixture
def bench(monkeypatch):
    return benchmark_with_stand_in_classifier("diffusion_budget", monkeypatch)


@pytest.mark.parametrize("objective, samplers", [
    ("eps", [("ddim", 20), ("ddpm", 50)]),
    ("flow", [("flow", 10), ("flow", 20)]),
])
def test_measures_every_sampler_and_scale_and_writes_json(bench, tmp_path, capsys, objective, samplers):
    out = tmp_path / "bench.json"
    results = bench.main(["--objective", objective, *TINY, "--json", str(out)])
    assert results["objective"] == objective
    assert results["train_seconds"] >= 0 and results["parameters"] > 0
    assert results["fid_floor"] >= 0 and results["final_loss"] > 0
    assert [(row["sampler"], row["steps"]) for row in results["samplers"]] == samplers
    for row in results["samplers"]:
        assert row["fid"] >= 0 and row["seconds"] >= 0
    assert [row["scale"] for row in results["guidance"]] == [1.0, 2.0, 3.0]
    for row in results["guidance"]:
        assert row["sampler"] == samplers[0][0] and row["steps"] == 10
        assert 0 <= row["right_share"] <= 1 and row["fid"] >= 0
    printed = capsys.readouterr().out
    assert "FID of real digits" in printed and json.loads(printed.strip().splitlines()[-1]) == results
    saved = json.loads(out.read_text())
    assert saved["results"] == results
    assert saved["args"]["channels"] == "8,8,8" and saved["args"]["objective"] == objective


def test_defaults_come_from_the_lecture_recipe(bench):
    lecture = bench.diffusion.CONFIGS["lecture"]
    args = bench.parse_args([])
    assert args.steps == lecture["steps"] and args.batch_size == lecture["batch_size"] and args.lr == lecture["lr"]
    assert args.channel_sizes == tuple(lecture["model"]["channels"]) and args.emb_dim == lecture["model"]["emb_dim"]
    assert (args.ema or None) == lecture["ema_decay"] and args.train_images == lecture["train_images"]
    assert args.samples == 500


@pytest.mark.parametrize("argv, words", [
    (["--channels", "7,8,8"], r"--channels must be three positive multiples of 8 .*got '7,8,8'"),
    (["--channels", "16,32"], r"--channels must be three .*got '16,32'"),
    (["--objective", "x"], r"--objective: invalid choice: 'x' \(choose from 'eps', 'flow'\)"),
    (["--steps", "0"], r"--steps >= 1.*got 0"),
    (["--emb-dim", "7"], r"--emb-dim must be an even number >= 2, got 7"),
    (["--ema", "1"], r"--ema must lie in \[0, 1\)"),
    (["--samples", "1"], r"--samples >= 2.*got 1"),
])
def test_bad_options_are_named(bench, capsys, argv, words):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert re.search(words, capsys.readouterr().err)
