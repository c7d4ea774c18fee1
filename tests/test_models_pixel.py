"""PixelRNN and PixelCNN reference models: causal by gradients, blind spot or not, exact fast sampling."""

import math

import pytest
import torch

from course_utils.models.autoregressive import (
    bernoulli_nll,
    draw_uniforms,
    evaluate_nll,
    nll_loss,
    receptive_field,
    receptive_fields,
    sample_naive,
    seconds_per_epoch,
    train_autoregressive,
)
from course_utils.models.pixelcnn import GatedPixelCNN, MaskedConv2d, PixelCNN, causal_mask
from course_utils.models.pixelrnn import RowLSTMPixelRNN

SIZE = 10


pytestmark = pytest.mark.usefixtures("one_thread")


def small_models():
    torch.manual_seed(0)
    return {
        "pixelcnn": PixelCNN(channels=8, layers=3, first_kernel=5),
        "gated": GatedPixelCNN(channels=8, layers=3, first_kernel=5),
        "rowlstm": RowLSTMPixelRNN(hidden=8, layers=2, first_kernel=5),
    }


def test_causal_mask_values():
    assert causal_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert causal_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert causal_mask(5, "B").sum() == 13
    for bad in [(4, "A"), (3, "C"), (0, "B")]:
        with pytest.raises(ValueError):
            causal_mask(*bad)


def test_masked_conv_keeps_its_mask_after_training_steps():
    conv = MaskedConv2d(1, 2, 3, "A")
    x = torch.rand(1, 1, 5, 5, requires_grad=True)
    conv(x)[0, 0, 2, 2].backward()
    assert x.grad[0, 0, 2, 2] == 0 and x.grad[0, 0, 3].abs().sum() == 0 and x.grad[0, 0, 2, 1] != 0


@pytest.mark.parametrize("name", ["pixelcnn", "gated", "rowlstm"])
def test_models_are_causal(name):
    model = small_models()[name].eval()
    assert model(torch.zeros(2, 1, SIZE, SIZE)).shape == (2, 1, SIZE, SIZE)
    for row, col in [(0, 0), (0, 5), (4, 0), (4, 4), (5, 9), (9, 9)]:
        grad = receptive_field(model, row, col, SIZE, SIZE).flatten()
        index = row * SIZE + col
        assert grad[index:].abs().sum() == 0, f"{name}: output ({row}, {col}) sees itself or later pixels"
        if col > 0:
            assert grad[index - 1] > 0, f"{name}: output ({row}, {col}) does not see the pixel to its left"
        if row > 0:
            assert grad[index - SIZE] > 0, f"{name}: output ({row}, {col}) does not see the pixel above it"


def test_plain_stack_has_a_blind_spot_that_gated_stacks_remove():
    torch.manual_seed(0)
    plain = PixelCNN(channels=4, layers=6, first_kernel=3).eval()
    gated = GatedPixelCNN(channels=4, layers=6, first_kernel=3).eval()
    row, col = 8, 3
    region = torch.zeros(SIZE, SIZE, dtype=torch.bool)  # the rows above within 6 steps, all columns
    region[row - 5:row, :] = True
    seen_plain = receptive_field(plain, row, col, SIZE, SIZE) > 0
    seen_gated = receptive_field(gated, row, col, SIZE, SIZE) > 0
    assert seen_gated[region].all(), "the gated PixelCNN should see every pixel of the rows above"
    assert not seen_plain[region].all(), "the plain stack should miss pixels up and to the right"
    assert not seen_plain[row - 1, col + 5] and seen_gated[row - 1, col + 5]


