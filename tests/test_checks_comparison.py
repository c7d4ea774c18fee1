"""The sharpness check of notebook 07 passes the solution and names the cause of typical mistakes."""

import pytest
import torch

from course_utils.checks import NOT_IMPLEMENTED_HINT
from course_utils.checks.comparison import check_sharpness
from course_utils.metrics import edge_sharpness


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def _steps(x, horizontal=True, vertical=True):
    parts = ([x.diff(dim=3).flatten(1)] if horizontal else []) + ([x.diff(dim=2).flatten(1)] if vertical else [])
    return torch.cat(parts, dim=1)


def _ratio(top, bottom):
    return torch.where(bottom > 0, top / bottom.clamp_min(1e-12), torch.zeros_like(bottom))


def test_reference_passes():
    result = check_sharpness(edge_sharpness)
    assert result.passed, result.message


def test_stub_fails_with_not_implemented_hint():
    def stub(images):
        raise NotImplementedError("Exercise: replace this line with your code")

    assert check_sharpness(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (lambda x: _ratio(_steps(x, vertical=False).pow(2).sum(1), _steps(x, vertical=False).abs().sum(1)),
     "both the width"),
    (lambda x: _ratio(_steps(x).abs().sum(1), _steps(x).pow(2).sum(1)), "upside down"),
    (lambda x: _steps(x).pow(2).sum(1) / _steps(x).abs().sum(1), "blank image"),
    (lambda x: edge_sharpness(x).mean(), "one value per image"),
    (lambda x: _ratio(_steps(x).pow(2).sum(1), _steps(x).sum(1).abs()), "absolute value"),
    (lambda x: _ratio(_steps(x).pow(2).sum(1), _steps(x).abs().sum(1).pow(2)), "denominator is squared"),
    (lambda x: _ratio(_steps(x).pow(2).mean(1), _steps(x).abs().sum(1)), "numerator is a mean"),
    (lambda x: _ratio(_steps(x).pow(2).sum(1), _steps(x).abs().mean(1)), "denominator a mean"),
    (lambda x: _ratio(_steps(x).pow(2).sum(1).sqrt(), _steps(x).abs().sum(1)), "no sqrt"),
])
def test_typical_mistakes_are_named(wrong, words):
    result = check_sharpness(wrong)
    assert not result.passed
    assert words in result.message, result.message


def test_edge_sharpness_values():
    binary = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)).round()
    assert torch.allclose(edge_sharpness(binary), torch.ones(4))
    ramp = torch.linspace(0, 1, 11).expand(1, 1, 5, 11)  # ten steps of 0.1
    assert torch.allclose(edge_sharpness(ramp), torch.tensor([0.1]), atol=1e-6)
    assert edge_sharpness(torch.zeros(2, 1, 3, 3)).tolist() == [0.0, 0.0]


def test_edge_sharpness_rejects_bad_input():
    with pytest.raises(ValueError, match=r"float \(N, C, H, W\)"):
        edge_sharpness(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="int64"):
        edge_sharpness(torch.zeros(1, 1, 28, 28, dtype=torch.long))


def test_sharpness_along_the_height_only_is_named():
    def height_only(images):
        d = images.diff(dim=2).flatten(1)
        total = d.abs().sum(1)
        return torch.where(total > 0, d.pow(2).sum(1) / total.clamp_min(1e-12), torch.zeros_like(total))
    result = check_sharpness(height_only)
    assert not result.passed and "along the width" in result.message, result.message


def test_sharpness_of_rescaled_images_is_named():
    result = check_sharpness(lambda images: edge_sharpness(images * 255))
    assert not result.passed and "no rescaling" in result.message, result.message


def test_sharpness_summed_over_the_batch_is_named():
    def batch_sums(images):  # one ratio for the whole batch, spread back over the images that have steps
        d = _steps(images)
        total = d.abs().sum(1)
        return torch.where(total > 0, d.pow(2).sum() / total.sum().clamp_min(1e-12), torch.zeros_like(total))
    result = check_sharpness(batch_sums)
    assert not result.passed and "other images in the batch" in result.message, result.message


def test_sharpness_of_images_rescaled_by_their_maximum_is_named():
    def per_image_max(images):
        peak = images.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        return edge_sharpness(images / peak)
    result = check_sharpness(per_image_max)
    assert not result.passed and "half the contrast" in result.message, result.message
