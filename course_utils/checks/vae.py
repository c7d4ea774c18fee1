"""Checks for notebook 05 (variational autoencoders): the pieces of the ELBO and the importance-weighted bound.

    check_reparameterize(reparameterize)          # z = mu + exp(logvar / 2) * eps, gradients reach mu and logvar
    check_gaussian_kl(gaussian_kl)                # KL(N(mu, diag exp(logvar)) || N(0, I)) per row
    check_negative_elbo(negative_elbo)            # -log p(x|z) summed over pixels + KL, averaged over the batch
    check_iw_log_likelihood(iw_log_likelihood)    # logsumexp of log-weights minus log k, per image
    check_vae_step(vae_step)                      # one optimizer step on mean(recon + beta * KL), floats back

Each check knows the right answer (a formula, a large sample, exact integration on a 1-D latent
model) and also computes what the usual mistakes would give, so a failure names the likely one:
a flipped sign, the log-variance taken for a standard deviation, a mean where a sum belongs, a log
of a sum where a log of a mean belongs.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from . import exercise_check, expect, expect_close, expect_shape
from .pixel_models import _per_pixel_variants, bernoulli_nll_mistakes, name_mistake
from .questions import choice, choices


def _diagnose(value: torch.Tensor, right: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]], what: str,
              atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Pass if ``value`` matches ``right``; otherwise fail with the hint of the first mistake it matches."""
    value = torch.as_tensor(value, dtype=torch.float64)
    right = torch.as_tensor(right, dtype=torch.float64)
    if value.shape == right.shape and torch.allclose(value, right, atol=atol, rtol=rtol):
        return
    for wrong, hint in mistakes:
        wrong = torch.as_tensor(wrong, dtype=torch.float64)
        if wrong.shape == value.shape and torch.isfinite(wrong).all() and \
                torch.allclose(value, wrong, atol=atol, rtol=rtol) and not torch.allclose(wrong, right):
            expect(False, f"{what} is wrong. {hint}")
    sizes = {"latent dimensions": value.shape[-1]} if value.dim() else {}
    expect_close(value, right, what, atol=atol, rtol=rtol, sizes=sizes)


def _float_tensor(out, what: str) -> torch.Tensor:
    expect(not isinstance(out, (float, int)),
           f"{what} should be a torch tensor, got a Python {type(out).__name__}: return the tensor itself (no "
           ".item() or float()), so that .backward() can reach the model")
    expect(torch.is_tensor(out), f"{what} should be a torch tensor, got {type(out).__name__}")
    expect(out.is_floating_point(), f"{what} has dtype {out.dtype}: expected a float tensor")
    return out


_BCE_ON_LOGITS = ("F.binary_cross_entropy was given the decoder's logits, but it takes probabilities in [0, 1]; "
                  "the decoder outputs logits (any real number). Use F.binary_cross_entropy_with_logits(logits, x), "
                  "which applies the sigmoid itself, stably")


def _call(fn, *args):
    """``fn(*args)``, with torch's complaint about logits given to F.binary_cross_entropy turned into our hint."""
    try:
        return fn(*args)
    except (RuntimeError, ValueError) as err:
        expect("between 0 and 1" not in str(err), _BCE_ON_LOGITS)
        raise


# --- reparameterize -----------------------------------------------------------------------------------


@exercise_check
def check_reparameterize(reparameterize):
    """``reparameterize(mu, logvar)``: float (B, D), (B, D) -> z float (B, D), z = mu + exp(logvar / 2) * eps."""
    n = 40_000
    mu0 = torch.tensor([1.0, -2.0, 0.5])
    logvar0 = torch.log(torch.tensor([4.0, 1.0, 0.25]))          # standard deviations 2, 1, 0.5
    mu = mu0.repeat(n, 1).requires_grad_(True)
    logvar = logvar0.repeat(n, 1).requires_grad_(True)
    z = _float_tensor(reparameterize(mu, logvar), "reparameterize(mu, logvar)")
    expect_shape(z, (n, 3), "z")
    expect(z.dtype == mu.dtype,
           f"z has dtype {z.dtype} while mu and logvar are {mu.dtype}: draw the noise with mu's dtype "
           "(torch.randn_like(mu)), or the decoder, in float32, fails on z")
    expect(torch.equal(mu.detach(), mu0.repeat(n, 1)) and torch.equal(logvar.detach(), logvar0.repeat(n, 1)),
           "your function changed mu or logvar in place: compute a new tensor instead")
    expect(torch.isfinite(z).all(),
           "z has nan or inf values: did you take the square root or log of logvar? It can be negative; "
           "the standard deviation is exp(logvar / 2)")
    noise = (z - mu).detach()
    expect(noise.abs().max() > 0, "z equals mu: the noise is missing (z = mu + std * eps with eps ~ N(0, 1))")
    expect(not torch.allclose(noise, torch.exp(0.5 * logvar.detach()), rtol=1e-4),
           "z = mu + std for every row: the noise eps is missing; a sample is mu + std * eps with a fresh "
           "standard-normal eps for every element")
    expect((noise - noise[0]).abs().max() > 1e-6,
           "every row got the same noise: draw one eps per element, e.g. torch.randn_like(mu), "
           "not one number (or one row) for the whole batch")
    expect(bool((noise < 0).any()), "z is never below mu: the noise is never negative (.abs(), a square, or "
                                   "torch.rand?); eps must be standard normal, torch.randn_like(mu)")
    std = noise.std(0)
    mean = z.detach().mean(0)
    right = torch.tensor([2.0, 1.0, 0.5])
    if not torch.allclose(std, right, rtol=0.05):
        for wrong, hint in [
            (torch.tensor([4.0, 1.0, 0.25]), "the spread of z is exp(logvar), the variance: the standard deviation "
                                            "is exp(logvar / 2) = exp(0.5 * logvar)"),
            (logvar0.abs(), "z spreads by |logvar|: you used the log-variance itself as the standard deviation; "
                            "use exp(0.5 * logvar)"),
            (torch.tensor([0.5, 1.0, 2.0]), "the spread is exp(-logvar / 2): check the sign in the exponent"),
            (right * math.sqrt(1 / 12), "the noise looks uniform: torch.rand_like draws from [0, 1); "
                                       "use torch.randn_like for standard normal noise"),
            (logvar0.abs() / 2, "z spreads by |logvar| / 2: you used logvar / 2 itself as the standard deviation; "
                                "exponentiate it, std = exp(logvar / 2)"),
            (torch.tensor([2.0, 1.0, 0.5]).sqrt(), "the spread is the square root of the standard deviation: "
                                                  "std = exp(logvar / 2) already, no further sqrt"),
        ]:
            expect(not torch.allclose(std, wrong, rtol=0.05, atol=1e-3), hint)
        ratio = std / right
        expect(not torch.allclose(ratio, ratio.mean().expand(3), rtol=0.05),
               f"every dimension of z spreads {ratio.mean().item():.2f} times as much as it should: the noise eps "
               f"has standard deviation {ratio.mean().item():.2f} instead of 1. It must be standard normal, "
               "N(0, 1), e.g. torch.randn_like(mu)")
        expect(False, f"the standard deviations of z are {[round(v, 3) for v in std.tolist()]}, expected "
                      "[2, 1, 0.5] for logvar = log([4, 1, 0.25]): std = exp(0.5 * logvar)")
    expect(not torch.allclose(mean, torch.zeros(3), atol=0.05),
           "the mean of z is 0 instead of mu: add mu, z = mu + std * eps")
    expect(torch.allclose(mean, mu0, atol=0.05),
           f"the mean of z is {[round(v, 3) for v in mean.tolist()]}, expected mu = [1, -2, 0.5]"
           + (": the noise has mean 0.5, so it is uniform (torch.rand_like); use torch.randn_like"
              if torch.allclose((mean - mu0) / right, torch.full((3,), 0.5), atol=0.05) else ""))
    inside = ((noise / right).abs() < 1).double().mean().item()      # 0.683 for a normal, 0.577 for a uniform
    expect(abs(inside - 0.6827) < 0.02,
           f"z has the right mean and spread, but {inside:.1%} of the draws lie within one standard deviation of "
           "mu, where a Gaussian puts 68.3%: the noise eps is not normal (uniform, Laplace, ...?); draw it from "
           "N(0, 1), e.g. torch.randn_like(mu)")
    corr = torch.corrcoef(noise.T)
    expect((corr - torch.eye(3)).abs().max() < 0.05,
           "the noise of different latent dimensions is correlated: draw an independent eps for every "
           "element (torch.randn_like(mu)), not one per row")
    try:
        z.sum().backward()
    except RuntimeError:
        expect(False, "no gradient reaches mu and logvar (z does not require grad): a sample drawn by torch.normal, "
                      "or by a torch.distributions object's .sample(), has no path back to its parameters (and "
                      ".detach() or torch.no_grad() cut it too). The point of the exercise: write z as a "
                      "differentiable function of mu and logvar applied to noise drawn on its own")
    expect(mu.grad is not None, "no gradient reaches mu: build z from mu with differentiable operations")
    expect(logvar.grad is not None,
           "no gradient reaches logvar: did you compute the standard deviation with .detach(), .item() or under "
           "torch.no_grad()? dz/dlogvar should be 0.5 * std * eps")
    expect(mu.grad.abs().max() > 0,
           "the gradient of z with respect to mu is 0: torch.normal(mu, std) and Normal(...).sample() do not "
           "pass gradients. The trick is z = mu + std * eps with eps drawn on its own")
    expect(torch.allclose(mu.grad, torch.ones_like(mu.grad)),
           "dz/dmu should be 1 for every element: z = mu + std * eps")
    expect(torch.allclose(logvar.grad, 0.5 * noise, atol=1e-5),
           "dz/dlogvar should be 0.5 * std * eps = 0.5 * (z - mu): compute std = exp(0.5 * logvar) from logvar "
           "inside the function (no detach), then z = mu + std * eps")
    first = reparameterize(mu.detach()[:20], logvar.detach()[:20])
    again = reparameterize(mu.detach()[:20], logvar.detach()[:20])
    expect(not torch.allclose(again, first),
           "two calls gave the same z: draw fresh noise on every call (no fixed seed inside the function)")
    return "z = mu + exp(logvar / 2) * eps has the right mean and spread, and gradients reach mu and logvar"


