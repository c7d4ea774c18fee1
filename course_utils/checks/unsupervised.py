"""Checks for notebook 01 (supervised vs unsupervised): clustering, PCA and a Gaussian mixture.

    check_cluster_purity(cluster_purity)          # share of points in their cluster's majority label
    check_pca_fit(pca_fit)                        # mean and orthonormal principal directions by SVD
    check_pca_project(pca_project, pca_reconstruct)
    check_sample_gmm(sample_gmm)                  # draw points from a Gaussian mixture

Each check builds data whose answer is known (hand-made labels, data with planted principal axes,
a mixture with known moments), so a failure can name the likely mistake.
"""

from __future__ import annotations

import torch

from ..metrics import cluster_purity as _purity_reference
from . import exercise_check, expect, expect_close, expect_shape
from .questions import choice, number

# --- cluster purity -----------------------------------------------------------------------------


def _as_number(out, what: str) -> float:
    if torch.is_tensor(out):
        expect(out.numel() == 1, f"{what} should be one number, got a tensor of shape {tuple(out.shape)}")
        expect(False, f"{what} returned a tensor ({out.dtype}): return a Python float, e.g. with .item() or "
                      "float(...); a tensor prints as tensor(0.75) and integer tensors divide differently")
    expect(not isinstance(out, bool), f"{what} returned a bool: return the share as a float")
    expect(isinstance(out, (int, float)),
           f"{what} should be a number (a Python float), got {type(out).__name__}")
    return float(out)


def _purity_variants(ids: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """What the usual wrong purities give on (ids, labels)."""
    right = _purity_reference(ids, labels)
    clusters = torch.unique(ids)
    tops = [int(torch.bincount(labels[ids == c]).max()) for c in clusters]
    sizes = [int((ids == c).sum()) for c in clusters]
    return {
        "1 - purity": 1 - right,
        "ids == labels": float((ids == labels).double().mean()),
        "mean of shares": sum(t / s for t, s in zip(tops, sizes, strict=True)) / len(tops),
        "roles swapped": _purity_reference(labels, ids),
        "global majority": int(torch.bincount(labels).max()) / len(labels),
        "per cluster count": sum(tops) / len(tops),
        "per label count": sum(tops) / len(torch.unique(labels)),
        "global majority per cluster": int(torch.bincount(labels).max()) * len(clusters) / len(labels),
        "majority label": sum(int(torch.bincount(labels[ids == c]).argmax()) for c in clusters) / len(labels),
    }


_PURITY_HINTS = {
    "1 - purity": "this is 1 - purity, the share of points OUTSIDE their cluster's majority label: return the share "
                  "inside it",
    "ids == labels": "did you compare cluster ids with labels directly? Ids are arbitrary names; take the most "
                     "common label inside each cluster",
    "mean of shares": "this is the plain average of the per-cluster purities: weight each cluster by its size, i.e. "
                      "add up the majority counts and divide by the number of points",
    "roles swapped": "this counts the most common CLUSTER of each label: you swapped the roles; purity takes the "
                     "most common LABEL inside each cluster",
    "global majority": "this is the share of the most common label over ALL points: take the most common label "
                       "inside EACH cluster (the points with that cluster id), then add those counts up",
    "per cluster count": "it is above 1: you divided by the number of clusters instead of the number of points",
    "per label count": "you divided by the number of distinct labels instead of the number of points",
    "global majority per cluster": "you counted the most common label of ALL points once for every cluster: take "
                                   "each cluster's own points, labels[cluster_ids == c], and their most common label",
    "majority label": "you added up the majority LABELS themselves (argmax: which label is most common) instead of "
                      "how many points carry it (max of the counts): use the count, e.g. torch.bincount(...).max()",
}


def _purity_pattern(cluster_purity) -> str | None:
    """Run the student's purity on several cases and name the wrong variant that matches all of them."""
    gen = torch.Generator().manual_seed(3)
    cases = [(torch.tensor([0, 0, 0, 0, 0, 0, 1, 1]), torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])),
             (torch.randint(0, 4, (40,), generator=gen), torch.randint(0, 5, (40,), generator=gen)),
             (torch.tensor([5, 5, 9, 9, 42, 42, 42]), torch.tensor([3, 3, 1, 0, 2, 2, 2]))]
    got = []
    for ids, labels in cases:
        try:
            out = cluster_purity(ids.clone(), labels.clone())
        except Exception:  # noqa: BLE001 - the cases below report the student's error where it matters
            return None
        if torch.is_tensor(out) and out.numel() == 1:
            out = float(out)
        if not isinstance(out, (int, float)):
            return None
        got.append(float(out))
    for name in _PURITY_HINTS:
        want = [_purity_variants(ids, labels)[name] for ids, labels in cases]
        right = [_purity_reference(ids, labels) for ids, labels in cases]
        if all(abs(g - w) < 1e-6 for g, w in zip(got, want, strict=True)) and \
                any(abs(w - r) > 1e-6 for w, r in zip(want, right, strict=True)):
            return _PURITY_HINTS[name]
    return None


