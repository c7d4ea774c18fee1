"""Variational autoencoder (VAE) for binarized 28x28 digits, with the ELBO and an importance-weighted bound.

A VAE is a latent-variable model p(z) p(x|z) with a standard normal prior p(z) = N(0, I) and a
decoder that gives one Bernoulli logit per pixel, trained together with an encoder q(z|x) =
N(mu(x), diag exp(logvar(x))) that approximates the posterior p(z|x). Training maximises the
evidence lower bound (ELBO), a lower bound on log p(x)::

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))

    model = build_vae("lecture")                          # the architecture notebook 05 trains and caches
    history = train_vae(model, train_images, epochs=80)   # grey images, binarized afresh at every step
    logits, mu, logvar = model(x)                         # x binary (B, 1, 28, 28); mu, logvar (B, D)
    loss = negative_elbo(x, logits, mu, logvar)           # 0-d: nats per image, averaged over the batch
    ll = iw_log_likelihood(model, x, k=1000)              # (N,) importance-weighted estimates of log p(x)

Notebook 05 builds each piece (reparameterize, gaussian_kl, negative_elbo, a training step
:func:`vae_step`, the importance-weighted estimate) step by step; notebook 07 rebuilds the model with
:func:`build_vae` to load the cached weights (``cached_model_path("vae", profile)``).

Architecture (``VAE(latent_dim=32, hidden=256, channels=(32, 64))``, ELU activations)::

    encoder  (N, 1, 28, 28) -> conv 4x4 s2 -> (N, 32, 14, 14) -> conv 4x4 s2 -> (N, 64, 7, 7)
             -> flatten -> linear 3136 -> 256 -> linear 256 -> 2 * 32   (mu and logvar, (N, 32) each)
    decoder  (N, 32) -> linear -> 256 -> linear -> (N, 64, 7, 7) -> conv-transpose 4x4 s2 -> (N, 32, 14, 14)
             -> conv-transpose 4x4 s2 -> (N, 1, 28, 28) logits
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from ..data import binarize_dynamic, make_loader
from ..train import History, fit
from .autoregressive import bernoulli_nll, check_images

IMAGE_SHAPE = (1, 28, 28)
LOG_2PI = math.log(2 * math.pi)

# What notebook 05 trains in each profile: the VAE's sizes and the training budget. Notebook 07 rebuilds
# the model from here to load the cached weights, so change it here and nowhere else.
CONFIGS = {
    "smoke": {"model": {"latent_dim": 8, "hidden": 32, "channels": (8, 16)}, "train_images": 256, "epochs": 1,
              "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "warmup_epochs": 0, "ema_decay": None},
    "lecture": {"model": {"latent_dim": 32, "hidden": 256, "channels": (32, 64)}, "train_images": 4000,
                "epochs": 100, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.0, "warmup_epochs": 0,
                "ema_decay": 0.998},
    "full": {"model": {"latent_dim": 32, "hidden": 512, "channels": (64, 128)}, "train_images": None,
             "epochs": 200, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.0, "warmup_epochs": 10,
             "ema_decay": 0.999},
}


# --- the pieces of the ELBO ---------------------------------------------------------------------

def _check_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> None:
    for name, t in (("mu", mu), ("logvar", logvar)):
        if not torch.is_tensor(t) or not t.is_floating_point():
            kind = f"a tensor of dtype {t.dtype}" if torch.is_tensor(t) else type(t).__name__
            raise ValueError(f"{name} must be a float tensor (B, D), got {kind}")
    if mu.shape != logvar.shape or mu.dim() < 1:
        raise ValueError(f"mu and logvar must have the same shape (B, D), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw z ~ N(mu, diag exp(logvar)) as z = mu + exp(logvar / 2) * eps with eps ~ N(0, I).

    mu, logvar: float (B, D). Returns float (B, D). Gradients flow to mu and logvar (eps does not depend
    on them), which is what makes the ELBO trainable by backpropagation.
    """
    _check_gaussian(mu, logvar)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, summed over the last dimension.

    mu, logvar: float (B, D). Returns float (B,), >= 0: 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar).
    """
    _check_gaussian(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor | None = None, logvar: torch.Tensor | None = None) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dimension; standard normal when mu, logvar are None.

    z: float (..., D); mu, logvar broadcastable to z. Returns float (...).
    """
    if not torch.is_tensor(z) or not z.is_floating_point():
        raise ValueError(f"z must be a float tensor (..., D), got {type(z).__name__}")
    mu = torch.zeros_like(z) if mu is None else mu
    logvar = torch.zeros_like(z) if logvar is None else logvar
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def negative_elbo(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """The negative ELBO in nats: -log p(x|z) summed over the pixels, plus KL(q(z|x) || p(z)).

    x: binary float (B, 1, 28, 28); logits: the decoder's output for one z per image, same shape;
    mu, logvar: the encoder's output (B, D). reduction 'mean' (0-d, averaged over the batch: the
    training loss) or 'none' (B,).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    _check_gaussian(mu, logvar)
    if mu.dim() != 2 or mu.shape[0] != len(x):
        raise ValueError(f"mu and logvar must be (B, D) with B = {len(x)} images, got {tuple(mu.shape)}")
    per_image = bernoulli_nll(logits, x) + gaussian_kl(mu, logvar)
    return per_image.mean() if reduction == "mean" else per_image


# --- the model ------------------------------------------------------------------------------------

class VAE(nn.Module):
    """Convolutional encoder q(z|x) and decoder p(x|z) around a latent code of ``latent_dim`` numbers.

    latent_dim: size of z. hidden: width of the linear layer on each side. channels: the two conv
    layers' channels (the decoder mirrors them). See the module docstring for the shapes.
    """

    def __init__(self, latent_dim: int = 32, hidden: int = 256, channels: tuple[int, int] = (32, 64)):
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("hidden", hidden), *zip(("channels[0]", "channels[1]"),
                                                                                    channels, strict=True)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        c1, c2 = channels
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ELU(),           # (N, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ELU(),          # (N, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ELU(),
            nn.Linear(hidden, 2 * latent_dim),                            # mu and logvar
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ELU(),
            nn.Linear(hidden, c2 * 7 * 7), nn.ELU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ELU(),  # (N, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),             # (N, 1, 28, 28) logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): x float (N, 1, 28, 28) in [0, 1] -> (mu, logvar), float (N, latent_dim) each."""
        check_images(x, "x", binary=False)
        if tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"x must be (N, 1, 28, 28), got {tuple(x.shape)}")
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z): z float (N, latent_dim) -> Bernoulli logits (N, 1, 28, 28) (sigmoid gives pixel probabilities)."""
        if not torch.is_tensor(z) or not z.is_floating_point() or z.dim() != 2 or z.shape[1] != self.latent_dim:
            got = f"{tuple(z.shape)} {z.dtype}" if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"z must be float (N, {self.latent_dim}), got {got}; "
                             "k samples for B images: reshape (k, B, D) to (k * B, D) first")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Encode, draw one z per image with the reparameterization trick, decode.

        x: float (B, 1, 28, 28). Returns (logits (B, 1, 28, 28), mu (B, D), logvar (B, D)).
        """
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar, generator)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, binary: bool = False) -> torch.Tensor:
        """n images from the model: z ~ N(0, I), then the decoder's pixel probabilities (or Bernoulli draws).

        generator: a CPU torch.Generator for repeatable samples. Returns float (n, 1, 28, 28) in [0, 1]
        on the CPU (values {0., 1.} when ``binary``).
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        probs = decode_probs(self, torch.randn(n, self.latent_dim, generator=generator))
        return torch.bernoulli(probs, generator=generator) if binary else probs


def build_vae(profile: str) -> VAE:
    """A fresh VAE with the sizes notebook 05 uses in ``profile`` (see :data:`CONFIGS`)."""
    if profile not in CONFIGS:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(CONFIGS)}")
    return VAE(**CONFIGS[profile]["model"])


# --- training ---------------------------------------------------------------------------------------

def vae_loss(model: VAE, batch, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Loss for :func:`course_utils.train.fit`: grey images -> fresh binarization -> recon + beta * KL.

    batch: grey images (B, 1, 28, 28) in [0, 1], or a list/tuple whose first element they are.
    Returns {'loss': mean of recon + beta * KL, 'neg_elbo': mean of recon + KL, 'recon': mean
    -log p(x|z), 'kl': mean KL}, all 0-d, in nats per image. With beta = 1, loss = neg_elbo.
    """
    grey = batch[0] if isinstance(batch, (list, tuple)) else batch
    x = binarize_dynamic(grey)
    logits, mu, logvar = model(x)
    recon, kl = bernoulli_nll(logits, x).mean(), gaussian_kl(mu, logvar).mean()
    return {"loss": recon + beta * kl, "neg_elbo": (recon + kl).detach(), "recon": recon.detach(),
            "kl": kl.detach()}


