"""The checks of notebook 06 pass the solutions, fail the stubs and name the cause of typical mistakes."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.gan import check_discriminator_loss, check_gan_step, check_generator_loss, check_interpolate
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
])
def test_generator_loss_mistakes_are_named(wrong, words):
    fails_with(check_generator_loss(wrong), words)


def test_generator_loss_stub_fails():
    result = check_generator_loss(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


# --- one training step -----------------------------------------------------------------------------------

def make_step(detach=True, zero_d=True, zero_g=True, swap=False, saturating=False, g_first=False, stale_d=False,
              retain=False, fresh_z=False, d_step=True, g_step=True, report_after=False):
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
])
def test_gan_step_mistakes_are_named(kwargs, words):
    fails_with(check_gan_step(make_step(**kwargs)), words)


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