@pytest.mark.parametrize("start", [0, 37])
def test_fast_sampler_gives_the_naive_samples(start):
    model = small_models()["gated"].eval()
    u = draw_uniforms(5, SIZE, SIZE, seed=2)
    known = (torch.rand(5, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    kwargs = {"known": known, "start": start} if start else {}
    naive = sample_naive(model, u, **kwargs)
    fast = model.sample_fast(u, **kwargs)
    assert torch.equal(naive, fast)
    assert torch.all((naive == 0) | (naive == 1))
    if start:
        assert torch.equal(fast.flatten(1)[:, :start], known.flatten(1)[:, :start])
    assert not torch.equal(naive, sample_naive(model, draw_uniforms(5, SIZE, SIZE, seed=3)))


@pytest.mark.parametrize("first_kernel", [5, 7])
def test_row_lstm_fast_sampler_gives_the_naive_samples(first_kernel):
    torch.manual_seed(1)
    model = RowLSTMPixelRNN(hidden=8, layers=2, first_kernel=first_kernel).eval()
    u = draw_uniforms(4, SIZE, SIZE, seed=5)
    naive = sample_naive(model, u)
    assert torch.equal(model.sample_fast(u), naive)
    assert 0 < naive.mean() < 1  # the samples are not all one colour, so the comparison means something
    assert not torch.equal(model.sample_fast(draw_uniforms(4, SIZE, SIZE, seed=6)), naive)
    with pytest.raises(ValueError, match="eval"):
        model.train().sample_fast(u)


def test_naive_sampling_follows_the_model():
    # A "model" that always says p = sigmoid(3): the share of ones is about sigmoid(3) = 0.95.
    def model(x):
        return torch.full_like(x, 3.0)

    x = sample_naive(model, draw_uniforms(20, 8, 8))
    assert abs(x.mean().item() - 1 / (1 + math.exp(-3))) < 0.03


def test_bernoulli_nll_and_loss_units():
    x = torch.tensor([[[[1.0, 0.0]]]])
    logits = torch.zeros(1, 1, 1, 2)
    assert torch.allclose(bernoulli_nll(logits, x), torch.tensor([2 * math.log(2)]))
    model = small_models()["gated"]
    out = nll_loss(model, [torch.rand(3, 1, SIZE, SIZE)])
    assert out["loss"].dim() == 0 and torch.isclose(out["bpd"], out["loss"] / (SIZE * SIZE * math.log(2)))
    nll = evaluate_nll(model, (torch.rand(7, 1, SIZE, SIZE) < 0.5).float(), batch_size=3)
    assert nll.shape == (7,) and (nll > 0).all()


def test_wrong_inputs_raise_value_errors():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="binary"):
        bernoulli_nll(torch.zeros_like(x), x + 0.5)
    with pytest.raises(ValueError, match="shape"):
        bernoulli_nll(torch.zeros(1, 1, 4, 3), x)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        GatedPixelCNN(4, 2)(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RowLSTMPixelRNN(4, 1)(torch.full((1, 1, 4, 4), 2.0))
    with pytest.raises(ValueError, match="start"):
        sample_naive(lambda t: t, torch.rand(1, 1, 4, 4), start=3)
    with pytest.raises(ValueError, match="outside"):
        receptive_field(lambda t: t, 4, 0, 4, 4)
    training = GatedPixelCNN(4, 2, dropout=0.5).train()
    with pytest.raises(ValueError, match="eval"):
        training.sample_fast(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="eval"):
        sample_naive(training, torch.rand(1, 1, 4, 4))


def test_training_lowers_the_nll_and_timing_is_positive():
    torch.manual_seed(0)
    images = torch.zeros(64, 1, SIZE, SIZE)
    images[:, :, 3:7, 4:6] = 1.0  # every image is the same bar: easy to learn
    model = GatedPixelCNN(channels=8, layers=2, first_kernel=3)
    before = evaluate_nll(model, images).mean()
    history = train_autoregressive(model, images, epochs=8, lr=1e-2, batch_size=8, progress=False)
    assert len(history.epochs) == 8
    assert evaluate_nll(model, images).mean() < 0.5 * before
    assert seconds_per_epoch(RowLSTMPixelRNN(4, 1), images, steps=2, batch_size=16) > 0


def test_batched_receptive_fields_match_one_at_a_time():
    model = small_models()["rowlstm"].eval()
    pixels = [(0, 3), (4, 4), (9, 0)]
    batched = receptive_fields(model, pixels, SIZE, SIZE)
    assert batched.shape == (3, SIZE, SIZE)
    for k, (row, col) in enumerate(pixels):
        assert torch.equal(batched[k] != 0, receptive_field(model, row, col, SIZE, SIZE) != 0)
