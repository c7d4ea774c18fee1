"""Measures shared by the notebooks: likelihood units, and (from later notebooks) sample quality.

Likelihoods in this course are negative log-likelihoods in nats per image. Bits per dimension
divide by the number of dimensions and by ln 2: for 28x28 MNIST, 784 * ln 2 = 543.4 nats per bit/dim.
"""

from __future__ import annotations

import math

import torch

MNIST_DIMS = 28 * 28


def nats_to_bits_per_dim(nats: float | torch.Tensor, dims: int = MNIST_DIMS):
    """Convert a negative log-likelihood in nats per image to bits per dimension."""
    if dims < 1:
        raise ValueError(f"dims must be a positive int, got {dims}")
    return nats / (dims * math.log(2))


def bits_per_dim_to_nats(bits: float | torch.Tensor, dims: int = MNIST_DIMS):
    """Convert bits per dimension back to nats per image."""
    if dims < 1:
        raise ValueError(f"dims must be a positive int, got {dims}")
    return bits * dims * math.log(2)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose largest logit is the label. logits: (N, C); labels: int (N,). Returns [0, 1]."""
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    return (logits.argmax(1) == labels).float().mean().item()


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def cluster_purity(cluster_ids: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of points whose label is the most common label of their cluster, in [0, 1].

    cluster_ids: int (N,), any integer ids (not necessarily 0..K-1); labels: int (N,), >= 0. The sum
    over clusters of the majority label's count, divided by N. Reference for notebook 01's exercise.
    """
    for name, value in (("cluster_ids", cluster_ids), ("labels", labels)):
        if not torch.is_tensor(value) or value.dim() != 1 or value.is_floating_point() or value.dtype == torch.bool:
            got = f"{tuple(value.shape)} {value.dtype}" if torch.is_tensor(value) else type(value).__name__
            raise ValueError(f"{name} must be an integer tensor of shape (N,), got {got}")
    if len(cluster_ids) != len(labels) or len(labels) == 0:
        raise ValueError(f"expected cluster_ids and labels of the same length N >= 1, got {len(cluster_ids)} "
                         f"and {len(labels)}")
    if bool((labels < 0).any()):
        raise ValueError("labels must be >= 0")
    majority = sum(int(torch.bincount(labels[cluster_ids == c]).max()) for c in torch.unique(cluster_ids))
    return majority / len(labels)


class _ClassifierFeatures(torch.nn.Module):
    """Adapter for torchmetrics: images (N, 1, 28, 28) in [0, 1] -> classifier features (N, D)."""

    def __init__(self, classifier: torch.nn.Module):
        super().__init__()
        if not hasattr(classifier, "features") or not hasattr(classifier, "feature_dim"):
            raise ValueError("the FID classifier needs a features(x) method and a feature_dim attribute "
                             f"(like course_utils.models.classifier.DigitClassifier), got {type(classifier).__name__}")
        self.classifier = classifier
        self.num_features = classifier.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x).double()


def _check_digit_images(x: torch.Tensor, name: str) -> None:
    if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28) or not x.is_floating_point():
        got = f"{tuple(x.shape)} {x.dtype}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be float images (N, 1, 28, 28) in [0, 1], got {got}")
    if len(x) < 2:
        raise ValueError(f"{name} needs at least 2 images for a covariance, got {len(x)}")