@exercise_check
def check_cluster_purity(cluster_purity):
    """``cluster_purity(cluster_ids, labels)``: int64 (N,), int64 (N,) -> float in [0, 1]."""
    t = torch.tensor
    first = cluster_purity(t([2, 2, 0, 0, 1, 1]), t([0, 0, 1, 1, 2, 2]))
    if not (isinstance(first, float) and abs(first - 1.0) < 1e-6):
        pattern = _purity_pattern(cluster_purity)
        expect(pattern is None or torch.is_tensor(first), f"purity {first}: {pattern}")

    # 1. Perfect clusters whose ids are a permutation of the labels: purity 1.
    ids, labels = t([2, 2, 0, 0, 1, 1]), t([0, 0, 1, 1, 2, 2])
    ids_before, labels_before = ids.clone(), labels.clone()
    got = _as_number(cluster_purity(ids, labels), "cluster_purity(...)")
    expect(torch.equal(ids, ids_before) and torch.equal(labels, labels_before),
           "your function changed its inputs: compute on copies (or without in-place operations)")
    expect(abs(got - 100.0) > 1e-6, "purity 100: return a share in [0, 1], not a percentage")
    expect(got <= 1 + 1e-9,
           f"purity {got:.4g} is above 1: did you divide by the number of clusters instead of the "
           "number of points?")
    expect(abs(got - 1 / 3) > 1e-6 or abs(got - 1.0) < 1e-6,
           f"purity {got:.4g} = the share of the most common label over ALL points: take the most common label "
           "inside EACH cluster (the points with that cluster id), then add those counts up")
    expect(abs(got - 4 / 6) > 1e-6,
           "purity 4/6: the cluster with the largest id was left out (range(cluster_ids.max()) stops one short): "
           "loop over the ids that occur, torch.unique(cluster_ids)")
    expect(abs(got - 1.0) < 1e-6,
           f"each cluster here holds one label only, so purity must be 1.0, got {got:.4g}"
           + (": did you compare cluster ids with labels directly? Ids are arbitrary names; take "
              "the most common label inside each cluster" if abs(got) < 1e-6 else ""))

    # 2. Clusters of different sizes: A = six points (five 0s, one 1), B = two points (a 1, a 2).
    ids, labels = t([0, 0, 0, 0, 0, 0, 1, 1]), t([0, 0, 0, 0, 0, 1, 1, 2])
    got = _as_number(cluster_purity(ids, labels), "cluster_purity(...)")
    if abs(got - 6 / 8) > 1e-6:
        pattern = _purity_pattern(cluster_purity)
        expect(pattern is None, f"purity {got:.4g}: {pattern}")
    expect(got <= 1 + 1e-9,
           f"purity {got:.4g} is above 1: did you divide by the number of clusters instead of the "
           "number of points?")
    expect(abs(got) > 1e-9, "purity 0: integer division (//)? Divide the counts with /")
    expect(abs(got - 1.0) > 1e-6,
           "purity 1 for clusters that mix labels: you counted every point of each cluster (its size) instead of "
           "only the points that carry the cluster's most common label (the largest count of torch.bincount)")
    expect(abs(got - (5 / 6 + 1 / 2) / 2) > 1e-6,
           f"got {got:.4g}, the plain average of the per-cluster purities (5/6 and 1/2): weight each "
           "cluster by its size, i.e. add up the majority counts and divide by the number of points")
    expect(abs(got - 7 / 8) > 1e-6,
           f"got {got:.4g} = 7/8, which counts the most common CLUSTER of each label: you swapped the "
           "roles; purity takes the most common LABEL inside each cluster")
    expect_close(got, 6 / 8, "purity with clusters [5 zeros + one 1] and [a 1, a 2]",
                 hint="expected (5 + 1) / 8: majority count of each cluster, summed, over all points")

    # 3. Cluster ids that are not 0..K-1 (some numbers unused), as some algorithms produce.
    ids, labels = t([5, 5, 9, 9, 42, 42, 42]), t([3, 3, 1, 0, 2, 2, 2])
    got = _as_number(cluster_purity(ids, labels), "cluster_purity(...)")
    expect_close(got, 6 / 7, "purity with cluster ids 5, 9 and 42",
                 hint="cluster ids need not be 0..K-1: loop over the ids that occur (torch.unique)")

    # 4. A larger random case against the reference.
    gen = torch.Generator().manual_seed(0)
    ids, labels = torch.randint(0, 7, (300,), generator=gen), torch.randint(0, 10, (300,), generator=gen)
    got = _as_number(cluster_purity(ids, labels), "cluster_purity(...)")
    expect_close(got, _purity_reference(ids, labels), "purity of 300 random points in 7 clusters")
    return "purity = (sum over clusters of the majority-label count) / number of points"


