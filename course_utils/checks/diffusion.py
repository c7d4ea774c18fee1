"""Checks for notebook 08 (diffusion and flow matching): the forward sample, the training loss, one
ancestral step, one DDIM step and the classifier-free guidance combination.

    check_q_sample(q_sample)               # (x0, t, noise, schedule) -> x_t ~ q(x_t | x_0)
    check_diffusion_loss(diffusion_loss)   # (net, x0, labels, schedule, p_uncond, null_label) -> 0-d loss
    check_ddpm_step(ddpm_step)             # (x_t, eps, t, schedule, noise) -> x_{t-1}
    check_ddim_step(ddim_step)             # (x_t, eps, t, t_prev, schedule) -> x_{t_prev}
    check_cfg_combine(cfg_combine)         # (eps_cond, eps_uncond, scale) -> guided prediction
    check_flow_matching_loss(flow_matching_loss)  # (net, x0, labels, p_uncond, null_label) -> 0-d loss
    check_euler_sample(euler_sample)       # (net, noise, steps, labels) -> samples at t = 0

Each check runs on a short schedule (T = 10) whose alpha_t and alpha_bar_t differ clearly, compares
with the reference formula in float64, and names the typical mistake when the answer matches one of
its wrong versions (alpha_t for alpha_bar_t, a missing square root, a step off by one, beta_t for the
posterior variance, noise at the last step, guidance weights swapped, labels never dropped). The loss
is checked through a spy network that records what it is called with. The flow-matching loss is judged the
same way (the time and the noise each sample got are read back from what the network saw), and the Euler
sampler on a velocity field whose paths are straight lines, which Euler's method follows exactly: from the
times the network is asked about and the step each update takes, the check names a wrong direction of time,
a step of the wrong sign or size, a skipped or extra step.

The notebook's conceptual questions are registered at the end (diff_alpha_bar_end, diff_passes_ratio,
diff_family).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.diffusion import Schedule, schedule_from_betas
from . import exercise_check, expect, expect_close, expect_shape
from .pixel_models import name_mistake
from .questions import choice, choices, number

ALPHA_HINT = ("you used alpha_t (schedule.alphas, one step's share) where alpha_bar_t (schedule.alpha_bars, the "
              "product over all steps up to t) is meant")
SQRT_HINT = ("a square root is missing: the coefficients are standard deviations, sqrt(alpha_bar) and "
             "sqrt(1 - alpha_bar)")
OFF_BY_ONE_HINT = ("the time index is off by one: steps run t = 0, ..., T-1 and schedule.alpha_bars[t] already "
                   "belongs to step t (no t - 1 or t + 1)")
BROADCAST_HINT = ("shapes do not broadcast: a per-sample value (alpha_bar_t, or the time t) has shape (N,); "
                  "reshape it to (N, 1, ..., 1) with .view(-1, *[1] * (x.dim() - 1)) so it scales every entry of "
                  "its sample")


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


# --- reading back the coefficients of a linear answer ------------------------------------------------

def _coefficient(fn, args: list, slot: int, like: torch.Tensor) -> torch.Tensor | None:
    """What ``fn`` multiplies input ``slot`` by, one value per sample: fn called with ones in that slot and zeros
    in the other tensor slots shaped like ``like``. None when the answer cannot be read back that way."""
    probe = [torch.ones_like(like) if i == slot else torch.zeros_like(like) if torch.is_tensor(a) and
             a.shape == like.shape and a.is_floating_point() else a for i, a in enumerate(args)]
    try:
        out = fn(*probe)
    except Exception:  # noqa: BLE001 - reading back is a diagnosis only; the check's own verdict stands
        return None
    if not torch.is_tensor(out) or out.shape != like.shape or not out.is_floating_point():
        return None
    return out.detach().double().reshape(len(out), -1)[:, 0]


def _expect_coefficients(fn, args: list, like: torch.Tensor, what: str,
                         parts: list[tuple[int, str, torch.Tensor, str]], where=lambda i: "") -> None:
    """Fail naming the first input whose coefficient differs from the expected one, when the answer is linear in
    its tensor inputs: parts are (slot, name of the input, expected coefficient per sample, its formula)."""
    got = {slot: _coefficient(fn, args, slot, like) for slot, *_ in parts}
    if any(v is None for v in got.values()):
        return
    rebuilt = sum(_col(got[slot], like) * args[slot].double() for slot, *_ in parts)
    out = fn(*args)
    if not torch.is_tensor(out) or not torch.allclose(out.detach().double(), rebuilt, atol=1e-5, rtol=1e-4):
        return  # not a linear combination of the inputs: the coefficients say nothing
    for slot, name, want, formula in parts:
        want = want.double().expand_as(got[slot])
        off = ~torch.isclose(got[slot], want, atol=1e-5, rtol=1e-4)
        if bool(off.any()):
            i = int(off.nonzero()[0])
            expect(False, f"{what}: {name} is multiplied by {float(got[slot][i]):.4g}{where(i)}, expected {formula} = "
                          f"{float(want[i]):.4g}")


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
        ab = s.alpha_bars.double()[t]
        _expect_coefficients(q_sample, [x0, t, noise, s], x0, "q_sample is wrong",
                             [(0, "x0", ab.sqrt(), "sqrt(alpha_bar_t)"), (2, "the noise", (1 - ab).sqrt(),
                                                                          "sqrt(1 - alpha_bar_t)")],
                             where=lambda i: f" for the sample at step t = {int(t[i])}")
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
        self.t_shapes: list[tuple[int, ...] | None] = []

    def forward(self, x_t, t=None, labels=None):
        def kept(v):
            return None if v is None else torch.as_tensor(v).detach().reshape(-1).clone()

        self.calls.append((x_t.detach().clone(), kept(t), kept(labels)))
        self.t_shapes.append(None if t is None else tuple(torch.as_tensor(t).shape))
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


def _expect_label_dropout(seen: torch.Tensor, labels: torch.Tensor, null_label: int, p: float) -> None:
    """The labels the network saw are the given ones, each replaced by null_label with probability p."""
    expect(seen.shape == labels.shape, f"the network got labels of shape {tuple(seen.shape)} for a batch of "
                                       f"{len(labels)}: one label per sample, (N,)")
    dropped = seen == null_label
    share = dropped.float().mean().item()
    expect(share > 0, "labels are never dropped: replace each label by null_label with probability p_uncond, "
                      "otherwise the network never learns the unconditional prediction that guidance needs")
    expect(share < 1, "every label was dropped: replace each one by null_label with probability p_uncond only, "
                      "or the network never learns the conditional prediction")
    expect(abs(share - (1 - p)) > 0.05 or abs(share - p) < 0.05,
           f"{share:.0%} of the labels were dropped with p_uncond = {p}: you kept each label with probability "
           "p_uncond instead of dropping it with that probability")
    expect(abs(share - p) < 0.05, f"{share:.0%} of the labels were dropped with p_uncond = {p}: drop each one "
                                  "independently with probability p_uncond (torch.rand(N) < p_uncond)")
    expect(bool((seen[~dropped] == labels[~dropped]).all()),
           "labels that were not dropped changed: keep them as they are")


def _loss_call(loss_fn, n: int, p_uncond: float, seed: int, schedule: bool = True):
    """Run a student's loss on n 2-D points with a spy network, under a fixed seed; ``schedule``: the loss takes
    a schedule (diffusion) or not (flow matching). Returns (schedule or None, x0, labels, spy, the loss)."""
    s = check_schedule() if schedule else None
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, 2, generator=gen) * 2 - 1
    labels = torch.randint(0, 7, (n,), generator=gen)
    net = _SpyNet(null_label=7)
    before = (x0.clone(), labels.clone())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        out = _call(loss_fn, net, x0, labels, *([s] if schedule else []), p_uncond, 7)
    expect(torch.equal(x0, before[0]) and torch.equal(labels, before[1]),
           "your function changed its inputs (x0 or labels): drop labels into a NEW tensor (torch.where)")
    return s, x0, labels, net, out


def _spy_inputs(net: _SpyNet, n: int, what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x_t, t and labels the spy network saw, after checking that it saw the whole batch once, with t and labels."""
    expect(len(net.calls) > 0, f"the network was never called: the loss compares net(x_t, t, labels) with {what}")
    total = sum(len(c[0]) for c in net.calls)
    expect(total == n, f"the network saw {total} samples for a batch of {n}: call it once on the whole batch "
                       "of noisy samples x_t")
    expect(all(c[1] is not None for c in net.calls), "the network was called without t: net(x_t, t, labels)")
    expect(all(c[2] is not None for c in net.calls),
           "the network was called without labels: pass the labels (after dropping some) as net(x_t, t, labels)")
    return tuple(torch.cat([c[i] for c in net.calls]) for i in range(3))


