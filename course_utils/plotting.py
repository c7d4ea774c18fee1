"""Figures every notebook uses: image grids and training curves (matplotlib, drawn by our code)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from .train import History


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> torch.Tensor:
    """Tile images into one picture.

    images: (N, 1, H, W) or (N, H, W), values in [0, 1] (clipped). Returns float (rows*(H+pad)-pad,
    cols*(W+pad)-pad) with padding pixels set to 0.15 (a light grey gap under ``show_images``).
    """
    if not torch.is_tensor(images) or images.dim() not in (3, 4) or (images.dim() == 4 and images.shape[1] != 1):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"expected grey images of shape (N, 1, H, W) or (N, H, W), got {shape}")
    imgs = images.detach().float().cpu().reshape(-1, images.shape[-2], images.shape[-1]).clamp(0, 1)
    n, h, w = imgs.shape
    if n == 0:
        raise ValueError("expected at least one image, got 0")
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.full((rows * (h + pad) - pad, cols * (w + pad) - pad), 0.15)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = imgs[i]
    return grid


def show_images(images: torch.Tensor, nrow: int | None = None, title: str | None = None,
                ax: plt.Axes | None = None, size: float = 4.0) -> plt.Axes:
    """Show a grid of images (N, 1, H, W) in [0, 1] on ``ax`` (a new figure if None); returns the axes."""
    grid = image_grid(images, nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_rows(rows: Sequence[torch.Tensor], labels: Sequence[str], size: float = 1.0) -> plt.Figure:
    """Show several image rows under one another (e.g. inputs above reconstructions).

    rows: tensors (N, 1, H, W) in [0, 1], same N; labels: one name per row, shown on the left.
    """
    if len(rows) != len(labels) or not rows:
        raise ValueError(f"expected one label per row, got {len(rows)} rows and {len(labels)} labels")
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * n, size * len(rows) * 1.1), squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels, strict=True):
        if len(row) != n:
            raise ValueError(f"every row needs {n} images, row {label!r} has {len(row)}")
        show_images(row, nrow=n, ax=ax)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_history(history: History, keys: Sequence[str] | None = None, per: str = "epoch",
                 ax: plt.Axes | None = None, logy: bool = False) -> plt.Axes:
    """Plot numbers from a training :class:`History` against epoch (or step); returns the axes."""
    rows = history.epochs if per == "epoch" else history.steps
    if not rows:
        raise ValueError("the history is empty: train for at least one step first")
    keys = list(keys) if keys is not None else [k for k in rows[-1] if k != "epoch"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        values = history.series(key, per)
        ax.plot(range(1, len(values) + 1), values, marker="o" if per == "epoch" and len(values) < 30 else None,
                label=key)
    ax.set_xlabel(per)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
