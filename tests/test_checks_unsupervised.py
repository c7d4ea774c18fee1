"""Notebook 01's checks pass the solutions, fail the stubs, and name the cause of typical mistakes."""

import pytest
import torch

from course_utils.checks import NOT_IMPLEMENTED_HINT
from course_utils.checks.unsupervised import (
    check_cluster_purity,
    check_pca_fit,
    check_pca_project,
    check_sample_gmm,
)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def failed_with(result, *words):
    assert not result.passed, "the check passed a wrong implementation"
    for word in words:
        assert word in result.message, f"{word!r} not in {result.message!r}"
    return True


# --- cluster purity -----------------------------------------------------------------------------

def purity(cluster_ids, labels):
    total = 0
    for c in torch.unique(cluster_ids):
        total += torch.bincount(labels[cluster_ids == c]).max().item()
    return total / len(labels)


def purity_over_clusters(cluster_ids, labels):
    total = sum(torch.bincount(labels[cluster_ids == c]).max().item() for c in torch.unique(cluster_ids))
    return total / len(torch.unique(cluster_ids))


def purity_mean_of_clusters(cluster_ids, labels):
    fractions = [torch.bincount(labels[cluster_ids == c]).max().item() / (cluster_ids == c).sum().item()
                 for c in torch.unique(cluster_ids)]
    return sum(fractions) / len(fractions)


def purity_swapped(cluster_ids, labels):
    return purity(labels, cluster_ids - cluster_ids.min())


def purity_ids_as_labels(cluster_ids, labels):
    return (cluster_ids == labels).float().mean().item()


def purity_range_of_k(cluster_ids, labels):
    total = 0
    for c in range(len(torch.unique(cluster_ids))):
        members = labels[cluster_ids == c]
        if len(members):
            total += torch.bincount(members).max().item()
    return total / len(labels)


def purity_integer_division(cluster_ids, labels):
    total = sum(torch.bincount(labels[cluster_ids == c]).max().item() for c in torch.unique(cluster_ids))
    return total // len(labels)


def purity_majority_label(cluster_ids, labels):
    total = 0
    for cluster in torch.unique(cluster_ids):
        total += int(torch.bincount(labels[cluster_ids == cluster]).argmax())  # the label, not its count
    return total / len(labels)


def test_purity_solution_passes_and_a_tensor_is_named():
    assert check_cluster_purity(purity).passed
    as_tensor = check_cluster_purity(lambda i, y: torch.tensor(purity(i, y)))
    assert not as_tensor.passed and "Python float" in as_tensor.message


def test_purity_stub_fails():
    assert check_cluster_purity(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (purity_over_clusters, ["above 1", "number of clusters instead of the"]),
    (purity_mean_of_clusters, ["weight each", "by its size"]),
    (purity_swapped, ["swapped"]),
    (purity_ids_as_labels, ["compare cluster ids with labels directly"]),
    (purity_range_of_k, ["torch.unique"]),
    (purity_integer_division, ["integer division"]),
    (purity_majority_label, ["argmax", "how many points"]),
    (lambda i, y: sum(int((i == c).sum()) for c in torch.unique(i)) / len(y), ["every point of each cluster"]),
    (lambda i, y: sum(int(torch.bincount(y).max()) for _ in torch.unique(i)) / len(y), ["ALL points once"]),
    (lambda i, y: [purity(i, y)], ["should be a number"]),
])
def test_purity_mistakes_are_named(wrong, words):
    failed_with(check_cluster_purity(wrong), *words)


# --- PCA ----------------------------------------------------------------------------------------

def pca_fit(x, k):
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vh[:k]


def pca_fit_uncentred(x, k):
    return x.mean(0), torch.linalg.svd(x, full_matrices=False).Vh[:k]


def pca_fit_columns(x, k):
    mean = x.mean(0)
    return mean, torch.linalg.svd(x - mean, full_matrices=False).Vh.T[:k]


def pca_fit_eigh_ascending(x, k):
    mean = x.mean(0)
    xc = x - mean
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    return mean, vecs[:, :k].T


