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
    check_euler_sample,
    check_flow_matching_loss,
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
                                   check_cfg_combine, check_flow_matching_loss, check_euler_sample])
def test_stub_fails_with_the_not_implemented_hint(check):
    result = check(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("check", [check_q_sample, check_diffusion_loss, check_ddpm_step, check_ddim_step,
                                   check_cfg_combine, check_flow_matching_loss, check_euler_sample])
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
        goal = {"noise": noise, "x0": x0, "fresh": torch.randn_like(x0)}[target]
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
    (loss_variant(target="fresh"), "NEW noise"),
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

def ddim_variant(*, table="alpha_bars", sqrt=True, shift=0, wrap=False, noise=False, return_x0=False, clip=None):
    def fn(x, eps, t, t_prev, s):
        ab = getattr(s, table)
        a = ab[t + shift]
        a_prev = torch.tensor(1.0) if t_prev < 0 and not wrap else ab[t_prev + shift]
        root = torch.sqrt if sqrt else (lambda v: v)
        x0 = (x - root(1 - a) * eps) / root(a)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
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
    (ddim_variant(clip=1.0), "clip (clamp) x0_hat"),
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
    (lambda c, u, w: u.add_(w * (c - u)), "in place"),
    (lambda c, u, w: c.mul_(w).add_((1 - w) * u), "in place"),
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


# --- the listed mistakes of the existing exercises, each named -------------------------------------------

def test_ddpm_noise_coefficient_without_its_root_is_named():
    def no_root(x, eps, t, s, noise):
        mean = (x - s.betas[t] / (1 - s.alpha_bars[t]) * eps) / s.alphas[t].sqrt()
        if t == 0:
            return mean
        return mean + (s.betas[t] * (1 - s.alpha_bars[t - 1]) / (1 - s.alpha_bars[t])).sqrt() * noise
    fails_with(check_ddpm_step(no_root), "square root")


def test_loss_with_one_step_expanded_over_the_batch_is_named():
    def one_step(net, x0, labels, schedule, p_uncond, null_label):
        t = torch.randint(0, schedule.T, (1,)).expand(len(x0))
        noise = torch.randn_like(x0)
        return F.mse_loss(net(q_solution(x0, t, noise, schedule), t,
                              diffusion.drop_labels(labels, p_uncond, null_label)), noise)
    fails_with(check_diffusion_loss(one_step), "PER SAMPLE")


def test_loss_with_every_label_dropped_is_named():
    fails_with(check_diffusion_loss(loss_variant(fixed_p=1.0)), "every label was dropped")


def test_loss_with_the_target_negated_is_named():
    def negated(net, x0, labels, schedule, p_uncond, null_label):
        t = torch.randint(0, schedule.T, (len(x0),))
        noise = torch.randn_like(x0)
        y = diffusion.drop_labels(labels, p_uncond, null_label)
        return F.mse_loss(net(q_solution(x0, t, noise, schedule), t, y), -noise)
    fails_with(check_diffusion_loss(negated), "wrong sign")


def test_cfg_dividing_by_the_scale_is_named():
    fails_with(check_cfg_combine(lambda c, u, w: u + (c - u) / w if w else u), "multiply the difference")


# --- flow matching: the loss ----------------------------------------------------------------------------

def flow_variant(*, t_kind="rand", path="straight", target="velocity", drop=True, keep_prob=False, fixed_p=None,
                 reduce="mean", detach=False, pass_labels=True, net_t="same", clean=False):
    def fn(net, x0, labels, p_uncond, null_label):
        n = len(x0)
        t = {"rand": lambda: torch.rand(n), "one": lambda: torch.rand(1).expand(n), "scalar": lambda: torch.rand(()),
             "randint": lambda: torch.randint(0, 2, (n,)).float(), "randn": lambda: torch.randn(n),
             "squared": lambda: torch.rand(n) ** 2}[t_kind]()
        eps = torch.randn_like(x0)
        tt = t.reshape(-1, *[1] * (x0.dim() - 1)) if t.dim() else t
        x_t = {"straight": (1 - tt) * x0 + tt * eps, "reversed": tt * x0 + (1 - tt) * eps,
               "roots": (1 - tt).sqrt() * x0 + tt.sqrt() * eps}[path]
        if clean:
            x_t = x0
        p = p_uncond if fixed_p is None else fixed_p
        dropped = torch.rand(n) < (1 - p if keep_prob else p)
        y = torch.where(dropped, torch.full_like(labels, null_label), labels) if drop else labels
        t_net = {"same": t, "column": tt, "fresh": torch.rand(n)}[net_t]
        pred = net(x_t, t_net, y) if pass_labels else net(x_t, t_net)
        goal = {"velocity": eps - x0, "sign": x0 - eps, "noise": eps, "x0": x0,
                "fresh": torch.randn_like(x0) - x0}[target]
        err = (pred - goal).pow(2)
        out = {"mean": err.mean(), "sum": err.sum(), "per_sample": err.sum(1).mean(), "sqrt": err.mean().sqrt(),
               "abs": (pred - goal).abs().mean()}[reduce]
        return out.detach() if detach else out
    return fn


def test_flow_loss_solutions_pass():
    assert check_flow_matching_loss(flow_variant()).passed
    assert check_flow_matching_loss(diffusion.flow_loss).passed


@pytest.mark.parametrize("wrong, words", [
    (flow_variant(t_kind="one"), "same time t"),
    (flow_variant(t_kind="scalar"), "one t for the whole batch"),
    (flow_variant(t_kind="randint"), "whole numbers"),
    (flow_variant(t_kind="randn"), "time in [0, 1]"),
    (flow_variant(t_kind="squared"), "not uniform"),
    (flow_variant(net_t="column"), "shape (N,)"),
    (flow_variant(net_t="fresh"), "same t for x_t and for the network"),
    (flow_variant(path="reversed"), "other way"),
    (flow_variant(path="roots"), "square roots"),
    (flow_variant(clean=True), "clean x0"),
    (flow_variant(target="sign"), "wrong sign"),
    (flow_variant(target="noise"), "not the noise eps alone"),
    (flow_variant(target="x0"), "not the clean x0"),
    (flow_variant(target="fresh"), "NEW noise"),
    (flow_variant(drop=False), "never dropped"),
    (flow_variant(keep_prob=True), "instead of dropping"),
    (flow_variant(fixed_p=0.3), "p_uncond = 0"),
    (flow_variant(fixed_p=1.0), "every label was dropped"),
    (flow_variant(reduce="sum"), "sum"),
    (flow_variant(reduce="per_sample"), "each sample's entries"),
    (flow_variant(reduce="sqrt"), "square root of the mean"),
    (flow_variant(reduce="abs"), "ABSOLUTE"),
    (flow_variant(detach=True), "no gradient"),
    (flow_variant(pass_labels=False), "without labels"),
])
def test_flow_loss_mistakes_are_named(wrong, words):
    fails_with(check_flow_matching_loss(wrong), words)


def test_flow_loss_that_changes_the_labels_in_place_is_named():
    def in_place(net, x0, labels, p_uncond, null_label):
        labels[torch.rand(len(labels)) < p_uncond] = null_label
        return flow_variant(drop=False)(net, x0, labels, p_uncond, null_label)
    fails_with(check_flow_matching_loss(in_place), "changed its inputs")


# --- flow matching: the Euler sampler -------------------------------------------------------------------

def _euler_first_velocity(net, noise, steps, labels=None):
    """Calls the network at every step but moves along the velocity of the first call only."""
    x, first = noise, None
    for i in range(steps):
        t, t_next = 1 - i / steps, 1 - (i + 1) / steps
        v = net(x, torch.full((len(x),), t, dtype=x.dtype), labels)
        first = v if first is None else first
        x = x + (t_next - t) * first
    return x


def euler_variant(*, times="down", sign=1.0, dt_scale=True, skip_last=False, extra=False, at_end=False,
                  t_as="tensor", pass_labels=True, noise_each=False, in_place=False, return_path=False,
                  fresh_start=False, stale=False):
    def fn(net, noise, steps, labels=None):
        grid = torch.linspace(1, 0, steps + 1) if times == "down" else torch.linspace(0, 1, steps + 1)
        pairs = list(zip(grid[:-1].tolist(), grid[1:].tolist(), strict=True))
        if skip_last:
            pairs = pairs[:-1]
        if extra:
            pairs = pairs + [(pairs[-1][1], pairs[-1][1])]
        x = torch.randn_like(noise) if fresh_start else noise
        path, out = [x], x
        for t, t_next in pairs:
            when = t_next if at_end else t
            t_in = {"tensor": torch.full((len(x),), when), "float": when, "one": torch.tensor([when]),
                    "int": torch.full((len(x),), round(when))}[t_as]
            v = net(x, t_in, labels) if pass_labels else net(x, t_in)
            step = sign * (t_next - t) if dt_scale else -sign
            if in_place:
                x += step * v
            else:
                x = x + step * v
            if noise_each:
                x = x + 0.01 * torch.randn_like(x)
            path.append(x)
            out = path[-2] if stale else x
        return path if return_path else out
    return fn


def test_euler_solutions_pass():
    assert check_euler_sample(euler_variant()).passed
    assert check_euler_sample(diffusion.euler_sample).passed


@pytest.mark.parametrize("wrong, words", [
    (euler_variant(times="up"), "from 0 up"),
    (euler_variant(times="up", sign=-1.0), "from 0 up"),
    (euler_variant(sign=-1.0), "wrong sign"),
    (euler_variant(dt_scale=False), "multiply the velocity by the time step"),
    (euler_variant(skip_last=True), "last step is skipped"),
    (euler_variant(extra=True), "one pass too many"),
    (euler_variant(at_end=True), "END of each step"),
    (euler_variant(t_as="float"), "float tensor of shape (N,)"),
    (euler_variant(t_as="one"), "float tensor of shape (N,)"),
    (euler_variant(t_as="int"), "float tensor of shape (N,)"),
    (euler_variant(pass_labels=False), "did not get the labels"),
    (euler_variant(noise_each=True), "no fresh noise"),
    (euler_variant(in_place=True), "in place"),
    (euler_variant(return_path=True), "return only the final samples"),
    (euler_variant(fresh_start=True), "noise itself"),
    (euler_variant(stale=True), "last step is not returned"),
    (lambda net, noise, steps, labels=None: _euler_first_velocity(net, noise, steps, labels), "CURRENT x"),
])
def test_euler_mistakes_are_named(wrong, words):
    fails_with(check_euler_sample(wrong), words)


def test_euler_with_too_few_points_in_the_grid_is_named():
    def grid_of_steps_points(net, noise, steps, labels=None):
        x, grid = noise, torch.linspace(1, 0, steps)  # steps points: one step fewer
        for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist(), strict=True):
            x = x + (t_next - t) * net(x, torch.full((len(x),), t), labels)
        return x
    fails_with(check_euler_sample(grid_of_steps_points), "last step is skipped")


