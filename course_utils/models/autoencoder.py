"""Autoencoders for 28x28 grey digits: linear, deep fully connected and convolutional.

Notebook 02 builds these step by step; later notebooks (the comparison, notebook 07) reuse them.
Every autoencoder maps images (N, 1, 28, 28) in [0, 1] to reconstructions of the same shape
through a code z of ``latent_dim`` numbers, and is trained only to reconstruct its input::

    model = ConvAutoencoder(latent_dim=16)
    history = fit(model, autoencoder_loss, make_loader(images), epochs=10)
    z = encode_images(model, test_images)             # (N, 16) codes, on the CPU
    err = reconstruction_error(model, test_images)    # squared error per image (summed over pixels)
    clf = classifier_from_encoder(model.encoder, 16, num_classes=10, freeze=False)   # encoder copy + head

The three families, in the order the field tried them::

    LinearAutoencoder   784 -> k -> 784               (optionally a sigmoid on the output)
    MLPAutoencoder      784 -> 256 -> 64 -> k -> 64 -> 256 -> 784, ReLU inside, sigmoid output
    ConvAutoencoder     (1, 28, 28) -> conv 4x4 s2 -> (16, 14, 14) -> conv 4x4 s2 -> (32, 7, 7) -> linear -> k
                        k -> linear -> (32, 7, 7) -> conv-transpose 4x4 s2 -> (16, 14, 14)
                          -> conv-transpose 4x4 s2 -> (1, 28, 28) -> sigmoid

With squared error and no sigmoid, the linear autoencoder's best solution spans the same subspace as
the first k principal components (Baldi and Hornik, 1989): notebook 02 measures this.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .classifier import _check_images

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28
MEAN_PIXEL = 0.13  # the average MNIST pixel value: where a sigmoid decoder starts

# What notebook 02 trains as its convolutional autoencoder in each profile (squared error, Adam).
# course_utils.zoo.autoencoder_model trains or loads it from here, for 02 and for notebook 07.
CONV_CONFIGS = {
    "smoke": {"latent_dim": 16, "train_images": 256, "epochs": 1, "batch_size": 64, "lr": 1e-3},
    "lecture": {"latent_dim": 16, "train_images": 4000, "epochs": 10, "batch_size": 64, "lr": 1e-3},
    "full": {"latent_dim": 16, "train_images": None, "epochs": 30, "batch_size": 64, "lr": 1e-3},
}


def start_at_mean_pixel(layer: nn.Module) -> nn.Module:
    """Shrink the last layer before a sigmoid (weights x 0.1, bias = logit(0.13)); returns the layer.

    The decoder then starts out drawing a faint average digit, away from the sigmoid's flat tails.
    Without this, Adam sometimes drives every output far below zero in the first epoch (most pixels
    are black), where the sigmoid's gradient vanishes and training stalls at blank images.
    """
    with torch.no_grad():
        layer.weight.mul_(0.1)
        layer.bias.fill_(math.log(MEAN_PIXEL / (1 - MEAN_PIXEL)))
    return layer


def _check_latent_dim(latent_dim: int) -> None:
    if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")


def _check_codes(z: torch.Tensor, latent_dim: int) -> None:
    if not torch.is_tensor(z) or not z.is_floating_point():
        kind = f"a tensor of dtype {z.dtype}" if torch.is_tensor(z) else type(z).__name__
        raise ValueError(f"expected float codes (N, {latent_dim}), got {kind}")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"expected codes of shape (N, {latent_dim}), got {tuple(z.shape)}")


class Autoencoder(nn.Module):
    """An encoder and a decoder around a code of ``latent_dim`` numbers.

    encoder: module, images (N, 1, 28, 28) -> codes (N, latent_dim).
    decoder: module, codes (N, latent_dim) -> images (N, 1, 28, 28).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        _check_latent_dim(latent_dim)
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x float (N, 1, 28, 28) in [0, 1] -> codes z float (N, latent_dim)."""
        _check_images(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes z float (N, latent_dim) -> images float (N, 1, 28, 28)."""
        _check_codes(z, self.latent_dim)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of x: float (N, 1, 28, 28) -> float (N, 1, 28, 28)."""
        return self.decode(self.encode(x))


class LinearAutoencoder(Autoencoder):
    """One linear map down (784 -> k) and one up (k -> 784); ``sigmoid=True`` squashes the output to (0, 1).

    Without the sigmoid and trained with squared error it learns the principal subspace (PCA).
    """

    def __init__(self, latent_dim: int, sigmoid: bool = False):
        _check_latent_dim(latent_dim)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, latent_dim))
        up = nn.Linear(latent_dim, PIXELS)
        if sigmoid:
            start_at_mean_pixel(up)
        decoder = nn.Sequential(up, *([nn.Sigmoid()] if sigmoid else []), nn.Unflatten(1, IMAGE_SHAPE))
        super().__init__(encoder, decoder, latent_dim)


class MLPAutoencoder(Autoencoder):
    """Fully connected layers with ReLU: 784 -> hidden... -> k, and the mirror image back, sigmoid output."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (256, 64)):
        _check_latent_dim(latent_dim)
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive ints, got {hidden!r}")
        sizes = [PIXELS, *hidden]
        down: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            down += [nn.Linear(a, b), nn.ReLU()]
        down.append(nn.Linear(sizes[-1], latent_dim))
        up: list[nn.Module] = []
        back = [latent_dim, *reversed(hidden)]
        for a, b in zip(back[:-1], back[1:], strict=True):
            up += [nn.Linear(a, b), nn.ReLU()]
        up += [start_at_mean_pixel(nn.Linear(back[-1], PIXELS)), nn.Sigmoid(), nn.Unflatten(1, IMAGE_SHAPE)]
        super().__init__(nn.Sequential(*down), nn.Sequential(*up), latent_dim)