# --- Gaussian KL ---------------------------------------------------------------------------------------


def _kl_right(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)


def _kl_mistakes(mu, logvar) -> list[tuple[torch.Tensor, str]]:
    d = mu.shape[-1]
    right = _kl_right(mu, logvar)
    return [
        (-right, "It has the opposite sign: the KL divergence is never negative; did you flip the sign of the whole "
                 "expression? KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)"),
        (0.5 * (mu ** 2 + logvar.exp() - 1 + logvar).sum(-1),
         "Check the sign of the log-variance term: it is - logvar (KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar))"),
        (0.5 * (mu ** 2 + (2 * logvar).exp() - 1 - 2 * logvar).sum(-1),
         "You treated logvar as log(std): it is log(variance), so the variance is exp(logvar), not exp(2 * logvar)"),
        (0.5 * (mu ** 2 + logvar ** 2 - 1 - torch.log(logvar ** 2)).sum(-1),
         "You used logvar as the standard deviation: the variance is exp(logvar)"),
        (2 * right, "It is twice the right value: the factor 0.5 in front of the sum is missing"),
        (right / d, "It is the right value divided by the latent size: sum over the latent dimensions, don't average"),
        (right + d / 2, "It is too large by D / 2: the '- 1' inside the sum is missing"),
        (0.5 * ((1 + mu ** 2) / logvar.exp() - 1 + logvar).sum(-1),
         "This is KL(p || q), the other direction: we need KL(q(z|x) || p(z)) with q = N(mu, exp(logvar))"),
        (0.5 * (logvar.exp() - 1 - logvar).sum(-1),
         "The mu^2 term is missing: the KL grows with the distance of the mean from 0, 0.5 * mu^2 per dimension"),
    ]


# --- the KL term by term -----------------------------------------------------------------------------

_PROBE_MU = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [-1.5, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0],
                          [1, 0, 0]], dtype=torch.float64)
_PROBE_LOGVAR = torch.tensor([[0.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0], [-1, 0, 0], [2, 0, 0],
                              [0.5, 0, 0]], dtype=torch.float64)

# Each term of 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar) and its usual wrong versions: (value, what is wrong).
_MU_TERMS = [(lambda m: m ** 2, None), (lambda m: 0 * m, "the mu^2 term is missing (KL grows with the distance of "
                                                         "the mean from 0)"),
             (lambda m: m.abs(), "use mu squared (mu ** 2 or mu.pow(2)), not |mu|"),
             (lambda m: m, "use mu squared (mu ** 2 or mu.pow(2)), not mu"),
             (lambda m: -m ** 2, "the mu^2 term has the wrong sign: it is + mu^2")]
_VAR_TERMS = [(lambda v: v.exp(), None), (lambda v: 0 * v, "the exp(logvar) term (the variance) is missing"),
              (lambda v: (2 * v).exp(), "the variance is exp(logvar), not exp(2 * logvar)"),
              (lambda v: v, "the variance is exp(logvar): logvar is its logarithm, not the variance itself"),
              (lambda v: (0.5 * v).exp(), "the variance is exp(logvar): exp(logvar / 2) is the standard deviation")]
_ONE_TERMS = [(lambda d: 1.0, None), (lambda d: 0.0, "the '- 1' inside the sum is missing (so KL(N(0, I) || N(0, I)) "
                                                     "comes out D / 2 instead of 0)"),
              (lambda d: -1.0, "it is '- 1' inside the sum, not '+ 1'"),
              (lambda d: 1.0 / d, "the '- 1' belongs inside the sum, once per latent dimension, not once per row")]
_LOG_TERMS = [(lambda v: v, None), (lambda v: 0 * v, "the '- logvar' term is missing"),
              (lambda v: -v, "check the sign of the log-variance term: it is - logvar"),
              (lambda v: 2 * v, "the log-variance term is - logvar, not - 2 * logvar"),
              (lambda v: 0.5 * v, "the log-variance term is - logvar inside the sum (the 0.5 in front applies to "
                                  "everything), not - logvar / 2")]
_FACTORS = [(0.5, None), (1.0, "the factor 0.5 in front of the sum is missing"),
            (-0.5, "the whole expression has the wrong sign: a KL divergence is never negative"),
            (-1.0, "the whole expression has the wrong sign (a KL divergence is never negative) and the factor 0.5 "
                   "is missing"),
            (0.25, "the factor 0.5 is applied twice")]
_DIM_REDUCTIONS = [("sum", None), ("mean", "you averaged over the latent dimensions: sum over them, don't average "
                                           "(the KL of independent dimensions adds up)")]


def _kl_candidates():
    """Every combination of right and wrong terms, evaluated on the probe rows: (values (C, R), hints per C)."""
    mu, lv = _PROBE_MU, _PROBE_LOGVAR
    d = mu.shape[1]
    values, hints = [], []
    for fm, hm in _MU_TERMS:
        for fv, hv in _VAR_TERMS:
            for fo, ho in _ONE_TERMS:
                for fl, hl in _LOG_TERMS:
                    inside = fm(mu) + fv(lv) - fo(d) - fl(lv)
                    for factor, hf in _FACTORS:
                        for reduction, hr in _DIM_REDUCTIONS:
                            total = inside.sum(-1) if reduction == "sum" else inside.mean(-1)
                            found = [h for h in (hm, hv, ho, hl, hf, hr) if h]
                            if hv and hl and "exp(2 * logvar)" in hv and "2 * logvar" in hl:
                                found = [h for h in found if h not in (hv, hl)]
                                found.insert(0, "you treated logvar as log(std): it is log(variance), so the "
                                                "variance is exp(logvar), not exp(2 * logvar), and the log term is "
                                                "- logvar, not - 2 * logvar")
                            values.append(factor * total)
                            hints.append(found)
    return torch.stack(values), hints


_KL_CANDIDATES = None


def kl_term_hint(kl_rows) -> str | None:
    """Name the wrong terms of a Gaussian KL: ``kl_rows(mu (R, 3), logvar (R, 3))`` -> the KL of each row (R,).

    Returns None when the KL is right or matches no combination of the usual mistakes."""
    global _KL_CANDIDATES
    got = kl_rows(_PROBE_MU.float(), _PROBE_LOGVAR.float())
    if not torch.is_tensor(got) or tuple(got.shape) != (len(_PROBE_MU),):
        return None
    got = got.detach().double()
    if not torch.isfinite(got).all():
        return None
    if _KL_CANDIDATES is None:
        _KL_CANDIDATES = _kl_candidates()
    values, hints = _KL_CANDIDATES
    close = ((values - got).abs() <= 1e-4 + 1e-4 * got.abs()).all(1)
    matches = [hints[i] for i in torch.nonzero(close).flatten().tolist()]
    if not matches:
        return None
    best = min(matches, key=len)
    if not best:
        return None
    return "; ".join(best[:1] + [h[0].lower() + h[1:] for h in best[1:]]) + \
        ". KL = 0.5 * sum over the latent dimensions of (mu^2 + exp(logvar) - 1 - logvar)"