# --- PCA ----------------------------------------------------------------------------------------


def _planted_pca_data(n: int = 60, seed: int = 0):
    """Data (n, 5) float32 whose covariance has exactly the principal axes ``axes`` (5, 5), rows in
    order of decreasing variance (scales 3, 2, 1, 0.5, 0.25), around a far-from-zero mean."""
    gen = torch.Generator().manual_seed(seed)
    dims = 5
    scales = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    axes, _ = torch.linalg.qr(torch.randn(dims, dims, generator=gen, dtype=torch.float64))
    axes = axes.T  # rows are orthonormal directions
    z = torch.randn(n, dims, generator=gen, dtype=torch.float64)
    z, _ = torch.linalg.qr(z - z.mean(0))  # orthonormal, zero-mean columns: exact sample variances
    mean = torch.tensor([4.0, -3.0, 6.0, 2.0, 5.0], dtype=torch.float64)
    x = (n ** 0.5) * z * scales @ axes + mean
    return x.float(), mean.float(), axes.float()


def _same_directions(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-3) -> bool:
    """True when the rows of a and b are the same unit directions up to sign."""
    if a.shape != b.shape:
        return False
    return bool(torch.all((a.double() * b.double()).sum(1).abs() > 1 - tol))


@exercise_check
def check_pca_fit(pca_fit):
    """``pca_fit(x, k)``: float (N, D) -> (mean (D,), components (k, D) orthonormal rows)."""
    x, mean_true, axes = _planted_pca_data()
    n, d = x.shape
    k = 2
    before = x.clone()
    out = pca_fit(x, k)
    expect(isinstance(out, (tuple, list)) and len(out) == 2,
           f"pca_fit should return a tuple (mean, components), got {type(out).__name__}"
           + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    mean, comps = out
    expect(torch.equal(x, before),
           "your function changed x in place (x -= mean?): write xc = x - mean instead")
    expect(torch.is_tensor(mean) and torch.is_tensor(comps), "mean and components should be torch tensors")
    expect(tuple(mean.shape) != (1, d), f"mean has shape (1, {d}): average with x.mean(0), no keepdim")
    expect(not (torch.is_tensor(mean) and mean.dim() == 0),
           "mean is one number: you averaged over every entry; average over the rows, x.mean(0), one value per column")
    expect(tuple(mean.shape) != (n,), f"mean has shape ({n},), one value per data point: you averaged over the "
                                      "columns (dim=1); average over the rows, x.mean(0) or x.mean(dim=0)")
    expect_shape(mean, (d,), "mean (the average image, one value per column)")
    expect_close(mean, mean_true, "mean", hint="average over the rows (dim=0)", atol=1e-4)
    expect(tuple(comps.shape) != (k, n),
           f"components has shape ({k}, {n}), one value per data point: that is U from the SVD. "
           "The directions in pixel space are the first k rows of Vh")
    expect(tuple(comps.shape) != (d, k),
           f"components has shape ({d}, {k}): give one direction per ROW, shape (k, D)")
    expect_shape(comps, (k, d), f"components for k={k}")
    gram = comps.double() @ comps.double().T
    expect(torch.allclose(gram, torch.eye(k, dtype=torch.float64), atol=1e-4),
           "the components are not orthonormal (each row should have length 1 and be perpendicular "
           "to the others): take rows of Vh from torch.linalg.svd as they are, without scaling by S")
    if not _same_directions(comps, axes[:k]):
        xd = x.double()
        uncentred = torch.linalg.svd(xd, full_matrices=False).Vh[:k]
        columns = torch.linalg.svd(xd - xd.mean(0), full_matrices=False).Vh.T[:k]
        expect(not _same_directions(comps, uncentred, tol=1e-2),
               "the first direction points at the mean of the data: did you forget to centre the data "
               "(subtract the mean) before the SVD?")
        expect(not _same_directions(comps, axes[:k].flip(0)),
               "the right directions but in the wrong order: the first row must be the direction of "
               "LARGEST variance (torch.linalg.eigh sorts ascending; svd sorts descending)")
        expect(not _same_directions(comps, axes.flip(0)[:k]),
               "these are the directions of SMALLEST variance: order the components by decreasing "
               "variance (torch.linalg.eigh sorts ascending; svd sorts descending)")
        expect(not _same_directions(comps, columns, tol=1e-2),
               "these are columns of Vh: the principal directions are its ROWS (Vh[:k])")
        expect(False, "the components are not the directions of largest variance: take the first k "
                      "rows of Vh from the SVD of the centred data")
    mean_all, comps_all = pca_fit(x, d)
    expect_shape(comps_all, (d, d), f"components for k={d}")
    expect(_same_directions(comps_all, axes),
           f"with k={d} (all components) the directions are wrong: is k used correctly?")
    _, comps_one = pca_fit(x, 1)
    expect_shape(comps_one, (1, d), "components for k=1")
    return "mean and orthonormal components in order of decreasing variance"


@exercise_check
def check_pca_project(pca_project, pca_reconstruct):
    """``pca_project(x, mean, components)`` -> (N, k); ``pca_reconstruct(z, mean, components)`` -> (N, D)."""
    x, mean, axes = _planted_pca_data(n=40, seed=1)
    n, d = x.shape
    k = 2
    comps = axes[:k]
    z = pca_project(x, mean, comps)
    expect(torch.is_tensor(z), f"pca_project should return a tensor, got {type(z).__name__}")
    expect(tuple(z.shape) != (n, d),
           f"pca_project returned shape ({n}, {d}), the size of an image: return the k coordinates "
           "(x - mean) @ components.T, not a reconstruction")
    expect_shape(z, (n, k), f"pca_project(x (N={n}, D={d}), mean, components (k={k}, D))")
    expected = (x - mean) @ comps.T
    expect(z.is_floating_point(), f"pca_project returned dtype {z.dtype}: return float coordinates")
    expect(not torch.allclose(z.detach().double(), (x @ comps.T).double(), atol=1e-3),
           "the coordinates are x @ components.T: did you forget to subtract the mean before projecting?")
    expect(not torch.allclose(z.detach().double(), -expected.double(), atol=1e-3),
           "the coordinates have the wrong sign: project x - mean, not mean - x")
    expect(not torch.allclose(z.detach().double(), ((x - mean) @ comps.T / (n - 1) ** 0.5).double(), atol=1e-4),
           "the coordinates are divided by sqrt(N - 1): project with (x - mean) @ components.T, no scaling")
    expect_close(z, expected, "pca_project", hint="expected (x - mean) @ components.T", atol=1e-4)

    zs = expected[:5]
    back = pca_reconstruct(zs, mean, comps)
    expect(torch.is_tensor(back), f"pca_reconstruct should return a tensor, got {type(back).__name__}")
    expect_shape(back, (5, d), f"pca_reconstruct(z (5, k={k}), mean, components (k, D={d}))")
    expect(back.is_floating_point(), f"pca_reconstruct returned dtype {back.dtype}: return float rows")
    expect(not torch.allclose(back.detach().double(), (zs @ comps).double(), atol=1e-3),
           "the reconstruction is missing the mean: add it back (z @ components + mean)")
    expect(not torch.allclose(back.detach().double(), (zs @ comps - mean).double(), atol=1e-3),
           "the mean is subtracted: the reconstruction ADDS it back, z @ components + mean")
    expect_close(back, zs @ comps + mean, "pca_reconstruct", hint="expected z @ components + mean",
                 atol=1e-4)
    # New points (a few images, a test set) are projected with the TRAINING mean, not with their own.
    few = x[:3] + 0.5
    z_few = pca_project(few, mean, comps)
    want_few = (few - mean) @ comps.T
    expect(torch.is_tensor(z_few) and tuple(z_few.shape) == (3, k),
           f"pca_project on 3 new points returned {getattr(z_few, 'shape', type(z_few).__name__)}, expected (3, {k})")
    expect(not (torch.allclose(z_few.detach().double(), ((few - few.mean(0)) @ comps.T).double(), atol=1e-4)
                and not torch.allclose(want_few, (few - few.mean(0)) @ comps.T, atol=1e-4)),
           "on 3 new points you subtracted their own mean: use the mean argument (the mean of the data PCA was fitted "
           "on), or new data, a single image above all, gets different coordinates")
    expect_close(z_few, want_few, "pca_project on 3 new points", hint="expected (x - mean) @ components.T with the "
                 "mean passed in", atol=1e-4)
    round_trip = pca_reconstruct(pca_project(x, mean, axes), mean, axes)
    expect_close(round_trip, x, "reconstructing from all D coordinates", atol=1e-3,
                 hint="with all components, reconstruct(project(x)) must give x back")
    return "projection and reconstruction match; all components give x back exactly"


# --- sampling a Gaussian mixture ----------------------------------------------------------------


def _draw(sample_gmm, weights, means, covariances, n, seed, global_seed=1234):
    """Call the student's sampler with a seeded generator, leaving the global random state alone."""
    before = (weights.clone(), means.clone(), covariances.clone())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(global_seed)
        out = sample_gmm(weights, means, covariances, n, generator=torch.Generator().manual_seed(seed))
    expect(all(torch.equal(a, b) for a, b in zip((weights, means, covariances), before, strict=True)),
           "your function changed weights, means or covariances in place: compute new tensors instead")
    return out


def _covariance(x: torch.Tensor) -> torch.Tensor:
    xc = x.double() - x.double().mean(0)
    return xc.T @ xc / (len(x) - 1)


@exercise_check
def check_sample_gmm(sample_gmm):
    """``sample_gmm(weights (K,), means (K, d), covariances (K, d, d), n, generator)`` -> (n, d)."""
    t = torch.tensor
    # 1. Shape, dtype and the use of the generator.
    weights, means = t([0.5, 0.5]), t([[-10.0, 0.0], [10.0, 0.0]])
    small = 0.01 * torch.eye(2).expand(2, 2, 2).clone()
    x = _draw(sample_gmm, weights, means, small, 5, seed=0)
    expect(torch.is_tensor(x), f"sample_gmm should return a tensor, got {type(x).__name__}")
    expect(tuple(x.shape) != (2, 5), "the result has shape (d, n): return one sample per ROW, (n, d)")
    expect_shape(x, (5, 2), "sample_gmm(..., n=5) for d=2")
    expect(x.dtype == torch.float32, f"the result has dtype {x.dtype}, expected float32 like the means")
    x2 = _draw(sample_gmm, weights, means, small, 5, seed=0, global_seed=4321)
    expect(torch.equal(x, x2),
           "two calls with identically seeded generators gave different samples: pass "
           "generator=generator to torch.multinomial and torch.randn")

    # 2. Component choice: far-apart means, weights 0.8 / 0.2.
    n = 4000
    weights = t([0.8, 0.2])
    x = _draw(sample_gmm, weights, means, small, n, seed=1)
    near = torch.cdist(x, means).min(1).values
    expect(bool(torch.all(near < 5.0)),
           "some samples are far from every mean: each sample should be means[k] plus noise shaped "
           "by covariances[k], for the component k drawn for it")
    left = (x[:, 0] < 0).double().mean().item()
    expect(0.0 < left < 1.0,
           "every sample came from the same component: draw a component index for EACH sample "
           "(torch.multinomial(weights, n, replacement=True))")
    expect(abs(left - 0.5) > 0.1 or abs(left - 0.8) < 0.05,
           f"{left:.0%} of the samples come from the component with weight 0.8: did you pick "
           "components uniformly? Use the weights as probabilities")
    expect(abs(left - 0.8) < 0.05,
           f"{left:.0%} of the samples come from the component with weight 0.8 (expected about 80%): "
           "pick component k with probability weights[k]")

    # 3. One correlated component: the sample mean must be mu and the sample covariance Sigma.
    sigma = t([[2.0, 1.2], [1.2, 1.0]])
    chol = torch.linalg.cholesky(sigma)
    centre = t([[1.0, -2.0]])
    x = _draw(sample_gmm, t([1.0]), centre, sigma[None], 20000, seed=3)
    expect(bool(x.double().std(0).max() > 1e-3),
           "the samples of one component do not spread at all: draw fresh noise eps for EACH sample, shape (n, d)")
    expect_close(x.double().mean(0), centre[0], "the sample mean of one component", atol=0.05,
                 hint="add the component's mean to the noise")
    cov = _covariance(x)

    def like(target: torch.Tensor) -> bool:
        return torch.allclose(cov, target.double(), rtol=0.08, atol=0.05)

    expect(not like(torch.zeros(2, 2)),
           "the samples of one component do not spread at all: draw fresh noise eps for EACH sample, shape (n, d)")
    expect(not like(torch.eye(2)),
           "the samples have identity covariance: scale the noise by the Cholesky factor of the covariance")
    expect(not like(sigma @ sigma),
           "the sample covariance is Sigma @ Sigma: multiply the noise by the Cholesky factor L "
           "(Sigma = L @ L.T), not by Sigma itself")
    expect(not like(chol.T @ chol),
           "the sample covariance is L.T @ L: with eps as rows, use eps @ L.T (L @ eps for a column)")
    expect(not like(torch.diag(torch.diag(sigma))),
           "the samples are uncorrelated although Sigma is not diagonal: use the full Cholesky factor, "
           "not the square roots of the variances")
    shown = [[round(v, 2) for v in row] for row in cov.tolist()]
    expect(like(sigma), f"the sample covariance is {shown}, expected about {sigma.tolist()}: "
                        "the noise should be eps @ L.T with L = cholesky(Sigma)")

    # 4. Each component's own covariance: tight on the left, wide on the right.
    covs = torch.stack([0.01 * torch.eye(2), torch.eye(2)])
    x = _draw(sample_gmm, t([0.5, 0.5]), means, covs, n, seed=2)
    var_left, var_right = x[x[:, 0] < 0].var(0).mean().item(), x[x[:, 0] > 0].var(0).mean().item()
    expect(abs(var_left - 0.01) < 0.005 and abs(var_right - 1.0) < 0.15,
           f"the spread of the two components is {var_left:.3g} and {var_right:.3g} (expected 0.01 and "
           "1): each sample should use the covariance of ITS OWN component")
    return "component choice, means and full covariances all match"


# --- conceptual questions ------------------------------------------------------------------------

choice("unsup_purity_not_accuracy", "a",
       "an accuracy scores a classifier fixed before it sees the answers; purity names each cluster after the most "
       "common label among its own points, i.e. it uses the answers to choose the labelling it then scores. That "
       "is why it rises with K and reaches 1 with one cluster per image, and why it only compares clusterings with "
       "the same K.",
       {"b": "purity never compares ids with labels: it takes the most common label inside each cluster, whatever "
             "the cluster's id (exercise 1's check gives it clusters numbered 5, 9 and 42)",
        "c": "an accuracy changes from run to run too (a new seed, other training data); the difference lies "
             "elsewhere: where each cluster's label comes from",
        "d": "a classifier's accuracy does not let the test labels choose its answers; purity does, which is why it "
             "rises with K (the curve above) up to 1 with one cluster per image, whatever the model"},
       options="abcd")

choice("unsup_pca_components", "a",
       "the principal directions are orthonormal, so each one kept removes its squared coordinate from the "
       "error (Pythagoras): the training error falls with every k, by less and less (the variance curve flattens), "
       "while each image costs k numbers. The later directions hold fine detail and noise.",
       {"b": "on the images it was fitted to, PCA's error can only fall as k grows: each added direction is "
             "orthogonal to the others and removes the squared coordinate along it; there is no overfitting of the "
             "training reconstructions",
        "c": "the directions are nested: the first k rows of V^T do not depend on how many you keep (exercise 2 "
             "returns vh[:k]); adding components adds directions and never changes the earlier ones",
        "d": "with every component kept the reconstruction is exact, but the coordinates are the centred pixels "
             "rotated onto the principal directions, not the pixels: the first few still carry most of the "
             "variance"},
       options="abcd")

number("unsup_gmm_parameters", 496,
       "1 weight + 30 numbers of the mean + 30 * 31 / 2 = 465 free entries of a symmetric 30x30 covariance = 496. "
       "With full covariances over the 784 pixels, the covariance alone would hold 784 * 785 / 2 = 307,720 "
       "numbers per component, which is why the mixture lives in PCA space.",
       {931: "you counted all 900 entries of the covariance; it is symmetric, so only 30 * 31 / 2 = 465 of them are "
             "free",
        930: "you counted all 900 entries of the covariance (it is symmetric: 465 are free) and left out the weight",
        61: "that is a DIAGONAL covariance (30 variances); the mixture here has full covariances "
            "(covariance_type='full'): 465 free numbers",
        60: "that is a diagonal covariance and no weight: the mixture has full covariances (465 free numbers) and "
            "one weight per component",
        495: "the component's weight pi_m is missing (1 number)",
        466: "the mean (30 numbers) is missing",
        526: "you counted the mean twice, or the covariance's diagonal twice (465 already includes it)"},
       tolerance=1e-4)
