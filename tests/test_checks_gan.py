"""The checks of notebook 06 pass the solutions, fail the stubs and name the cause of typical mistakes."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.gan import (
    check_discriminator_loss,
    check_gan_step,
    check_generator_loss,
    check_gradient_penalty,
    check_interpolate,
)
from course_utils.models import gan


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def fails_with(result, words):
    assert not result.passed, "the check passed a wrong answer"
    assert words in result.message, result.message


# --- the discriminator's loss ------------------------------------------------------------------------

def d_loss_solution(real_logits, fake_logits):
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def d_loss_bce(real_logits, fake_logits):
    bce = F.binary_cross_entropy_with_logits
    return bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))


@pytest.mark.parametrize("solution", [d_loss_solution, d_loss_bce, gan.discriminator_loss])
def test_discriminator_loss_solutions_pass(solution):
    result = check_discriminator_loss(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda r, f: d_loss_solution(f, r), "swapped"),
    (lambda r, f: -F.logsigmoid(-r).mean() - F.logsigmoid(f).mean(), "swapped"),
    (lambda r, f: -d_loss_solution(r, f), "wrong sign"),
    (lambda r, f: d_loss_solution(r, f) / 2, "do not average them"),
    (lambda r, f: -F.logsigmoid(r).sum() - F.logsigmoid(-f).sum(), "MEAN over each batch"),
    (lambda r, f: -torch.cat([F.logsigmoid(r), F.logsigmoid(-f)]).mean(), "real and fake samples together"),
    (lambda r, f: -(torch.log(r).mean() + torch.log(1 - f).mean()), "not probabilities"),
    (lambda r, f: F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f)),
     "not probabilities"),
    (lambda r, f: d_loss_bce(torch.sigmoid(r), torch.sigmoid(f)), "sigmoid was applied twice"),
    (lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()), "F.logsigmoid"),
    (lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
     + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)), "exact for large logits"),
    (lambda r, f: -F.logsigmoid(r) - F.logsigmoid(-f).mean(), ".mean()"),
    (lambda r, f: float(d_loss_solution(r, f)), "torch tensor"),
    (lambda r, f: d_loss_solution(r, f).detach(), "no gradient"),
    (lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f)).mean(), "differ in size"),
])
def test_discriminator_loss_mistakes_are_named(wrong, words):
    fails_with(check_discriminator_loss(wrong), words)


def test_discriminator_loss_stub_fails():
    result = check_discriminator_loss(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


def test_discriminator_loss_in_place_change_is_named():
    def in_place(real_logits, fake_logits):
        out = d_loss_solution(real_logits, fake_logits)
        real_logits.mul_(0)
        return out

    fails_with(check_discriminator_loss(in_place), "changed its inputs")


# --- the generator's loss ------------------------------------------------------------------------------

def g_loss_solution(fake_logits):
    return -F.logsigmoid(fake_logits).mean()


@pytest.mark.parametrize("solution", [
    g_loss_solution,
    lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
    gan.generator_loss,
])
def test_generator_loss_solutions_pass(solution):
    result = check_generator_loss(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda f: F.logsigmoid(-f).mean(), "SATURATING"),
    (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), "SATURATING"),
    (lambda f: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)), "called REAL, label 1"),
    (lambda f: F.logsigmoid(f).mean(), "wrong sign"),
    (lambda f: -F.logsigmoid(f).sum(), "MEAN over the batch"),
    (lambda f: -torch.log(f).mean(), "not probabilities"),
    (lambda f: F.binary_cross_entropy(f, torch.ones_like(f)), "not probabilities"),
    (lambda f: F.binary_cross_entropy_with_logits(torch.sigmoid(f), torch.ones_like(f)), "sigmoid was applied twice"),
    (lambda f: -F.logsigmoid(f), ".mean()"),
    (lambda f: g_loss_solution(f).item(), "torch tensor"),
    (lambda f: -torch.log(torch.sigmoid(f)).mean(), "rounds to 0 in float32"),
])
def test_generator_loss_mistakes_are_named(wrong, words):
    fails_with(check_generator_loss(wrong), words)


def test_generator_loss_stub_fails():
    result = check_generator_loss(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


# --- one training step -----------------------------------------------------------------------------------

def make_step(detach=True, zero_d=True, zero_g=True, swap=False, saturating=False, g_first=False, stale_d=False,
              retain=False, fresh_z=False, d_step=True, g_step=True, report_after=False, g_label_zero=False):
    """The solution, or the solution with one typical mistake."""

    def step(generator, discriminator, g_opt, d_opt, real, z):
        if fresh_z:
            z = torch.randn_like(z)
        fake = generator(z)
        if g_first:
            g_opt.zero_grad()
            gan.generator_loss(discriminator(fake)).backward()
            g_opt.step()
            fake = generator(z)
        stale_logits = discriminator(fake) if stale_d else None
        if zero_d:
            d_opt.zero_grad()
        real_logits, fake_logits = discriminator(real), discriminator(fake.detach() if detach else fake)
        if swap:
            real_logits, fake_logits = fake_logits, real_logits
        d_loss = gan.discriminator_loss(real_logits, fake_logits)
        d_loss.backward(retain_graph=retain)
        if d_step:
            d_opt.step()
        if report_after:
            d_loss = gan.discriminator_loss(discriminator(real), discriminator(fake.detach()))
        if not g_first:
            if zero_g:
                g_opt.zero_grad()
            logits = stale_logits if stale_d else discriminator(fake)
            if g_label_zero:
                g_loss = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
            else:
                g_loss = gan.generator_loss(logits, "saturating" if saturating else "non-saturating")
            g_loss.backward()
            if g_step:
                g_opt.step()
        else:
            g_loss = gan.generator_loss(discriminator(fake))
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    return step


def test_gan_step_solution_passes():
    result = check_gan_step(make_step())
    assert result.passed, result.message


def test_gan_step_with_no_grad_fakes_for_the_discriminator_passes():
    def step(generator, discriminator, g_opt, d_opt, real, z):
        with torch.no_grad():
            fake = generator(z)
        d_opt.zero_grad()
        d_loss = gan.discriminator_loss(discriminator(real), discriminator(fake))
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad()
        g_loss = gan.generator_loss(discriminator(generator(z)))
        g_loss.backward()
        g_opt.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    result = check_gan_step(step)
    assert result.passed, result.message


@pytest.mark.parametrize("kwargs, words", [
    ({"detach": False}, "detach"),
    ({"detach": False, "retain": True}, "fake.detach()"),
    ({"detach": False, "retain": True, "zero_g": False}, "fake.detach()"),
    ({"zero_d": False}, "d_opt.zero_grad()"),
    ({"zero_g": False}, "g_opt.zero_grad()"),
    ({"swap": True}, "real and fake swapped"),
    ({"saturating": True}, "saturating loss"),
    ({"g_first": True}, "update the discriminator FIRST"),
    ({"stale_d": True}, "NEW forward pass"),
    ({"d_step": False}, "d_opt.step() was never called"),
    ({"g_step": False}, "g_opt.step() was never called"),
    ({"fresh_z": True}, "the z given"),
    ({"report_after": True}, "before its update"),
    ({"g_label_zero": True}, "look FAKE"),
])
def test_gan_step_mistakes_are_named(kwargs, words):
    fails_with(check_gan_step(make_step(**kwargs)), words)


def test_gan_step_generator_updated_with_the_discriminators_optimiser_is_named():
    def step(generator, discriminator, g_opt, d_opt, real, z):
        fake = generator(z)
        d_opt.zero_grad()
        d_loss = gan.discriminator_loss(discriminator(real), discriminator(fake.detach()))
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad()
        g_loss = gan.generator_loss(discriminator(fake))
        g_loss.backward()
        d_opt.step()  # the mistake: the generator's update through d_opt
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    fails_with(check_gan_step(step), "discriminator's optimiser")


def test_gan_step_swapped_optimisers_are_named():
    def step(generator, discriminator, g_opt, d_opt, real, z):
        fake = generator(z)
        g_opt.zero_grad()
        d_loss = gan.discriminator_loss(discriminator(real), discriminator(fake.detach()))
        d_loss.backward()
        g_opt.step()
        d_opt.zero_grad()
        g_loss = gan.generator_loss(discriminator(fake))
        g_loss.backward()
        d_opt.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    fails_with(check_gan_step(step), "optimisers are swapped")


def test_gan_step_returning_tensors_is_named():
    def step(generator, discriminator, g_opt, d_opt, real, z):
        out = make_step()(generator, discriminator, g_opt, d_opt, real, z)
        return {name: torch.tensor(value, requires_grad=True) for name, value in out.items()}

    fails_with(check_gan_step(step), "plain Python float")


def test_gan_step_must_return_both_losses():
    def step(generator, discriminator, g_opt, d_opt, real, z):
        make_step()(generator, discriminator, g_opt, d_opt, real, z)
        return None

    fails_with(check_gan_step(step), "return a dict")


def test_gan_step_stub_fails():
    result = check_gan_step(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


# --- interpolation ---------------------------------------------------------------------------------------

def interpolate_solution(z0, z1, steps):
    t = torch.linspace(0, 1, steps)[:, None]
    return (1 - t) * z0 + t * z1


@pytest.mark.parametrize("solution", [interpolate_solution, gan.interpolate,
                                      lambda z0, z1, s: torch.stack([torch.lerp(z0, z1, i / (s - 1))
                                                                     for i in range(s)])])
def test_interpolate_solutions_pass(solution):
    result = check_interpolate(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda z0, z1, s: interpolate_solution(z1, z0, s), "backwards"),
    (lambda z0, z1, s: interpolate_solution(z0, z1, s).T, "(d, steps)"),
    (lambda z0, z1, s: torch.stack([z0 + (z1 - z0) * i / s for i in range(s)]), "stops short of z1"),
    (lambda z0, z1, s: torch.stack([z0 + (z1 - z0) * (i + 1) / s for i in range(s)]), "row 0"),
    (lambda z0, z1, s: interpolate_solution(z0, z1, s).double(), "dtype"),
    (lambda z0, z1, s: interpolate_solution(z0, z1, s)[:, :1], "shape"),
    (lambda z0, z1, s: torch.stack([z0 + (z1 - z0) * (i / (s - 1)) ** 2 for i in range(s)]), "evenly spaced"),
    (lambda z0, z1, s: interpolate_solution(z0, z1, s).numpy(), "tensor"),
])
def test_interpolate_mistakes_are_named(wrong, words):
    fails_with(check_interpolate(wrong), words)


def test_interpolate_stub_fails():
    result = check_interpolate(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="SATURATING"):
        check_generator_loss(lambda f: F.logsigmoid(-f).mean())


# --- the gradient penalty ---------------------------------------------------------------------------------

def penalty(critic, real, fake, mix=None, *, batch_mix=False, batch_norm=False, squared=False, no_create=False,
            wrt="x_hat", no_minus_one=False, reversed_mix=False, per_coordinate=False, randn=False, dim1=False,
            mean_scores=False, ignore_mix=False, no_square=False, batch_sum=False, scaled=False, midpoint=False):
    """The solution, or the solution with one typical mistake."""
    n = len(real)
    shape = (n, *[1] * (real.dim() - 1))
    if mix is None or ignore_mix:
        if batch_mix:
            mix = torch.rand(1).expand(n)
        elif per_coordinate:
            mix = torch.rand(real.shape)
        elif randn:
            mix = torch.randn(n)
        elif midpoint:
            mix = torch.full((n,), 0.5)
        else:
            mix = torch.rand(n)
    m = mix if mix.shape == real.shape else mix.reshape(shape)
    if reversed_mix:
        m = 1 - m
    if wrt == "real":
        real = real.clone().requires_grad_(True)
        x = m * real + (1 - m) * fake
        target = real
    else:
        x = (m * real + (1 - m) * fake).requires_grad_(True)
        target = x
    scores = critic(x)
    (g,) = torch.autograd.grad(scores.mean() if mean_scores else scores.sum(), target, create_graph=not no_create)
    if dim1:
        norms = g.norm(dim=1)
    elif batch_norm:
        norms = g.norm()
    else:
        norms = g.flatten(1).norm(dim=1)
    if squared:
        norms = norms ** 2
    per_sample = (norms if no_minus_one else norms - 1)
    per_sample = per_sample.abs() if no_square else per_sample ** 2
    out = per_sample.sum() if batch_sum else per_sample.mean()
    return 10 * out if scaled else out


def penalty_with(**mistake):
    def fn(critic, real, fake, mix=None):
        return penalty(critic, real, fake, mix, **mistake)

    return fn


@pytest.mark.parametrize("solution", [penalty_with(), gan.gradient_penalty])
def test_gradient_penalty_solutions_pass(solution):
    result = check_gradient_penalty(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("mistake, words", [
    ({"batch_mix": True}, "every sample got the same weight"),
    ({"midpoint": True}, "every sample got the same weight"),
    ({"per_coordinate": True}, "ONE weight per sample"),
    ({"randn": True}, "torch.rand"),
    ({"batch_norm": True}, "ONE norm over the whole batch"),
    ({"squared": True}, "SQUARED norm"),
    ({"no_create": True}, "create_graph=True"),
    ({"wrt": "real"}, "gradient w.r.t. `real`"),
    ({"no_minus_one": True}, "'- 1' is missing"),
    ({"reversed_mix": True}, "wrong way round"),
    ({"dim1": True}, "one dimension only"),
    ({"mean_scores": True}, "MEAN of the scores"),
    ({"ignore_mix": True}, "use it"),
    ({"no_square": True}, "square is missing"),
    ({"batch_sum": True}, "sum over the batch"),
    ({"scaled": True}, "lambda = 10"),
])
def test_gradient_penalty_mistakes_are_named(mistake, words):
    fails_with(check_gradient_penalty(penalty_with(**mistake)), words)


@pytest.mark.parametrize("wrong, words", [
    (lambda c, r, f, mix=None: penalty(c, r, r, mix), "REAL samples"),
    (lambda c, r, f, mix=None: c(r).sum() * 0 + penalty(c, r, f, mix).detach(), "create_graph=True"),
    (lambda c, r, f, mix=None: penalty(c, r, f, mix).item(), "torch tensor"),
    (lambda c, r, f, mix=None: torch.autograd.grad(c(r.requires_grad_(True)), r), "SUM of the scores"),
    (lambda c, r, f, mix=None: (lambda x: torch.autograd.grad(c(x).sum(), x))(r * 0.5 + f * 0.5), "require grad"),
    (lambda c, r, f: penalty(c, r, f), "could not be called"),
    (lambda c, r, f, mix=None: penalty(c, r, f, mix).reshape(1), ".mean()"),
    (lambda c, r, f, mix=None: gp_from_grad(c, r, f, mix, lambda g: ((g.flatten(1).pow(2).mean(1).sqrt() - 1) ** 2)
                                            .mean()), "root mean square"),
    (lambda c, r, f, mix=None: gp_from_grad(c, r, f, mix, lambda g: ((g.flatten(1).abs().sum(1) - 1) ** 2).mean()),
     "L1 norm"),
    (lambda c, r, f, mix=None: gp_from_grad(c, r, f, mix, lambda g: (torch.relu(g.flatten(1).norm(dim=1) - 1) ** 2)
                                            .mean()), "one-sided"),
    (lambda c, r, f, mix=None: gp_from_grad(c, r, f, mix, lambda g: ((g - 1) ** 2).mean()), "every coordinate"),
    (lambda c, r, f, mix=None: gp_from_grad(c, r, f, mix, lambda g: ((g.flatten(1).norm(dim=1) - 1) ** 2).mean(),
                                            tuple_grad=True), "TUPLE"),
    (lambda c, r, f, mix=None: (lambda x: torch.autograd.grad(c(x).sum(), x))(
        (mix[:, None] * r + (1 - mix[:, None]) * f).requires_grad_(True)), "whole sample"),
])
def test_gradient_penalty_other_mistakes_are_named(wrong, words):
    fails_with(check_gradient_penalty(wrong), words)


def gp_from_grad(critic, real, fake, mix, reduce, tuple_grad=False):
    """The penalty's interpolates and gradient done right, then ``reduce(grad)``: for mistakes in the last part."""
    n = len(real)
    mix = torch.rand(n) if mix is None else mix
    m = mix.reshape(n, *[1] * (real.dim() - 1))
    x = (m * real + (1 - m) * fake).requires_grad_(True)
    grads = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return reduce(grads if tuple_grad else grads[0])


def image_only(critic, real, fake, mix=None, *, drawn_only=False):
    """Weights shaped for image batches (N, 1, H, W) only: given ones (or, with drawn_only, drawn ones)."""
    if mix is None:
        mix = torch.rand(len(real), 1, 1, 1)
    elif not drawn_only:
        mix = mix[:, None, None, None]
    else:
        mix = mix.reshape(len(real), *[1] * (real.dim() - 1))
    x = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("drawn_only, words", [(False, "points (N, 6)"), (True, "with mix=None your penalty raised")])
def test_gradient_penalty_for_images_only_is_named(drawn_only, words):
    fails_with(check_gradient_penalty(lambda c, r, f, mix=None: image_only(c, r, f, mix, drawn_only=drawn_only)),
               words)


def test_gradient_penalty_backward_inside_is_named():
    def inside(critic, real, fake, mix=None):
        out = penalty(critic, real, fake, mix)
        out.backward(retain_graph=True)
        return out

    fails_with(check_gradient_penalty(inside), "called backward()")


def test_gradient_penalty_stub_and_none_fail():
    assert check_gradient_penalty(stub).message == NOT_IMPLEMENTED_HINT
    fails_with(check_gradient_penalty(lambda c, r, f, mix=None: None), "return")