@exercise_check
def check_gaussian_kl(gaussian_kl):
    """``gaussian_kl(mu, logvar)``: float (B, D), (B, D) -> float (B,), KL(N(mu, diag exp(logvar)) || N(0, I))."""
    # 1. q equal to the prior: KL 0.
    zeros = torch.zeros(2, 3)
    out = _float_tensor(gaussian_kl(zeros, zeros.clone()), "gaussian_kl(0, 0)").detach().double()
    expect(out.dim() != 0, "the result is one number: return one KL per row, shape (B,) (sum over the latent "
                           "dimension only, dim=-1, not over the batch)")
    expect(out.dim() != 2, f"the result has shape {tuple(out.shape)}: sum over the latent dimension (dim=-1) "
                           "to get one KL per row, shape (B,)")
    expect(tuple(out.shape) != (3,), "the result has one value per latent dimension (shape (D,)): you summed over "
                                     "the batch (dim=0); sum over the latent dimension (dim=-1) for one KL per row")
    expect_shape(out, (2,), "gaussian_kl(mu, logvar) for B = 2 rows")

    def named_terms(what: str) -> None:
        hint = kl_term_hint(gaussian_kl)
        expect(hint is None, f"{what} is wrong: {hint}")

    if not torch.allclose(out.detach(), torch.zeros(2, dtype=out.dtype), atol=1e-6):
        named_terms("KL(N(0, I) || N(0, I))")
    expect(torch.isfinite(out).all(),
           f"KL(N(0, I) || N(0, I)) came out {out.tolist()} instead of 0: with logvar = 0, a log of logvar (or of "
           "logvar squared) is infinite. Did you use logvar as the standard deviation or the variance? "
           "The variance is exp(logvar)")
    expect(torch.allclose(out, torch.zeros(2, dtype=out.dtype), atol=1e-6),
           f"KL(N(0, I) || N(0, I)) must be 0, got {out.tolist()}: with mu = 0 and logvar = 0 every term "
           "mu^2 + exp(logvar) - 1 - logvar is 0; did you forget the '- 1' or use exp(logvar) where logvar belongs?")

    # 2. A hand-worked case: one dimension with mu = 1 (KL 0.5), one with variance 4 (0.5 * (4 - 1 - log 4)).
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), 0.0]])
    right = _kl_right(mu, logvar)
    out = _float_tensor(gaussian_kl(mu, logvar), "gaussian_kl(mu, logvar)").detach().double()
    expect_shape(out, (2,), "gaussian_kl(mu, logvar) for B = 2 rows")
    if not torch.allclose(out.detach().double(), right.double(), atol=1e-5, rtol=1e-4):
        hint = name_mistake(out.detach(), _kl_mistakes(mu, logvar), right)
        expect(hint is None, f"KL is wrong. {hint}")
        named_terms("KL for mu = [1, 0], logvar = [0, 0] and mu = [0, 0], logvar = [log 4, 0]")
    expect((out >= -1e-6).all(), f"KL came out negative ({out.tolist()}): a KL divergence is never negative. "
           "Did you flip the sign of the log-variance term or of the whole expression?")
    _diagnose(out, right, _kl_mistakes(mu, logvar), "KL for mu = [1, 0], logvar = [0, 0] (expected 0.5) and "
              "mu = [0, 0], logvar = [log 4, 0] (expected 0.807)")

    # 3. Random rows against the formula; inputs must not change.
    gen = torch.Generator().manual_seed(5)
    mu, logvar = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    before = (mu.clone(), logvar.clone())
    out = _float_tensor(gaussian_kl(mu, logvar), "gaussian_kl(mu, logvar)").detach().double()
    expect(torch.equal(mu, before[0]) and torch.equal(logvar, before[1]),
           "your function changed mu or logvar in place: compute on new tensors")
    expect_shape(out, (6,), "gaussian_kl(mu, logvar) for B = 6 rows, D = 4")
    if not torch.allclose(out.detach().double(), _kl_right(mu, logvar).double(), atol=1e-4, rtol=1e-4):
        named_terms("KL on random rows")
    _diagnose(out, _kl_right(mu, logvar), _kl_mistakes(mu, logvar), "KL on random rows")
    return "KL(N(mu, exp(logvar)) || N(0, I)) matches the closed form, one value per row"


# --- negative ELBO -------------------------------------------------------------------------------------


def _pixel_costs(logits: torch.Tensor, x: torch.Tensor) -> list[tuple[torch.Tensor, str | None]]:
    """-log p(x_pixel | z), right (hint None) and as the usual mistakes compute it, per pixel."""
    right = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return [(right, None), *[(cost, hint) for cost, hint in _per_pixel_variants(logits, x)
                             if "logits as probabilities" not in hint]]


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)   # (B,)


def _reduction_mistakes(recon: torch.Tensor, kl: torch.Tensor, d: int) -> list[tuple[torch.Tensor, str]]:
    return [
        ((recon - kl).mean(), "Sign of the KL: the negative ELBO ADDS the KL (-ELBO = -E[log p(x|z)] + KL)"),
        (recon.mean(), "The KL term is missing: -ELBO = reconstruction loss + KL(q(z|x) || p(z))"),
        (kl.mean(), "The reconstruction term is missing: -ELBO = reconstruction loss + KL"),
        (recon.mean() + kl.sum(), "The KL is summed over the batch while the reconstruction is averaged: average "
                                  "both over the batch"),
        (recon.sum() + kl.mean(), "The reconstruction is summed over the batch while the KL is averaged: average "
                                  "both over the batch"),
        (recon.mean() + kl.mean() / d, "The KL is averaged over the latent dimensions: sum over them (one KL per "
                                       "image), then average over the batch"),
        ((recon + kl).sum(), "It is the sum over the batch: average over the batch instead (the loss per image)"),
        (recon.mean() / 784 + kl.mean(), "The reconstruction term is averaged over pixels: log p(x|z) of an image "
                                         "is the SUM over its 784 pixels, then average over the batch"),
        ((recon + kl).mean() / 784, "It is averaged over pixels as well as the batch: sum over the pixels of an "
                                    "image, average over the batch"),
    ]


@exercise_check
def check_negative_elbo(negative_elbo):
    """``negative_elbo(x, logits, mu, logvar)`` -> 0-d: mean over the batch of (-log p(x|z) summed over pixels + KL)."""
    gen = torch.Generator().manual_seed(3)
    b, d = 4, 6
    x = torch.bernoulli(torch.full((b, 1, 28, 28), 0.3), generator=gen)
    logits = 2 * torch.randn(b, 1, 28, 28, generator=gen)
    mu, logvar = torch.randn(b, d, generator=gen), 0.5 * torch.randn(b, d, generator=gen)
    recon, kl = _bce(logits, x), _kl_right(mu, logvar)
    right = (recon + kl).mean()

    def value(*args) -> torch.Tensor:
        out = _float_tensor(_call(negative_elbo, *args), "negative_elbo(x, logits, mu, logvar)")
        expect(out.numel() != len(args[0]) or out.dim() == 0 or len(args[0]) == 1,
               f"the result has shape {tuple(out.shape)}, one value per image: return one number, the average over "
               "the batch of each image's negative ELBO (.mean() at the end)")
        expect(out.dim() == 0 or (out.numel() == 1 and len(args[0]) == 1),
               f"the result has shape {tuple(out.shape)}: return one number (a 0-d tensor), the average over the "
               "batch of each image's negative ELBO")
        return out.detach().double().reshape(())

    before = [t.clone() for t in (x, logits, mu, logvar)]
    out = value(x, logits, mu, logvar)
    expect(all(torch.equal(t, u) for t, u in zip((x, logits, mu, logvar), before, strict=True)),
           "your function changed one of its inputs in place: compute on new tensors")
    expect(bool(torch.isfinite(out)), f"the result is {out.item()}: use F.binary_cross_entropy_with_logits (stable "
                                      "for any logits) and exp(logvar) for the variance")
    if not torch.allclose(out, right.double(), atol=1e-3, rtol=1e-5):
        expect(not torch.allclose(-out, right.double(), atol=1e-3, rtol=1e-5) and out.item() >= 0,
               "the result is negative: return the NEGATIVE ELBO, a positive loss (reconstruction loss + KL)")
        # Take the two terms apart, one image at a time (a batch of one: mean and sum agree).
        # The KL term alone: logits of +-30 that agree with x make the reconstruction cost about 0.
        x1, logits1 = x[:1], logits[:1]
        sure = 30.0 * (2 * x1 - 1)

        def kl_rows(m, lv):
            return torch.stack([value(x1, sure, m[r:r + 1], lv[r:r + 1]) for r in range(len(m))])

        kl_own = torch.stack([value(x[i:i + 1], 30.0 * (2 * x[i:i + 1] - 1), mu[i:i + 1], logvar[i:i + 1])
                              for i in range(b)])
        expect(not torch.allclose(kl_own, torch.zeros_like(kl_own), atol=1e-4),
               "The KL term is missing: -ELBO = reconstruction loss + KL(q(z|x) || p(z))")
        expect(not torch.allclose(kl_own, -kl.double(), atol=1e-3, rtol=1e-4),
               "Sign of the KL: the negative ELBO ADDS the KL (-ELBO = -E[log p(x|z)] + KL)")
        hint = None
        if not torch.allclose(kl_own, kl.double(), atol=1e-3, rtol=1e-4):
            hint = kl_term_hint(kl_rows)
        if hint is None:
            wrong = name_mistake(kl_own, [(w, h) for w, h in _kl_mistakes(mu, logvar)], kl, tol=1e-3)
            expect(wrong is None, f"The KL term is wrong. {wrong}")
        else:
            expect(False, f"The KL term is wrong: {hint}")
        # The reconstruction term alone: the same image with its logits, minus the cost at the sure logits.
        zeros = torch.zeros(1, d)
        base = value(x1, sure, zeros, zeros.clone())
        recon_own = value(x1, logits1, zeros, zeros.clone()) - base
        sure_costs = bernoulli_nll_mistakes(sure, x1, lambda t: t.flatten(1).sum(1))
        mistakes = [(w[0] - w_sure[0], h) for (w, h), (w_sure, _) in
                    zip(bernoulli_nll_mistakes(logits1, x1, lambda t: t.flatten(1).sum(1)), sure_costs, strict=True)]
        wrong = name_mistake(recon_own, mistakes, recon[0], tol=1e-3)
        expect(wrong is None, f"The reconstruction term is wrong: {wrong}")
        recon_ok = torch.allclose(recon_own, recon[0].double(), atol=1e-3, rtol=1e-4)
        kl_ok = torch.allclose(kl_own, kl.double(), atol=1e-3, rtol=1e-4)
        # Both terms right for one image: the batch reduction is what differs.
        wrong = name_mistake(out, _reduction_mistakes(recon, kl, d), right, tol=1e-4)
        expect(wrong is None, f"negative_elbo is wrong. {wrong}")
        expect(not (recon_ok and kl_ok),
               f"each image's terms are right, but the batch gives {out.item():.6g} instead of {right.item():.6g}: "
               "return the mean over the batch of (reconstruction + KL) per image")
        expect(recon_ok, f"The reconstruction term is wrong: for one image it is {recon_own.item():.6g} nats, expected "
                         f"{recon[0].item():.6g} = F.binary_cross_entropy_with_logits(logits, x, reduction='none') "
                         "summed over the pixels")
        expect_close(out, right, "negative_elbo", atol=1e-3, rtol=1e-5, sizes={"batch": b, "pixels": 784})

    # The reconstruction term alone: with mu = 0 and logvar = 0 the KL is 0.
    zeros = torch.zeros(b, d)
    out = value(x, logits, zeros, zeros.clone())
    expect_close(out, recon.mean(), "negative_elbo with KL = 0 (mu = 0, logvar = 0)", atol=1e-3, rtol=1e-5)
    # Confidently wrong logits (-+200 against every pixel): each pixel costs 200 nats, which only a loss computed
    # from the logits themselves gets (sigmoid(200) rounds to 1, and log(1 - 1) to -inf or a clamp).
    x1, zeros1 = x[:1], torch.zeros(1, d)
    wrong_way = -200.0 * (2 * x1 - 1)
    out = value(x1, wrong_way, zeros1, zeros1.clone())
    want = _bce(wrong_way, x1).double().reshape(())
    expect(bool(torch.isfinite(out)) and torch.allclose(out, want, rtol=1e-4),
           f"for confidently wrong logits (200 against every pixel) the result is {out.item():.6g}, expected "
           f"{want.item():.6g} (200 nats per pixel): the sigmoid saturates there, so log(sigmoid(l)) and "
           "F.binary_cross_entropy (which clamps its logs at -100) go wrong; compute from the logits with "
           "F.binary_cross_entropy_with_logits (or F.logsigmoid)")
    return "-ELBO = mean over the batch of (reconstruction loss summed over pixels + KL)"