def conv_encoder(latent_dim: int, channels: tuple[int, int] = (16, 32)) -> nn.Sequential:
    """Two strided convolutions and a linear layer: images (N, 1, 28, 28) -> codes (N, latent_dim).

    Each conv (kernel 4, stride 2, padding 1) halves the size: 28 -> 14 -> 7.
    """
    _check_latent_dim(latent_dim)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=4, stride=2, padding=1), nn.ReLU(),   # (N, c1, 14, 14)
        nn.Conv2d(c1, c2, kernel_size=4, stride=2, padding=1), nn.ReLU(),  # (N, c2, 7, 7)
        nn.Flatten(),                                                      # (N, c2 * 49)
        nn.Linear(c2 * 7 * 7, latent_dim),                                 # (N, latent_dim)
    )


def conv_decoder(latent_dim: int, channels: tuple[int, int] = (16, 32)) -> nn.Sequential:
    """The encoder's mirror image: codes (N, latent_dim) -> images (N, 1, 28, 28) in (0, 1).

    Each transposed conv (kernel 4, stride 2, padding 1) doubles the size: 7 -> 14 -> 28. The last one
    starts small (:func:`start_at_mean_pixel`), so the sigmoid is not saturated when training begins.
    """
    _check_latent_dim(latent_dim)
    c1, c2 = channels
    return nn.Sequential(
        nn.Linear(latent_dim, c2 * 7 * 7), nn.ReLU(),                                        # (N, c2 * 49)
        nn.Unflatten(1, (c2, 7, 7)),                                                         # (N, c2, 7, 7)
        nn.ConvTranspose2d(c2, c1, kernel_size=4, stride=2, padding=1), nn.ReLU(),           # (N, c1, 14, 14)
        start_at_mean_pixel(nn.ConvTranspose2d(c1, 1, kernel_size=4, stride=2, padding=1)),  # (N, 1, 28, 28)
        nn.Sigmoid(),                                                                        # values in (0, 1)
    )


class ConvAutoencoder(Autoencoder):
    """:func:`conv_encoder` and :func:`conv_decoder` with ReLU inside: the autoencoder later notebooks reuse."""

    def __init__(self, latent_dim: int, channels: tuple[int, int] = (16, 32)):
        super().__init__(conv_encoder(latent_dim, channels), conv_decoder(latent_dim, channels), latent_dim)


