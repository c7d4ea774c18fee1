"""Generative adversarial networks: generator/discriminator pairs, their losses and one training step.

Notebook 06 builds these ideas step by step; this file holds the finished version that the
notebook's later experiments, the comparison notebook and the checks reuse.

    G, D = MLPGenerator(), MLPDiscriminator()                  # a 2-D toy pair
    G, D = DCGANGenerator(), DCGANDiscriminator()              # a convolutional pair for 28x28 digits
    step = make_gan_step(G, D, g_opt, d_opt, loss="non-saturating", k=1)
    history = run_steps(step, loader, epochs=5)                 # course_utils.train's loop
    images = G.sample(64)                                       # (64, 1, 28, 28) in [0, 1]

Conventions: a generator maps noise ``z`` float (N, z_dim) to samples; a discriminator maps samples
to one **logit** per sample, float (N,): D(x) = sigmoid(logit) is the probability that x is real.
Losses take logits, never probabilities (``F.logsigmoid`` is exact where ``log(sigmoid(.))`` would
round to log(0)). The Wasserstein critic uses the same networks; its output is a score, not a logit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("non-saturating", "saturating", "wgan-gp")

# What notebook 06 trains as its DCGAN in each profile: non-saturating loss, k = 1, Adam with beta1 = 0.5
# and a learning rate ten times the DCGAN paper's (better samples within a few thousand steps here).
# course_utils.zoo.dcgan_model trains or loads it from here, for 06 and for notebook 07.
DCGAN_CONFIGS = {
    profile: {"model": {"z_dim": 32, "width": width, "refine": width // 2}, "discriminator": {"width": 32},
              "train_images": images, "epochs": epochs, "batch_size": 64, "lr": 2e-3, "betas": (0.5, 0.999)}
    for profile, width, images, epochs in (("smoke", 16, 256, 1), ("lecture", 40, 4000, 40), ("full", 64, None, 30))
}


# --- input checks -------------------------------------------------------------------------------

def _check_float(x, name: str, dims: int) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        kind = f"a tensor of dtype {x.dtype}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a float tensor, got {kind}")
    if x.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(x.shape)}")


def _check_noise(z, z_dim: int) -> None:
    _check_float(z, "z", 2)
    if z.shape[1] != z_dim:
        raise ValueError(f"z must have shape (N, {z_dim}), got {tuple(z.shape)}")


def _check_points(x, dim: int) -> None:
    _check_float(x, "x", 2)
    if x.shape[1] != dim:
        raise ValueError(f"x must have shape (N, {dim}), got {tuple(x.shape)}")


def _check_images(x) -> None:
    _check_float(x, "images", 4)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 1, 28, 28) with values in [0, 1], got {tuple(x.shape)}")


def _check_logits(logits, name: str) -> None:
    _check_float(logits, name, 1)
    if len(logits) == 0:
        raise ValueError(f"{name} is empty: expected one logit per sample, shape (N,) with N >= 1")


class _Sampler(nn.Module):
    """Shared by the generators: ``generate(z)`` and ``sample(n)``, in eval mode and without gradients."""

    z_dim: int

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """G(z) for z float (N, z_dim), in eval mode, in batches on the model's device; the result is on the CPU."""
        _check_noise(z, self.z_dim)
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            return torch.cat([self(z[i:i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)])
        finally:
            self.train(was_training)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples G(z) with z ~ N(0, I) drawn on the CPU (seeded by ``generator``); see :meth:`generate`."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return self.generate(torch.randn(n, self.z_dim, generator=generator))


# --- a 2-D toy pair -----------------------------------------------------------------------------

def _mlp(sizes: list[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPGenerator(_Sampler):
    """Noise z float (N, z_dim) -> points float (N, out_dim), through ``layers`` hidden ReLU layers."""

    def __init__(self, z_dim: int = 8, hidden: int = 128, out_dim: int = 2, layers: int = 3):
        super().__init__()
        if min(z_dim, hidden, out_dim, layers) < 1:
            raise ValueError(f"sizes must be positive, got z_dim={z_dim}, hidden={hidden}, out_dim={out_dim}, "
                             f"layers={layers}")
        self.z_dim, self.out_dim = z_dim, out_dim
        self.net = _mlp([z_dim] + [hidden] * layers + [out_dim], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_noise(z, self.z_dim)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Points x float (N, in_dim) -> one logit per point, float (N,), through LeakyReLU hidden layers."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, layers: int = 3):
        super().__init__()
        if min(in_dim, hidden, layers) < 1:
            raise ValueError(f"sizes must be positive, got in_dim={in_dim}, hidden={hidden}, layers={layers}")
        self.in_dim = in_dim
        self.net = _mlp([in_dim] + [hidden] * layers + [1], lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_points(x, self.in_dim)
        return self.net(x).squeeze(1)


# --- a convolutional pair for 28x28 digits (DCGAN) ---------------------------------------------

class DCGANGenerator(_Sampler):
    """Noise z float (N, z_dim) -> digit images float (N, 1, 28, 28) in [0, 1].

    Upsampling with fractionally-strided (transposed) convolutions, batch norm and ReLU, then one
    ordinary 3x3 convolution at full size that draws the strokes from ``refine`` feature maps::

        z (N, z_dim) -> linear -> (N, 2w, 7, 7)
                     -> conv-transpose 4x4, stride 2 -> (N, w, 14, 14)
                     -> conv-transpose 4x4, stride 2 -> (N, refine, 28, 28)
                     -> conv 3x3 -> (N, 1, 28, 28) -> sigmoid
    """

    def __init__(self, z_dim: int = 32, width: int = 32, refine: int = 16):
        super().__init__()
        if min(z_dim, width, refine) < 1:
            raise ValueError(f"z_dim, width and refine must be positive, got z_dim={z_dim}, width={width}, "
                             f"refine={refine}")
        self.z_dim, self.width = z_dim, width
        self.project = nn.Sequential(nn.Linear(z_dim, 2 * width * 7 * 7, bias=False),
                                     nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),   # 7 -> 14
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, refine, 4, stride=2, padding=1, bias=False),      # 14 -> 28
            nn.BatchNorm2d(refine), nn.ReLU(),
            nn.Conv2d(refine, 1, 3, padding=1),                                         # 28 -> 28
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_noise(z, self.z_dim)
        h = self.project(z).view(len(z), 2 * self.width, 7, 7)
        return torch.sigmoid(self.up(h))


class DCGANDiscriminator(nn.Module):
    """Digit images float (N, 1, 28, 28) in [0, 1] -> one logit per image, float (N,).

    Downsampling with strided convolutions (no pooling), LeakyReLU, and batch norm after every layer
    but the first (as in DCGAN: not on the input layer)::

        x (N, 1, 28, 28) -> conv 4x4, stride 2 -> (N, w, 14, 14)
                         -> conv 4x4, stride 2 -> BN -> (N, 2w, 7, 7)
                         -> conv 3x3, stride 2 -> BN -> (N, 4w, 4, 4) -> flatten -> linear -> (N,)

    The third layer sees about half the image at once, so the discriminator can judge a digit's
    overall shape and not only its strokes (with two layers, the generator's digits broke apart more).
    Batch norm mixes the samples of a batch, so call it on real and fake batches separately (as
    :func:`make_gan_step` does), and never use it as a WGAN-GP critic (the penalty is per sample).
    """

    def __init__(self, width: int = 32):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),               # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),              # 14 -> 7
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1, bias=False),          # 7 -> 4
            nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(4 * width * 4 * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x)
        return self.net(2 * x - 1).squeeze(1)  # centre the pixels on 0 for the first layer


# --- losses -------------------------------------------------------------------------------------

def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss, minimised: -mean log D(x) - mean log(1 - D(G(z))).

    real_logits: float (N,), the discriminator on real samples; fake_logits: float (M,), on generated
    ones. Returns a 0-d tensor >= 0 (binary cross-entropy with label 1 for real, 0 for fake).
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    # log(1 - sigmoid(a)) = logsigmoid(-a)
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non-saturating") -> torch.Tensor:
    """The generator's loss, minimised, from the discriminator's logits on fakes, float (N,) -> 0-d.

    'non-saturating': -mean log D(G(z)) (strong gradients while D rejects the fakes; used in practice).
    'saturating': mean log(1 - D(G(z))), the minimax objective itself (flat while D rejects the fakes).
    """
    _check_logits(fake_logits, "fake_logits")
    if kind == "non-saturating":
        return -F.logsigmoid(fake_logits).mean()
    if kind == "saturating":
        return F.logsigmoid(-fake_logits).mean()
    raise ValueError(f"unknown generator loss {kind!r}: expected 'non-saturating' or 'saturating'")


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     mix: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty: mean (||grad_x critic(x_hat)|| - 1)^2 at random points x_hat between real and fake.

    real, fake: float tensors of the same shape (N, ...). x_hat_i = mix_i * real_i + (1 - mix_i) * fake_i
    with one weight per sample: ``mix`` float (N,) in [0, 1], or None to draw them uniformly at random.
    Returns a 0-d tensor >= 0 that keeps a graph to the critic's parameters (it is part of the critic's loss).
    """
    if not torch.is_tensor(real) or not torch.is_tensor(fake) or real.shape != fake.shape:
        shapes = [tuple(t.shape) if torch.is_tensor(t) else type(t).__name__ for t in (real, fake)]
        raise ValueError(f"real and fake must be tensors of the same shape, got {shapes[0]} and {shapes[1]}")
    if mix is None:
        mix = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
    elif not torch.is_tensor(mix) or mix.shape != (len(real),):
        shape = tuple(mix.shape) if torch.is_tensor(mix) else type(mix).__name__
        raise ValueError(f"mix must be a tensor of shape ({len(real)},), one weight per sample, got {shape}")
    else:
        mix = mix.to(real.device).reshape(len(real), *[1] * (real.dim() - 1))
    x_hat = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


# --- one training step --------------------------------------------------------------------------

def make_gan_step(generator: _Sampler, discriminator: nn.Module, g_opt: torch.optim.Optimizer,
                  d_opt: torch.optim.Optimizer, loss: str = "non-saturating", k: int = 1,
                  gp_weight: float = 10.0, device: torch.device | str = "cpu") -> Callable[[object], dict]:
    """A ``step(batch)`` for :func:`course_utils.train.run_steps`: alternating GAN updates.

    Every call updates the discriminator once on the real batch (a tensor, or a tuple whose first
    item is the tensor) and a fresh batch of fakes; every ``k``-th call also updates the generator
    once, so there are k discriminator steps per generator step. loss: one of :data:`LOSSES`;
    'wgan-gp' trains the discriminator as a Wasserstein critic with a gradient penalty of weight
    ``gp_weight``. Returns {'d_loss', 'g_loss'}: g_loss is measured on every call, also when
    the generator is not updated.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {', '.join(LOSSES)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    calls = [0]

    def step(batch) -> dict:
        real = (batch[0] if isinstance(batch, (list, tuple)) else batch).to(device)
        generator.train()
        discriminator.train()
        calls[0] += 1
        update_g = calls[0] % k == 0
        z = torch.randn(len(real), generator.z_dim, device=device)
        with torch.set_grad_enabled(update_g):  # a graph through G only when G is updated
            fake = generator(z)
        # 1. the discriminator: fakes are detached, so this update leaves the generator alone
        d_opt.zero_grad(set_to_none=True)
        real_out, fake_out = discriminator(real), discriminator(fake.detach())
        if loss == "wgan-gp":
            d_loss = fake_out.mean() - real_out.mean() + gp_weight * gradient_penalty(discriminator, real, fake)
        else:
            d_loss = discriminator_loss(real_out, fake_out)
        d_loss.backward()
        d_opt.step()
        # 2. the generator's loss against the updated discriminator; a step on every k-th call
        with torch.set_grad_enabled(update_g):
            fake_out = discriminator(fake)
            g_loss = -fake_out.mean() if loss == "wgan-gp" else generator_loss(fake_out, loss)
        if update_g:
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    return step


# --- latent space -------------------------------------------------------------------------------

def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` evenly spaced points on the straight line from z0 to z1, both ends included.

    z0, z1: float (d,). Returns float (steps, d): row 0 is z0, row steps-1 is z1.
    """
    _check_float(z0, "z0", 1)
    _check_float(z1, "z1", 1)
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (both ends), got {steps!r}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


# --- how well a 2-D sample covers a ring of modes -----------------------------------------------

def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, radius: float = 3.0,
                  min_share: float = 0.2) -> dict:
    """How a sample covers a mixture of Gaussians with equal weights and common ``std``.

    samples: float (N, 2); centres: float (K, 2). A sample is *high quality* when it lies within
    ``radius`` standard deviations of its nearest centre. A mode is *covered* when its high-quality
    samples make up at least ``min_share`` of the fair share 1/K of all samples.
    Returns {'modes_covered': int, 'high_quality_share': float in [0, 1], 'counts': int64 (K,)}.
    """
    _check_points(samples, 2)
    _check_points(centres, 2)
    if std <= 0 or radius <= 0 or not 0 < min_share <= 1:
        raise ValueError(f"need std > 0, radius > 0 and 0 < min_share <= 1, got {std}, {radius}, {min_share}")
    dist, nearest = torch.cdist(samples.float(), centres.float()).min(dim=1)
    good = dist < radius * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = int((counts >= min_share * len(samples) / len(centres)).sum())
    return {"modes_covered": covered, "high_quality_share": good.float().mean().item(), "counts": counts}