# --- one training step -----------------------------------------------------------------------------------

_STEP_BETA = 2.5        # not 1, so that beta on the wrong term, or left out, shows
_STEP_LEFTOVER = 0.5    # gradients "left over from an earlier step" in every parameter: zero_grad must clear them
_STEP_SEED = 11
_STEP_BATCH, _STEP_DIM = 6, 4


class _RecordingSGD(torch.optim.SGD):
    """Plain SGD that keeps a copy of the gradients it finds at every step()."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr=lr)
        self.seen: list[list[torch.Tensor | None]] = []

    def step(self, closure=None):
        self.seen.append([None if p.grad is None else p.grad.detach().clone()
                          for group in self.param_groups for p in group["params"]])
        return super().step(closure)


def _step_setup():
    """A small seeded VAE whose codes sit away from the prior (so that the KL has a gradient), a binary batch,
    and gradients left over in every parameter."""
    from ..models.vae import VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = VAE(latent_dim=_STEP_DIM, hidden=16, channels=(4, 8))
    with torch.no_grad():
        model.encoder[-1].bias[:_STEP_DIM] += 0.8      # mu
        model.encoder[-1].bias[_STEP_DIM:] -= 1.0      # logvar
        model.decoder[-1].weight *= 6.0                 # logits spread far from 0, where the usual wrong
        model.decoder[-1].bias -= 1.0                   # reconstruction terms have gradients of their own
    x = torch.bernoulli(torch.full((_STEP_BATCH, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(8))
    for p in model.parameters():
        p.grad = torch.full_like(p, _STEP_LEFTOVER)
    return model, x


def _flat_grad(loss: torch.Tensor, params: list) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in
                      zip(params, grads, strict=True)]).double()


# KLs whose gradient differs from the right one's (a missing '- 1' only shifts the value: see the reported KL)
_KL_VARIANTS = [
    (lambda m, v: 0.5 * (v.exp() - 1 - v).sum(-1),
     "the mu^2 term is missing (the KL grows with the distance of the mean from 0)"),
    (lambda m, v: 0.5 * (m ** 2 + (2 * v).exp() - 1 - 2 * v).sum(-1),
     "logvar was treated as log(std): it is log(variance), so the variance is exp(logvar)"),
    (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 + v).sum(-1), "check the sign of the log-variance term: it is - logvar"),
    (lambda m, v: 0.5 * (m ** 2 - 1 - v).sum(-1), "the exp(logvar) term (the variance) is missing"),
    (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1).sum(-1), "the '- logvar' term is missing"),
    (lambda m, v: 0.5 * ((1 + m ** 2) / v.exp() - 1 + v).sum(-1),
     "this is KL(p || q), the other direction: the ELBO has KL(q(z|x) || p(z))"),
]


def _step_reference(model, x: torch.Tensor, seed: int, z_seen: torch.Tensor | None = None) -> dict:
    """What one step sees at the model's weights: each image's terms, and the gradient (a flat vector) of the batch
    mean of every usual version of the reconstruction term and of the KL. The code z is the one the student's step
    decoded (``z_seen``, rebuilt as mu + std * eps so that gradients reach the encoder), else the draw of ``seed``."""
    ref = copy.deepcopy(model)
    params = list(ref.parameters())
    mu, logvar = ref.encode(x)
    std = torch.exp(0.5 * logvar)
    if z_seen is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            eps = torch.randn(mu.shape, dtype=mu.dtype)
    else:
        eps = ((z_seen.to(mu) - mu) / std).detach()
    logits = ref.decode(mu + std * eps)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    recons = [(_flat_grad(recon.mean(), params), None)]
    for cost, hint in _per_pixel_variants(logits, x):
        per_image = cost.flatten(1).sum(1)
        if per_image.requires_grad and torch.isfinite(per_image).all():
            recons.append((_flat_grad(per_image.mean(), params), hint))
    at_mean = F.binary_cross_entropy_with_logits(ref.decode(mu), x, reduction="none").flatten(1).sum(1)
    recons.append((_flat_grad(at_mean.mean(), params),
                   "it decodes mu itself, not a sample: the reconstruction term is an expectation over z ~ q(z|x); "
                   "decode a draw (model(x) draws one with the reparameterization trick)"))
    cut = F.binary_cross_entropy_with_logits(ref.decode((mu + std * eps).detach()), x, reduction="none")
    recons.append((_flat_grad(cut.flatten(1).sum(1).mean(), params),
                   "no gradient flows from it back into the encoder: z was drawn without a path to mu and logvar "
                   "(torch.normal, a distribution's .sample(), or .detach()); draw it with the reparameterization "
                   "trick, as model(x) does"))
    kls = [(_flat_grad(_kl_right(mu, logvar).mean(), params), None)]
    kls += [(_flat_grad(fn(mu, logvar).mean(), params), hint) for fn, hint in _KL_VARIANTS]
    return {"recon": recon.detach().double(), "kl": _kl_right(mu, logvar).detach().double(),
            "logits": logits.detach(), "mu": mu.detach(), "logvar": logvar.detach(), "recons": recons, "kls": kls}


def _fits(g: torch.Tensor, firsts: list[torch.Tensor], seconds: list[torch.Tensor]):
    """For every pair (i, j), g ~ a * firsts[i] + b * seconds[j] by least squares: yields (i, j, a, b, the relative
    size of what is left), from the Gram matrix of the vectors (one pass over them, not one per pair)."""
    vectors = torch.stack(firsts + seconds)                              # (n, P)
    gram, dots, size = vectors @ vectors.T, vectors @ g, g.dot(g).clamp_min(1e-300)
    n = len(firsts)
    for i in range(n):
        for j in range(len(seconds)):
            k = n + j
            basis = gram[[i, k]][:, [i, k]]
            rhs = torch.stack([dots[i], dots[k]])
            try:
                coef = torch.linalg.solve(basis, rhs)
            except RuntimeError:  # two collinear vectors: no unique fit
                continue
            left = (size - coef.dot(rhs)).clamp_min(0).sqrt() / size.sqrt()
            yield i, j, coef[0].item(), coef[1].item(), left.item()


def _near(value: float, target: float) -> bool:
    return abs(value - target) <= 0.02 * abs(target) + 1e-3


def _weights_hint(a: float, b: float, beta: float, batch: int, dim: int, pixels: int = 784) -> str | None:
    """What the weights of the loss the update followed, a * reconstruction + b * KL (batch means), say; None when
    they are the right ones, 1 and beta."""
    if _near(a, 1) and _near(b, beta):
        return None
    if _near(a, -1) and _near(b, -beta):
        return ("the update climbs the loss instead of descending it: the whole loss has the wrong sign. The "
                "optimizer minimises, so give it the NEGATIVE ELBO, recon + beta * KL, not the ELBO")
    if _near(a, batch) and _near(b, batch * beta):
        return ("the loss is summed over the batch: take the mean over the images, so that its size (and the "
                "step) does not grow with the batch size")
    if _near(a, 1 / pixels) and _near(b, beta / pixels):
        return ("the whole loss is divided by the 784 pixels: -log p(x|z) of an image is the SUM over its pixels, "
                "and the KL is not a per-pixel quantity")
    if beta != 1 and _near(a, beta) and _near(b, 1):
        return ("beta multiplies the reconstruction term instead of the KL: the loss is recon + beta * KL (beta "
                "sets the price of information in the code)")
    parts = []
    for value, hint in ((1 / pixels, "the reconstruction term is averaged over the pixels: -log p(x|z) of an image "
                                     "is the SUM over its 784 pixels, then the mean over the batch"),
                        (batch, "the reconstruction term is summed over the batch while the KL is averaged: take "
                                "the mean over the batch of both"),
                        (0, "the reconstruction term is missing from the loss you backpropagate"),
                        (-1, "the reconstruction term has the wrong sign: the loss ADDS -log p(x|z)"),
                        (beta, "beta multiplies the reconstruction term: it weights the KL only")):
        if not _near(a, 1) and _near(a, value):
            parts.append(hint)
            break
    else:
        if not _near(a, 1):
            parts.append(f"the reconstruction term weighs {a:.4g} times what it should (1, per image, averaged "
                         "over the batch)")
    for value, hint in ((-beta, "the KL has the wrong sign: the negative ELBO ADDS beta * KL; subtracting it rewards "
                                "codes far from the prior and the KL grows without bound"),
                        (batch * beta, "the KL is summed over the batch while the reconstruction is averaged: take "
                                       "the mean over the batch of both"),
                        (beta / dim, "the KL is averaged over the latent dimensions: sum over them (one KL per "
                                     "image), then average over the batch"),
                        (1.0, "beta is not applied: the KL term is weighted by beta (loss = recon + beta * KL)"),
                        (0, "the KL term is missing from the loss you backpropagate"),
                        (2 * beta, "the KL is twice what it should be: the factor 0.5 in front of the sum is missing"),
                        (beta * beta, "beta is applied twice"),
                        (1 / beta, "the KL is divided by beta: it is multiplied by beta")):
        if not _near(b, beta) and _near(b, value):
            parts.append(hint)
            break
    else:
        if not _near(b, beta):
            parts.append(f"the KL term weighs {b:.4g} times the KL per image (batch mean) where it should weigh "
                         f"beta = {beta}")
    return "; ".join(parts) if parts else None


def _gradient_hints(g: torch.Tensor, ref: dict) -> list[str] | None:
    """What the gradient the optimizer used says about the loss: [] when it is the right one, None when it matches
    no loss a * reconstruction + b * KL built from the usual versions of the two terms."""
    matches = []
    recons, kls = ref["recons"], ref["kls"]
    for grad, stale in ((g, False), (g - _STEP_LEFTOVER, True)):
        for i, j, a, b, left in _fits(grad, [v for v, _ in recons], [v for v, _ in kls]):
            recon_hint, kl_hint = recons[i][1], kls[j][1]
            if left <= 1e-3:
                found = []
                if stale:
                    found.append("the gradients left over from an earlier step were still in the parameters: call "
                                 "optimizer.zero_grad() before loss.backward() (backward ADDS to .grad)")
                if recon_hint:
                    found.append(f"the reconstruction term is wrong: {recon_hint}")
                if kl_hint:
                    found.append(f"the KL term is wrong: {kl_hint}")
                weights = _weights_hint(a, b, _STEP_BETA, _STEP_BATCH, _STEP_DIM)
                if weights:
                    found.append(weights)
                matches.append((len(found), left, found))
    return min(matches, key=lambda m: m[:2])[2] if matches else None   # the simplest explanation


def _step_number(value, what: str) -> float:
    if torch.is_tensor(value):
        expect(not value.requires_grad,
               f"{what} is a tensor that keeps the graph of the step: return a Python float (loss.item()). A "
               "training loop that stores the numbers of every step would keep every step's graph in memory")
        expect(value.numel() == 1, f"{what} should be one number (the batch mean), got a tensor of shape "
                                   f"{tuple(value.shape)}")
        expect(False, f"{what} is a tensor: return a plain Python float (.item())")
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should be a number (a Python float, .item()), got {type(value).__name__}")
    expect(math.isfinite(float(value)), f"{what} is {value}: not a finite number")
    return float(value)


@exercise_check
def check_vae_step(vae_step):
    """``vae_step(model, x, optimizer, beta)``: one SGD step on mean(recon + beta * KL) -> {'loss', 'recon', 'kl'}."""
    model, x = _step_setup()
    x_before = x.clone()
    before = [p.detach().clone() for p in model.parameters()]
    start = copy.deepcopy(model)
    decoded: list[torch.Tensor] = []
    hook = model.decoder.register_forward_pre_hook(lambda module, args: decoded.append(args[0].detach().clone()))
    optimizer = _RecordingSGD(model.parameters(), lr=0.1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_STEP_SEED)
            out = _call(vae_step, model, x, optimizer, _STEP_BETA)
    finally:
        hook.remove()
    expect(torch.equal(x, x_before), "your step changed x in place")
    # The reference decodes the very z the step decoded, however it drew it.
    z_seen = decoded[0] if decoded and tuple(decoded[0].shape) == (_STEP_BATCH, _STEP_DIM) else None
    ref = _step_reference(start, x, _STEP_SEED, z_seen)

    # What was returned.
    expect(not torch.is_tensor(out) or not out.requires_grad,
           "vae_step returned the loss tensor, which keeps the graph of the step: return a dict of Python floats, "
           "{'loss': loss.item(), 'recon': ..., 'kl': ...}")
    expect(isinstance(out, dict), "vae_step should return a dict {'loss': ..., 'recon': ..., 'kl': ...} of Python "
                                  f"floats, got {type(out).__name__}")
    missing = sorted({"loss", "recon", "kl"} - set(out))
    expect(not missing, f"the dict lacks {missing}: return {{'loss': ..., 'recon': ..., 'kl': ...}}")
    numbers = {key: _step_number(out[key], f"out[{key!r}]") for key in ("loss", "recon", "kl")}

    # The update: one optimizer step, with this batch's gradient only.
    seen = optimizer.seen
    moved = any(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before, strict=True))
    expect(seen or not moved, "the parameters changed but optimizer.step() was never called: update them with the "
                              "optimizer you are given, optimizer.step()")
    expect(seen, "the parameters did not change: after loss.backward(), call optimizer.step()")
    expect(len(seen) == 1, f"optimizer.step() ran {len(seen)} times: one call of vae_step is ONE update")
    grads = seen[0]
    if not any(g is not None and bool(g.abs().max() > 0) for g in grads):
        expect(all(p.grad is None or not bool(p.grad.abs().max() > 0) for p in model.parameters()),
               "optimizer.step() ran before loss.backward(): it found no gradients, and the ones backward() made "
               "afterwards were never used; the order is zero_grad(), backward(), step()")
        expect(False, "optimizer.step() found no gradients: optimizer.zero_grad() ran between loss.backward() and "
                      "optimizer.step() and threw them away; the order is zero_grad(), backward(), step()")
    g = torch.cat([(torch.zeros_like(p) if gr is None else gr).flatten() for p, gr in
                   zip(model.parameters(), grads, strict=True)]).double()
    expect(not torch.allclose(g, torch.full_like(g, _STEP_LEFTOVER)),
           "optimizer.step() found only the gradients left over from an earlier step: call loss.backward() BEFORE "
           "optimizer.step() (and optimizer.zero_grad() before backward)")
    expect(not (z_seen is not None and torch.allclose(z_seen, ref["mu"], atol=1e-6)),
           "the step decodes mu itself, not a sample: the reconstruction term is an expectation over z ~ q(z|x); "
           "decode a draw (model(x) draws one with the reparameterization trick)")
    hints = _gradient_hints(g, ref)
    expect(hints is not None,
           "the update does not follow the gradient of the loss mean(recon + beta * KL) for the z that model(x) "
           "draws: compute logits, mu, logvar = model(x) once (it draws z with the reparameterization trick), build "
           "the loss from them, and backpropagate it once")
    expect(not hints, "the step is wrong: " + "; ".join(hints))

    # The numbers it reports: the batch means of the two terms, before the update, and the loss it minimised.
    recon, kl = ref["recon"].mean(), ref["kl"].mean()
    recon_mistakes = [(wrong, hint[0].upper() + hint[1:]) for wrong, hint in
                      bernoulli_nll_mistakes(ref["logits"], x, lambda t: t.flatten(1).sum(1).mean())]
    recon_mistakes.append((recon * _STEP_BATCH, "You summed over the batch: report the batch mean"))
    _diagnose(numbers["recon"], recon, recon_mistakes,
              "out['recon'] (the batch mean of -log p(x|z), each summed over its 784 pixels)", atol=1e-3)
    kl_mistakes = [(wrong.mean(), hint) for wrong, hint in _kl_mistakes(ref["mu"], ref["logvar"])]
    kl_mistakes += [(_STEP_BETA * kl, "It is beta * KL: report the KL itself ('loss' is where beta goes)"),
                    (kl * _STEP_BATCH, "It is summed over the batch: report the batch mean")]
    _diagnose(numbers["kl"], kl, kl_mistakes, "out['kl'] (the batch mean of KL(q(z|x) || p(z)))", atol=1e-3)
    loss = recon + _STEP_BETA * kl
    _diagnose(numbers["loss"], loss, [
        (recon + kl, "It is recon + KL: report the loss you minimise, recon + beta * KL"),
        (recon - _STEP_BETA * kl, "It is recon - beta * KL: the loss ADDS the weighted KL"),
        (_STEP_BETA * recon + kl, "Beta multiplies the reconstruction term: loss = recon + beta * KL"),
        (-(recon + _STEP_BETA * kl), "It is minus the loss: report the loss itself, recon + beta * KL"),
    ], f"out['loss'] (recon + beta * KL with beta = {_STEP_BETA})", atol=1e-3)
    return ("one step on mean(recon + beta * KL): the update follows its gradient alone (the leftover gradients "
            "cleared), and loss, recon and kl match")


# --- importance-weighted log-likelihood ---------------------------------------------------------------


class _LinearToyVAE:
    """A VAE with a 1-D latent whose log p(x) can be computed exactly by integrating over a fine grid.

    decode(z): z (N, 1) -> logits (N, 1, 28, 28) = a * z + b. encode(x): looks up a fixed, deliberately
    imperfect q(z|x) = N(m, s^2) for each of the three images it knows (m shifted, s too wide), so the
    ELBO is clearly below log p(x) and the importance-weighted estimate must close the gap.
    """

    latent_dim = 1

    def __init__(self):
        gen = torch.Generator().manual_seed(11)
        self.a = 1.0 * torch.randn(784, generator=gen)
        self.b = -1.0 + 1.5 * torch.randn(784, generator=gen)
        z_true = torch.tensor([[-1.0], [0.3], [1.4]])
        self.images = torch.bernoulli(torch.sigmoid(self._logits(z_true)), generator=gen)   # (3, 1, 28, 28)
        self.grid = torch.linspace(-8, 8, 16001, dtype=torch.float64)                       # (G,)
        step = self.grid[1] - self.grid[0]
        log_joint = self._log_joint(self.grid)                                               # (G, 3)
        self.log_px = torch.logsumexp(log_joint, 0) + torch.log(step)                        # exact log p(x), (3,)
        post = torch.softmax(log_joint, 0)                                                   # posterior on the grid
        mean = (post * self.grid[:, None]).sum(0)
        sd = ((post * (self.grid[:, None] - mean) ** 2).sum(0)).sqrt()
        self.q_mu = (mean + 0.7 * sd).float()[:, None]                                       # (3, 1)
        self.q_logvar = torch.log((2.0 * sd) ** 2).float()[:, None]
        self.step = step
        self.log_joint = log_joint

    def _logits(self, z):
        return (z * self.a + self.b).reshape(-1, 1, 28, 28)

    def _log_joint(self, grid):
        x = self.images.flatten(1).double()                                                  # (3, 784)
        logits = grid[:, None] * self.a.double() + self.b.double()                           # (G, 784)
        log_px_z = -(F.softplus(logits) @ torch.ones(784, dtype=torch.float64))[:, None] + logits @ x.T   # (G, 3)
        return log_px_z - 0.5 * grid[:, None] ** 2 - 0.5 * math.log(2 * math.pi)

    def _log_q(self):
        """log q(z|x) on the grid, (G, 3)."""
        m, lv = self.q_mu.double().T, self.q_logvar.double().T                              # (1, 3)
        var = lv.exp()
        return -0.5 * (math.log(2 * math.pi) + var.log() + (self.grid[:, None] - m) ** 2 / var)

    def expected_logs(self) -> dict[str, torch.Tensor]:
        """What an estimator converges to (large k), per image (3,), for the right and the usual wrong log-weights."""
        log_q, log_p, g = self._log_q(), self.log_joint, torch.log(self.step)
        q = log_q.exp() * self.step
        log_prior = -0.5 * self.grid[:, None] ** 2 - 0.5 * math.log(2 * math.pi)
        log_lik = log_p - log_prior
        return {
            "right": self.log_px,
            "elbo": (q * (log_p - log_q)).sum(0),
            "no_prior": torch.logsumexp(log_lik, 0) + g,                        # E_q[p(x|z) / q(z)]
            "no_q": torch.logsumexp(log_q + log_p, 0) + g,                      # E_q[p(x|z) p(z)]
            "plus_q": torch.logsumexp(2 * log_q + log_p, 0) + g,                # E_q[p(x|z) p(z) q(z)]
            "no_prior_const": self.log_px + 0.5 * math.log(2 * math.pi),
            "no_q_const": self.log_px - 0.5 * math.log(2 * math.pi),
        }

    def variant_limits(self) -> list[tuple[torch.Tensor, str]]:
        """What the estimate converges to (large k), per image (3,), for the usual mistakes, one at a time: in the
        log-likelihood of the decoder, in log p(z), in log q(z|x), in how z is drawn, and in the averaging."""
        grid = self.grid[::16]
        log_step = torch.log(grid[1] - grid[0])
        x = self.images.flatten(1).double()                                                  # (3, 784)
        logits = grid[:, None] * self.a.double() + self.b.double()                           # (G, 784)
        zeros, ones = torch.zeros_like(logits), torch.ones_like(logits)
        # A per-pixel cost c(l, x) of binary x sums to c(l, 0) + x (c(l, 1) - c(l, 0)) over the pixels.
        at0, at1 = _pixel_costs(logits, zeros), _pixel_costs(logits, ones)
        liks = []
        for (c0, hint), (c1, _) in zip(at0, at1, strict=True):
            total = c0.sum(1)[:, None] + (c1 - c0) @ x.T                                    # (G, 3)
            liks.append((-total, f"The decoder's log-likelihood log p(x|z) is wrong: {hint}" if hint else None))
            if hint is None:
                liks.append((-total / 784, "log p(x|z) is averaged over the pixels: it is the SUM over an image's "
                                           "784 pixels of their log-probabilities"))
            else:
                liks.append((-total / 784, f"The decoder's log-likelihood log p(x|z) is wrong: {hint} (and sum over "
                                           "the pixels, do not average)"))
        const = 0.5 * math.log(2 * math.pi)
        prior = -0.5 * grid[:, None] ** 2 - const
        m, lv = self.q_mu.double().T, self.q_logvar.double().T                              # (1, 3)
        sd = (0.5 * lv).exp()
        eps = (grid[:, None] - m) / sd
        log_q = -0.5 * eps ** 2 - 0.5 * lv - const
        w_sd = lv.exp()                                                                       # logvar taken for log std
        log_q_std = -0.5 * ((grid[:, None] - m) / w_sd) ** 2 - lv - const
        priors = [(prior, None), (0 * prior, "The prior term is missing from the log-weights: log w = log p(x|z) + "
                                             "log p(z) - log q(z|x)"),
                  (prior + const, "The constant -D/2 log(2 pi) is missing from log p(z) (but present in log q): "
                                  "both Gaussian log-densities need it, or neither"),
                  (-prior, "log p(z) has the wrong sign: log N(z; 0, I) = -0.5 * z^2 - 0.5 * log(2 pi), summed over "
                           "the latent dimensions")]
        qs = [(log_q, None), (0 * log_q, "The proposal term is missing from the log-weights: log w = log p(x|z) + "
                                         "log p(z) - log q(z|x)"),
              (-log_q, "log q(z|x) has the wrong sign in the log-weights: log w = log p(x|z) + log p(z) - log q(z|x)"),
              (log_q + const, "The constant -D/2 log(2 pi) is missing from log q(z|x) (but present in log p(z)): "
                              "both Gaussian log-densities need it, or neither"),
              (log_q + 0.5 * lv, "log q(z|x) misses its -0.5 * logvar term (the log of the standard deviation): "
                                 "log N(z; mu, exp(logvar)) = -0.5 * (eps^2 + logvar + log(2 pi))"),
              (log_q_std, "log q(z|x) uses exp(logvar) as the standard deviation: it is exp(logvar / 2) "
                          "(logvar is the log of the variance)")]
        q_density = (log_q.exp() * (grid[1] - grid[0]))                                       # sampling weights
        wide = (-0.5 * ((grid[:, None] - m) / w_sd) ** 2 - lv - const)
        wide_density = wide.exp() * (grid[1] - grid[0])
        samplers = [(q_density, log_q, None),
                    (wide_density, wide, "z was drawn with exp(logvar) as its standard deviation: it is "
                                         "exp(logvar / 2) (z = mu + exp(0.5 * logvar) * eps)")]
        out = []

        def add(log_w, sampler, hint, mean_of_logs=False):
            density, log_density, _ = sampler
            if mean_of_logs:
                value = (density * log_w).sum(0)
            else:
                value = torch.logsumexp(log_density + log_w, 0) + log_step
            out.append((value, hint))

        lik0, prior0, q0, s0 = liks[0][0], priors[0][0], qs[0][0], samplers[0]
        for lik, hint in liks[1:]:
            add(lik + prior0 - q0, s0, hint)
        for pr, hint in priors[1:]:
            add(lik0 + pr - q0, s0, hint)
        for q, hint in qs[1:]:
            add(lik0 + prior0 - q, s0, hint)
        add(lik0 + prior0 - q0, samplers[1], samplers[1][2])
        add(lik0, s0, "log p(z) - log q(z|x) is left out of the log-weights: log w = log p(x|z) + log p(z) - "
                      "log q(z|x); without them the estimate is log E_q[p(x|z)], not log p(x)")
        add(lik0 + prior0 - q0, s0, "It is close to the ELBO: you averaged the log-weights (that is the k = 1 "
                                    "bound, whatever k). Average the weights themselves, in log space: "
                                    "logsumexp(log w) - log k", mean_of_logs=True)
        return out

    def encode(self, x: torch.Tensor):
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"encode expects images (B, 1, 28, 28), got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        match = (x.flatten(1)[:, None, :] == self.images.flatten(1)[None]).all(-1)          # (B, 3)
        if not match.any(1).all():
            raise ValueError("encode got an image the check did not pass in: encode the images x themselves")
        index = match.float().argmax(1)
        return self.q_mu[index].clone(), self.q_logvar[index].clone()

    def decode(self, z: torch.Tensor):
        if not torch.is_tensor(z) or z.dim() != 2 or z.shape[1] != 1:
            raise ValueError(f"decode expects z of shape (N, latent_dim) = (N, 1), got "
                             f"{tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}: "
                             "reshape k samples for B images from (k, B, D) to (k * B, D) before decoding")
        return self._logits(z)

    def __call__(self, *args, **kwargs):
        raise TypeError("call model.encode(x) for q(z|x) and model.decode(z) for the logits of p(x|z)")


class _FlatDecoderVAE(_LinearToyVAE):
    """The same images, a decoder that ignores z (log p(x|z) = L(x) for every z) and q(z|x) = N(m, 2^2), wider
    than the prior: log p(x) = L(x) exactly, and each mistake in log p(z), log q(z|x) or the draw of z moves the
    estimate by log E[exp(error)], a 1-D integral, whose weights stay bounded so that k = 2000 samples get close.
    """

    def __init__(self, base: _LinearToyVAE):  # noqa: D107 - shares the base model's images and decoder bias
        self.a, self.b, self.images = torch.zeros_like(base.a), base.b, base.images
        self.q_mu = torch.tensor([[0.5], [-0.3], [1.0]])
        self.q_logvar = torch.full((3, 1), math.log(4.0))
        self.log_px = -_bce(self.b.expand(3, 784).reshape(3, 1, 28, 28), self.images).double()

    def latent_mistakes(self) -> list[tuple[torch.Tensor, str]]:
        z = torch.linspace(-40, 40, 80001, dtype=torch.float64)[:, None]                    # (G, 1)
        log_step = math.log(80 / 80000)
        const = 0.5 * math.log(2 * math.pi)
        m, lv = self.q_mu.double().T, self.q_logvar.double().T                              # (1, 3)
        log_p = -0.5 * z ** 2 - const

        def normal(sd):
            return -0.5 * ((z - m) / sd) ** 2 - torch.log(sd) - const

        sd = (0.5 * lv).exp()
        log_q, log_q_std = normal(sd), normal(lv.exp())
        out = []

        def add(log_w, hint, sampler=log_q):
            out.append((self.log_px + torch.logsumexp(sampler + log_w, 0) + log_step, hint))

        law = "log w = log p(x|z) + log p(z) - log q(z|x)"
        add(-log_q, f"The prior term is missing from the log-weights: {law}")
        add(log_p, f"The proposal term is missing from the log-weights: {law}")
        add(log_p + log_q, f"log q(z|x) has the wrong sign in the log-weights: {law}")
        add(log_p + const - log_q, "The constant -D/2 log(2 pi) is missing from log p(z) (but present in log q): "
                                   "both Gaussian log-densities need it, or neither")
        add(log_p - log_q - const, "The constant -D/2 log(2 pi) is missing from log q(z|x) (but present in "
                                   "log p(z)): both Gaussian log-densities need it, or neither")
        add(log_p - log_q - 0.5 * lv, "log q(z|x) misses its -0.5 * logvar term (the log of the standard deviation):"
                                      " log N(z; mu, exp(logvar)) = -0.5 * (eps^2 + logvar + log(2 pi))")
        add(log_p - log_q_std, "log q(z|x) uses exp(logvar) as the standard deviation: it is exp(logvar / 2) "
                               "(logvar is the log of the variance)")
        unscaled = ("log q(z|x) is not evaluated at the standardised draw: log N(z; mu, exp(logvar)) = -0.5 * (eps^2 + "
                    "logvar + log(2 pi)) with eps = (z - mu) / exp(logvar / 2), the noise that made z (not z itself, "
                    "nor z - mu undivided)")
        add(log_p + 0.5 * z ** 2 + 0.5 * lv + const, unscaled)
        add(log_p + 0.5 * (z - m) ** 2 + 0.5 * lv + const, unscaled)
        add(-log_p - log_q, f"log p(z) has the wrong sign: log N(z; 0, I) = -0.5 * z^2 - 0.5 * log(2 pi). {law}")
        add(0 * log_p, "log p(z) - log q(z|x) is left out of the log-weights: log w = log p(x|z) + log p(z) - "
                       "log q(z|x); without them the estimate is log E_q[p(x|z)], not log p(x)")
        add(log_p - log_q, "z was drawn with exp(logvar) as its standard deviation: it is exp(logvar / 2) "
                           "(z = mu + exp(0.5 * logvar) * eps)", sampler=log_q_std)
        add(log_p - log_q_std, "z was drawn, and log q(z|x) computed, with exp(logvar) as the standard deviation: "
                               "it is exp(logvar / 2) (logvar is the log of the variance)", sampler=log_q_std)
        return out


_TOYS: dict[str, object] = {}


def _toy(name: str):
    """The check's toy models and what the usual mistakes give on them, built once."""
    if name not in _TOYS:
        if name == "linear":
            _TOYS[name] = _LinearToyVAE()
        elif name == "linear_mistakes":
            _TOYS[name] = _toy("linear").variant_limits()
        elif name == "linear_expected":
            _TOYS[name] = _toy("linear").expected_logs()
        elif name == "flat":
            _TOYS[name] = _FlatDecoderVAE(_toy("linear"))
        elif name == "flat_mistakes":
            _TOYS[name] = _toy("flat").latent_mistakes()
    return _TOYS[name]


