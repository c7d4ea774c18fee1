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
