"""The checks of notebooks 03 and 04 pass the solutions and name the cause of typical mistakes."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.pixel_models import (
    check_causal_mask,
    check_image_nll,
    check_receptive_field,
    check_sample_raster,
)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


# --- image_nll and bits_per_dim -----------------------------------------------------------------

def image_nll(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def bits_per_dim(nll, dims):
    return nll / (dims * math.log(2))


def naive_log(logits, x):
    p = torch.sigmoid(logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def test_nll_solution_passes():
    result = check_image_nll(image_nll, bits_per_dim)
    assert result.passed, result.message


def test_nll_alternative_solutions_pass():
    def with_logsigmoid(logits, x):
        return -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=(1, 2, 3))

    assert check_image_nll(with_logsigmoid, lambda nll, dims: nll / dims / math.log(2)).passed


def test_nll_stubs_fail_with_not_implemented_hint():
    assert check_image_nll(stub, bits_per_dim).message == NOT_IMPLEMENTED_HINT
    assert check_image_nll(image_nll, stub).message == NOT_IMPLEMENTED_HINT


def bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


@pytest.mark.parametrize("wrong, words", [
    (lambda logits, x: bce(logits, x).flatten(1).mean(1), "averaged over the pixels"),
    (lambda logits, x: F.binary_cross_entropy_with_logits(logits, x), "one NLL per image"),
    (lambda logits, x: bce(logits, x).sum().reshape(1), "one NLL per image"),
    (lambda logits, x: F.binary_cross_entropy(logits, x, reduction="none").flatten(1).sum(1), "as probabilities"),
    (lambda logits, x: -bce(logits, x).flatten(1).sum(1), "minus sign"),
    (lambda logits, x: image_nll(logits, x) / math.log(2), "in bits"),
    (naive_log, "F.binary_cross_entropy_with_logits or F.logsigmoid"),
    (lambda logits, x: bce(logits, x).sum(dim=(1, 2)), "shape"),
])
def test_nll_mistakes_are_named(wrong, words):
    result = check_image_nll(wrong, bits_per_dim)
    assert not result.passed
    assert words in result.message, result.message


def test_nll_in_place_change_is_named():
    def in_place(logits, x):
        out = image_nll(logits, x)
        logits.zero_()
        return out

    assert "changed its inputs" in check_image_nll(in_place, bits_per_dim).message


@pytest.mark.parametrize("wrong, words", [
    (lambda nll, dims: nll / dims, "not by ln 2"),
    (lambda nll, dims: nll / math.log(2), "bits per image"),
    (lambda nll, dims: nll * math.log(2) / dims, "multiplied by ln 2"),
    (lambda nll, dims: nll / dims / math.log(10), "not ln 10"),
    (lambda nll, dims: nll / (784 * math.log(2)), "784 hard-coded"),
])
def test_bits_per_dim_mistakes_are_named(wrong, words):
    result = check_image_nll(image_nll, wrong)
    assert not result.passed
    assert words in result.message, result.message


# --- the sampling loop --------------------------------------------------------------------------

def sample_raster(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            p = torch.sigmoid(model(x)[:, :, i, j])
            x[:, :, i, j] = (uniforms[:, :, i, j] < p).float()
    return x


def all_at_once(model, uniforms):
    return (uniforms < torch.sigmoid(model(torch.zeros_like(uniforms)))).float()


def column_major(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for j in range(width):
        for i in range(height):
            x[:, :, i, j] = (uniforms[:, :, i, j] < torch.sigmoid(model(x)[:, :, i, j])).float()
    return x


def no_feedback(model, uniforms):
    x = torch.zeros_like(uniforms)
    out = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            out[:, :, i, j] = (uniforms[:, :, i, j] < torch.sigmoid(model(x)[:, :, i, j])).float()
    return out


def own_random_numbers(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = torch.bernoulli(torch.sigmoid(model(x)[:, :, i, j]))
    return x


def greater_than(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = (uniforms[:, :, i, j] > torch.sigmoid(model(x)[:, :, i, j])).float()
    return x


def logit_as_probability(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = (uniforms[:, :, i, j] < model(x)[:, :, i, j]).float()
    return x


def test_sampling_solution_passes():
    result = check_sample_raster(sample_raster)
    assert result.passed, result.message


def test_sampling_stub_fails():
    assert check_sample_raster(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (all_at_once, "all pixels at once"),
    (column_major, "column by column"),
    (no_feedback, "write each sampled pixel into the image"),
    (own_random_numbers, "not with torch.bernoulli"),
    (greater_than, "not when u > p"),
    (logit_as_probability, "torch.sigmoid"),
    (lambda m, u: sample_raster(m, u).bool(), "float"),
    (lambda m, u: sample_raster(m, u)[:, 0], "shape"),
])
def test_sampling_mistakes_are_named(wrong, words):
    result = check_sample_raster(wrong)
    assert not result.passed
    assert words in result.message, result.message


# --- causal masks -------------------------------------------------------------------------------

def causal_mask(kernel_size, mask_type):
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c] = 1
    mask[c, :c] = 1
    if mask_type == "B":
        mask[c, c] = 1
    return mask


def _edit(edit):
    def wrong(k, kind):
        mask = causal_mask(k, kind)
        edit(mask, k // 2, kind)
        return mask
    return wrong


def test_mask_solution_passes():
    result = check_causal_mask(causal_mask)
    assert result.passed, result.message


def test_mask_stub_fails():
    assert check_causal_mask(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (_edit(lambda m, c, kind: m[c].__setitem__(c, 1.0)), "type A includes the centre"),
    (_edit(lambda m, c, kind: m[c].__setitem__(c, 0.0)), "type B hides the centre"),
    (_edit(lambda m, c, kind: m[c].__setitem__(slice(c + 1, None), 1.0)), "future pixels in the same row"),
    (_edit(lambda m, c, kind: m.__setitem__(slice(c + 1, None), 1.0)), "rows below the centre are visible"),
    (_edit(lambda m, c, kind: m[0].__setitem__(slice(None), 0.0)), "rows above the centre are hidden"),
    (_edit(lambda m, c, kind: m[c].__setitem__(0, 0.0)), "left of the centre"),
    (lambda k, kind: causal_mask(k, kind).T.contiguous(), "transposed"),
    (lambda k, kind: causal_mask(k, kind).bool(), "float tensor"),
    (lambda k, kind: causal_mask(k, kind)[None, None], "return the (k, k) mask itself"),
    (lambda k, kind: causal_mask(k, kind).numpy(), "torch tensor"),
    (lambda k, kind: causal_mask(k, "B"), "type A includes the centre"),
])
def test_mask_mistakes_are_named(wrong, words):
    result = check_causal_mask(wrong)
    assert not result.passed
    assert words in result.message, result.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="type A includes the centre"):
        check_causal_mask(lambda k, kind: causal_mask(k, "B"))


# --- receptive fields ---------------------------------------------------------------------------

def receptive_field(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] != 0


def summed_outputs(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x).sum().backward()
    return x.grad[0, 0] != 0


def swapped(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, col, row].backward()
    return x.grad[0, 0] != 0


def test_receptive_field_solution_passes():
    result = check_receptive_field(receptive_field)
    assert result.passed, result.message


def test_receptive_field_stub_fails():
    assert check_receptive_field(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (summed_outputs, "not from the sum of all outputs"),
    (swapped, "swapped"),
    (lambda m, r, c, h=28, w=28: receptive_field(m, r, c, h, w)[None, None], "drop the batch and channel"),
    (lambda m, r, c, h=28, w=28: receptive_field(m, r, c, h, w).float(), "bool"),
    (lambda m, r, c, h=28, w=28: ~receptive_field(m, r, c, h, w), "gradient IS zero"),
])
def test_receptive_field_mistakes_are_named(wrong, words):
    result = check_receptive_field(wrong)
    assert not result.passed
    assert words in result.message, result.message
