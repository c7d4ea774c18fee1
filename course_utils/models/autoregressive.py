"""What PixelRNN and PixelCNN share: the per-image likelihood, the naive sampling loop, training.

Both models read a binary image x (N, 1, H, W) and return one logit per pixel (N, 1, H, W): the
logit at (i, j) is log p / (1 - p) for p = p(x_ij = 1 | the pixels before (i, j) in raster order).
The chain rule turns these conditionals into the likelihood of the whole image::

    log p(x) = sum over pixels of log p(x_ij | x_<ij)        (nats; bits/dim divides by H*W*ln 2)

    nll = bernoulli_nll(model(x), x)                # (N,) nats per image
    u = draw_uniforms(16, seed=0)                   # (16, 1, 28, 28): the random numbers of a sample
    x = sample_naive(model, u)                      # 784 network passes, one per pixel
    history = train_autoregressive(model, train_images, epochs=10, lr=3e-3)
    test_nll = evaluate_nll(model, binarize_fixed(test_images)).mean()

Sampling draws pixel (i, j) as ``1 if u_ij < p_ij else 0`` from uniforms given in advance, so the
same uniforms give the same image: that is how a faster sampler is proved to sample the same thing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from ..data import binarize_dynamic, make_loader
from ..train import History, run_steps


def check_images(x: torch.Tensor, name: str = "images", binary: bool = True) -> None:
    """Raise ``ValueError`` unless ``x`` is a float (N, 1, H, W) tensor with values in {0, 1} (or [0, 1])."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() != 4 or x.shape[1] != 1:
        got = f"{tuple(x.shape)} {x.dtype}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a float tensor (N, 1, H, W), got {got}")
    if binary and x.numel() and not torch.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must be binary (values 0. and 1.): binarize grey images first "
                         "(binarize_dynamic or binarize_fixed)")
    if not binary and x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each image in nats: the sum over its pixels of -log p(x_ij | x_<ij).

    logits: float (N, 1, H, W), any real values; x: binary float (N, 1, H, W). Returns float (N,) >= 0.
    """
    check_images(x, "x")
    if not torch.is_tensor(logits) or logits.shape != x.shape:
        got = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"logits must have the images' shape {tuple(x.shape)}, got {got}")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def nll_loss(model: nn.Module, batch) -> dict[str, torch.Tensor]:
    """Loss for :func:`course_utils.train.fit`: grey images -> fresh binarization -> mean NLL per image.

    batch: grey images (B, 1, H, W) in [0, 1], or a one-element list holding them.
    Returns {'loss': mean NLL in nats per image, 'bpd': the same in bits per dimension}.
    """
    grey = batch[0] if isinstance(batch, (list, tuple)) else batch
    check_images(grey, "batch", binary=False)
    x = binarize_dynamic(grey)
    nll = bernoulli_nll(model(x), x).mean()
    return {"loss": nll, "bpd": nll.detach() / (x[0].numel() * math.log(2))}


@torch.no_grad()
def evaluate_nll(model: nn.Module, x: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """Per-image NLL in nats of binary images x (N, 1, H, W), model in eval mode; returns float (N,) on the CPU."""
    check_images(x, "x")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        out = [bernoulli_nll(model(x[i:i + batch_size].to(device)), x[i:i + batch_size].to(device)).cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def draw_uniforms(n: int, height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """The random numbers of ``n`` samples: float32 (n, 1, height, width) uniform in [0, 1), seeded."""
    if not isinstance(n, int) or n < 1 or height < 1 or width < 1:
        raise ValueError(f"need n, height, width >= 1, got {n}, {height}, {width}")
    return torch.rand(n, 1, height, width, generator=torch.Generator().manual_seed(seed))


def _check_sampling_inputs(uniforms: torch.Tensor, known: torch.Tensor | None, start: int) -> None:
    check_images(uniforms, "uniforms", binary=False)
    if known is not None:
        check_images(known, "known")
        if known.shape != uniforms.shape:
            raise ValueError(f"known images {tuple(known.shape)} must match the uniforms {tuple(uniforms.shape)}")
    n_pixels = uniforms.shape[2] * uniforms.shape[3]
    if not 0 <= start <= n_pixels or (start > 0 and known is None):
        raise ValueError(f"start must be a pixel index in 0..{n_pixels} (with known images when > 0), got {start}")


def check_eval_mode(model) -> None:
    """Raise ``ValueError`` if ``model`` is a torch module in training mode (dropout would randomise samples)."""
    if isinstance(model, nn.Module) and model.training:
        raise ValueError("the model is in training mode: call model.eval() before sampling, so that dropout "
                         "is off and the same uniforms give the same samples")


@contextmanager
def cpu_threads(threads: int | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with ``threads`` CPU threads for torch (None, or a non-CPU device: leave it as is).

    A sampling loop makes hundreds of small network passes; splitting each over several threads
    gains little and costs much when other programs compete for the cores, so samplers use one.
    """
    if threads is None or torch.device(device).type != "cpu":
        yield
        return
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def sample_naive(model: Callable[[torch.Tensor], torch.Tensor], uniforms: torch.Tensor,
                 known: torch.Tensor | None = None, start: int = 0, threads: int | None = 1) -> torch.Tensor:
    """Sample images pixel by pixel in raster order: one full network pass per pixel.

    uniforms: float (N, 1, H, W) in [0, 1): pixel (i, j) becomes 1 when u_ij < p(x_ij = 1 | x_<ij).
    known, start: to complete images, keep the first ``start`` pixels (raster order) of the binary
    images ``known`` (N, 1, H, W) and sample the rest. Returns binary float (N, 1, H, W).
    The model (in eval mode, on the uniforms' device) maps (N, 1, H, W) images to logits of that shape.
    threads: CPU threads while sampling (see :func:`cpu_threads`; None keeps torch's setting).
    """
    _check_sampling_inputs(uniforms, known, start)
    check_eval_mode(model)
    _, _, height, width = uniforms.shape
    x = known.clone() if known is not None else torch.zeros_like(uniforms)
    x.view(len(x), -1)[:, start:] = 0.0  # nothing after the start is visible, even by mistake
    with cpu_threads(threads, uniforms.device):
        for index in range(start, height * width):
            i, j = divmod(index, width)
            p = torch.sigmoid(model(x)[:, :, i, j])  # (N, 1): the conditional of pixel (i, j)
            x[:, :, i, j] = (uniforms[:, :, i, j] < p).float()
    return x


