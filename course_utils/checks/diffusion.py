"""Checks for notebook 08 (diffusion and flow matching): the forward sample, the training loss, one
ancestral step, one DDIM step and the classifier-free guidance combination.

    check_q_sample(q_sample)               # (x0, t, noise, schedule) -> x_t ~ q(x_t | x_0)
    check_diffusion_loss(diffusion_loss)   # (net, x0, labels, schedule, p_uncond, null_label) -> 0-d loss
    check_ddpm_step(ddpm_step)             # (x_t, eps, t, schedule, noise) -> x_{t-1}
    check_ddim_step(ddim_step)             # (x_t, eps, t, t_prev, schedule) -> x_{t_prev}
    check_cfg_combine(cfg_combine)         # (eps_cond, eps_uncond, scale) -> guided prediction

Each check runs on a short schedule (T = 10) whose alpha_t and alpha_bar_t differ clearly, compares
with the reference formula in float64, and names the typical mistake when the answer matches one of
its wrong versions (alpha_t for alpha_bar_t, a missing square root, a step off by one, beta_t for the
posterior variance, noise at the last step, guidance weights swapped, labels never dropped). The loss
is checked through a spy network that records what it is called with.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.diffusion import Schedule, schedule_from_betas
from . import exercise_check, expect, expect_close, expect_shape
from .pixel_models import name_mistake

ALPHA_HINT = ("you used alpha_t (schedule.alphas, one step's share) where alpha_bar_t (schedule.alpha_bars, the "
              "product over all steps up to t) is meant")
SQRT_HINT = ("a square root is missing: the coefficients are standard deviations, sqrt(alpha_bar) and "
             "sqrt(1 - alpha_bar)")
OFF_BY_ONE_HINT = ("the time index is off by one: steps run t = 0, ..., T-1 and schedule.alpha_bars[t] already "
                   "belongs to step t (no t - 1 or t + 1)")
BROADCAST_HINT = ("shapes do not broadcast: alpha_bar_t has one value per sample, shape (N,); reshape it to "
                  "(N, 1, ..., 1) with .view(-1, *[1] * (x.dim() - 1)) so it scales every entry of its sample")


def check_schedule() -> Schedule:
    """The checks' schedule: T = 10 steps with betas from 0.05 to 0.5 (float32)."""
    return schedule_from_betas(torch.linspace(0.05, 0.5, 10), "check")


def _call(fn, *args):
    """Run the student's function; turn the errors of typical mistakes into hints."""
    try:
        return fn(*args)
    except IndexError as err:
        expect(False, f"your code raised IndexError ({err}): {OFF_BY_ONE_HINT}")
    except RuntimeError as err:
        text = str(err).splitlines()[0] if str(err) else ""
        expect("must match the size" not in text and "broadcast" not in text,
               f"your code raised: {text} -- {BROADCAST_HINT}")
        raise


def _result(out, shape: tuple, what: str) -> torch.Tensor:
    expect(out is not None, f"{what} returned None: did you forget the `return`?")
    expect(torch.is_tensor(out), f"{what} should return a torch tensor, got {type(out).__name__}")
    expect(out.is_floating_point(), f"{what} returned dtype {out.dtype}: expected a float tensor")
    expect_shape(out, shape, f"the result of {what}")
    expect(bool(torch.isfinite(out).all()), f"{what} returned nan or inf values: look for a division by 0 or "
                                            "the square root of a negative number")
    return out.detach().double()


