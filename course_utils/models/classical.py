"""The classical unsupervised models of notebook 01: PCA by the SVD, and sampling a Gaussian mixture.

These are the reference versions of notebook 01's exercises. The notebook uses them wherever a
student's own function does not pass its check yet, and notebook 02 compares its autoencoders
with this PCA. Data points are rows throughout::

    mean, components = pca_fit(x, k)               # x (N, D) -> mean (D,), components (k, D)
    z = pca_project(x, mean, components)           # (N, k): coordinates along the components
    x_hat = pca_reconstruct(z, mean, components)   # (N, D): back in the data space
    samples = sample_gmm(weights, means, covariances, n, generator)   # (n, d)
"""

from __future__ import annotations

import torch


def _shape(value) -> str:
    return str(tuple(value.shape)) if torch.is_tensor(value) else type(value).__name__


def _check_float(value, dims: int, name: str) -> None:
    if not torch.is_tensor(value) or not value.is_floating_point() or value.dim() != dims:
        got = f"{_shape(value)} {value.dtype}" if torch.is_tensor(value) else _shape(value)
        raise ValueError(f"{name} must be a float tensor with {dims} dimension(s), got {got}")


def _check_basis(mean, components, width: int, what: str) -> None:
    """mean (D,) and components (k, D), with D == width (the columns of ``what``)."""
    _check_float(mean, 1, "mean")
    _check_float(components, 2, "components")
    if mean.shape[0] != components.shape[1] or components.shape[1] != width:
        raise ValueError(f"expected mean (D,) and components (k, D) matching {what}, got mean "
                         f"{_shape(mean)}, components {_shape(components)} and {what} of width {width}")


# --- PCA ------------------------------------------------------------------------------------------


def pca_fit(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the first ``k`` principal directions of the rows of ``x``.

    x: float (N, D), one data point per row; k: int, 1 <= k <= min(N, D). Returns ``mean`` (D,) and
    ``components`` (k, D): orthonormal rows, the direction of largest variance first. They are the
    first k right singular vectors of the centred data (rows of Vh); ``x`` is left unchanged.
    """
    _check_float(x, 2, "x")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(x.shape):
        raise ValueError(f"k must be an int from 1 to min(N, D) = {min(x.shape)}, got {k!r}")
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)  # singular values in decreasing order
    return mean, vh[:k]


def pca_project(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Coordinates z = W (x - mean) of every row: x float (N, D), mean (D,), components W (k, D) -> (N, k)."""
    _check_float(x, 2, "x")
    _check_basis(mean, components, x.shape[1], "x (N, D)")
    return (x - mean) @ components.T


def pca_reconstruct(z: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Rows rebuilt from their coordinates, W^T z + mean: z float (N, k), components (k, D) -> (N, D)."""
    _check_float(z, 2, "z")
    _check_float(components, 2, "components")
    if z.shape[1] != components.shape[0]:
        raise ValueError(f"z has {z.shape[1]} coordinates per row but there are {components.shape[0]} "
                         f"components: expected z (N, k) and components (k, D), got {_shape(z)} and "
                         f"{_shape(components)}")
    _check_basis(mean, components, components.shape[1], "components")
    return z @ components + mean


# --- Gaussian mixture ----------------------------------------------------------------------------


def sample_gmm(weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor, n: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws from a mixture of M Gaussians in d dimensions, by ancestral sampling.

    weights: float (M,), >= 0, summing to 1; means: float (M, d); covariances: float (M, d, d),
    symmetric positive definite; generator: seeds the draws (the same generator state gives the same
    samples). Each row picks a component m with probability weights[m], then adds L_m eps to its mean,
    with L_m the Cholesky factor of covariances[m] and eps standard normal. Returns (n, d), means' dtype.
    """
    _check_float(weights, 1, "weights")
    _check_float(means, 2, "means")
    _check_float(covariances, 3, "covariances")
    m, d = means.shape
    if weights.shape[0] != m or covariances.shape != (m, d, d):
        raise ValueError(f"expected weights (M,), means (M, d) and covariances (M, d, d), got "
                         f"{_shape(weights)}, {_shape(means)} and {_shape(covariances)}")
    if bool((weights < 0).any()) or abs(float(weights.sum()) - 1) > 1e-3:
        raise ValueError(f"weights must be >= 0 and sum to 1, got {[round(w, 4) for w in weights.tolist()]}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    chol, info = torch.linalg.cholesky_ex(covariances)  # (M, d, d), lower triangular
    if bool((info != 0).any()):
        bad = torch.nonzero(info).flatten().tolist()
        raise ValueError(f"the covariance matrices of components {bad} are not positive definite")
    component = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
    eps = torch.randn(n, d, generator=generator, dtype=means.dtype)                    # (n, d)
    return means[component] + (chol[component] @ eps.unsqueeze(-1)).squeeze(-1)