@torch.no_grad()
def classifier_fid(real: torch.Tensor, fake: torch.Tensor, classifier: torch.nn.Module,
                   batch_size: int = 500) -> float:
    """Fréchet distance between real and generated digits in a digit classifier's feature space.

    real, fake: float (N, 1, 28, 28) in [0, 1] (N may differ). classifier: a trained model with
    ``features(x) -> (N, D)``, e.g. ``DigitClassifier``. Lower is better; two halves of the real test
    set give the floor that sampling noise alone produces. Uses torchmetrics' FID with our features.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_digit_images(real, "real")
    _check_digit_images(fake, "fake")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    fid = FrechetInceptionDistance(feature=_ClassifierFeatures(classifier), normalize=True).to(device)
    try:
        for images, is_real in ((real, True), (fake, False)):
            for i in range(0, len(images), batch_size):
                fid.update(images[i:i + batch_size].to(device).clamp(0, 1), real=is_real)
        return float(fid.compute())
    finally:
        classifier.train(was_training)


@torch.no_grad()
def confident_share(images: torch.Tensor, classifier: torch.nn.Module, threshold: float = 0.9) -> float:
    """Share of images the classifier labels with probability above ``threshold``; images (N, 1, 28, 28)."""
    _check_digit_images(images, "images")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    try:
        probs = torch.cat([classifier(images[i:i + 500].to(device)).softmax(1).cpu()
                           for i in range(0, len(images), 500)])
    finally:
        classifier.train(was_training)
    return (probs.max(1).values > threshold).float().mean().item()


# The FID classifier's budget per profile: training digits (None: the profile's data budget) and epochs.
FID_CLASSIFIER_CONFIGS = {"smoke": {"train_images": 1000, "epochs": 1},
                          "lecture": {"train_images": 4000, "epochs": 10},
                          "full": {"train_images": None, "epochs": 10}}


def fid_classifier(device: torch.device | str = "cpu", progress: bool = True,
                   profile: str | None = None) -> torch.nn.Module:
    """The course's one FID feature extractor: a ``DigitClassifier`` trained with a fixed recipe.

    Trained once per data source and profile (``FID_CLASSIFIER_CONFIGS``; Adam 1e-3, batch 64,
    seed 0) and cached in ``<cache>/models/shared/``, so every notebook's FID uses the same features
    and the numbers compare across notebooks. profile: default the run's (``setup``), else 'lecture'.
    Says what it trains, with a progress bar, when it is not cached yet. Returned in eval mode.
    """
    from .checkpoint import load_or_train
    from .config import cache_dir, check_profile, current_run
    from .data import load_mnist, make_loader
    from .models.classifier import DigitClassifier, cross_entropy_loss
    from .train import fit

    profile = check_profile(profile or current_run()["profile"] or "lecture")
    config = FID_CLASSIFIER_CONFIGS[profile]
    train = load_mnist("train", limit=config["train_images"], verbose=False)
    path = cache_dir() / "models" / "shared" / f"fid_classifier_{train.source}_{profile}.pt"
    recipe_text = f"{config['epochs']} epochs on {len(train)} digits, Adam 1e-3, batch 64, seed 0"
    if not path.exists():
        print(f"Training the course's FID classifier ({recipe_text}): FID compares the features of this "
              "small digit classifier on generated and real digits, so every notebook needs the same one. "
              f"It is trained once and cached in {path}.")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DigitClassifier()

        def recipe(m):
            loader = make_loader(train.images, train.labels, batch_size=64, seed=0)
            return fit(m, cross_entropy_loss, loader, epochs=config["epochs"], lr=1e-3, device=device,
                       progress=progress)

        load_or_train(path, model, recipe, recipe=recipe_text, source=train.source)
    return model.to(device).eval()


def edge_sharpness(images: torch.Tensor) -> torch.Tensor:
    """How crisp the edges are: the typical size of a step between neighbouring pixels, per image.

    images: float (N, C, H, W) in [0, 1]. With d every horizontal and vertical difference between
    neighbouring pixels of an image, returns float (N,): sum(d^2) / sum(|d|), in [0, 1]; 0 for an image
    without any step. A step edge of height 1 scores 1 (a binary image scores exactly 1); the same
    edge smeared over k pixels in steps of 1/k scores 1/k. It does not depend on how much ink there is.
    """
    if not torch.is_tensor(images) or images.dim() != 4 or not images.is_floating_point():
        got = f"{tuple(images.shape)} {images.dtype}" if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be float (N, C, H, W) in [0, 1], got {got}")
    steps = torch.cat([images.diff(dim=3).flatten(1), images.diff(dim=2).flatten(1)], dim=1)  # (N, D)
    total = steps.abs().sum(1)
    return torch.where(total > 0, steps.pow(2).sum(1) / total.clamp_min(1e-12), torch.zeros_like(total))