def _col(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.double().reshape(-1, *([1] * (x.dim() - 1)))


# --- the forward process q(x_t | x_0) ------------------------------------------------------------

def _q(x0, t, noise, signal: torch.Tensor, sqrt_signal: bool = True, sqrt_noise: bool = True) -> torch.Tensor:
    a = _col(signal[t], x0)
    return (a.sqrt() if sqrt_signal else a) * x0.double() + ((1 - a).sqrt() if sqrt_noise else 1 - a) * noise.double()


def _q_mistakes(x0, t, noise, s: Schedule) -> list[tuple[torch.Tensor, str]]:
    ab, a = s.alpha_bars.double(), s.alphas.double()
    a_bar = _col(ab[t], x0)
    shifted_down = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])  # alpha_bar_{t-1}, 1 at t = 0
    return [
        (_q(x0, t, noise, a), ALPHA_HINT),
        (_q(x0, t, noise, ab, False, False), SQRT_HINT),
        (_q(x0, t, noise, ab, False, True), SQRT_HINT + " (the one of the signal term)"),
        (_q(x0, t, noise, ab, True, False), SQRT_HINT + " (the one of the noise term)"),
        ((1 - a_bar).sqrt() * x0.double() + a_bar.sqrt() * noise.double(),
         "signal and noise are swapped: x0 gets sqrt(alpha_bar_t) and the noise sqrt(1 - alpha_bar_t)"),
        (_q(x0, t, noise, ab.roll(1)), OFF_BY_ONE_HINT),  # alpha_bars[t - 1], wrapping at t = 0
        (_q(x0, t, noise, shifted_down), OFF_BY_ONE_HINT),
        (_q(x0, t, noise, s.betas.double()), "you used beta_t where alpha_bar_t is meant: beta_t is the noise "
                                             "added in ONE step, alpha_bar_t the signal left after all steps"),
        (_q(x0, torch.full_like(t, int(t[0])), noise, ab),
         "every sample used the first sample's step: t holds one step PER sample"),
    ]


@exercise_check
def check_q_sample(q_sample):
    """``q_sample(x0 (N, ...), t int64 (N,), noise (N, ...), schedule)`` -> x_t (N, ...)."""
    s = check_schedule()
    gen = torch.Generator().manual_seed(8)
    x0 = torch.rand(6, 1, 3, 3, generator=gen) * 2 - 1
    noise = torch.randn(6, 1, 3, 3, generator=gen)
    t = torch.tensor([1, 3, 9, 0, 5, 7])
    before = (x0.clone(), noise.clone(), t.clone())
    out = _result(_call(q_sample, x0, t, noise, s), tuple(x0.shape), "q_sample")
    expect(torch.equal(x0, before[0]) and torch.equal(noise, before[1]) and torch.equal(t, before[2]),
           "your function changed its inputs: compute on new tensors (no in-place operations)")
    again = _result(_call(q_sample, x0, t, noise, s), tuple(x0.shape), "q_sample")
    expect(torch.allclose(out, again), "two calls with the same inputs gave different results: use the `noise` "
                                       "argument instead of drawing new noise")
    right = _q(x0, t, noise, s.alpha_bars.double())
    if not torch.allclose(out, right, atol=1e-5, rtol=1e-4):
        hint = name_mistake(out, _q_mistakes(x0, t, noise, s), right, tol=1e-5)
        expect(hint is None, f"q_sample is wrong: {hint}")
        expect_close(out, right, "q_sample(x0, t, noise, schedule)",
                     hint="expected sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise with alpha_bar_t = "
                          "schedule.alpha_bars[t], one step per sample")
    # 2-D points (N, 2): the same code must work for any data shape (the notebook's ring uses it).
    x2, n2, t2 = torch.randn(4, 2, generator=gen), torch.randn(4, 2, generator=gen), torch.tensor([2, 4, 6, 8])
    out2 = _call(q_sample, x2, t2, n2, s)
    expect(torch.is_tensor(out2) and tuple(out2.shape) == (4, 2),
           "q_sample works on images but not on 2-D points (N, 2): reshape alpha_bar_t to "
           "(N, 1, ..., 1) for ANY number of dimensions, .view(-1, *[1] * (x0.dim() - 1))")
    expect_close(out2.detach(), _q(x2, t2, n2, s.alpha_bars.double()), "q_sample on 2-D points (N, 2)")
    return "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, one step per sample, any data shape"


# --- the training loss ---------------------------------------------------------------------------

class _SpyNet(nn.Module):
    """A stand-in denoiser that records its inputs and returns w * x_t (w a parameter, so the loss has a grad)."""

    def __init__(self, null_label: int):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.5))
        self.null_label = null_label
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []

    def forward(self, x_t, t=None, labels=None):
        def kept(v):
            return None if v is None else torch.as_tensor(v).detach().reshape(-1).clone()

        self.calls.append((x_t.detach().clone(), kept(t), kept(labels)))
        return self.w * x_t