@exercise_check
def check_iw_log_likelihood(iw_log_likelihood):
    """``iw_log_likelihood(model, x, k)`` -> float (B,): logsumexp_i(log w_i) - log k, log w = log p(x, z) - log q."""
    model = _toy("linear")
    x = model.images.clone()
    k = 2000
    with torch.no_grad():
        out = _float_tensor(_call(iw_log_likelihood, model, x, k), f"iw_log_likelihood(model, x, k={k})")
    expect(out.dim() != 0, "the result is one number: return one estimate per image, shape (B,) "
                           "(the logsumexp runs over the k samples only)")
    expect(tuple(out.shape) != (k,), f"the result has shape ({k},), one value per sample: take the logsumexp over "
                                     "the k samples (their dimension), keeping one estimate per image, shape (B,)")
    expect(tuple(out.shape) != (3, 3),
           "the result has shape (B, B) = (3, 3): two terms of the log-weights broadcast against each other, e.g. "
           "log p(z) or log q(z|x) of shape (k, B, D) added to log p(x|z) of shape (k, B); sum each log-density over "
           "its last dimension (.sum(-1)) so that every term is (k, B)")
    expect_shape(out, (3,), f"iw_log_likelihood(model, x, k={k}) for B = 3 images")
    expect(torch.equal(x, model.images), "your function changed x in place")
    out = out.detach().double()
    expect(not torch.isneginf(out).any(),
           "some estimates are -inf: exp(log w) underflows to 0 when log w is around -300 (it is here), so "
           "log(mean(exp(log w))) gives log(0). Use torch.logsumexp(log_w, dim) - math.log(k)")
    expect(torch.isfinite(out).all(), f"the estimates are not finite: {out.tolist()}")
    exact = model.log_px
    expect(out.max() < 0, f"the estimates are positive ({out.tolist()}): return log p(x), which is negative for "
                          "binary images, not the negative log-likelihood")
    ref = _toy("linear_expected")
    tol = 0.1
    expect(not torch.allclose(out - math.log(k), exact, atol=tol),
           f"the estimates are log k = {math.log(k):.2f} too high: logsumexp(log w) is the log of a SUM of k "
           "weights; subtract log k to get the log of their mean")
    expect(not torch.allclose(out, (exact + math.log(k)) / k, atol=tol),
           "the estimates are logsumexp(log w) / k: dividing the log of the sum by k is not the log of the mean; "
           "subtract log k instead: logsumexp(log w) - log k")
    expect(not torch.allclose(out + math.log(k), exact, atol=tol),
           f"the estimates are log k = {math.log(k):.2f} too low: subtract log k once, not twice "
           "(or did you use log(k) with k the total number of decoded samples?)")
    if not torch.allclose(out, exact, atol=tol):
        for wrong, hint in _toy("linear_mistakes"):
            if torch.allclose(out, wrong, atol=tol) and not torch.allclose(wrong, exact, atol=tol):
                expect(False, hint)
        # The latent terms on their own, with a decoder that ignores z.
        flat = _toy("flat")
        flat_off = None
        with torch.no_grad():
            flat_out = _call(iw_log_likelihood, flat, flat.images.clone(), k)
        if torch.is_tensor(flat_out) and tuple(flat_out.shape) == (3,) and torch.isfinite(flat_out).all():
            flat_out = flat_out.detach().double()
            if not torch.allclose(flat_out, flat.log_px, atol=tol):
                flat_off = (flat_out - flat.log_px).tolist()
                # With a decoder that ignores z, the right latent terms average out to 0 (log E_q[p(z)/q(z|x)] = 0)
                # and the estimate is the decoder's log-likelihood of x itself: compare it with the usual wrong ones.
                logits = flat.decode(torch.zeros(3, 1))
                for wrong, hint in bernoulli_nll_mistakes(logits, flat.images, lambda t: t.flatten(1).sum(1)):
                    if torch.allclose(flat_out, -wrong, atol=tol) and not torch.allclose(-wrong, flat.log_px, atol=tol):
                        expect(False, f"The decoder's log-likelihood log p(x|z) is wrong: {hint}")
                for wrong, hint in _toy("flat_mistakes"):
                    if torch.allclose(flat_out, wrong, atol=tol) and not torch.allclose(wrong, flat.log_px, atol=tol):
                        expect(False, hint + " (seen with a decoder that ignores z, where log p(x) = log p(x|z))")
    for key, hint in [
        ("elbo", "It is close to the ELBO: you averaged the log-weights (that is the k = 1 bound, whatever k). "
                 "Average the weights themselves, in log space: logsumexp(log w) - log k"),
        ("no_prior", "The prior term is missing from the log-weights: log w = log p(x|z) + log p(z) - log q(z|x)"),
        ("no_q", "The proposal term is missing from the log-weights: log w = log p(x|z) + log p(z) - log q(z|x)"),
        ("plus_q", "log q(z|x) has the wrong sign in the log-weights: log w = log p(x|z) + log p(z) - log q(z|x)"),
        ("no_prior_const", "The constant -D/2 log(2 pi) is missing from log p(z) (but present in log q): "
                           "both Gaussian log-densities need it, or neither"),
        ("no_q_const", "The constant -D/2 log(2 pi) is missing from log q(z|x) (but present in log p(z)): "
                       "both Gaussian log-densities need it, or neither"),
    ]:
        if torch.allclose(out, ref[key], atol=tol) and not torch.allclose(out, exact, atol=tol):
            expect(False, hint)
    offset = out - exact
    if (offset.max() - offset.min()).item() < tol and offset.abs().mean().item() > tol:
        shift = offset.mean().item()
        why = (f"you subtracted k = {k}, not log k = {math.log(k):.2f}" if abs(shift + k - math.log(k)) < 1
               else "a constant term is wrong: log k (subtract math.log(k) once), or the -0.5 * log(2 pi) per latent "
                    "dimension of log p(z) and log q(z|x) (both or neither), or a constant in log p(x|z)")
        expect(False, f"every estimate is off by the same constant, {shift:+.2f} nats: {why}")
    if not torch.allclose(out, exact, atol=tol) and flat_off is not None:
        expect(False, "with a decoder that ignores z, log p(x) = log p(x|z) and the latent terms log p(z) - log q(z|x) "
                      f"must average out (log E_q[p(z) / q(z|x)] = 0), but your estimates are off by "
                      f"{[round(v, 2) for v in flat_off]}: check log p(z) = -0.5 * (z^2 + log(2 pi)) and log q(z|x) = "
                      "-0.5 * (eps^2 + logvar + log(2 pi)) with eps = (z - mu) / exp(logvar / 2), each summed over the "
                      "latent dimensions, and that z is drawn as mu + exp(logvar / 2) * eps")
    expect_close(out, exact, f"iw_log_likelihood with k = {k} on a model whose log p(x) is known exactly",
                 hint=f"expected about {[round(v, 2) for v in exact.tolist()]}, got "
                      f"{[round(v, 2) for v in out.tolist()]}. Print each part for one image and compare: log p(x|z) "
                      "= -binary cross-entropy summed over the 784 pixels, log p(z) = log N(z; 0, I) and log q(z|x) = "
                      "log N(z; mu, exp(logvar)), each summed over the latent dimensions, with z ~ q(z|x); then "
                      "log w = log p(x|z) + log p(z) - log q(z|x) and logsumexp over the k samples minus log k",
                 atol=tol, rtol=0)
    with torch.no_grad():
        small = _call(iw_log_likelihood, model, x, 1)
    expect(torch.is_tensor(small) and tuple(small.shape) == (3,),
           "with k = 1 the result should still have shape (B,)")
    gap = (exact - ref["elbo"]).mean().item()
    return (f"with k = {k} the estimate matches the exact log p(x) to within {tol} nats (the ELBO of this "
            f"deliberately poor q is {gap:.2f} nats lower)")


