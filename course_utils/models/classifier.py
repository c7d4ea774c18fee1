"""A small convolutional classifier for 28x28 grey digits.

Notebook 01 trains it as the supervised baseline; later notebooks reuse its penultimate layer as a
feature extractor (for example to compare generated and real digits with a classifier-feature FID).

    model = DigitClassifier()
    history = fit(model, cross_entropy_loss, make_loader(images, labels), epochs=3)
    logits = predict(model, test_images)          # (N, 10)
    feats = model.features(test_images)           # (N, 128), the layer before the logits

Architecture (about 0.2 M parameters)::

    (N, 1, 28, 28) -> conv 3x3, 16 -> ReLU -> max-pool 2 -> (N, 16, 14, 14)
                   -> conv 3x3, 32 -> ReLU -> max-pool 2 -> (N, 32, 7, 7)
                   -> flatten -> linear 1568 -> 128 -> ReLU      (features)
                   -> linear 128 -> 10                           (logits)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _check_images(x: torch.Tensor, size: int = 28) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        kind = f"a tensor of dtype {x.dtype}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected float images (N, 1, {size}, {size}) in [0, 1], got {kind}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, size, size):
        raise ValueError(f"expected images of shape (N, 1, {size}, {size}), got {tuple(x.shape)}")


class DigitClassifier(nn.Module):
    """Two conv blocks and two linear layers: 28x28 grey digits -> 10 class logits.

    channels: output channels of the two conv layers. feature_dim: width of the penultimate layer
    (what :meth:`features` returns). num_classes: number of logits.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), feature_dim: int = 128,
                 num_classes: int = 10):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.hidden = nn.Linear(c2 * 7 * 7, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: x float (N, 1, 28, 28) in [0, 1] -> float (N, feature_dim), >= 0."""
        _check_images(x)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)   # (N, c1, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)   # (N, c2, 7, 7)
        return F.relu(self.hidden(h.flatten(1)))     # (N, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: x float (N, 1, 28, 28) in [0, 1] -> float (N, num_classes)."""
        return self.head(self.features(x))


def cross_entropy_loss(model: nn.Module, batch) -> dict[str, torch.Tensor]:
    """Loss function for :func:`course_utils.train.fit`: batch is (images (B, 1, 28, 28), labels (B,)).

    Returns {'loss': mean cross-entropy in nats, 'acc': share of the batch classified right}.
    """
    images, labels = batch
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    return {"loss": loss, "acc": (logits.argmax(1) == labels).float().mean()}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
            features: bool = False) -> torch.Tensor:
    """Run ``model`` in eval mode over ``images`` (N, 1, 28, 28) in batches, on the model's device.

    Returns logits (N, num_classes), or with ``features=True`` the penultimate layer
    (N, feature_dim); the result is on the CPU.
    """
    _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    run = model.features if features else model
    try:
        outs = [run(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs)