def _expect_loss_tensor(out, name: str) -> None:
    expect(out is not None, f"{name} returned None: did you forget the `return`?")
    expect(torch.is_tensor(out), f"{name} should return a torch tensor, got {type(out).__name__}")
    expect(out.dim() == 0, f"the loss has shape {tuple(out.shape)}: average over everything with .mean() "
                           "(or F.mse_loss) to get one number")
    expect(out.is_floating_point(), f"the loss has dtype {out.dtype}: it should be a float tensor")


def _reduction_mistakes(pred: torch.Tensor, target: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """The loss values of the usual slips in turning (pred - target) into one number."""
    err = (pred - target).pow(2)
    return [(err.sum(), "the loss is a sum: take the mean over all entries (F.mse_loss)"),
            (err.flatten(1).sum(1).mean(), "the loss sums over each sample's entries: take the mean over all "
                                           "entries (F.mse_loss), so its scale does not depend on the size"),
            (err.mean().sqrt(), "the loss is the square root of the mean squared error: drop the sqrt"),
            ((pred - target).abs().mean(), "this is the mean ABSOLUTE error: the loss squares the difference"),
            (-err.mean(), "the loss has the wrong sign")]


def _expect_loss_value(out, net: _SpyNet, pred: torch.Tensor, target: torch.Tensor, target_name: str,
                       mistakes: list[tuple[torch.Tensor, str]], noise: torch.Tensor | None = None) -> None:
    """The loss is mean((pred - target)^2) over all entries, with its gradient; else the mistake it matches.
    ``noise``: the noise inside ``target``, to recognise a target built from fresh noise instead."""
    out_d = out.detach().double()
    right = (pred - target).pow(2).mean()
    if not torch.allclose(out_d, right, rtol=1e-3, atol=1e-6):
        hint = name_mistake(out_d, mistakes + _reduction_mistakes(pred, target), right, tol=1e-3)
        expect(hint is None, f"the loss value is wrong: {hint}")
        if noise is not None:  # independent N(0, 1) noise in the target adds 1 per entry on average
            fresh = (pred - (target - noise)).pow(2).mean() + 1
            expect(not (abs(out_d.item() - fresh.item()) < 0.1 and abs(right.item() - fresh.item()) > 0.3),
                   f"the loss value is wrong: it is what a target built from NEW noise gives ({fresh.item():.3g} on "
                   "average), not the noise that made x_t: draw the noise once and use that same tensor for x_t and "
                   f"for the target {target_name}")
        expect_close(out_d, right, "the loss", rtol=1e-3,
                     hint=f"expected the mean of (net(x_t, t, labels) - {target_name})^2 over all entries, with the "
                          "same noise that made x_t")
    expect(out.requires_grad, "the loss has no gradient: did you call .item() or .detach()? Return the tensor")
    out.backward()
    expect(net.w.grad is not None and bool(net.w.grad != 0), "the loss does not depend on the network's output")


def _expect_no_drop_at_zero(loss_fn, seed: int, schedule: bool) -> None:
    _, _, _, net0, _ = _loss_call(loss_fn, 500, 0.0, seed=seed, schedule=schedule)
    seen0 = torch.cat([c[2] for c in net0.calls])
    expect(not bool((seen0 == net0.null_label).any()),
           "labels were dropped with p_uncond = 0: use the p_uncond argument instead of a fixed probability")


@exercise_check
def check_diffusion_loss(diffusion_loss):
    """``diffusion_loss(net, x0 (N, ...), labels (N,), schedule, p_uncond, null_label)`` -> 0-d loss."""
    n, p = 4000, 0.3
    s, x0, labels, net, out = _loss_call(diffusion_loss, n, p, seed=3)
    _expect_loss_tensor(out, "diffusion_loss")
    x_t, t, seen = _spy_inputs(net, n, "the noise")
    expect(t.shape == (n,), f"t given to the network has shape {tuple(t.shape)}: one step per sample, (N,)")
    expect(len(t.unique()) > 1, "every sample got the same step t: draw one step PER SAMPLE, "
                                "torch.randint(0, T, (N,)), so that one batch trains many noise levels")
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
    _expect_label_dropout(seen, labels, net.null_label, p)

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

    pred = 0.5 * x_t.double()
    _expect_loss_value(out, net, pred, eps, "noise", [
        ((pred - x0.double()).pow(2).mean(), "the target is the NOISE eps that made x_t, not the clean x0"),
        ((pred + eps).pow(2).mean(), "the target has the wrong sign: the network predicts the noise eps itself"),
    ], noise=eps)
    _expect_no_drop_at_zero(diffusion_loss, seed=4, schedule=True)
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
            (_ddpm(x, eps, t, s, noise, alpha=float(s.alphas[t]) ** 2),
             "you divided by alpha_t: a square root is missing, the mean divides by sqrt(alpha_t)"),
            (_ddpm(x, eps, t, s, noise, coef_a_bar=float(s.alphas[t])),
             "in beta_t / sqrt(1 - alpha_bar_t) you used alpha_t: it is alpha_bar_t, the product up to step t"),
            (_ddpm(x, eps, t, s, noise, sqrt_coef=False), "the noise coefficient beta_t / sqrt(1 - alpha_bar_t) "
                                                          "misses its square root"),
            (_ddpm(x, eps, t - 1, s, noise), OFF_BY_ONE_HINT + " (you used the values of step t-1)"),
            (_ddpm(x, eps, t + 1, s, noise), OFF_BY_ONE_HINT + " (you used the values of step t+1)"),
            (_ddpm(x, -eps, t, s, noise), "the noise prediction must be SUBTRACTED from x_t"),
        ], right, tol=1e-5)
        expect(hint is None, f"ddpm_step at t = {t} is wrong: {hint}")
        beta, alpha, a_bar = (float(v[t]) for v in (s.betas, s.alphas, s.alpha_bars))
        tilde = beta * (1 - float(s.alpha_bars[t - 1])) / (1 - a_bar)
        _expect_coefficients(ddpm_step, [x, eps, t, s, noise], x, f"ddpm_step at t = {t} is wrong", [
            (0, "x_t", torch.tensor(alpha ** -0.5), "1 / sqrt(alpha_t)"),
            (1, "eps", torch.tensor(-beta / ((1 - a_bar) ** 0.5 * alpha ** 0.5)),
             "-beta_t / (sqrt(1 - alpha_bar_t) sqrt(alpha_t))"),
            (4, "the noise", torch.tensor(tilde ** 0.5),
             "sqrt(beta_tilde_t) = sqrt(beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t))")])
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