# --- every check of notebook 08 survives a broken answer with a message ---------------------------------

SOLVED = {check_q_sample: diffusion.q_sample, check_diffusion_loss: diffusion.diffusion_loss,
          check_ddpm_step: diffusion.ddpm_step, check_ddim_step: diffusion.ddim_step,
          check_cfg_combine: diffusion.cfg_combine, check_flow_matching_loss: diffusion.flow_loss,
          check_euler_sample: diffusion.euler_sample}


def broken(fn, how):
    def wrapper(*args, **kwargs):
        if how == "raise":
            raise ValueError("something went wrong in the student's code")
        out = fn(*args, **kwargs)
        return {"none": None, "string": "not a result", "float64": out.double(), "shape": out.unsqueeze(0),
                "numpy": out.detach().numpy()}[how]
    return wrapper


@pytest.mark.parametrize("how", ["none", "raise", "float64", "shape", "string", "numpy"])
@pytest.mark.parametrize("check", list(SOLVED), ids=lambda c: c.__name__)
def test_broken_answers_get_a_message_not_a_crash(check, how):
    result = check(broken(SOLVED[check], how))
    assert result.message and "the check could not use" not in result.message, result.message
    if how == "float64":
        assert result.passed, result.message
    else:
        assert not result.passed, f"{how}: passed"
    if how == "none":
        assert "returned None" in result.message, result.message
    if how == "raise":
        assert "your code raised ValueError" in result.message, result.message


