"""The checks of notebook 08 pass the solutions, fail the stubs and name the cause of typical mistakes."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT
from course_utils.checks.diffusion import (
    check_cfg_combine,
    check_ddim_step,
    check_ddpm_step,
    check_diffusion_loss,
    check_q_sample,
)
from course_utils.models import diffusion

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def fails_with(result, words):
    assert not result.passed, "the check passed a wrong answer"
    assert words in result.message, result.message


def col(v, x):
    return v.view(-1, *[1] * (x.dim() - 1))


@pytest.mark.parametrize("check", [check_q_sample, check_diffusion_loss, check_ddpm_step, check_ddim_step,
                                   check_cfg_combine])
def test_stub_fails_with_the_not_implemented_hint(check):
    result = check(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("check", [check_q_sample, check_diffusion_loss, check_ddpm_step, check_ddim_step,
                                   check_cfg_combine])
def test_none_and_garbage_get_a_message(check):
    for fn in (lambda *a: None, lambda *a: 3.0, lambda *a: torch.zeros(2, dtype=torch.int64),
               lambda *a: 1 / 0, lambda *a: torch.zeros(7, 7, dtype=torch.float64)):
        result = check(fn)
        assert not result.passed and result.message


# --- q_sample --------------------------------------------------------------------------------------

def q_solution(x0, t, noise, schedule):
    a = col(schedule.alpha_bars[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def test_q_sample_solutions_pass():
    assert check_q_sample(q_solution).passed
    assert check_q_sample(diffusion.q_sample).passed


@pytest.mark.parametrize("wrong, words", [
    (lambda x0, t, n, s: col(s.alphas[t], x0).sqrt() * x0 + (1 - col(s.alphas[t], x0)).sqrt() * n, "alpha_t"),
    (lambda x0, t, n, s: col(s.alpha_bars[t], x0) * x0 + (1 - col(s.alpha_bars[t], x0)) * n, "square root"),
    (lambda x0, t, n, s: col(s.alpha_bars[t], x0) * x0 + (1 - col(s.alpha_bars[t], x0)).sqrt() * n, "square root"),
    (lambda x0, t, n, s: q_solution(x0, t - 1, n, s), "off by one"),
    (lambda x0, t, n, s: q_solution(x0, t + 1, n, s), "off by one"),
    (lambda x0, t, n, s: q_solution(n, t, x0, s), "swapped"),
    (lambda x0, t, n, s: q_solution(x0, t, torch.randn_like(n), s), "`noise` argument"),
    (lambda x0, t, n, s: s.alpha_bars[t].sqrt() * x0 + (1 - s.alpha_bars[t]).sqrt() * n, "broadcast"),
    (lambda x0, t, n, s: s.alpha_bars[t].view(-1, 1, 1, 1).sqrt() * x0
     + (1 - s.alpha_bars[t].view(-1, 1, 1, 1)).sqrt() * n, "2-D points"),
    (lambda x0, t, n, s: q_solution(x0, torch.full_like(t, int(t[0])), n, s), "PER sample"),
    (lambda x0, t, n, s: q_solution(x0, t, n, s).long(), "float"),
])
def test_q_sample_mistakes_are_named(wrong, words):
    fails_with(check_q_sample(wrong), words)


def test_q_sample_in_place_is_named():
    def in_place(x0, t, n, s):
        return x0.mul_(col(s.alpha_bars[t], x0).sqrt()).add_(col(1 - s.alpha_bars[t], x0).sqrt() * n)
    fails_with(check_q_sample(in_place), "changed its inputs")


# --- the loss --------------------------------------------------------------------------------------

def loss_solution(net, x0, labels, schedule, p_uncond, null_label):
    t = torch.randint(0, schedule.T, (len(x0),))
    noise = torch.randn_like(x0)
    keep = torch.rand(len(x0)) >= p_uncond
    labels = torch.where(keep, labels, torch.full_like(labels, null_label))
    return F.mse_loss(net(q_solution(x0, t, noise, schedule), t, labels), noise)


def loss_variant(*, t_low=0, t_high=None, signal="alpha_bars", sqrt=True, drop=True, keep_prob=False, target="noise",
                 reduce="mean", shift=0, detach=False, pass_labels=True, fixed_p=None):
    def fn(net, x0, labels, schedule, p_uncond, null_label):
        T = schedule.T
        t = torch.randint(t_low, T if t_high is None else t_high, (len(x0),))
        noise = torch.randn_like(x0)
        a = col(getattr(schedule, signal)[(t + shift).clamp(max=T - 1)], x0)  # t - 1 wraps at 0
        x_t = (a.sqrt() if sqrt else a) * x0 + ((1 - a).sqrt() if sqrt else 1 - a) * noise
        p = p_uncond if fixed_p is None else fixed_p
        dropped = torch.rand(len(x0)) < (1 - p if keep_prob else p)
        y = torch.where(dropped, torch.full_like(labels, null_label), labels) if drop else labels
        pred = net(x_t, t, y) if pass_labels else net(x_t, t)
        goal = noise if target == "noise" else x0
        err = (pred - goal).pow(2)
        out = {"mean": err.mean(), "sum": err.sum(), "per_sample": err.sum(1).mean(), "sqrt": err.mean().sqrt(),
               "abs": (pred - goal).abs().mean()}[reduce]
        return out.detach() if detach else out
    return fn


def test_loss_solutions_pass():
    assert check_diffusion_loss(loss_solution).passed
    assert check_diffusion_loss(loss_variant()).passed
    assert check_diffusion_loss(diffusion.diffusion_loss).passed


@pytest.mark.parametrize("wrong, words", [
    (loss_variant(drop=False), "never dropped"),
    (loss_variant(keep_prob=True), "instead of dropping"),
    (loss_variant(fixed_p=0.3, ), "p_uncond = 0"),
    (loss_variant(signal="alphas"), "alpha_t"),
    (loss_variant(sqrt=False), "square root"),
    (loss_variant(shift=1), "off by one"),
    (loss_variant(shift=-1), "off by one"),
    (loss_variant(t_low=1), "never 0"),
    (loss_variant(t_high=9), "never reaches the last step"),
    (loss_variant(t_low=1, t_high=11), "off by one"),
    (loss_variant(target="x0"), "NOISE"),
    (loss_variant(reduce="sum"), "sum"),
    (loss_variant(reduce="per_sample"), "each sample's entries"),
    (loss_variant(reduce="sqrt"), "square root of the mean"),
    (loss_variant(reduce="abs"), "ABSOLUTE"),
    (loss_variant(detach=True), "no gradient"),
    (loss_variant(pass_labels=False), "without labels"),
])
def test_loss_mistakes_are_named(wrong, words):
    fails_with(check_diffusion_loss(wrong), words)


def test_loss_on_clean_images_is_named():
    def clean(net, x0, labels, schedule, p_uncond, null_label):
        t = torch.randint(0, schedule.T, (len(x0),))
        y = diffusion.drop_labels(labels, p_uncond, null_label)
        return F.mse_loss(net(x0, t, y), torch.randn_like(x0))
    fails_with(check_diffusion_loss(clean), "clean x0")


# --- the ancestral step ----------------------------------------------------------------------------

def ddpm_variant(*, var="tilde", sqrt_var=True, last_noise=False, alpha="alphas", coef_bar="alpha_bars", shift=0,
                 sign=1.0):
    def fn(x, eps, t, s, noise):
        i = t + shift
        beta = s.betas[i]
        mean = (x - sign * beta / (1 - getattr(s, coef_bar)[i]).sqrt() * eps) / getattr(s, alpha)[i].sqrt()
        if t == 0 and not last_noise:
            return mean
        v = beta * (1 - s.alpha_bars[i - 1]) / (1 - s.alpha_bars[i]) if var == "tilde" else beta
        return mean + (v.sqrt() if sqrt_var else v) * noise
    return fn


def test_ddpm_step_solutions_pass():
    assert check_ddpm_step(ddpm_variant()).passed
    assert check_ddpm_step(diffusion.ddpm_step).passed
    assert check_ddpm_step(lambda x, e, t, s, n: diffusion.ddim_step(x, e, t, t - 1, s, eta=1.0, noise=n)).passed


@pytest.mark.parametrize("wrong, words", [
    (ddpm_variant(var="beta"), "posterior variance"),
    (ddpm_variant(sqrt_var=False), "standard deviation"),
    (ddpm_variant(last_noise=True), "at t = 0 you added noise"),
    (ddpm_variant(alpha="alpha_bars"), "sqrt(alpha_bar_t)"),
    (ddpm_variant(coef_bar="alphas"), "you used alpha_t"),
    (ddpm_variant(shift=-1), "off by one"),
    (ddpm_variant(shift=1), "off by one"),
    (ddpm_variant(sign=-1.0), "SUBTRACTED"),
    (lambda x, e, t, s, n: ddpm_variant()(x, e, t, s, torch.randn_like(n)), "`noise` argument"),
])
def test_ddpm_step_mistakes_are_named(wrong, words):
    fails_with(check_ddpm_step(wrong), words)


# --- the DDIM step ---------------------------------------------------------------------------------

def ddim_variant(*, table="alpha_bars", sqrt=True, shift=0, wrap=False, noise=False, return_x0=False):
    def fn(x, eps, t, t_prev, s):
        ab = getattr(s, table)
        a = ab[t + shift]
        a_prev = torch.tensor(1.0) if t_prev < 0 and not wrap else ab[t_prev + shift]
        root = torch.sqrt if sqrt else (lambda v: v)
        x0 = (x - root(1 - a) * eps) / root(a)
        if return_x0:
            return x0
        out = root(a_prev) * x0 + root(1 - a_prev) * eps
        return out + 0.1 * torch.randn_like(x) if noise else out
    return fn


def test_ddim_step_solutions_pass():
    assert check_ddim_step(ddim_variant()).passed
    assert check_ddim_step(diffusion.ddim_step).passed


@pytest.mark.parametrize("wrong, words", [
    (ddim_variant(table="alphas"), "alpha_t"),
    (ddim_variant(sqrt=False), "square root"),
    (ddim_variant(shift=-1, wrap=True), "off by one"),
    (ddim_variant(wrap=True), "alpha_bars[-1]"),
    (ddim_variant(noise=True), "deterministic"),
    (ddim_variant(return_x0=True), "predicted x0"),
    (lambda x, e, t, tp, s: ddim_variant()(x, e, tp, t, s) if tp >= 0 else ddim_variant()(x, e, t, tp, s), "swapped"),
])
def test_ddim_step_mistakes_are_named(wrong, words):
    fails_with(check_ddim_step(wrong), words)


# --- classifier-free guidance ----------------------------------------------------------------------

def test_cfg_solutions_pass():
    assert check_cfg_combine(lambda c, u, w: u + w * (c - u)).passed
    assert check_cfg_combine(lambda c, u, w: (1 - w) * u + w * c).passed
    assert check_cfg_combine(diffusion.cfg_combine).passed


@pytest.mark.parametrize("wrong, words", [
    (lambda c, u, w: c + w * (u - c), "swapped"),
    (lambda c, u, w: c + w * (c - u), "(1 + w) convention"),
    (lambda c, u, w: w * c, "unconditional prediction is missing"),
    (lambda c, u, w: u + w * (u - c), "reversed"),
])
def test_cfg_mistakes_are_named(wrong, words):
    fails_with(check_cfg_combine(wrong), words)


def test_float64_inputs_do_not_break_the_checks():
    assert check_q_sample(lambda x0, t, n, s: q_solution(x0.double(), t, n.double(), s)).passed
    assert check_cfg_combine(lambda c, u, w: (u + w * (c - u)).double()).passed


def test_loss_with_one_step_for_the_whole_batch_gets_a_message():
    def one_step(net, x0, labels, schedule, p_uncond, null_label):
        t = int(torch.randint(0, schedule.T, ()))
        noise = torch.randn_like(x0)
        x_t = q_solution(x0, torch.full((len(x0),), t), noise, schedule)
        return F.mse_loss(net(x_t, t, diffusion.drop_labels(labels, p_uncond, null_label)), noise)
    fails_with(check_diffusion_loss(one_step), "one step per sample")