# --- conceptual questions ----------------------------------------------------------------------------------

choices("vae_gap_vanishes", {"a", "c", "d"},
        "log p(x) = ELBO(x) + KL(q(z|x) || p(z|x)) for any q, so when q is the posterior the gap (c) is 0 and the "
        "bound is tight (a); since log p(x) does not depend on the encoder, the ELBO cannot rise above it by changing "
        "q alone (d). The KL to the PRIOR stays: it is the information the code carries about x, and the "
        "reconstruction term exceeds log p(x) by exactly that amount.",
        {"a": "the ELBO is log p(x) minus the gap KL(q || p(z|x)); with q equal to the posterior the gap is 0, so the "
              "bound is tight",
         "b": "q equals the POSTERIOR, not the prior: KL(q(z|x) || p(z)) is zero only if the image tells nothing "
              "about z, and a useful code is not (it is the price, in nats, of what z says about x)",
         "c": "this is the gap itself, KL(q || p(z|x)) with q = p(z|x): a KL divergence of a distribution from itself "
              "is 0",
         "d": "log p(x) does not depend on the encoder, and the ELBO never exceeds it: once the gap is 0, the encoder "
              "has nothing left to gain on this image (only the decoder can raise log p(x) itself)",
         "e": "ELBO = reconstruction - KL(q || p(z)), so with ELBO = log p(x) the reconstruction term is log p(x) "
              "PLUS KL(q || p(z)): larger than log p(x) whenever the code carries information"})