def test_ddpm_mean_divided_by_alpha_is_named():
    def divided_by_alpha(x, eps, t, s, noise):
        mean = (x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * eps) / s.alphas[t]
        if t == 0:
            return mean
        return mean + (s.betas[t] * (1 - s.alpha_bars[t - 1]) / (1 - s.alpha_bars[t])).sqrt() * noise
    fails_with(check_ddpm_step(divided_by_alpha), "a square root is missing")


@pytest.mark.parametrize("where", ["in", "out"])
def test_ddim_with_one_root_missing_is_named(where):
    def one_root(x, eps, t, t_prev, s):
        a = s.alpha_bars[t]
        a_prev = s.alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
        x0 = (x - (1 - a) * eps) / a if where == "in" else (x - (1 - a).sqrt() * eps) / a.sqrt()
        return a_prev * x0 + (1 - a_prev) * eps if where == "out" else a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    fails_with(check_ddim_step(one_root), "square root is missing")


def test_flow_loss_without_reshaping_t_gets_the_broadcast_hint():
    def flat_t(net, x0, labels, p_uncond, null_label):
        t = torch.rand(len(x0))
        eps = torch.randn_like(x0)
        x_t = (1 - t) * x0 + t * eps
        return F.mse_loss(net(x_t, t, diffusion.drop_labels(labels, p_uncond, null_label)), eps - x0)
    fails_with(check_flow_matching_loss(flat_t), "reshape it to")