def receptive_field(model: Callable[[torch.Tensor], torch.Tensor], row: int, col: int,
                    height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """Which input pixels the output at (row, col) depends on, found with gradients.

    Feeds a random input (1, 1, height, width) and back-propagates the logit at (row, col) only.
    Returns float (height, width): |d logit(row, col) / d x|, zero where there is no dependence.
    """
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"pixel ({row}, {col}) is outside a {height}x{width} image")
    x = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(seed))
    param = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    x = x.to(param.device) if param is not None else x
    x.requires_grad_(True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0].abs().detach().cpu()


def depends_on(model: Callable[[torch.Tensor], torch.Tensor], row: int, col: int,
               height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """The input pixels that the output at (row, col) depends on: bool (height, width).

    True where the gradient of ``model(x)[0, 0, row, col]`` with respect to a random input
    (1, 1, height, width) is not zero; :func:`receptive_field` gives the gradients' sizes.
    """
    return receptive_field(model, row, col, height, width, seed) != 0


def receptive_fields(model: Callable[[torch.Tensor], torch.Tensor], pixels: list[tuple[int, int]],
                     height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """:func:`receptive_field` for many output pixels in one forward and one backward pass.

    A batch of K copies of one random image goes through the model; copy k back-propagates only
    from its pixel ``pixels[k]``, and since the images of a batch do not interact, the gradient of
    copy k is the receptive field of that pixel. Returns float (K, height, width) of |gradients|.
    """
    if not pixels or any(not (0 <= r < height and 0 <= c < width) for r, c in pixels):
        raise ValueError(f"pixels must be a non-empty list of (row, col) inside a {height}x{width} image")
    x = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(seed))
    param = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    x = x.to(param.device) if param is not None else x
    x = x.repeat(len(pixels), 1, 1, 1).requires_grad_(True)
    rows = torch.tensor([r for r, _ in pixels], device=x.device)
    cols = torch.tensor([c for _, c in pixels], device=x.device)
    model(x)[torch.arange(len(pixels), device=x.device), 0, rows, cols].sum().backward()
    return x.grad[:, 0].abs().detach().cpu()


def draw_receptive_field(grad: torch.Tensor, row: int, col: int, ax: plt.Axes | None = None,
                         title: str | None = None) -> plt.Axes:
    """Draw a (H, W) map from :func:`receptive_field` (any map whose non-zero entries are "used").

    Dark grey: input pixels the output at (row, col) depends on. Light orange: pixels before
    (row, col) in raster order that it could use but does not. White: later pixels. Red frame: the
    pixel (row, col) itself, filled red when it is not used and dark grey when it is (a leak,
    unless the map is of a single type-B layer).
    """
    if not torch.is_tensor(grad) or grad.dim() != 2:
        raise ValueError(f"expected a (H, W) gradient map, got {getattr(grad, 'shape', type(grad).__name__)}")
    height, width = grad.shape
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"pixel ({row}, {col}) is outside the {height}x{width} map")
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    before = (torch.arange(height * width) < row * width + col).reshape(height, width)
    picture = torch.ones(height, width, 3)  # white
    picture[before] = torch.tensor([1.0, 0.85, 0.6])  # allowed but not used: light orange
    used = grad.detach().cpu() != 0
    picture[used] = torch.tensor([0.35, 0.35, 0.35])  # used: dark grey
    if not used[row, col]:
        picture[row, col] = torch.tensor([0.85, 0.1, 0.1])  # the pixel being predicted: red
    ax.imshow(picture.numpy(), interpolation="nearest")
    ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=(0.85, 0.1, 0.1), lw=1.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def train_autoregressive(model: nn.Module, images: torch.Tensor, epochs: int, lr: float = 3e-3,
                         batch_size: int = 64, weight_decay: float = 0.0, device: torch.device | str = "cpu",
                         seed: int = 0, progress: bool = True,
                         on_epoch_end: Callable[[int, History], dict | None] | None = None) -> History:
    """Train a pixel model by maximum likelihood with the course loop (:func:`run_steps`).

    images: grey float (N, 1, H, W) in [0, 1], binarized afresh at every step. AdamW with ``lr``
    warmed up over the first 2% of steps, then cosine-decayed to zero; gradients clipped at norm 1.
    Records 'loss' (NLL, nats per image) and 'bpd' per step. Returns the History.
    """
    check_images(images, "images", binary=False)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    model.to(device)
    loader = make_loader(images, batch_size=batch_size, seed=seed)
    total = epochs * len(loader)
    warmup = max(1, total // 50)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0)))))

    def step(batch):
        model.train()
        out = nll_loss(model, batch[0].to(device))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        return out

    return run_steps(step, loader, epochs, progress=progress, on_epoch_end=on_epoch_end)


def seconds_per_epoch(model: nn.Module, images: torch.Tensor, steps: int = 10, batch_size: int = 64,
                      device: torch.device | str = "cpu") -> float:
    """Time ``steps`` training steps (after one warm-up step) and scale to one epoch over ``images``.

    images: grey float (N, 1, H, W) in [0, 1]; batches of ``batch_size`` drawn with a fixed seed.
    The steps really train (Adam, small learning rate), so pass a fresh model, not a trained one.
    Returns seconds per epoch (float).
    """
    check_images(images, "images", binary=False)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    batches = [images[torch.randint(len(images), (batch_size,), generator=gen)] for _ in range(steps + 1)]
    for index, batch in enumerate(batches):
        if index == 1:
            if torch.cuda.is_available() and torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            begin = time.perf_counter()
        loss = nll_loss(model, batch.to(device))["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if torch.cuda.is_available() and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - begin) / steps
    return per_step * math.ceil(len(images) / batch_size)