def _ddim(x, eps, a_bar: float, a_prev: float, sqrt: bool = True, sqrt_in: bool = True,
          sqrt_out: bool = True) -> torch.Tensor:
    """The DDIM step in float64; sqrt_in / sqrt_out False drop the roots of the x0_hat / of the move only."""
    root_in = (lambda v: v ** 0.5) if sqrt and sqrt_in else (lambda v: v)
    root_out = (lambda v: v ** 0.5) if sqrt and sqrt_out else (lambda v: v)
    x0 = (x.double() - root_in(1 - a_bar) * eps.double()) / root_in(a_bar)
    return root_out(a_prev) * x0 + root_out(1 - a_prev) * eps.double()


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
        inside = x0_hat.abs() <= 1
        same = (out - right).abs() <= 1e-5 + 1e-4 * right.abs()
        expect(not (bool(same[inside].all()) and not bool(same[~inside].all())),
               f"ddim_step from t = {t} to t_prev = {t_prev} is right wherever x0_hat lies in [-1, 1] and wrong only "
               "where it lies outside: did you clip (clamp) x0_hat? This exercise asks for the plain DDIM step, "
               "sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps with x0_hat as it comes")
        hint = name_mistake(out, [
            (_ddim(x, eps, float(a[t]), float(a[t_prev])), ALPHA_HINT),
            (_ddim(x, eps, float(ab[t]), float(a[t_prev])), ALPHA_HINT + " (for the target step t_prev)"),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev]), sqrt=False), SQRT_HINT),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev]), sqrt_in=False), SQRT_HINT + " (in x0_hat)"),
            (_ddim(x, eps, float(ab[t]), float(ab[t_prev]), sqrt_out=False), SQRT_HINT + " (in the move to t_prev)"),
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
        a_t, a_p = float(ab[t]), float(ab[t_prev])
        _expect_coefficients(ddim_step, [x, eps, t, t_prev, s], x,
                             f"ddim_step from t = {t} to t_prev = {t_prev} is wrong", [
            (0, "x_t", torch.tensor((a_p / a_t) ** 0.5), "sqrt(alpha_bar_prev / alpha_bar_t)"),
            (1, "eps", torch.tensor((1 - a_p) ** 0.5 - (a_p * (1 - a_t) / a_t) ** 0.5),
             "sqrt(1 - alpha_bar_prev) - sqrt(alpha_bar_prev) sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t)")])
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
        cond_in, uncond_in = cond.clone(), uncond.clone()
        out = _result(_call(cfg_combine, cond_in, uncond_in, scale), tuple(cond.shape), "cfg_combine")
        expect(torch.equal(cond_in, cond) and torch.equal(uncond_in, uncond),
               "your function changed eps_cond or eps_uncond in place (+=, -=, .add_(), ...): the sampler still "
               "needs them; compute a new tensor, eps_uncond + scale * (eps_cond - eps_uncond)")
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
        _expect_coefficients(cfg_combine, [cond, uncond, scale], cond,
                             f"cfg_combine with scale {scale} is wrong",
                             [(0, "eps_cond", torch.tensor(scale), "scale"),
                              (1, "eps_uncond", torch.tensor(1 - scale), "1 - scale")])
        expect_close(out, right, f"cfg_combine with scale {scale}",
                     hint="expected eps_uncond + scale * (eps_cond - eps_uncond)")
    return "scale 0: unconditional, 1: conditional, above 1: beyond the conditional prediction"