def _standard_noise(x_t, x0, signal: torch.Tensor, t: torch.Tensor, sqrt: bool = True):
    """The noise implied by x_t under a candidate formula, and whether it looks like N(0, I) independent of x0."""
    a = _col(signal[t], x0)
    s_sig, s_noise = (a.sqrt(), (1 - a).sqrt()) if sqrt else (a, 1 - a)
    eps = (x_t.double() - s_sig * x0.double()) / s_noise
    if not torch.isfinite(eps).all():
        return eps, False
    corr = torch.corrcoef(torch.stack([eps.flatten(), x0.double().flatten()]))[0, 1]
    return eps, bool((eps.std() - 1).abs() < 0.06 and eps.mean().abs() < 0.06 and corr.abs() < 0.06)


def _loss_call(diffusion_loss, n: int, p_uncond: float, seed: int):
    s = check_schedule()
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, 2, generator=gen) * 2 - 1
    labels = torch.randint(0, 7, (n,), generator=gen)
    net = _SpyNet(null_label=7)
    before = (x0.clone(), labels.clone())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        out = _call(diffusion_loss, net, x0, labels, s, p_uncond, 7)
    expect(torch.equal(x0, before[0]) and torch.equal(labels, before[1]),
           "your function changed its inputs (x0 or labels): drop labels into a NEW tensor (torch.where)")
    return s, x0, labels, net, out