def vae_step(model: VAE, x: torch.Tensor, optimizer: torch.optim.Optimizer, beta: float = 1.0) -> dict[str, float]:
    """One gradient step on the beta-weighted negative ELBO of a batch (notebook 05's exercise, written out).

    x: binary float images (B, 1, 28, 28) on the model's device. One forward pass draws one z per image;
    loss = mean over the batch of (-log p(x|z) summed over the pixels + beta * KL(q(z|x) || p(z))); then
    zero_grad, backward, step. Returns {'loss', 'recon', 'kl'}: Python floats measured before the update,
    'recon' and 'kl' the batch means of the two terms (the KL without beta), in nats per image.
    """
    logits, mu, logvar = model(x)
    recon, kl = bernoulli_nll(logits, x).mean(), gaussian_kl(mu, logvar).mean()
    loss = recon + beta * kl
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}


def train_vae(model: VAE, images: torch.Tensor, epochs: int, lr: float = 1e-3, batch_size: int = 64,
              weight_decay: float = 0.0, warmup_epochs: int = 0, ema_decay: float | None = None,
              eval_images: torch.Tensor | None = None, device: torch.device | str = "cpu", seed: int = 0,
              progress: bool = True, on_epoch_end: Callable[[int, History], dict | None] | None = None) -> History:
    """Train a VAE on the negative ELBO with the course loop (:func:`course_utils.train.fit`).

    images: grey float (N, 1, 28, 28) in [0, 1], binarized afresh at every step (dynamic binarization).
    AdamW with ``lr`` and ``weight_decay``, cosine-decayed per epoch to zero. KL warm-up: the KL term
    is weighted by beta = (epoch + 1) / warmup_epochs during the first ``warmup_epochs`` epochs (0: none).
    ema_decay: if given (e.g. 0.998), keep an exponential moving average of the weights, updated after
    every step, and leave the model with the averaged weights at the end (a cheap regulariser).
    eval_images: optional binary (M, 1, 28, 28) images whose negative ELBO (with the weights the model
    will end with: the average when ``ema_decay`` is set) is recorded after every epoch as
    'eval_neg_elbo', for plotting only: nothing is selected on it. Per step the history holds 'loss',
    'neg_elbo', 'recon' and 'kl' (nats per image, training batches); per epoch also 'beta' and 'lr'.
    """
    check_images(images, "images", binary=False)
    if eval_images is not None:
        check_images(eval_images, "eval_images")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be a non-negative int, got {warmup_epochs!r}")
    if ema_decay is not None and not 0 < ema_decay < 1:
        raise ValueError(f"ema_decay must lie in (0, 1) or be None, got {ema_decay!r}")
    model.to(device)
    loader = make_loader(images, batch_size=batch_size, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    state = {"beta": 1.0 / warmup_epochs if warmup_epochs else 1.0}
    average = copy.deepcopy(model) if ema_decay is not None else model
    if ema_decay is not None:
        def update_average(*_args):
            with torch.no_grad():
                for avg, param in zip(average.parameters(), model.parameters(), strict=True):
                    avg.lerp_(param, 1.0 - ema_decay)

        optimizer.register_step_post_hook(update_average)

    def loss_fn(m, batch):
        return vae_loss(m, batch, beta=state["beta"])

    def end_of_epoch(epoch, history):
        numbers = {"beta": state["beta"], "lr": optimizer.param_groups[0]["lr"]}
        schedule.step()
        state["beta"] = min(1.0, (epoch + 2) / warmup_epochs) if warmup_epochs else 1.0
        if eval_images is not None:
            numbers["eval_neg_elbo"] = evaluate_elbo(average, eval_images)["neg_elbo"].mean().item()
        if on_epoch_end is not None:
            numbers.update(on_epoch_end(epoch, history) or {})
        return numbers

    history = fit(model, loss_fn, loader, epochs=epochs, optimizer=optimizer, device=device, progress=progress,
                  on_epoch_end=end_of_epoch)
    if ema_decay is not None:
        model.load_state_dict(average.state_dict())
    return history


# --- evaluation ------------------------------------------------------------------------------------

def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_elbo(model: VAE, x: torch.Tensor, batch_size: int = 500,
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The ELBO's terms for binary images x (N, 1, 28, 28), one z per image, model in eval mode.

    Returns {'neg_elbo', 'recon', 'kl'}: float (N,) each, nats, on the CPU. The mean of 'neg_elbo'
    over many images is an unbiased estimate of the average negative ELBO.
    """
    check_images(x, "x")
    was_training = model.training
    model.eval()
    device = _device_of(model)
    out: dict[str, list] = {"recon": [], "kl": []}
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            mu, logvar = model.encode(xb)
            eps = torch.randn(mu.shape, generator=generator).to(device)   # drawn on the CPU: repeatable anywhere
            z = mu + torch.exp(0.5 * logvar) * eps
            out["recon"].append(bernoulli_nll(model.decode(z), xb).cpu())
            out["kl"].append(gaussian_kl(mu, logvar).cpu())
    finally:
        model.train(was_training)
    recon, kl = torch.cat(out["recon"]), torch.cat(out["kl"])
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}


@torch.no_grad()
def log_importance_weights(model: VAE, x: torch.Tensor, k: int, max_decodes: int = 4096) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z|x) for k draws z ~ q(z|x) per image.

    x: binary (B, 1, 28, 28). Returns float (k, B) on the model's device; the k draws are decoded in
    chunks of at most ``max_decodes`` images at a time. The model should be in eval mode.
    """
    check_images(x, "x")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    mu, logvar = model.encode(x)                       # (B, D) each
    batch = len(x)
    per_chunk = max(1, max_decodes // batch)
    out = []
    for start in range(0, k, per_chunk):
        n = min(per_chunk, k - start)
        z = mu + torch.exp(0.5 * logvar) * torch.randn((n, *mu.shape), device=mu.device)   # (n, B, D)
        logits = model.decode(z.reshape(n * batch, -1))                                   # (n * B, 1, 28, 28)
        log_px = -bernoulli_nll(logits, x.repeat(n, 1, 1, 1)).reshape(n, batch)
        out.append(log_px + log_normal(z) - log_normal(z, mu, logvar))
    return torch.cat(out)


@torch.no_grad()
def iw_log_likelihood(model: VAE, x: torch.Tensor, k: int, batch_size: int = 100,
                      max_decodes: int = 4096) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image (Burda et al., 2016), in nats.

    log p(x) ~ logsumexp_i(log w_i) - log k with k draws from q(z|x). k = 1 gives an ELBO sample; the
    estimate's expectation rises towards log p(x) as k grows (it stays a lower bound on average).
    x: binary (N, 1, 28, 28). Returns float (N,) on the CPU (negative numbers; the NLL is minus them).
    """
    check_images(x, "x")
    was_training = model.training
    model.eval()
    device = _device_of(model)
    try:
        out = []
        for i in range(0, len(x), batch_size):
            log_w = log_importance_weights(model, x[i:i + batch_size].to(device), k, max_decodes)
            out.append((torch.logsumexp(log_w, dim=0) - math.log(k)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def encode_means(model: VAE, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The encoder's means mu(x) for images (N, 1, 28, 28) in [0, 1]: float (N, latent_dim) on the CPU."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    try:
        return torch.cat([model.encode(images[i:i + batch_size].to(device))[0].cpu()
                          for i in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


@torch.no_grad()
def decode_probs(model: VAE, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Pixel probabilities sigmoid(decoder(z)) for codes z (N, latent_dim): float (N, 1, 28, 28) on the CPU."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    try:
        return torch.cat([torch.sigmoid(model.decode(z[i:i + batch_size].to(device))).cpu()
                          for i in range(0, len(z), batch_size)])
    finally:
        model.train(was_training)


def latent_traversal(model: VAE, z: torch.Tensor, dims: list[int], values: torch.Tensor) -> torch.Tensor:
    """Decode z with one coordinate at a time swept over ``values``.

    z: float (latent_dim,), the starting code; dims: the coordinates to sweep; values: float (S,).
    Returns pixel probabilities (len(dims) * S, 1, 28, 28): row r sweeps coordinate dims[r].
    """
    if not torch.is_tensor(z) or z.dim() != 1 or len(z) != model.latent_dim:
        raise ValueError(f"z must be one code of shape ({model.latent_dim},), got "
                         f"{tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}")
    if any(not 0 <= d < model.latent_dim for d in dims):
        raise ValueError(f"dims must lie in 0..{model.latent_dim - 1}, got {list(dims)}")
    codes = z.detach().cpu().repeat(len(dims) * len(values), 1)
    for r, d in enumerate(dims):
        codes[r * len(values):(r + 1) * len(values), d] = values
    return decode_probs(model, codes)