# --- flow matching: the loss -----------------------------------------------------------------------

FLOW_PATH = "x_t = (1 - t) x0 + t eps: the data at t = 0, the noise at t = 1"


def _flow_noise(x_t, x0, t, path: str = "straight") -> torch.Tensor:
    """The noise eps implied by x_t on a candidate path, for the samples whose t keeps it well conditioned."""
    x_t, x0, tt = x_t.double(), x0.double(), _col(t, x0)
    if path == "straight":      # x_t = (1 - t) x0 + t eps
        return (x_t - (1 - tt) * x0) / tt
    if path == "reversed":      # x_t = t x0 + (1 - t) eps
        return (x_t - tt * x0) / (1 - tt)
    return (x_t - (1 - tt).sqrt() * x0) / tt.sqrt()   # "roots": x_t = sqrt(1 - t) x0 + sqrt(t) eps


def _looks_standard(eps: torch.Tensor, x0: torch.Tensor) -> bool:
    """eps looks like N(0, I) noise drawn independently of x0."""
    if len(eps) < 100 or not torch.isfinite(eps).all():
        return False
    corr = torch.corrcoef(torch.stack([eps.flatten(), x0.double().flatten()]))[0, 1]
    return bool((eps.std() - 1).abs() < 0.06 and eps.mean().abs() < 0.06 and corr.abs() < 0.06)