@exercise_check
def check_diffusion_loss(diffusion_loss):
    """``diffusion_loss(net, x0 (N, ...), labels (N,), schedule, p_uncond, null_label)`` -> 0-d loss."""
    n, p = 4000, 0.3
    s, x0, labels, net, out = _loss_call(diffusion_loss, n, p, seed=3)
    expect(out is not None, "diffusion_loss returned None: did you forget the `return`?")
    expect(torch.is_tensor(out), f"diffusion_loss should return a torch tensor, got {type(out).__name__}")
    expect(out.dim() == 0, f"the loss has shape {tuple(out.shape)}: average over everything with .mean() "
                           "(or F.mse_loss) to get one number")
    expect(len(net.calls) > 0, "the network was never called: the loss compares net(x_t, t, labels) with the noise")
    total = sum(len(c[0]) for c in net.calls)
    expect(total == n, f"the network saw {total} samples for a batch of {n}: call it once on the whole batch "
                       "of noisy samples x_t")
    x_t = torch.cat([c[0] for c in net.calls])
    expect(all(c[1] is not None for c in net.calls), "the network was called without t: net(x_t, t, labels)")
    expect(all(c[2] is not None for c in net.calls),
           "the network was called without labels: pass the labels (after dropping some) as net(x_t, t, labels)")
    t = torch.cat([c[1] for c in net.calls])
    seen = torch.cat([c[2] for c in net.calls])
    expect(t.shape == (n,), f"t given to the network has shape {tuple(t.shape)}: one step per sample, (N,)")
    expect(not t.is_floating_point() or bool((t == t.round()).all()),
           "t holds fractions: draw integer steps with torch.randint(0, T, (N,))")
    t = t.long()
    expect(int(t.max()) < s.T, f"t reached {int(t.max())} with T = {s.T}: {OFF_BY_ONE_HINT}; "
                               "torch.randint(0, T, ...) excludes T")
    expect(int(t.min()) >= 0, "t has negative values: draw steps in [0, T-1]")
    expect(int(t.min()) == 0, "t is never 0: draw from ALL steps 0, ..., T-1 (torch.randint(0, T, (N,)))")
    expect(int(t.max()) == s.T - 1, f"t never reaches the last step T-1 = {s.T - 1}: torch.randint's upper end is "
                                     "exclusive, so use torch.randint(0, T, (N,))")
    expect(len(t.unique()) == s.T, "some steps are never drawn: t should be uniform over 0, ..., T-1")
    dropped = seen == net.null_label
    share = dropped.float().mean().item()
    expect(share > 0, "labels are never dropped: replace each label by null_label with probability p_uncond, "
                      "otherwise the network never learns the unconditional prediction that guidance needs")
    expect(abs(share - (1 - p)) > 0.05 or abs(share - p) < 0.05,
           f"{share:.0%} of the labels were dropped with p_uncond = {p}: you kept each label with probability "
           "p_uncond instead of dropping it with that probability")
    expect(abs(share - p) < 0.05, f"{share:.0%} of the labels were dropped with p_uncond = {p}: drop each one "
                                  "independently with probability p_uncond (torch.rand(N) < p_uncond)")
    expect(bool((seen[~dropped] == labels[~dropped]).all()),
           "labels that were not dropped changed: keep them as they are")

    ab = s.alpha_bars.double()
    eps, ok = _standard_noise(x_t, x0, ab, t)
    if not ok:
        expect(not torch.allclose(x_t.double(), x0.double()), "the network saw the clean x0: give it the noisy "
                                                              "x_t from q_sample")
        for signal, sqrt, hint in ((s.alphas.double(), True, ALPHA_HINT), (ab, False, SQRT_HINT),
                                   (torch.cat([ab[1:], ab[-1:]]), True,
                                    OFF_BY_ONE_HINT + " (x_t was made with the step after t)"),
                                   (ab.roll(1), True, OFF_BY_ONE_HINT + " (x_t was made with the step before t)")):
            expect(not _standard_noise(x_t, x0, signal, t, sqrt)[1], f"x_t is not a draw from q(x_t | x0): {hint}")
        expect(False, "x_t is not a draw from q(x_t | x0) = N(sqrt(alpha_bar_t) x0, (1 - alpha_bar_t) I) for "
                      "the t the network was given: make x_t with q_sample(x0, t, noise, schedule), noise ~ N(0, I)")

    out_d = out.detach().double()
    pred = 0.5 * x_t.double()
    right = (pred - eps).pow(2).mean()
    if not torch.allclose(out_d, right, rtol=1e-3, atol=1e-6):
        hint = name_mistake(out_d, [
            ((pred - x0.double()).pow(2).mean(), "the target is the NOISE eps that made x_t, not the clean x0"),
            ((pred - eps).pow(2).sum(), "the loss is a sum: take the mean over all entries (F.mse_loss)"),
            ((pred - eps).pow(2).sum(1).mean(), "the loss sums over each sample's entries: take the mean over "
                                                "all entries (F.mse_loss), so its scale does not depend on the size"),
            ((pred - eps).pow(2).mean().sqrt(), "the loss is the square root of the mean squared error: drop the sqrt"),
            ((pred - eps).abs().mean(), "this is the mean ABSOLUTE error: the simplified ELBO squares the difference"),
            (-(pred - eps).pow(2).mean(), "the loss has the wrong sign"),
        ], right, tol=1e-3)
        expect(hint is None, f"the loss value is wrong: {hint}")
        expect_close(out_d, right, "the loss", rtol=1e-3,
                     hint="expected the mean of (net(x_t, t, labels) - noise)^2 over all entries, with the same "
                          "noise that made x_t")
    expect(out.requires_grad, "the loss has no gradient: did you call .item() or .detach()? Return the tensor")
    out.backward()
    expect(net.w.grad is not None and bool(net.w.grad != 0), "the loss does not depend on the network's output")

    _, _, _, net0, _ = _loss_call(diffusion_loss, 500, 0.0, seed=4)
    seen0 = torch.cat([c[2] for c in net0.calls])
    expect(not bool((seen0 == net0.null_label).any()), "labels were dropped with p_uncond = 0: use the p_uncond "
                                                       "argument instead of a fixed probability")
    return "eps-prediction loss on x_t ~ q(x_t | x0), t uniform over all steps, labels dropped with p_uncond"


# --- one ancestral step --------------------------------------------------------------------------

