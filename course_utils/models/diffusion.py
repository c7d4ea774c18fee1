"""Diffusion models and flow matching: noise schedules, the forward process, the training losses,
a small U-Net, and the samplers (DDPM ancestral, DDIM, flow-matching Euler) with classifier-free guidance.

Notebook 08 builds these ideas step by step; this file holds the finished version that the notebook's
later experiments, the comparison notebook (07) and the checks reuse.

    schedule = make_schedule(1000, "cosine")                   # betas, alphas, alpha_bars: float (T,)
    x_t = q_sample(x0, t, noise, schedule)                      # the forward process q(x_t | x_0)
    net = UNet(objective="eps", max_time=1000)                  # eps(x_t, t, label) for digits in [-1, 1]
    loss = diffusion_loss(net, x0, labels, schedule)            # simplified ELBO, labels dropped at random
    images = sample_images(net, 64, steps=20)                   # DDIM, (64, 1, 28, 28) in [0, 1]

Conventions
- Data live in model space: digits in [0, 1] are mapped to [-1, 1] (:func:`to_model_space`) and back
  (:func:`to_images`). A batch is float (N, *data_shape): (N, 1, 28, 28) for digits, (N, 2) for 2-D points.
- Discrete time is 0-based: t = 0, ..., T-1, and ``schedule.alpha_bars[t]`` = alpha_0 * ... * alpha_t is
  the share of signal variance left after step t (the papers' t + 1). Stepping back from t = 0 gives x_0.
- A denoiser is called as ``net(x_t, t, labels)``: x_t float (N, *data_shape), t (N,) (integer steps for
  diffusion, float times in [0, 1] for flow matching), labels int64 (N,) with ``net.null_label`` meaning
  "no label" (classifier-free guidance). It returns a tensor shaped like x_t: the noise eps (objective
  'eps') or the velocity (objective 'flow').
- Flow matching (rectified flow) uses x_t = (1 - t) x_0 + t * eps with t in [0, 1], data at t = 0 and
  noise at t = 1; the network predicts the velocity eps - x_0, and sampling integrates from t = 1 to 0.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..train import History, run_steps

SCHEDULES = ("linear", "cosine")
OBJECTIVES = ("eps", "flow")
NUM_CLASSES = 10

# What notebook 08 trains in each profile (and notebook 07 reuses through course_utils.zoo.diffusion_model):
# one class-conditional U-Net per objective, trained with label dropout so that it also serves
# unconditional sampling (guidance scale 0). Budgets are optimizer steps on a fixed number of digits.
# Lecture calibration (benchmarks/diffusion_budget.py, eps objective, 2-core CPU, 4,000 offline digits; FID of
# ancestral sampling in 50 steps, 500 samples, the VAE's is about 84): batch 64 x 700 steps with the cosine
# schedule and an EMA of the weights 176; without the EMA 166; linear schedule instead 134. At equal compute,
# more and smaller batches (linear, no EMA): batch 32 x 1,400 steps 119, 16 x 2,800 92, 8 x 5,600 73.
CONFIGS = {
    "smoke": {"model": {"channels": (8, 16, 16), "emb_dim": 32}, "T": 1000, "schedule": "linear",
              "train_images": 256, "steps": 30, "batch_size": 8, "lr": 2e-3, "p_uncond": 0.1, "ema_decay": None},
    "lecture": {"model": {"channels": (16, 32, 64), "emb_dim": 128}, "T": 1000, "schedule": "linear",
                "train_images": 4000, "steps": 5600, "batch_size": 8, "lr": 2e-3, "p_uncond": 0.1,
                "ema_decay": None},
    "full": {"model": {"channels": (64, 128, 256), "emb_dim": 256}, "T": 1000, "schedule": "linear",
             "train_images": None, "steps": 40000, "batch_size": 128, "lr": 5e-4, "p_uncond": 0.1,
             "ema_decay": 0.9995},
}


# --- input checks -------------------------------------------------------------------------------

def _check_float(x, name: str) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        kind = f"a tensor of dtype {x.dtype}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a float tensor, got {kind}")
    if x.dim() < 2:
        raise ValueError(f"{name} must be a batch (N, ...) with at least 2 dimensions, got shape {tuple(x.shape)}")


def _check_like(a, b, name_a: str, name_b: str) -> None:
    _check_float(a, name_a)
    _check_float(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _check_step(t, T: int, name: str = "t", allow_minus_one: bool = False) -> int:
    low = -1 if allow_minus_one else 0
    if isinstance(t, torch.Tensor) and t.numel() == 1:
        t = int(t)
    if not isinstance(t, int) or isinstance(t, bool) or not low <= t < T:
        raise ValueError(f"{name} must be an int step in [{low}, {T - 1}], got {t!r}")
    return t


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """values (N,) reshaped to (N, 1, ..., 1) so that they broadcast over a batch x (N, ...)."""
    return values.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


# --- noise schedules ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """A discrete noise schedule of T steps: ``betas``, ``alphas`` = 1 - betas and ``alpha_bars``, the
    running products of the alphas, each float32 (T,). ``alpha_bars[t]`` is the signal variance kept
    after step t (t = 0, ..., T-1); the noise variance is 1 - alpha_bars[t]."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    kind: str = "custom"

    @property
    def T(self) -> int:
        return len(self.betas)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) per step, float (T,)."""
        return self.alpha_bars / (1 - self.alpha_bars)


def schedule_from_betas(betas: torch.Tensor, kind: str = "custom") -> Schedule:
    """The schedule with these betas, float (T,) in (0, 1)."""
    if not torch.is_tensor(betas) or betas.dim() != 1 or len(betas) < 1:
        raise ValueError("betas must be a 1-D tensor (T,) with T >= 1")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError(f"betas must lie in (0, 1), got values in [{betas.min():.3g}, {betas.max():.3g}]")
    betas64 = betas.double()
    alphas = 1 - betas64
    return Schedule(betas64.float(), alphas.float(), torch.cumprod(alphas, 0).float(), kind)


def make_schedule(T: int = 1000, kind: str = "cosine") -> Schedule:
    """A schedule of ``T`` steps: 'linear' (betas from 1e-4 to 0.02, rescaled for T != 1000, as in DDPM)
    or 'cosine' (alpha_bar follows a squared cosine, Nichol & Dhariwal 2021; betas capped at 0.999)."""
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2, got {T!r}")
    if kind not in SCHEDULES:
        raise ValueError(f"kind must be one of {SCHEDULES}, got {kind!r}")
    if kind == "linear":
        scale = 1000 / T
        return schedule_from_betas(torch.linspace(1e-4 * scale, min(0.02 * scale, 0.999), T, dtype=torch.float64),
                                   kind)
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bars = f / f[0]
    betas = (1 - alpha_bars[1:] / alpha_bars[:-1]).clamp(1e-8, 0.999)
    return schedule_from_betas(betas, kind)


# --- the forward process and the training loss ----------------------------------------------------

def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """A draw from q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

    x0, noise: float (N, ...), noise ~ N(0, I); t: int64 (N,) in [0, T-1], one step per sample.
    Returns x_t, float (N, ...): sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise.
    """
    _check_like(x0, noise, "x0", "noise")
    if not torch.is_tensor(t) or t.dtype != torch.int64 or t.shape != (len(x0),):
        raise ValueError(f"t must be int64 of shape ({len(x0)},), got "
                         + (f"{t.dtype} {tuple(t.shape)}" if torch.is_tensor(t) else type(t).__name__))
    if len(t) and (t.min() < 0 or t.max() >= schedule.T):
        raise ValueError(f"t must lie in [0, {schedule.T - 1}], got values in [{t.min()}, {t.max()}]")
    a_bar = _per_sample(schedule.alpha_bars.to(x0.device)[t], x0)
    return a_bar.sqrt() * x0 + (1 - a_bar).sqrt() * noise


def drop_labels(labels: torch.Tensor, p_uncond: float, null_label: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """labels int64 (N,) with each one replaced by ``null_label`` with probability ``p_uncond``."""
    if not 0 <= p_uncond <= 1:
        raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
    drop = torch.rand(len(labels), generator=generator, device=labels.device) < p_uncond
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def diffusion_loss(net: nn.Module, x0: torch.Tensor, labels: torch.Tensor, schedule: Schedule,
                   p_uncond: float = 0.1, null_label: int = NUM_CLASSES) -> torch.Tensor:
    """The simplified ELBO of DDPM: E ||eps - eps_net(x_t, t, label)||^2, as a 0-d mean over all entries.

    x0: float (N, ...) in model space; labels: int64 (N,). For each sample: a step t uniform in
    [0, T-1], noise eps ~ N(0, I), x_t from :func:`q_sample`, and the label replaced by ``null_label``
    with probability ``p_uncond`` (so the same network learns the unconditional prediction too).
    """
    _check_float(x0, "x0")
    t = torch.randint(0, schedule.T, (len(x0),), device=x0.device)
    noise = torch.randn_like(x0)
    x_t = q_sample(x0, t, noise, schedule)
    return F.mse_loss(net(x_t, t, drop_labels(labels, p_uncond, null_label)), noise)


def flow_loss(net: nn.Module, x0: torch.Tensor, labels: torch.Tensor, p_uncond: float = 0.1,
              null_label: int = NUM_CLASSES) -> torch.Tensor:
    """Flow matching (rectified flow): E ||(eps - x_0) - v_net(x_t, t, label)||^2 with x_t = (1 - t) x_0 + t eps.

    x0: float (N, ...) in model space; labels int64 (N,). t is uniform in [0, 1] per sample; labels are
    dropped as in :func:`diffusion_loss`. Returns a 0-d tensor.
    """
    _check_float(x0, "x0")
    t = torch.rand(len(x0), device=x0.device)
    noise = torch.randn_like(x0)
    tt = _per_sample(t, x0)
    x_t = (1 - tt) * x0 + tt * noise
    return F.mse_loss(net(x_t, t, drop_labels(labels, p_uncond, null_label)), noise - x0)


# --- one reverse step ---------------------------------------------------------------------------

def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, schedule: Schedule,
              noise: torch.Tensor) -> torch.Tensor:
    """One ancestral step of DDPM, x_t -> x_{t-1} ~ N(mu, beta_tilde_t I), the true posterior's form.

    x_t, eps (the predicted noise), noise ~ N(0, I): float (N, ...); t: int in [0, T-1], the same for
    the whole batch. mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) and the posterior
    variance beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t). At t = 0 no noise is added:
    the result is the final sample. Returns float (N, ...).
    """
    _check_like(x_t, eps, "x_t", "eps")
    _check_like(x_t, noise, "x_t", "noise")
    t = _check_step(t, schedule.T)
    beta, alpha, a_bar = (float(v[t]) for v in (schedule.betas, schedule.alphas, schedule.alpha_bars))
    mean = (x_t - beta / math.sqrt(1 - a_bar) * eps) / math.sqrt(alpha)
    if t == 0:
        return mean
    variance = beta * (1 - float(schedule.alpha_bars[t - 1])) / (1 - a_bar)
    return mean + math.sqrt(variance) * noise


def _alpha_bar(schedule: Schedule, t: int) -> float:
    """alpha_bar at step t, with alpha_bar = 1 at t = -1 (the clean data)."""
    return 1.0 if t < 0 else float(schedule.alpha_bars[t])


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, a_bar: float) -> torch.Tensor:
    """The clean sample implied by a noise prediction: (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)."""
    return (x_t - math.sqrt(1 - a_bar) * eps) / math.sqrt(a_bar)


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, schedule: Schedule,
              eta: float = 0.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM step from step t to an earlier step t_prev (t_prev = -1: to the clean data).

    x_t, eps: float (N, ...); t in [0, T-1], t_prev in [-1, t-1]. With x0_hat = predict_x0(x_t, eps)
    the step returns sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma^2) eps + sigma noise,
    where sigma^2 = eta^2 (1 - alpha_bar_prev)/(1 - alpha_bar_t) (1 - alpha_bar_t/alpha_bar_prev).
    eta = 0 (default) is deterministic; eta = 1 with t_prev = t - 1 is the DDPM ancestral step, and with
    a larger stride it is ancestral sampling on a shorter schedule. Returns float (N, ...).
    """
    _check_like(x_t, eps, "x_t", "eps")
    t = _check_step(t, schedule.T)
    t_prev = _check_step(t_prev, schedule.T, "t_prev", allow_minus_one=True)
    if t_prev >= t:
        raise ValueError(f"t_prev must be earlier than t, got t={t}, t_prev={t_prev}")
    a_bar, a_prev = _alpha_bar(schedule, t), _alpha_bar(schedule, t_prev)
    x0 = predict_x0(x_t, eps, a_bar)
    variance = eta ** 2 * (1 - a_prev) / (1 - a_bar) * (1 - a_bar / a_prev)
    out = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - variance, 0.0)) * eps
    if variance > 0:
        if noise is None:
            raise ValueError("eta > 0 needs noise, float like x_t")
        _check_like(x_t, noise, "x_t", "noise")
        out = out + math.sqrt(variance) * noise
    return out