def test_the_euler_reference_is_the_course_flow_sampler():
    torch.manual_seed(0)
    net = diffusion.MLPDenoiser(objective="flow", num_classes=8).eval()
    labels = torch.arange(6) % 8
    noise = torch.randn(6, 2, generator=torch.Generator().manual_seed(5))
    ours = diffusion.euler_sample(net, noise, 7, labels)
    course = diffusion.flow_sample(net, 6, steps=7, labels=labels, scale=1.0,
                                   generator=torch.Generator().manual_seed(5))
    assert torch.allclose(ours, course, atol=1e-5)


# --- mistakes outside every list: the check reads back what each input is multiplied by -----------------

def _ab(s, t, x):
    return col(s.alpha_bars[t], x)


@pytest.mark.parametrize("check, wrong, words", [
    (check_q_sample, lambda x0, t, n, s: (1 - _ab(s, t, x0)).sqrt() * (x0 + n), "x0 is multiplied by"),
    (check_q_sample, lambda x0, t, n, s: col(s.betas.cumprod(0)[t], x0).sqrt() * x0 + (1 - _ab(s, t, x0)).sqrt() * n,
     "x0 is multiplied by"),
    (check_q_sample, lambda x0, t, n, s: _ab(s, t, x0).sqrt() * x0 + (1 - _ab(s, t, x0) ** 2).sqrt() * n,
     "the noise is multiplied by"),
    (check_ddpm_step, lambda x, e, t, s, n: ddpm_variant()(x, e, t, s, n) if t == 0 else
     (x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * e) / s.alphas[t].sqrt()
     + (s.betas[t] * (1 - s.alpha_bars[t + 1]) / (1 - s.alpha_bars[t])).sqrt() * n, "the noise is multiplied by"),
    (check_ddpm_step, lambda x, e, t, s, n: ddpm_variant()(x, e, t, s, n) + s.betas[t] * e,
     "eps is multiplied by"),
    (check_ddim_step, lambda x, e, t, tp, s: ddim_variant()(x, e, t, tp, s) + 0.1 * x, "x_t is multiplied by"),
    (check_cfg_combine, lambda c, u, w: w * u + (c - u), "eps_cond is multiplied by"),
    (check_cfg_combine, lambda c, u, w: c + w * c, "eps_cond is multiplied by"),
])
def test_unlisted_mistakes_name_the_coefficient_that_is_off(check, wrong, words):
    fails_with(check(wrong), words)


def test_flow_loss_that_only_works_on_points_is_named():
    def points_only(net, x0, labels, p_uncond, null_label):
        t = torch.rand(len(x0))
        eps = torch.randn_like(x0)
        x_t = (1 - t[:, None]) * x0 + t[:, None] * eps
        return F.mse_loss(net(x_t, t, diffusion.drop_labels(labels, p_uncond, null_label)), eps - x0)
    fails_with(check_flow_matching_loss(points_only), "images (N, 1, H, W)")