def _ddpm(x, eps, t, s: Schedule, noise, *, alpha=None, coef_a_bar=None, var="tilde", sqrt_var=True,
          sqrt_coef=True, last_noise=False):
    """The reference step in float64 and its named variants."""
    beta = float(s.betas[t])
    alpha = float(s.alphas[t]) if alpha is None else alpha
    a_bar = float(s.alpha_bars[t])
    prev = float(s.alpha_bars[t - 1]) if t > 0 else float(s.alpha_bars[-1])
    c = a_bar if coef_a_bar is None else coef_a_bar
    coef = beta / ((1 - c) ** 0.5 if sqrt_coef else (1 - c))
    mean = (x.double() - coef * eps.double()) / alpha ** 0.5
    if t == 0 and not last_noise:
        return mean
    v = beta * (1 - prev) / (1 - a_bar) if var == "tilde" else beta
    return mean + (v ** 0.5 if sqrt_var else v) * noise.double()


@exercise_check
def check_ddpm_step(ddpm_step):
    """``ddpm_step(x_t (N, ...), eps (N, ...), t int, schedule, noise (N, ...))`` -> x_{t-1} (N, ...)."""
    s = check_schedule()
    gen = torch.Generator().manual_seed(5)
    x, eps, noise = (torch.randn(5, 1, 2, 2, generator=gen) for _ in range(3))
    before = (x.clone(), eps.clone(), noise.clone())
    t = 6
    out = _result(_call(ddpm_step, x, eps, t, s, noise), tuple(x.shape), "ddpm_step")
    expect(torch.equal(x, before[0]) and torch.equal(eps, before[1]) and torch.equal(noise, before[2]),
           "your function changed its inputs: compute on new tensors (no in-place operations)")
    again = _result(_call(ddpm_step, x, eps, t, s, noise), tuple(x.shape), "ddpm_step")
    expect(torch.allclose(out, again), "two calls with the same inputs gave different results: use the `noise` "
                                       "argument instead of drawing new noise")
    right = _ddpm(x, eps, t, s, noise)
    if not torch.allclose(out, right, atol=1e-5, rtol=1e-4):
        ab = s.alpha_bars
        hint = name_mistake(out, [
            (_ddpm(x, eps, t, s, noise, var="beta"),
             "the noise has variance beta_t: this exercise asks for the posterior variance beta_tilde_t = "
             "beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), the variance of the true q(x_{t-1} | x_t, x_0)"),
            (_ddpm(x, eps, t, s, noise, sqrt_var=False),
             "the noise is scaled by the variance: multiply it by the standard deviation sqrt(beta_tilde_t)"),
            (_ddpm(x, eps, t, s, noise, var="beta", sqrt_var=False),
             "the noise is scaled by beta_t: it needs the standard deviation sqrt(beta_tilde_t) of the posterior"),
            (_ddpm(x, eps, t, s, noise, alpha=float(ab[t])),
             "you divided by sqrt(alpha_bar_t): the mean divides by sqrt(alpha_t), this ONE step's alpha"),
            (_ddpm(x, eps, t, s, noise, coef_a_bar=float(s.alphas[t])),
             "in beta_t / sqrt(1 - alpha_bar_t) you used alpha_t: it is alpha_bar_t, the product up to step t"),
            (_ddpm(x, eps, t, s, noise, sqrt_coef=False), "the noise coefficient beta_t / sqrt(1 - alpha_bar_t) "
                                                          "misses its square root"),
            (_ddpm(x, eps, t - 1, s, noise), OFF_BY_ONE_HINT + " (you used the values of step t-1)"),
            (_ddpm(x, eps, t + 1, s, noise), OFF_BY_ONE_HINT + " (you used the values of step t+1)"),
            (_ddpm(x, -eps, t, s, noise), "the noise prediction must be SUBTRACTED from x_t"),
        ], right, tol=1e-5)
        expect(hint is None, f"ddpm_step at t = {t} is wrong: {hint}")
        expect_close(out, right, f"ddpm_step at t = {t}",
                     hint="expected (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + "
                          "sqrt(beta_tilde_t) noise")
    # The last step, t = 0: it returns the mean, no noise.
    out0 = _result(_call(ddpm_step, x, eps, 0, s, noise), tuple(x.shape), "ddpm_step")
    right0 = _ddpm(x, eps, 0, s, noise)
    if not torch.allclose(out0, right0, atol=1e-5, rtol=1e-4):
        residual = out0 - right0
        ratio = (residual * noise.double()).sum() / noise.double().pow(2).sum()
        expect(not torch.allclose(residual, ratio * noise.double(), atol=1e-5),
               "at t = 0 you added noise: the last step returns the mean itself (x_0 = mu), no noise, or every "
               "sample keeps a grain of noise")
        expect_close(out0, right0, "ddpm_step at t = 0 (the last step)",
                     hint="at t = 0 return (x_t - beta_0 / sqrt(1 - alpha_bar_0) eps) / sqrt(alpha_0)")
    out9 = _result(_call(ddpm_step, x, eps, s.T - 1, s, noise), tuple(x.shape), "ddpm_step")
    expect_close(out9, _ddpm(x, eps, s.T - 1, s, noise), f"ddpm_step at the first step t = T-1 = {s.T - 1}")
    x2, e2, n2 = (torch.randn(3, 2, generator=gen) for _ in range(3))
    out2 = _call(ddpm_step, x2, e2, 4, s, n2)
    expect(torch.is_tensor(out2) and tuple(out2.shape) == (3, 2), "ddpm_step does not work on 2-D points (N, 2)")
    expect_close(out2.detach(), _ddpm(x2, e2, 4, s, n2), "ddpm_step on 2-D points (N, 2)")
    return "mean from the noise prediction, posterior variance beta_tilde_t, no noise at the last step"