choices("vae_beta_trade", {"a", "b"},
        "beta sets the price of each nat of information in the code: a higher price pulls the codes towards the "
        "prior (less KL) and leaves the decoder less to go on (more reconstruction loss). The loss stays an upper "
        "bound on -log p(x), only a looser one, and the ELBO itself is what beta = 1 optimises.",
        {"a": "the KL term is paid beta times, so the encoder spends fewer nats on each image: its codes move towards "
              "N(0, I)",
         "b": "what the code no longer says about the image the decoder cannot reconstruct: the reconstruction term "
              "is what pays for the lower KL",
         "c": "with beta > 1 and KL >= 0, recon + beta * KL >= recon + KL = -ELBO >= -log p(x): still an upper bound, "
              "only a looser one",
         "d": "beta = 1 is the setting that minimises the negative ELBO itself; any other beta optimises something "
              "else, so the negative ELBO is usually higher (worse) with beta > 1"})

choice("vae_iw_tightens", "a",
       "Jensen's inequality: E[log(mean of k weights)] <= log E[mean] = log p(x), and the shortfall shrinks as the "
       "mean of k weights concentrates around p(x). With k = 1 the shortfall is exactly the ELBO's gap; as k grows "
       "it goes to 0, with the same encoder and the same weights.",
       {"b": "the encoder does not change while we evaluate: the same q(z|x) proposes every draw, whatever k",
        "c": "logsumexp grows by about log k, but the estimate subtracts log k: it is the log of the MEAN weight, and "
             "what remains rises only by the shrinking shortfall of the log of a noisy mean",
        "d": "the weights are p(x|z) p(z) / q(z|x), not p(x|z): averaging them estimates the integral p(x), not a "
             "maximum; large values of p(x|z) where the prior or q is small are weighted down"})
