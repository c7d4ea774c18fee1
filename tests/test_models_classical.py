"""The reference versions of notebooks 00 and 01's exercises: each passes its exercise's check, and bad
input gets a clear ValueError.

After an exercise's check, notebooks 00 and 01 use ``yours_or_reference(yours, reference)``, so these
functions stand in for a student's until theirs passes: they must meet the very same contract.
"""

import pytest
import torch

from course_utils.checks import yours_or_reference
from course_utils.checks.tour import check_to_unit_range
from course_utils.checks.unsupervised import (
    check_cluster_purity,
    check_pca_fit,
    check_pca_project,
    check_sample_gmm,
)
from course_utils.data import to_unit_range
from course_utils.metrics import cluster_purity
from course_utils.models.classical import pca_fit, pca_project, pca_reconstruct, sample_gmm

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")  # a failing check raises, with its message


@pytest.mark.parametrize("check, references", [
    (check_to_unit_range, (to_unit_range,)),
    (check_cluster_purity, (cluster_purity,)),
    (check_pca_fit, (pca_fit,)),
    (check_pca_project, (pca_project, pca_reconstruct)),
    (check_sample_gmm, (sample_gmm,)),
], ids=["to_unit_range", "cluster_purity", "pca_fit", "pca_project", "sample_gmm"])
def test_references_pass_the_exercise_checks(check, references):
    assert check(*references).passed


def test_a_stub_falls_back_on_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_STRICT_CHECKS")

    def pca_fit_stub(x, k):
        raise NotImplementedError("Exercise: replace this line with your code")

    assert not check_pca_fit(pca_fit_stub).passed
    assert yours_or_reference(pca_fit_stub, pca_fit, "pca_fit") is pca_fit
    assert "using the reference `pca_fit`: yours does not pass its check yet" in capsys.readouterr().out


# --- what the references compute ------------------------------------------------------------------


def test_to_unit_range_keeps_shape_and_input():
    pixels = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    out = to_unit_range(pixels)
    assert out.dtype == torch.float32 and out.shape == (1, 3)
    assert out[0, 2] == 1.0 and pixels[0, 1] == 128


def test_cluster_purity_ignores_the_names_of_clusters():
    ids, labels = torch.tensor([7, 7, 3, 3, 3]), torch.tensor([1, 1, 0, 0, 2])
    assert cluster_purity(ids, labels) == pytest.approx(4 / 5)
    assert cluster_purity(ids + 100, labels) == pytest.approx(4 / 5)


def test_pca_round_trip_and_order():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=gen) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.1]) + 3
    mean, components = pca_fit(x, 6)
    z = pca_project(x, mean, components)
    assert z.shape == (50, 6)
    assert torch.allclose(pca_reconstruct(z, mean, components), x, atol=1e-4)
    variances = z.var(0)
    assert bool((variances[:-1] >= variances[1:]).all())  # largest variance first
    assert torch.allclose(components @ components.T, torch.eye(6), atol=1e-5)


def test_sample_gmm_is_reproducible_with_a_generator():
    weights, means = torch.tensor([0.3, 0.7]), torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    covariances = torch.eye(2).expand(2, 2, 2).clone()
    a = sample_gmm(weights, means, covariances, 8, generator=torch.Generator().manual_seed(1))
    b = sample_gmm(weights, means, covariances, 8, generator=torch.Generator().manual_seed(1))
    assert a.shape == (8, 2) and a.dtype == torch.float32 and torch.equal(a, b)


# --- input validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("pixels", [torch.zeros(2, 2), torch.zeros(2, dtype=torch.int64), [0, 255]],
                         ids=["float", "int64", "list"])
def test_to_unit_range_wants_uint8(pixels):
    with pytest.raises(ValueError, match="uint8"):
        to_unit_range(pixels)


@pytest.mark.parametrize("ids, labels, words", [
    (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), "integer tensor"),
    (torch.tensor([[0, 1]]), torch.tensor([0, 1]), "shape \\(N,\\)"),
    (torch.tensor([0, 1, 1]), torch.tensor([0, 1]), "same length"),
    (torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), "N >= 1"),
    (torch.tensor([0, 1]), torch.tensor([0, -1]), ">= 0"),
])
def test_cluster_purity_rejects_bad_input(ids, labels, words):
    with pytest.raises(ValueError, match=words):
        cluster_purity(ids, labels)


def test_pca_rejects_bad_input():
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="float tensor with 2"):
        pca_fit(x.flatten(), 2)
    with pytest.raises(ValueError, match="float tensor"):
        pca_fit(x.long(), 2)
    for k in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match="k must be an int from 1 to min"):
            pca_fit(x, k)
    mean, components = pca_fit(x, 2)
    with pytest.raises(ValueError, match="matching x"):
        pca_project(torch.randn(10, 3), mean, components)
    with pytest.raises(ValueError, match="coordinates per row"):
        pca_reconstruct(torch.randn(10, 3), mean, components)
    with pytest.raises(ValueError, match="mean"):
        pca_reconstruct(torch.randn(10, 2), mean[:3], components)


def test_sample_gmm_rejects_bad_input():
    weights, means, covariances = torch.tensor([0.5, 0.5]), torch.zeros(2, 3), torch.eye(3).repeat(2, 1, 1)
    with pytest.raises(ValueError, match="covariances \\(M, d, d\\)"):
        sample_gmm(weights, means, covariances[:, :2, :2], 4)
    with pytest.raises(ValueError, match="sum to 1"):
        sample_gmm(torch.tensor([0.5, 0.6]), means, covariances, 4)
    with pytest.raises(ValueError, match="sum to 1"):
        sample_gmm(torch.tensor([1.5, -0.5]), means, covariances, 4)
    with pytest.raises(ValueError, match="positive int"):
        sample_gmm(weights, means, covariances, 0)
    with pytest.raises(ValueError, match="torch.Generator"):
        sample_gmm(weights, means, covariances, 4, generator=0)
    singular = covariances.clone()
    singular[1] = 0.0
    with pytest.raises(ValueError, match="components \\[1\\] are not positive definite"):
        sample_gmm(weights, means, singular, 4)