def pca_fit_eigh_unflipped(x, k):
    mean = x.mean(0)
    xc = x - mean
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    return mean, vecs[:, -k:].T


def pca_fit_scaled(x, k):
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, s[:k, None] * vh[:k]


def pca_fit_u(x, k):
    mean = x.mean(0)
    u, _, _ = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, u[:, :k].T


def pca_fit_in_place(x, k):
    mean = x.mean(0)
    x -= mean
    return mean, torch.linalg.svd(x, full_matrices=False).Vh[:k]


def pca_fit_keepdim(x, k):
    mean = x.mean(0, keepdim=True)
    return mean, torch.linalg.svd(x - mean, full_matrices=False).Vh[:k]


def pca_fit_transposed(x, k):
    mean, comps = pca_fit(x, k)
    return mean, comps.T


def pca_fit_row_mean(x, k):
    mean = x.mean(1)
    return mean, torch.linalg.svd(x - mean[:, None], full_matrices=False).Vh[:k]


def test_pca_fit_solution_passes():
    result = check_pca_fit(pca_fit)
    assert result.passed, result.message


def test_pca_fit_with_flipped_signs_passes():
    def flipped(x, k):
        mean, comps = pca_fit(x, k)
        return mean, -comps

    assert check_pca_fit(flipped).passed


def test_pca_fit_stub_fails():
    assert check_pca_fit(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (pca_fit_uncentred, ["forget to centre"]),
    (pca_fit_columns, ["columns of Vh", "ROWS"]),
    (pca_fit_eigh_ascending, ["SMALLEST variance"]),
    (pca_fit_eigh_unflipped, ["wrong order"]),
    (pca_fit_scaled, ["not orthonormal"]),
    (pca_fit_u, ["that is U"]),
    (pca_fit_in_place, ["in place"]),
    (pca_fit_keepdim, ["no keepdim"]),
    (pca_fit_transposed, ["one direction per ROW"]),
    (pca_fit_row_mean, ["mean"]),
    (lambda x, k: pca_fit(x, k)[1], ["tuple (mean, components)"]),
])
def test_pca_fit_mistakes_are_named(wrong, words):
    failed_with(check_pca_fit(wrong), *words)


def pca_project(x, mean, components):
    return (x - mean) @ components.T


def pca_reconstruct(z, mean, components):
    return z @ components + mean


def test_pca_project_solution_passes():
    result = check_pca_project(pca_project, pca_reconstruct)
    assert result.passed, result.message