@exercise_check
def check_flow_matching_loss(flow_matching_loss):
    """``flow_matching_loss(net, x0 (N, ...), labels (N,), p_uncond, null_label)`` -> 0-d loss."""
    n, p = 4000, 0.3
    _, x0, labels, net, out = _loss_call(flow_matching_loss, n, p, seed=13, schedule=False)
    _expect_loss_tensor(out, "flow_matching_loss")
    x_t, t, seen = _spy_inputs(net, n, "the velocity eps - x0")
    for shape, call in zip(net.t_shapes, net.calls, strict=True):
        expect(math.prod(shape) > 1, "the network got one t for the whole batch: draw one time PER SAMPLE, "
                                     "torch.rand(N), so that one batch trains the whole path from data to noise")
        expect(shape == (len(call[0]),), f"the network got t of shape {shape}: give it one time per sample, shape "
                                         "(N,) (the reshaped copy that broadcasts over x0 is for the arithmetic)")
    expect(t.is_floating_point() and not bool((t == t.round()).all()),
           "t holds whole numbers only: flow matching's time is continuous, uniform in [0, 1] (torch.rand), not a "
           "step index")
    t = t.double()
    expect(len(t.unique()) > 1, "every sample got the same time t: draw one t PER SAMPLE, torch.rand(N), so that "
                                "one batch trains the whole path from data to noise")
    expect(float(t.min()) >= 0 and float(t.max()) <= 1, f"t runs from {float(t.min()):.3g} to {float(t.max()):.3g}: "
                                                        "it is a time in [0, 1], uniform (torch.rand, not torch.randn)")
    expect(abs(float(t.mean()) - 0.5) < 0.03 and abs(float(t.std()) - 12 ** -0.5) < 0.03
           and float(t.min()) < 0.02 and float(t.max()) > 0.98,
           f"t is not uniform on [0, 1] (mean {float(t.mean()):.3f}, from {float(t.min()):.3f} to "
           f"{float(t.max()):.3f}): draw it with torch.rand(N), every time equally likely")
    _expect_label_dropout(seen, labels, net.null_label, p)

    expect(not torch.allclose(x_t.double(), x0.double()), "the network saw the clean x0: give it the point x_t "
                                                          "on the path between x0 and the noise")
    inner = (t > 0.05) & (t < 0.95)  # where the implied noise is well conditioned on every candidate path
    eps = _flow_noise(x_t, x0, t)
    if not _looks_standard(eps[inner], x0[inner]):
        for path, hint in (("reversed", "x_t runs the other way: " + FLOW_PATH),
                           ("roots", "x_t mixes x0 and eps with square roots, as diffusion does; flow matching "
                                     "follows the straight line " + FLOW_PATH)):
            expect(not _looks_standard(_flow_noise(x_t, x0, t, path)[inner], x0[inner]), hint)
        expect(False, "x_t is not (1 - t) x0 + t eps with fresh noise eps ~ N(0, I) for the t the network was given: "
                      "use the same t for x_t and for the network, and torch.randn_like(x0) for eps")

    pred, x0d = 0.5 * x_t.double(), x0.double()
    _expect_loss_value(out, net, pred, eps - x0d, "(eps - x0)", [
        ((pred - (x0d - eps)).pow(2).mean(), "the target has the wrong sign: along x_t = (1 - t) x0 + t eps the "
                                             "velocity dx_t/dt is eps - x0, from the data towards the noise"),
        ((pred - eps).pow(2).mean(), "the target is the velocity eps - x0, not the noise eps alone"),
        ((pred - x0d).pow(2).mean(), "the target is the velocity eps - x0, not the clean x0"),
        ((pred + x0d).pow(2).mean(), "the target is the velocity eps - x0, not -x0 (the noise is missing)"),
        (((pred - (eps - x0d)) * _col(t, x0d)).pow(2).mean(),
         "the error is weighted by t: the plain squared error (pred - (eps - x0))^2, averaged, is the loss"),
        ((pred - (eps - x0d) / _col(t, x0d)).pow(2).mean(),
         "the target is divided by t: the velocity of the straight line is eps - x0, the same at every t"),
    ], noise=eps)
    _expect_no_drop_at_zero(flow_matching_loss, seed=14, schedule=False)
    # Images (N, 1, H, W): the same code must reshape t for any number of dimensions.
    gen = torch.Generator().manual_seed(15)
    images, digits, spy = torch.rand(64, 1, 3, 3, generator=gen) * 2 - 1, torch.randint(0, 7, (64,), generator=gen), \
        _SpyNet(null_label=7)
    with torch.random.fork_rng():
        torch.manual_seed(15)
        try:
            out_img = flow_matching_loss(spy, images, digits, p, 7)
        except RuntimeError as err:
            expect(False, f"flow_matching_loss works on 2-D points (N, 2) but not on images (N, 1, H, W): "
                          f"{str(err).splitlines()[0] if str(err) else type(err).__name__} -- reshape t to "
                          "(N, 1, ..., 1) for ANY number of dimensions, .view(-1, *[1] * (x0.dim() - 1))")
    expect(torch.is_tensor(out_img) and out_img.dim() == 0 and len(spy.calls) > 0
           and spy.calls[0][0].shape[1:] == images.shape[1:] and spy.calls[0][1] is not None,
           "flow_matching_loss does not give one number on images (N, 1, H, W): reshape t to (N, 1, ..., 1) for any "
           "number of dimensions, so that it scales every entry of its own sample")
    x_img, t_img = torch.cat([c[0] for c in spy.calls]), torch.cat([c[1] for c in spy.calls]).double()
    eps_img = _flow_noise(x_img, images, t_img)
    expect_close(out_img.detach(), (0.5 * x_img.double() - (eps_img - images.double())).pow(2).mean(),
                 "the loss on images (N, 1, H, W)", rtol=1e-3,
                 hint="reshape t to (N, 1, ..., 1) so that each sample's time scales all of its own entries")
    return "velocity target eps - x0 on the straight path, t uniform per sample, labels dropped with p_uncond"