def cfg_combine(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + scale * (eps_cond - eps_uncond).

    eps_cond, eps_uncond: float (N, ...), the network's predictions with and without the label. Scale 0
    gives the unconditional prediction, 1 the conditional one, above 1 it pushes beyond it. Same for
    velocities. Returns float (N, ...).
    """
    _check_like(eps_cond, eps_uncond, "eps_cond", "eps_uncond")
    return eps_uncond + scale * (eps_cond - eps_uncond)


# --- networks -----------------------------------------------------------------------------------

def time_embedding(t: torch.Tensor, dim: int, max_time: float) -> torch.Tensor:
    """Sinusoidal features of times t (N,) (steps in [0, max_time)): float (N, dim), as in transformers."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    scaled = t.float() * (1000.0 / max_time)  # every net sees times on the same 0..1000 scale
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, device=t.device) / (dim // 2))
    angles = scaled[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class _Denoiser(nn.Module):
    """What the course's denoisers share: time and label embedding, ``null_label``, ``objective``, ``schedule``."""

    def __init__(self, objective: str, max_time: float, emb_dim: int, num_classes: int, T: int, schedule: str):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective, self.emb_dim = objective, emb_dim
        self.num_classes, self.null_label = num_classes, num_classes
        self.max_time = float(max_time) if objective == "eps" else 1.0
        self.schedule_kind, self.T = schedule, T
        self.schedule = make_schedule(T, schedule) if objective == "eps" else None
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim)  # the last row: "no label"

    def embed(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        n = len(x)
        if not torch.is_tensor(t) or t.shape != (n,):
            raise ValueError(f"t must be a tensor of shape ({n},), got "
                             + (f"{tuple(t.shape)}" if torch.is_tensor(t) else type(t).__name__))
        if labels is None:
            labels = torch.full((n,), self.null_label, dtype=torch.long, device=x.device)
        if labels.shape != (n,) or labels.dtype != torch.int64:
            raise ValueError(f"labels must be int64 of shape ({n},), got {labels.dtype} {tuple(labels.shape)}")
        if n and (labels.min() < 0 or labels.max() > self.null_label):
            raise ValueError(f"labels must lie in [0, {self.null_label}] ({self.null_label}: no label)")
        return self.time_mlp(time_embedding(t, self.emb_dim, self.max_time)) + self.label_emb(labels)


class MLPDenoiser(_Denoiser):
    """For 2-D points: x_t float (N, 2), t (N,), labels int64 (N,) -> float (N, 2) (noise or velocity)."""

    def __init__(self, objective: str = "eps", T: int = 1000, schedule: str = "cosine", num_classes: int = 8,
                 hidden: int = 128, layers: int = 3, dim: int = 2):
        super().__init__(objective, T, hidden, num_classes, T, schedule)
        self.data_shape = (dim,)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_float(x, "x_t")
        emb = self.embed(x, t, labels)                      # (N, hidden), added before every layer
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(F.silu(h + emb))
        return self.out(F.silu(h))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU, the embedding added in between, and a skip path."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(emb))[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(_Denoiser):
    """A small U-Net for 28x28 digits: x_t float (N, 1, 28, 28), t (N,), labels int64 (N,) -> (N, 1, 28, 28).

    Resolutions 28 -> 14 -> 7 and back with ``channels`` = (c28, c14, c7) feature maps, one residual
    block per resolution on each side plus one in the middle, skip connections between the two sides, and
    the time and label embedding added in every block. Few channels at full resolution keep it fast on a
    CPU; most parameters sit at 7x7. objective 'eps' predicts the noise (times are steps in [0, T)),
    'flow' the velocity (times in [0, 1]).
    """

    def __init__(self, objective: str = "eps", channels: tuple[int, int, int] = (16, 32, 64), emb_dim: int = 128,
                 num_classes: int = NUM_CLASSES, T: int = 1000, schedule: str = "cosine"):
        super().__init__(objective, T, emb_dim, num_classes, T, schedule)
        channels = tuple(channels)
        if len(channels) != 3 or any(c < 8 or c % 8 for c in channels):
            raise ValueError(f"channels must be three positive multiples of 8, got {channels}")
        c1, c2, c3 = channels
        self.data_shape = (1, 28, 28)
        self.inp = nn.Conv2d(1, c1, 3, padding=1)
        self.down1, self.pool1 = ResBlock(c1, c1, emb_dim), nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2, self.pool2 = ResBlock(c1, c2, emb_dim), nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid1, self.mid2 = ResBlock(c2, c3, emb_dim), ResBlock(c3, c3, emb_dim)
        self.up2 = ResBlock(c3 + c2, c2, emb_dim)
        self.up1 = ResBlock(c2 + c1, c1, emb_dim)
        self.out = nn.Sequential(nn.GroupNorm(8, c1), nn.SiLU(), nn.Conv2d(c1, 1, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_float(x, "x_t")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"x_t must have shape (N, 1, 28, 28), got {tuple(x.shape)}")
        emb = self.embed(x, t, labels)
        h28 = self.down1(self.inp(x), emb)                                   # (N, c28, 28, 28)
        h14 = self.down2(self.pool1(h28), emb)                               # (N, c14, 14, 14)
        h7 = self.mid2(self.mid1(self.pool2(h14), emb), emb)                 # (N, c7, 7, 7)
        u14 = self.up2(torch.cat([F.interpolate(h7, scale_factor=2.0), h14], 1), emb)
        u28 = self.up1(torch.cat([F.interpolate(u14, scale_factor=2.0), h28], 1), emb)
        return self.out(u28)


def build_unet(profile: str, objective: str = "eps") -> UNet:
    """A fresh U-Net with the sizes notebook 08 uses in ``profile`` (see :data:`CONFIGS`)."""
    if profile not in CONFIGS:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(CONFIGS)}")
    config = CONFIGS[profile]
    return UNet(objective, T=config["T"], schedule=config["schedule"], **config["model"])


# --- samplers -----------------------------------------------------------------------------------

def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """Digits float (N, 1, 28, 28) in [0, 1] -> the same in [-1, 1]."""
    return images * 2 - 1


def to_images(x: torch.Tensor) -> torch.Tensor:
    """Model-space samples -> images in [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def guided_prediction(net: nn.Module, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None,
                      scale: float, combine=cfg_combine) -> torch.Tensor:
    """The network's output at (x, t), guided towards ``labels`` with classifier-free guidance.

    labels None or scale 0: one unconditional pass. Otherwise the conditional and unconditional
    predictions come from one network call on a doubled batch and are combined by ``combine``.
    x float (N, ...), t (N,), labels int64 (N,). Returns float (N, ...).
    """
    if labels is None or scale == 0:
        return net(x, t, None)
    if scale == 1:
        return net(x, t, labels)
    nulls = torch.full_like(labels, net.null_label)
    both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, nulls]))
    cond, uncond = both.chunk(2)
    return combine(cond, uncond, scale)


def _start(net: nn.Module, n: int, labels, generator) -> tuple[torch.Tensor, torch.Tensor | None, torch.device]:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    device = next(net.parameters()).device
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        labels = labels.to(device)
    x = torch.randn(n, *net.data_shape, generator=generator).to(device)
    return x, labels, device


def _time_steps(T: int, steps: int) -> list[int]:
    """``steps`` decreasing steps from T-1 down to 0, evenly spaced (the DDIM paper's 'linear' spacing)."""
    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an int in [1, {T}], got {steps!r}")
    if steps == 1:
        return [T - 1]
    return sorted({round(i * (T - 1) / (steps - 1)) for i in range(steps)}, reverse=True)


def _clipped_eps(x: torch.Tensor, eps: torch.Tensor, a_bar: float) -> torch.Tensor:
    """The noise that makes predict_x0 land inside [-1, 1]: clip x0_hat, then solve for eps again."""
    x0 = predict_x0(x, eps, a_bar).clamp(-1, 1)
    return (x - math.sqrt(a_bar) * x0) / math.sqrt(1 - a_bar)


@torch.no_grad()
def ddpm_sample(net: nn.Module, n: int, steps: int | None = None, labels=None, scale: float = 0.0,
                generator: torch.Generator | None = None, step_fn=ddpm_step, clip: bool = True,
                trajectory: bool = False, combine=cfg_combine):
    """Ancestral (DDPM) sampling of ``n`` samples from an 'eps' network, in model space: float (n, *data_shape).

    steps None: all T steps, each with ``step_fn`` (signature of :func:`ddpm_step`). steps < T: ancestral
    sampling on the shorter schedule of ``steps`` evenly spaced steps (:func:`ddim_step` with eta = 1).
    labels int64 (n,) and scale: classifier-free guidance (:func:`guided_prediction`). clip: keep the
    implied x0 inside [-1, 1]. trajectory: also return the list of intermediate x (on the CPU).
    combine: the guidance rule (signature of :func:`cfg_combine`).
    """
    schedule = net.schedule
    x, labels, device = _start(net, n, labels, generator)
    path = [x.cpu()]
    order = list(range(schedule.T - 1, -1, -1)) if steps is None else _time_steps(schedule.T, steps)
    for i, t in enumerate(order):
        t_prev = order[i + 1] if i + 1 < len(order) else -1
        eps = guided_prediction(net, x, torch.full((n,), t, device=device), labels, scale, combine)
        if clip:
            eps = _clipped_eps(x, eps, _alpha_bar(schedule, t))
        noise = torch.randn(x.shape, generator=generator).to(device)
        if steps is None:
            x = step_fn(x, eps, t, schedule, noise)
        else:
            x = ddim_step(x, eps, t, t_prev, schedule, eta=1.0, noise=noise)
        if trajectory:
            path.append(x.cpu())
    return (x, path) if trajectory else x


@torch.no_grad()
def ddim_sample(net: nn.Module, n: int, steps: int = 20, labels=None, scale: float = 0.0,
                generator: torch.Generator | None = None, step_fn=None, clip: bool = True,
                trajectory: bool = False, combine=cfg_combine):
    """Deterministic DDIM sampling in ``steps`` network passes (2 per step when guided), model space.

    step_fn: a function with the signature ``(x_t, eps, t, t_prev, schedule)`` (default: :func:`ddim_step`
    with eta 0). Other arguments as in :func:`ddpm_sample`. Returns float (n, *data_shape).
    """
    schedule = net.schedule
    step_fn = step_fn or ddim_step
    x, labels, device = _start(net, n, labels, generator)
    path = [x.cpu()]
    order = _time_steps(schedule.T, steps)
    for i, t in enumerate(order):
        t_prev = order[i + 1] if i + 1 < len(order) else -1
        eps = guided_prediction(net, x, torch.full((n,), t, device=device), labels, scale, combine)
        if clip:
            eps = _clipped_eps(x, eps, _alpha_bar(schedule, t))
        x = step_fn(x, eps, t, t_prev, schedule)
        if trajectory:
            path.append(x.cpu())
    return (x, path) if trajectory else x


@torch.no_grad()
def flow_sample(net: nn.Module, n: int, steps: int = 20, labels=None, scale: float = 0.0,
                generator: torch.Generator | None = None, trajectory: bool = False, combine=cfg_combine):
    """Euler integration of dx/dt = v(x, t) from noise at t = 1 to data at t = 0 in ``steps`` equal steps.

    net: a 'flow' network. Other arguments as in :func:`ddpm_sample`. Returns float (n, *data_shape).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    x, labels, device = _start(net, n, labels, generator)
    path = [x.cpu()]
    times = torch.linspace(1, 0, steps + 1)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        v = guided_prediction(net, x, torch.full((n,), float(t), device=device), labels, scale, combine)
        x = x + (t_next - t).item() * v
        if trajectory:
            path.append(x.cpu())
    return (x, path) if trajectory else x


def network_passes(sampler: str, steps: int | None, T: int = 1000, guided: bool = False) -> int:
    """Sequential network calls one sample needs: 'ddpm' (steps None: T), 'ddim' or 'flow'. Guidance
    batches its two predictions into one call, so the sequential count stays the same (the work doubles)."""
    if sampler not in ("ddpm", "ddim", "flow"):
        raise ValueError(f"sampler must be 'ddpm', 'ddim' or 'flow', got {sampler!r}")
    return T if steps is None else steps


def sample_images(net: nn.Module, n: int, steps: int | None = 20, sampler: str | None = None, labels=None,
                  scale: float = 0.0, generator: torch.Generator | None = None, batch_size: int = 500,
                  **options) -> torch.Tensor:
    """``n`` digits float (n, 1, 28, 28) in [0, 1], on the CPU, sampled in batches of ``batch_size``.

    sampler: 'ddim' (default for 'eps' networks), 'ddpm' (ancestral; steps None = all T) or 'flow'
    (Euler; the only one for 'flow' networks). labels (n,) and scale: classifier-free guidance.
    options: passed to the sampler (``step_fn``, ``combine``, ``clip``).
    """
    sampler = sampler or ("ddim" if net.objective == "eps" else "flow")
    if (sampler == "flow") != (net.objective == "flow"):
        raise ValueError(f"sampler {sampler!r} does not fit a network trained with objective {net.objective!r}")
    run = {"ddpm": ddpm_sample, "ddim": ddim_sample, "flow": flow_sample}[sampler]
    labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    was_training = net.training
    net.eval()
    try:
        chunks = []
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            part = None if labels is None else labels[i:i + m]
            chunks.append(to_images(run(net, m, steps=steps, labels=part, scale=scale, generator=generator,
                                          **options)).cpu())
        return torch.cat(chunks)
    finally:
        net.train(was_training)


# --- training -----------------------------------------------------------------------------------

def train_diffusion(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, lr: float = 2e-3,
                    batch_size: int = 64, p_uncond: float = 0.1, ema_decay: float | None = None,
                    device: torch.device | str = "cpu", seed: int = 0, progress: bool = True) -> History:
    """Train ``net`` for ``steps`` Adam updates on digits (N, 1, 28, 28) in [0, 1] with labels (N,).

    The loss is :func:`diffusion_loss` (objective 'eps') or :func:`flow_loss` ('flow'), with labels
    dropped with probability ``p_uncond``. The learning rate warms up over the first 5% of the steps
    and decays along a cosine to 0. ema_decay: if given, the weights end as an exponential moving
    average of the trained ones (smoother samples). Uses course_utils.train.run_steps.
    """
    from ..data import make_loader

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if ema_decay is not None and not 0 < ema_decay < 1:
        raise ValueError(f"ema_decay must lie in (0, 1) or be None, got {ema_decay!r}")
    torch.manual_seed(seed)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    average = copy.deepcopy(net) if ema_decay is not None else None
    done = [0]

    def step(batch):
        x0, y = to_model_space(batch[0].to(device)), batch[1].to(device)
        net.train()
        if net.objective == "eps":
            loss = diffusion_loss(net, x0, y, net.schedule, p_uncond, net.null_label)
        else:
            loss = flow_loss(net, x0, y, p_uncond, net.null_label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        done[0] += 1
        if average is not None:
            decay = min(ema_decay, (1 + done[0]) / (10 + done[0]))
            with torch.no_grad():
                for avg, param in zip(average.parameters(), net.parameters(), strict=True):
                    avg.lerp_(param, 1.0 - decay)
        return {"loss": loss}

    loader = make_loader(images, labels, batch_size=batch_size, seed=seed)
    epochs = math.ceil(steps / len(loader))
    history = run_steps(step, loader, epochs=epochs, max_steps=steps, progress=progress)
    if average is not None:
        net.load_state_dict(average.state_dict())
    return history


# --- flow matching, written out (the reference of notebook 08's Euler exercise) --------------------

@torch.no_grad()
def euler_sample(net: nn.Module, noise: torch.Tensor, steps: int = 20, labels: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Integrate dx/dt = net(x, t, labels) with Euler's method from ``noise`` at t = 1 down to t = 0.

    noise: float (N, ...), the samples at t = 1; steps: number of equal steps of size 1/steps, one network
    pass each, the first at t = 1 and the last at t = 1/steps; labels: int64 (N,) or None, passed on as given.
    The network gets t as float (N,), every entry the current time. Returns the samples at t = 0, float (N, ...).
    """
    _check_float(noise, "noise")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    x = noise
    times = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    for t, t_next in zip(times[:-1].tolist(), times[1:].tolist(), strict=True):
        v = net(x, torch.full((len(x),), t, dtype=x.dtype, device=x.device), labels)
        x = x + (t_next - t) * v
    return x
