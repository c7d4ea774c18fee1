"""The reference GAN pieces: shapes, value ranges, losses against hand-computed values, the training step."""

import math

import pytest
import torch

from course_utils.data import ring_centres, ring_of_gaussians
from course_utils.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    interpolate,
    make_gan_step,
    mode_coverage,
)
from course_utils.train import run_steps


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_mlp_pair_shapes():
    g, d = MLPGenerator(z_dim=4, hidden=16), MLPDiscriminator(hidden=16)
    x = g(torch.randn(7, 4))
    assert x.shape == (7, 2)
    assert d(x).shape == (7,)
    assert g.sample(5).shape == (5, 2) and not g.sample(5).requires_grad


def test_dcgan_pair_shapes_and_range():
    g, d = DCGANGenerator(z_dim=8, width=4), DCGANDiscriminator(width=4)
    images = g(torch.randn(3, 8))
    assert images.shape == (3, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1
    assert d(images).shape == (3,)


def test_sample_is_seeded_and_keeps_the_training_mode():
    g = DCGANGenerator(z_dim=8, width=4)
    g.train()
    a = g.sample(4, generator=torch.Generator().manual_seed(1))
    b = g.sample(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and g.training


@pytest.mark.parametrize("call, words", [
    (lambda: MLPGenerator(z_dim=4)(torch.randn(3, 5)), r"\(N, 4\)"),
    (lambda: MLPGenerator()(torch.zeros(3, 8, dtype=torch.long)), "float"),
    (lambda: MLPDiscriminator()(torch.randn(3, 3)), r"\(N, 2\)"),
    (lambda: DCGANGenerator(z_dim=8, width=4)(torch.randn(8)), "2 dimensions"),
    (lambda: DCGANDiscriminator(width=4)(torch.rand(2, 28, 28)), "4 dimensions"),
    (lambda: DCGANDiscriminator(width=4)(torch.rand(2, 3, 28, 28)), r"\(N, 1, 28, 28\)"),
    (lambda: MLPGenerator(z_dim=0), "positive"),
    (lambda: DCGANGenerator(refine=0), "must be positive, got .*refine=0"),
    (lambda: MLPGenerator().sample(0), "positive int"),
    (lambda: discriminator_loss(torch.zeros(3, 1), torch.zeros(3)), "1 dimensions"),
    (lambda: discriminator_loss(torch.zeros(3), torch.zeros(0)), "empty"),
    (lambda: generator_loss(torch.zeros(3), "minimax"), "unknown generator loss"),
    (lambda: interpolate(torch.zeros(3), torch.zeros(4), 5), "same shape"),
    (lambda: interpolate(torch.zeros(3), torch.zeros(3), 1), "steps"),
    (lambda: mode_coverage(torch.zeros(5, 3), ring_centres(), 0.05), r"\(N, 2\)"),
    (lambda: gradient_penalty(MLPDiscriminator(), torch.zeros(4, 2), torch.zeros(3, 2)), "same shape"),
])
def test_wrong_inputs_raise_value_errors(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_losses_match_hand_computed_values():
    # D(x) = sigmoid(0) = 1/2 everywhere: each term is log 2.
    zeros = torch.zeros(4)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zeros).item() == pytest.approx(math.log(2))
    assert generator_loss(zeros, "saturating").item() == pytest.approx(-math.log(2))
    # Confident logits stay finite and exact.
    assert discriminator_loss(torch.tensor([-30.0]), torch.tensor([30.0])).item() == pytest.approx(60.0, rel=1e-5)
    assert generator_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_non_saturating_gradient_is_strong_where_the_saturating_one_vanishes():
    rejected = torch.tensor([-8.0], requires_grad=True)
    generator_loss(rejected).backward()
    strong = rejected.grad.abs().item()
    rejected.grad = None
    generator_loss(rejected, "saturating").backward()
    assert strong > 0.99 and rejected.grad.abs().item() < 1e-3


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    critic = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))  # gradient norm exactly 1 everywhere
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert gradient_penalty(lambda x: critic(x).squeeze(1), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        critic.weight.mul_(3.0)  # norm 3: penalty (3 - 1)^2
    assert gradient_penalty(lambda x: critic(x).squeeze(1), real, fake).item() == pytest.approx(4.0)


def test_interpolate_ends_and_spacing():
    z0, z1 = torch.zeros(3), torch.tensor([1.0, 2.0, 3.0])
    path = interpolate(z0, z1, 5)
    assert path.shape == (5, 3)
    assert torch.equal(path[0], z0) and torch.allclose(path[-1], z1) and torch.allclose(path[2], z1 / 2)


def test_mode_coverage_counts_modes_and_quality():
    centres = ring_centres()
    on_three = centres[[0, 0, 1, 1, 2, 2]]
    far = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    out = mode_coverage(torch.cat([on_three, far]), centres, std=0.05)
    assert out["modes_covered"] == 3
    assert out["high_quality_share"] == pytest.approx(6 / 8)
    assert out["counts"].tolist() == [2, 2, 2, 0, 0, 0, 0, 0]
    assert mode_coverage(ring_of_gaussians(4000, seed=0), centres, std=0.05)["modes_covered"] == 8


@pytest.mark.parametrize("loss", ["non-saturating", "saturating", "wgan-gp"])
def test_step_updates_d_every_call_and_g_every_kth_call(loss):
    torch.manual_seed(0)
    g, d = MLPGenerator(z_dim=2, hidden=8), MLPDiscriminator(hidden=8)
    g_opt, d_opt = torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)
    step = make_gan_step(g, d, g_opt, d_opt, loss=loss, k=3)
    real = ring_of_gaussians(16, seed=0)
    for call in range(1, 7):
        g_before, d_before = params(g), params(d)
        out = step(real)
        assert set(out) == {"d_loss", "g_loss"} and all(math.isfinite(v) for v in out.values())
        assert not same(params(d), d_before), "the discriminator must change on every call"
        assert same(params(g), g_before) == (call % 3 != 0), f"call {call}: the generator steps every 3rd call"


def test_step_works_with_run_steps_and_tuples():
    torch.manual_seed(0)
    g, d = DCGANGenerator(z_dim=4, width=4), DCGANDiscriminator(width=4)
    step = make_gan_step(g, d, torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters()))
    loader = [(torch.rand(8, 1, 28, 28), torch.zeros(8)) for _ in range(3)]
    history = run_steps(step, loader, epochs=1, progress=False)
    assert len(history.steps) == 3 and {"d_loss", "g_loss"} <= set(history.steps[0])


@pytest.mark.parametrize("kwargs, words", [({"loss": "hinge"}, "unknown loss"), ({"k": 0}, "positive int")])
def test_step_rejects_unknown_settings(kwargs, words):
    g, d = MLPGenerator(), MLPDiscriminator()
    with pytest.raises(ValueError, match=words):
        make_gan_step(g, d, torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1),
                      **kwargs)