def test_pca_project_stubs_fail():
    assert check_pca_project(stub, pca_reconstruct).message == NOT_IMPLEMENTED_HINT
    assert check_pca_project(pca_project, stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("project, reconstruct, words", [
    (lambda x, m, c: x @ c.T, pca_reconstruct, ["subtract the mean"]),
    (lambda x, m, c: (x - m) @ c.T @ c + m, pca_reconstruct, ["not a reconstruction"]),
    (pca_project, lambda z, m, c: z @ c, ["missing the mean"]),
    (pca_project, lambda z, m, c: z @ c - m, ["ADDS it back"]),
    (lambda x, m, c: (x - x.mean(0)) @ c.T, pca_reconstruct, ["their own mean", "mean argument"]),
])
def test_pca_project_mistakes_are_named(project, reconstruct, words):
    failed_with(check_pca_project(project, reconstruct), *words)


# --- sampling a Gaussian mixture ----------------------------------------------------------------

def sample_gmm(weights, means, covariances, n, generator=None):
    component = torch.multinomial(weights, n, replacement=True, generator=generator)
    chol = torch.linalg.cholesky(covariances)
    eps = torch.randn(n, means.shape[1], generator=generator, dtype=means.dtype)
    return means[component] + (chol[component] @ eps.unsqueeze(-1)).squeeze(-1)


def make_sampler(pick="weights", noise="cholesky", ignore_generator=False, transpose=False):
    """A sampler with one deliberate mistake, named by the arguments."""
    def sampler(weights, means, covariances, n, generator=None):
        gen = None if ignore_generator else generator
        k, d = means.shape
        if pick == "weights":
            component = torch.multinomial(weights, n, replacement=True, generator=gen)
        elif pick == "uniform":
            component = torch.randint(0, k, (n,), generator=gen)
        elif pick == "one":
            component = torch.multinomial(weights, 1, generator=gen).expand(n)
        eps = torch.randn(n, d, generator=gen)
        if noise == "cholesky":
            factor = torch.linalg.cholesky(covariances)
        elif noise == "sigma":
            factor = covariances
        elif noise == "diag":
            factor = torch.diag_embed(torch.diagonal(covariances, dim1=1, dim2=2).sqrt())
        elif noise == "cholesky-transposed":
            factor = torch.linalg.cholesky(covariances).transpose(1, 2)
        elif noise == "first":
            factor = torch.linalg.cholesky(covariances[:1]).expand(k, d, d)
        elif noise == "none":
            factor = torch.eye(d).expand(k, d, d)
        out = means[component] + (factor[component] @ eps.unsqueeze(-1)).squeeze(-1)
        return out.T if transpose else out
    return sampler


def test_sample_gmm_solution_passes():
    result = check_sample_gmm(sample_gmm)
    assert result.passed, result.message


def test_sample_gmm_check_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_sample_gmm(sample_gmm)
    assert torch.equal(torch.rand(3), expected)


def test_sample_gmm_stub_fails():
    assert check_sample_gmm(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("mistake, words", [
    ({"ignore_generator": True}, ["generator=generator"]),
    ({"transpose": True}, ["one sample per ROW"]),
    ({"pick": "uniform"}, ["uniformly"]),
    ({"pick": "one"}, ["same component"]),
    ({"noise": "first"}, ["ITS OWN component"]),
    ({"noise": "sigma"}, ["Cholesky factor L", "not by Sigma itself"]),
    ({"noise": "cholesky-transposed"}, ["eps @ L.T"]),
    ({"noise": "diag"}, ["uncorrelated"]),
    ({"noise": "none"}, ["identity covariance"]),
])
def test_sample_gmm_mistakes_are_named(mistake, words):
    failed_with(check_sample_gmm(make_sampler(**mistake)), *words)


def test_sample_gmm_without_replacement_reports_the_error():
    def no_replacement(weights, means, covariances, n, generator=None):
        component = torch.multinomial(weights, n, generator=generator)
        return means[component]

    assert failed_with(check_sample_gmm(no_replacement), "your code raised")


@pytest.mark.parametrize("check, solution", [
    (check_cluster_purity, (purity,)),
    (check_pca_fit, (pca_fit,)),
    (check_pca_project, (pca_project, pca_reconstruct)),
    (check_sample_gmm, (sample_gmm,)),
])
def test_checks_are_deterministic(check, solution):
    first = check(*solution)
    second = check(*solution)
    assert first == second


# --- checked questions -------------------------------------------------------------------------------


@pytest.mark.parametrize("qid, answer, words", [
    ("unsup_gmm_parameters", 931, "symmetric"), ("unsup_gmm_parameters", 930, "left out the weight"),
    ("unsup_gmm_parameters", 61, "DIAGONAL"), ("unsup_gmm_parameters", 60, "no weight"),
    ("unsup_gmm_parameters", 495, "weight pi_m is missing"), ("unsup_gmm_parameters", 466, "mean (30 numbers)"),
    ("unsup_gmm_parameters", 526, "twice"), ("unsup_gmm_parameters", 1000, "too large"),
    ("unsup_purity_not_accuracy", "b", "never compares ids"), ("unsup_purity_not_accuracy", "d", "rises with K"),
    ("unsup_pca_components", "b", "no overfitting"), ("unsup_pca_components", "c", "nested"),
])
def test_questions_name_each_wrong_answer(monkeypatch, qid, answer, words):
    from course_utils.checks.questions import check_answer

    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    result = check_answer(qid, answer)
    assert not result.passed and words in result.message, result.message


def test_gmm_question_needs_the_exact_count(monkeypatch):
    from course_utils.checks.questions import check_answer

    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    assert check_answer("unsup_gmm_parameters", 496).passed
    assert not check_answer("unsup_gmm_parameters", 497).passed