# --- flow matching: the Euler sampler ----------------------------------------------------------------

class _FieldNet(nn.Module):
    """A stand-in velocity network with a known answer: the exact flow-matching velocity towards one target
    point per sample, v(x, t) = (x - target) / t. Its paths are straight lines, which Euler's method follows
    exactly, so every correct sampler ends on the targets, whatever the number of steps. Records its calls."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target
        self.calls: list[dict] = []

    def forward(self, x, t=None, labels=None):
        call = {"x": x.detach().clone() if torch.is_tensor(x) else x, "t": t, "labels": labels}
        self.calls.append(call)
        call["t_ok"] = torch.is_tensor(t) and t.is_floating_point() and t.shape == (len(x),)
        try:
            now = float(torch.as_tensor(t).reshape(-1)[0]) if t is not None else 1.0
        except (TypeError, ValueError, RuntimeError, IndexError):
            now = 1.0
        call["now"] = now
        # the exact velocity towards the targets; t = 0 would divide by 0, the times are judged separately
        v = (x - self.target.to(x.dtype)) / max(now, 1e-2)
        call["v"] = v.detach().clone()
        return v


def _euler_times(net: _FieldNet) -> list[float]:
    return [c["now"] for c in net.calls]


def _euler_run(euler_sample, target, noise, steps, labels) -> tuple[torch.Tensor, _FieldNet]:
    net = _FieldNet(target)
    out = _call(euler_sample, net, noise, steps, labels)
    return out, net


def _expect_euler_calls(net: _FieldNet, noise: torch.Tensor, steps: int, labels) -> None:
    """Judge the sampler from what it asked the network: how often, at which times, with what x and labels."""
    k = len(net.calls)
    expect(k > 0, "the network was never called: each Euler step asks it for the velocity at the current x and t")
    bad = next((c for c in net.calls if not c["t_ok"]), None)
    if bad is not None:
        t = bad["t"]
        kind = (f"a tensor of dtype {t.dtype} and shape {tuple(t.shape)}" if torch.is_tensor(t)
                else f"{type(t).__name__} {t!r}")
        expect(False, f"the network got t as {kind}: give it a float tensor of shape (N,), every entry the current "
                      "time, e.g. torch.full((len(x),), t)")
    for c in net.calls:
        expect(bool((c["t"] == c["t"][0]).all()), "the times given to the network differ between the samples of "
                                                 "one step: every sample is at the same time t during a step")
    for c in net.calls:
        if labels is None:
            expect(c["labels"] is None, "labels=None should reach the network as None (no label): pass labels on "
                                        "as they are, net(x, t, labels)")
        else:
            expect(torch.is_tensor(c["labels"]) and c["labels"].shape == labels.shape
                   and bool((c["labels"] == labels).all()),
                   "the network did not get the labels: pass them on unchanged, net(x, t, labels)")
    times = _euler_times(net)
    right = [1 - i / steps for i in range(steps)]
    expect(not (abs(times[0]) < 1e-6 and times[-1] > times[0]),
           f"the times run from 0 up to {times[-1]:.3g}: that integrates from the data end to the noise end; "
           "sampling starts from the noise at t = 1 and runs DOWN to the data at t = 0")
    expect(k == 1 or times[-1] < times[0], f"the times go up ({', '.join(f'{v:.3g}' for v in times[:3])}, ...): t "
                                           "runs the wrong way; start at t = 1 (the noise) and decrease it to 0")
    expect(k != steps - 1, f"the network was called {k} times for steps = {steps}: the last step is skipped; "
                           f"`steps` steps mean `steps` passes, the last one from t = 1/steps to t = 0")
    expect(k != steps + 1, f"the network was called {k} times for steps = {steps}: one pass too many; the velocity "
                           "is needed at the START of each step (t = 1, ..., 1/steps), never at t = 0, where the "
                           "sampler stops")
    expect(k == steps, f"the network was called {k} times for steps = {steps}: one pass per step")
    ends = [1 - (i + 1) / steps for i in range(steps)]
    expect(not all(abs(a - b) < 1e-5 for a, b in zip(times, ends, strict=True)),
           "the velocity is evaluated at the END of each step (t - 1/steps) instead of where the step starts; "
           f"with {steps} steps the times are {', '.join(f'{v:.3g}' for v in right)}")
    expect(all(abs(a - b) < 1e-5 for a, b in zip(times, right, strict=True)),
           f"the network saw the times {', '.join(f'{v:.3g}' for v in times)}; expected {steps} equal steps from 1 "
           f"down: {', '.join(f'{v:.3g}' for v in right)}")
    first = net.calls[0]["x"]
    expect(torch.is_tensor(first) and first.shape == noise.shape and torch.allclose(first.double(), noise.double()),
           "the first pass should see the noise itself (x = noise at t = 1): start from the `noise` argument, "
           "not from new noise")


def _implied_step(x_prev: torch.Tensor, x_next: torch.Tensor, v: torch.Tensor) -> tuple[float, float]:
    """The h with x_next = x_prev + h v that fits best, and the size of what h v does not explain."""
    d, v = (x_next.double() - x_prev.double()).flatten(), v.double().flatten()
    h = float(d @ v / (v @ v).clamp_min(1e-12))
    return h, float((d - h * v).abs().max())


@exercise_check
def check_euler_sample(euler_sample):
    """``euler_sample(net, noise (N, ...), steps int, labels (N,) or None)`` -> samples at t = 0, (N, ...)."""
    gen = torch.Generator().manual_seed(21)
    target = torch.rand(6, 1, 2, 2, generator=gen) * 2 - 1
    noise = torch.randn(6, 1, 2, 2, generator=gen)
    labels = torch.randint(0, 10, (6,), generator=gen)
    steps = 4
    before = noise.clone()
    out, net = _euler_run(euler_sample, target, noise, steps, labels)
    expect(torch.equal(noise, before), "your function changed `noise` in place (x += ...): start with x = noise "
                                       "and compute new tensors, x = x + ...")
    if isinstance(out, (list, tuple)) and out and torch.is_tensor(out[-1]):
        expect(False, f"euler_sample returned a {type(out).__name__} (the path?): return only the final samples "
                      "at t = 0, a tensor shaped like the noise")
    _expect_euler_calls(net, noise, steps, labels)
    out = _result(out, tuple(noise.shape), "euler_sample")
    xs = [c["x"] for c in net.calls] + [out]
    for i, call in enumerate(net.calls):
        h, rest = _implied_step(xs[i], xs[i + 1], call["v"])
        if rest > 1e-4 * (1 + float(call["v"].abs().max())):
            expect(False, f"step {i + 1} does not move x along the network's velocity alone: an Euler step is "
                          "x + (t_next - t) v, with no fresh noise and nothing else added")
        expect(i + 1 < len(net.calls) or abs(h) > 1e-6, "the result of the last step is not returned: return x "
                                                        "after the last update")
        expect(abs(h - 1 / steps) > 1e-4, f"step {i + 1} moved x by +{h:.3g} v: the step has the wrong sign; from t "
                                          f"to t - 1/steps, x changes by (t_next - t) v = -(1/steps) v")
        expect(abs(h + 1) > 1e-4 or steps == 1, f"step {i + 1} moved x by {h:.3g} v: multiply the velocity by the "
                                                "time step (t_next - t) = -1/steps, not by -1")
        expect(abs(h + 1 / steps) < 1e-4, f"step {i + 1} moved x by {h:.3g} v, expected -(1/steps) v = "
                                          f"{-1 / steps:.3g} v: the steps are equal, each of size 1/steps")
    expect_close(out, target.double(), "the samples at t = 0 for a velocity field whose paths are straight lines "
                 "(Euler follows them exactly)", atol=1e-4, rtol=1e-4)
    again, _ = _euler_run(euler_sample, target, noise, steps, labels)
    expect(torch.is_tensor(again) and torch.allclose(again.detach().double(), out, atol=1e-6),
           "two calls with the same noise gave different results: the Euler sampler is deterministic, it draws no "
           "noise of its own")
    # One step, 2-D points (N, 2), no labels: one pass at t = 1 lands on the target.
    t2, n2 = torch.rand(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    out2, net2 = _euler_run(euler_sample, t2, n2, 1, None)
    _expect_euler_calls(net2, n2, 1, None)
    out2 = _result(out2, (5, 2), "euler_sample with steps = 1 on 2-D points (N, 2)")
    expect_close(out2, t2.double(), "euler_sample with steps = 1 on 2-D points (N, 2)", atol=1e-4, rtol=1e-4)
    # float64 noise and many steps: the same answer.
    n3 = noise.double()
    out3, net3 = _euler_run(euler_sample, target.double(), n3, 10, labels)
    _expect_euler_calls(net3, n3, 10, labels)
    expect_close(_result(out3, tuple(noise.shape), "euler_sample"), target.double(),
                 "euler_sample with 10 steps on float64 noise", atol=1e-6, rtol=1e-6)
    # A field that changes along the way (v = x): only a velocity evaluated afresh at every step, at the current x,
    # gives Euler's answer, (1 - 1/steps)^steps * noise.
    curved = _call(euler_sample, lambda x, t, labels=None: 1.0 * x, noise.clone(), steps, labels)
    curved = _result(curved, tuple(noise.shape), "euler_sample with the velocity field v(x, t) = x")
    expect(torch.allclose(curved, (1 - 1 / steps) ** steps * noise.double(), atol=1e-5, rtol=1e-4),
           f"with the velocity field v(x, t) = x and {steps} steps the samples are wrong (Euler gives "
           f"(1 - 1/{steps})^{steps} = {(1 - 1 / steps) ** steps:.4g} times the noise): when the velocity changes "
           "along the path, each step must use the network's output at the CURRENT x and t; call v = net(x, t, "
           "labels) again inside the loop, after every update")
    return "from the noise at t = 1 down to t = 0 in equal steps x + (t_next - t) v, one pass each"


# --- conceptual questions (notebook 08) -------------------------------------------------------------

choice(
    "diff_alpha_bar_end", "a",
    "training only ever shows the network x_T drawn from q(x_T | x_0) = N(sqrt(alpha_bar_T) x_0, (1 - alpha_bar_T) I). "
    "Sampling starts from N(0, I) instead, so the two agree only when alpha_bar_T is close to 0; with 0.3 the "
    "reverse chain starts from points unlike any it learned to denoise at that step, and the error carries "
    "through every later step.",
    {"b": "the network learned to undo the noise of q(x_T | x_0), in which every x_T still carries a scaled copy of "
          "its digit; pure noise without that copy is a different input, and nothing trained it to add the "
          "missing digit back at the first step",
     "c": "training never needs x_T to be pure noise: every step's loss is the same regression on x_t drawn from "
          "q(x_t | x_0), whatever alpha_bar_t is; the problem appears only where sampling starts",
     "d": "more steps change how finely the chain is followed, not where it starts: the mismatch at the first step "
          "is still there, whatever the number of steps"})

number(
    "diff_passes_ratio", 50,
    "each step of either sampler is one pass of the network on the output of the step before, so the passes are "
    "sequential and equal the number of steps: 1000 for ancestral sampling over all steps, 20 for DDIM, a ratio of "
    "50 with the same trained network.",
    {1000: "that is the number of passes of ancestral sampling alone: the question asks how many times DDIM's 20",
     20: "that is DDIM's number of passes: the question asks how many times as many the 1000-step sampler needs",
     980: "that is the difference of the two counts: the question asks for their ratio",
     0.02: "that is the ratio the other way round: the 1000-step sampler needs MORE passes",
     1: "both do one pass per step, but not the same number of steps: 1000 against 20",
     25: "guidance is not used here; and guidance would batch its two predictions into one pass per step for both "
         "samplers, so the ratio would not change"})

choices(
    "diff_family", {"a", "c"},
    "diffusion is a latent-variable model like the VAE (x_1, ..., x_T are the latents, trained through an ELBO) "
    "whose encoder is fixed, not learned; and its sampler is iterative like PixelCNN's, but each pass updates "
    "every pixel at once, and the number of steps is ours to choose.",
    {"a": "x_1, ..., x_T are latent variables with a posterior q(x_1:T | x_0), and the training loss is the ELBO "
          "(simplified) of notebook 05's argument",
     "b": "the 'encoder' q(x_t | x_{t-1}) only adds noise with the schedule's fixed betas: it has no parameters; "
          "only the reverse (decoder) side is learned",
     "c": "each step's network pass needs the x that the previous step produced, so the passes run one after "
          "another, as PixelCNN's do",
     "d": "every step updates all 784 pixels together; it iterates over noise levels, not over pixels",
     "e": "the loss is a plain regression on the noise: no discriminator and no game, which is why it trains "
          "stably"})