# --- losses and measurements ---------------------------------------------------------------------


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each image's pixels, averaged over the batch: a 0-d tensor.

    x_hat, x: float tensors of the same shape (B, ...), e.g. (B, 1, 28, 28) or (B, 784).
    """
    if not (torch.is_tensor(x_hat) and torch.is_tensor(x)) or x_hat.shape != x.shape or x.dim() < 2:
        shapes = [tuple(t.shape) if torch.is_tensor(t) else type(t).__name__ for t in (x_hat, x)]
        raise ValueError(f"expected x_hat and x of the same shape (B, ...), got {shapes[0]} and {shapes[1]}")
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def autoencoder_loss(model: nn.Module, batch) -> torch.Tensor:
    """Loss function for :func:`course_utils.train.fit`: reconstruct the images, ignore any labels.

    batch: images (B, 1, 28, 28), or a tuple/list whose first entry is the images. Returns a 0-d tensor.
    """
    images = batch[0] if isinstance(batch, (list, tuple)) else batch
    return reconstruction_loss(model(images), images)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor) -> float:
    """One update of an autoencoder on a batch: returns the batch's loss before the update, a Python float.

    model: images (B, 1, 28, 28) in [0, 1] -> reconstructions of the same shape; optimizer: over its
    parameters. The model is put in training mode, the reconstruction is scored against the images
    themselves (:func:`reconstruction_loss`), the old gradients are cleared, and the optimizer takes one step.
    """
    model.train()
    loss = reconstruction_loss(model(images), images)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _batched(fn, tensor: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    return torch.cat([fn(tensor[i:i + batch_size].to(device)).cpu() for i in range(0, len(tensor), batch_size)])


@torch.no_grad()
def encode_images(model: Autoencoder, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Codes of ``images`` (N, 1, 28, 28) in [0, 1]: float (N, latent_dim) on the CPU (eval mode, batched)."""
    _check_images(images)
    was_training = model.training
    model.eval()
    try:
        return _batched(model.encode, images, next(model.parameters()).device, batch_size)
    finally:
        model.train(was_training)


@torch.no_grad()
def decode_codes(model: Autoencoder, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Images decoded from codes z (N, latent_dim): float (N, 1, 28, 28) on the CPU (eval mode, batched)."""
    _check_codes(z, model.latent_dim)
    was_training = model.training
    model.eval()
    try:
        return _batched(model.decode, z, next(model.parameters()).device, batch_size)
    finally:
        model.train(was_training)


@torch.no_grad()
def reconstruction_error(model: Autoencoder, images: torch.Tensor, batch_size: int = 500) -> float:
    """Mean over ``images`` (N, 1, 28, 28) of the squared error summed over pixels (the training loss's units)."""
    _check_images(images)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    try:
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device)
            total += float((model(x) - x).pow(2).flatten(1).sum(1).sum())
    finally:
        model.train(was_training)
    return total / len(images)


# --- reusing the encoder ---------------------------------------------------------------------------


class EncoderClassifier(nn.Module):
    """A classifier made of an encoder and a small head on its code: images -> class logits.

    encoder: module, images (N, 1, 28, 28) -> codes (N, latent_dim); it is copied, so training the
    classifier never changes the module passed in. The head is BatchNorm1d(latent_dim) (which puts every
    code coordinate on a common scale, whatever scale pretraining left it at) then
    Linear(latent_dim, num_classes). freeze: if True, the encoder's copy gets no gradients and only the
    head learns; if False the whole network is fine-tuned.
    """

    def __init__(self, encoder: nn.Module, latent_dim: int, num_classes: int = 10, freeze: bool = False):
        super().__init__()
        _check_latent_dim(latent_dim)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.encoder = copy.deepcopy(encoder)
        self.encoder.requires_grad_(not freeze)
        self.head = nn.Sequential(nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, num_classes))
        self.frozen = freeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: x float (N, 1, 28, 28) in [0, 1] -> float (N, num_classes)."""
        _check_images(x)
        return self.head(self.encoder(x))


def classifier_from_encoder(encoder: nn.Module, latent_dim: int, num_classes: int = 10,
                            freeze: bool = False) -> EncoderClassifier:
    """A copy of ``encoder`` (images -> (N, latent_dim)) plus a new head (BatchNorm1d, Linear) to logits.

    freeze=True trains only the head (the encoder's copy gets no gradients); freeze=False fine-tunes all.
    """
    return EncoderClassifier(encoder, latent_dim, num_classes, freeze)