# --- one DDIM step -------------------------------------------------------------------------------

def _ddim(x, eps, a_bar: float, a_prev: float, sqrt: bool = True) -> torch.Tensor:
    root = (lambda v: v ** 0.5) if sqrt else (lambda v: v)
    x0 = (x.double() - root(1 - a_bar) * eps.double()) / root(a_bar)
    return root(a_prev) * x0 + root(1 - a_prev) * eps.double()


@exercise_check
def check_ddim_step(ddim_step):
    """``ddim_step(x_t (N, ...), eps (N, ...), t int, t_prev int (-1: clean), schedule)`` -> x_{t_prev}."""
    s = check_schedule()
    ab, a = s.alpha_bars.double(), s.alphas.double()
    gen = torch.Generator().manual_seed(6)
    x, eps = (torch.randn(5, 1, 2, 2, generator=gen) for _ in range(2))
    before = (x.clone(), eps.clone())
    t, t_prev = 7, 3
    out = _result(_call(ddim_step, x, eps, t, t_prev, s), tuple(x.shape), "ddim_step")
    expect(torch.equal(x, before[0]) and torch.equal(eps, before[1]),
           "your function changed its inputs: compute on new tensors (no in-place operations)")
    again = _result(_call(ddim_step, x, eps, t, t_prev, s), tuple(x.shape), "ddim_step")
    expect(torch.allclose(out, again), "two calls gave different results: the DDIM step (eta = 0) is "
                                       "deterministic, it adds no fresh noise")
    right = _ddim(x, eps, float(ab[t]), float(ab[t_prev]))
    if not torch.allclose(out, right, atol=1e-5, rtol=1e-4):
        x0_hat = _ddim(x, eps, float(ab[t]), 1.0)
        hint = name_mistake(out, [
            (_ddim(x, eps, float(a[t]), float(a[t_prev])), ALPHA_HINT),
            (_ddim(x, eps, float(ab[t]), float(a[t_prev])), ALPHA_HINT + " (for the target step t_prev)"),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev]), sqrt=False), SQRT_HINT),
            (_ddim(x, eps, float(ab[t - 1]), float(ab[t_prev - 1])), OFF_BY_ONE_HINT),
            (_ddim(x, eps, float(ab[t + 1]), float(ab[t_prev + 1])), OFF_BY_ONE_HINT),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev - 1])), OFF_BY_ONE_HINT + " (for t_prev)"),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev + 1])), OFF_BY_ONE_HINT + " (for t_prev)"),
            (x0_hat, "you returned the predicted x0: move to step t_prev, sqrt(alpha_bar_prev) x0_hat + "
                     "sqrt(1 - alpha_bar_prev) eps"),
            (_ddim(x, eps, float(ab[t_prev]), float(ab[t])), "t and t_prev are swapped: the step goes from the "
                                                              "noisier step t to the earlier step t_prev"),
        ], right, tol=1e-5)
        expect(hint is None, f"ddim_step from t = {t} to t_prev = {t_prev} is wrong: {hint}")
        expect_close(out, right, f"ddim_step from t = {t} to t_prev = {t_prev}",
                     hint="x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t); return "
                          "sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps")
    # The last step goes to the clean data: t_prev = -1, where alpha_bar = 1.
    out_last = _result(_call(ddim_step, x, eps, 2, -1, s), tuple(x.shape), "ddim_step")
    right_last = _ddim(x, eps, float(ab[2]), 1.0)
    if not torch.allclose(out_last, right_last, atol=1e-5, rtol=1e-4):
        expect(not torch.allclose(out_last, _ddim(x, eps, float(ab[2]), float(ab[-1])), atol=1e-5),
               "at t_prev = -1 you used schedule.alpha_bars[-1], which Python reads as the LAST (noisiest) step: "
               "t_prev = -1 means the clean data, where alpha_bar = 1")
        expect_close(out_last, right_last, "ddim_step to t_prev = -1 (the clean data)",
                     hint="at t_prev = -1 alpha_bar_prev = 1, so the step returns x0_hat")
    x2, e2 = (torch.randn(3, 2, generator=gen) for _ in range(2))
    out2 = _call(ddim_step, x2, e2, 9, 0, s)
    expect(torch.is_tensor(out2) and tuple(out2.shape) == (3, 2), "ddim_step does not work on 2-D points (N, 2)")
    expect_close(out2.detach(), _ddim(x2, e2, float(ab[9]), float(ab[0])), "ddim_step on 2-D points (N, 2)")
    return "x0 predicted from the noise, then moved to alpha_bar_prev with the same noise direction; deterministic"


