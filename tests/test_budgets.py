"""Lecture budgets bound the work whatever the data source: with 60,000 cached digits (a synthetic
torchvision-format MNIST that this test writes itself) the lecture profile trains on as many images
as with the 4,000 offline digits."""

import struct

import numpy as np
import pytest

from course_utils import zoo
from course_utils.config import DATA_BUDGET, setup
from course_utils.data import load_mnist, torchvision_mnist_cached
from course_utils.metrics import FID_CLASSIFIER_CONFIGS
from course_utils.models import autoencoder, gan, pixelcnn, pixelrnn, vae

OFFLINE_TRAIN, OFFLINE_TEST = 4000, 1000


def _write_idx(path, data: np.ndarray) -> None:
    magic = 2051 if data.ndim == 3 else 2049
    with open(path, "wb") as f:
        f.write(struct.pack(">II", magic, len(data)))
        if data.ndim == 3:
            f.write(struct.pack(">II", *data.shape[1:]))
        f.write(data.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def full_mnist_folder(tmp_path_factory):
    """A course cache holding a torchvision-format MNIST of 60,000 train / 10,000 test random digits."""
    root = tmp_path_factory.mktemp("cache")
    raw = root / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", 60_000), ("t10k", 10_000)):
        _write_idx(raw / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return root


@pytest.fixture
def full_mnist_cache(monkeypatch, full_mnist_folder):
    monkeypatch.setenv("COURSE_CACHE", str(full_mnist_folder))
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert torchvision_mnist_cached()
    return full_mnist_folder


def test_all_digits_means_the_profile_budget(full_mnist_cache):
    assert len(load_mnist("train", verbose=False)) == 60_000  # outside a run: everything
    setup("lecture", quiet=True)
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    assert train.source == "torchvision"
    assert (len(train), len(test)) == (OFFLINE_TRAIN, OFFLINE_TEST) == tuple(DATA_BUDGET["lecture"].values())
    setup("full", quiet=True)
    assert len(load_mnist("train", verbose=False)) == 60_000


CONFIGS = {"conv autoencoder": autoencoder.CONV_CONFIGS, "pixelrnn": pixelrnn.CONFIGS, "pixelcnn": pixelcnn.CONFIGS,
           "vae": vae.CONFIGS, "dcgan": gan.DCGAN_CONFIGS, "fid classifier": FID_CLASSIFIER_CONFIGS}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("profile", ["smoke", "lecture"])
def test_each_recipe_trains_on_as_many_digits_as_offline(full_mnist_cache, name, profile):
    cfg = setup(profile, quiet=True)
    config = cfg.pick(**CONFIGS[name])
    used = len(zoo._training_digits(config, None))
    assert used <= OFFLINE_TRAIN, f"{name} ({profile}) trains on {used} of the 60,000 cached digits"
