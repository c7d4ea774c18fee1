"""Notebooks 03 and 04 fall back on the package's functions: each one meets its exercise's contract.

After an exercise's check, the notebooks use ``yours_or_reference(yours, reference)``; the
reference must pass the very check the student's function is held to.
"""

import pytest
import torch

from course_utils.checks import yours_or_reference
from course_utils.checks.pixel_models import (
    check_causal_mask,
    check_gated_layer,
    check_image_nll,
    check_receptive_field,
    check_row_lstm,
    check_sample_raster,
)
from course_utils.metrics import nats_to_bits_per_dim
from course_utils.models.autoregressive import bernoulli_nll, depends_on, receptive_field, sample_naive
from course_utils.models.pixelcnn import GatedPixelCNN, MaskedConv2d, causal_mask, gated_layer
from course_utils.models.pixelrnn import row_lstm

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


@pytest.mark.parametrize("check, references", [
    (check_image_nll, (bernoulli_nll, nats_to_bits_per_dim)),
    (check_sample_raster, (sample_naive,)),
    (check_causal_mask, (causal_mask,)),
    (check_receptive_field, (depends_on,)),
    (check_row_lstm, (row_lstm,)),
    (check_gated_layer, (gated_layer,)),
], ids=["image_nll", "sample_raster", "causal_mask", "receptive_field", "row_lstm", "gated_layer"])
def test_references_pass_the_exercise_checks(check, references):
    result = check(*references)
    assert result.passed, result.message


def test_depends_on_is_the_bool_map_of_the_gradient():
    torch.manual_seed(0)
    layer = MaskedConv2d(1, 1, 5, "A")
    seen = depends_on(layer, 3, 4, 6, 9)
    assert seen.dtype == torch.bool and seen.shape == (6, 9)
    assert torch.equal(seen, receptive_field(layer, 3, 4, 6, 9) != 0)
    assert torch.equal(seen[1:6, 2:7], causal_mask(5, "A").bool())  # one layer: the mask itself, around (3, 4)
    assert int(seen.sum()) == int(causal_mask(5, "A").sum())
    with pytest.raises(ValueError, match="outside"):
        depends_on(layer, 6, 0, 6, 9)


def test_depends_on_default_size_and_a_gated_stack_is_causal():
    torch.manual_seed(0)
    model = GatedPixelCNN(channels=8, layers=2, first_kernel=3).eval()
    seen = depends_on(model, 14, 13)
    assert seen.shape == (28, 28)
    assert not seen.flatten()[14 * 28 + 13:].any() and seen[14, 12] and seen[13, 14]


def test_a_stub_falls_back_on_the_reference(capsys):
    def image_nll(logits, x):
        raise NotImplementedError("Exercise: replace this line with your code")

    def bits_per_dim(nll, dims):
        raise NotImplementedError("Exercise: replace this line with your code")

    assert not check_image_nll(image_nll, bits_per_dim).passed
    assert yours_or_reference(image_nll, bernoulli_nll) is bernoulli_nll
    assert yours_or_reference(bits_per_dim, nats_to_bits_per_dim) is nats_to_bits_per_dim
    assert "using the reference `image_nll`: yours does not pass its check yet" in capsys.readouterr().out