# --- classifier-free guidance --------------------------------------------------------------------

@exercise_check
def check_cfg_combine(cfg_combine):
    """``cfg_combine(eps_cond (N, ...), eps_uncond (N, ...), scale float)`` -> guided prediction (N, ...)."""
    gen = torch.Generator().manual_seed(7)
    cond, uncond = torch.randn(4, 1, 2, 2, generator=gen), torch.randn(4, 1, 2, 2, generator=gen)
    c, u = cond.double(), uncond.double()
    for scale in (3.0, 0.0, 1.0, 0.5):
        out = _result(_call(cfg_combine, cond, uncond, scale), tuple(cond.shape), "cfg_combine")
        right = u + scale * (c - u)
        if torch.allclose(out, right, atol=1e-5, rtol=1e-4):
            continue
        hint = name_mistake(out, [
            (c + scale * (u - c), "the weights are swapped: start from the UNCONDITIONAL prediction and move "
                                  "towards the conditional one, eps_uncond + scale (eps_cond - eps_uncond)"),
            (c + scale * (c - u), "this is the (1 + w) convention, eps_cond + w (eps_cond - eps_uncond); here the "
                                  "scale multiplies the whole difference, so scale 1 gives the conditional "
                                  "prediction and scale 0 the unconditional one"),
            (scale * c, "the unconditional prediction is missing: eps_uncond + scale (eps_cond - eps_uncond)"),
            (scale * c + (1 - scale) * c, "the unconditional prediction is missing"),
            (u + scale * (u - c), "the direction is reversed: guidance moves from eps_uncond TOWARDS eps_cond"),
            (u + (c - u) / scale if scale else u, "divide nothing: multiply the difference by the scale"),
        ], right, tol=1e-5)
        expect(hint is None, f"cfg_combine with scale {scale} is wrong: {hint}")
        expect_close(out, right, f"cfg_combine with scale {scale}",
                     hint="expected eps_uncond + scale * (eps_cond - eps_uncond)")
    return "scale 0: unconditional, 1: conditional, above 1: beyond the conditional prediction"
