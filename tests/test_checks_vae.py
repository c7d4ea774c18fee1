"""The checks of notebook 05 pass the solutions, fail the stubs, and name the cause of typical mistakes."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.vae import (
    check_gaussian_kl,
    check_iw_log_likelihood,
    check_negative_elbo,
    check_reparameterize,
    check_vae_step,
)
from course_utils.models import vae


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    torch.manual_seed(0)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def assert_hint(result, words):
    assert not result.passed, "the check passed a wrong answer"
    assert words in result.message, result.message


# --- reparameterize -----------------------------------------------------------------------------------


def reparameterize(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


@pytest.mark.parametrize("check, solution", [
    (check_reparameterize, reparameterize),
    (check_reparameterize, vae.reparameterize),
    (check_gaussian_kl, vae.gaussian_kl),
    (check_negative_elbo, vae.negative_elbo),
])
def test_solutions_pass(check, solution):
    result = check(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("check", [check_reparameterize, check_gaussian_kl, check_negative_elbo,
                                   check_iw_log_likelihood])
def test_stubs_fail_with_not_implemented_hint(check):
    result = check(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), "standard deviation is exp(logvar / 2)"),
    (lambda mu, lv: mu + lv * torch.randn_like(mu), "log-variance itself as the standard deviation"),
    (lambda mu, lv: mu + torch.sqrt(lv) * torch.randn_like(mu), "nan"),
    (lambda mu, lv: mu + torch.exp(-0.5 * lv) * torch.randn_like(mu), "sign in the exponent"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.rand_like(mu), "randn_like"),
    (lambda mu, lv: mu.clone(), "noise is missing"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(1), "same noise"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape[1]), "same noise"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape[0], 1), "correlated"),
    (lambda mu, lv: torch.normal(mu, torch.exp(0.5 * lv)), "torch.normal"),
    (lambda mu, lv: (mu + torch.exp(0.5 * lv) * torch.randn_like(mu)).detach(), "detach"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv).detach() * torch.randn_like(mu), "no gradient reaches logvar"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(1)),
     "fresh noise"),
])
def test_reparameterize_mistakes_are_named(wrong, words):
    assert_hint(check_reparameterize(wrong), words)


def test_reparameterize_in_place_change_is_named():
    def in_place(mu, logvar):
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        mu.data.zero_()
        return z

    assert_hint(check_reparameterize(in_place), "in place")


# --- Gaussian KL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrong, words", [
    (lambda mu, lv: -0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(-1), "negative"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 + lv).sum(-1), "sign of the log-variance term"),
    (lambda mu, lv: 0.5 * (mu ** 2 + (2 * lv).exp() - 1 - 2 * lv).sum(-1), "logvar as log(std)"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv ** 2 - 1 - torch.log(lv ** 2)).sum(-1), "logvar as the standard deviation"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv - 1 - torch.log(lv)).sum(-1), "The variance is exp(logvar)"),
    (lambda mu, lv: (mu ** 2 + lv.exp() - 1 - lv).sum(-1), "factor 0.5"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).mean(-1), "don't average"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv).sum(-1), "'- 1'"),
    (lambda mu, lv: 0.5 * ((1 + mu ** 2) / lv.exp() - 1 + lv).sum(-1), "other direction"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(), "one KL per row"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(-1).mean(), "one KL per row"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv), "sum over the latent dimension"),
])
def test_gaussian_kl_mistakes_are_named(wrong, words):
    assert_hint(check_gaussian_kl(wrong), words)


# --- negative ELBO -------------------------------------------------------------------------------------


def _recon(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@pytest.mark.parametrize("wrong, words", [
    (lambda x, lg, mu, lv: (_recon(lg, x) - vae.gaussian_kl(mu, lv)).mean(), "Sign of the KL"),
    (lambda x, lg, mu, lv: F.binary_cross_entropy_with_logits(lg, x) + vae.gaussian_kl(mu, lv).mean(),
     "averaged over the pixels"),
    (lambda x, lg, mu, lv: (_recon(lg, x) + vae.gaussian_kl(mu, lv)).sum(), "sum over the batch"),
    (lambda x, lg, mu, lv: _recon(lg, x).mean(), "KL term is missing"),
    (lambda x, lg, mu, lv: _recon(lg, x).mean() + vae.gaussian_kl(mu, lv).sum(), "KL is summed over the batch"),
    (lambda x, lg, mu, lv: _recon(lg, x).mean() + vae.gaussian_kl(mu, lv).mean() / mu.shape[1],
     "averaged over the latent dimensions"),
    (lambda x, lg, mu, lv: (_recon(torch.sigmoid(lg), x) + vae.gaussian_kl(mu, lv)).mean(), "probabilities"),
    (lambda x, lg, mu, lv: (_recon(x, lg) + vae.gaussian_kl(mu, lv)).mean(), "swapped"),
    (lambda x, lg, mu, lv: -(_recon(lg, x) + vae.gaussian_kl(mu, lv)).mean(), "NEGATIVE ELBO"),
    (lambda x, lg, mu, lv: _recon(lg, x) + vae.gaussian_kl(mu, lv), "one number"),
    (lambda x, lg, mu, lv: (_recon(lg, x) + 0.5 * (mu ** 2 + lv.exp() - 1 + lv).sum(-1)).mean(),
     "sign of the log-variance term"),
    (lambda x, lg, mu, lv: (_recon(lg, x) + 0.5 * (mu ** 2 + (2 * lv).exp() - 1 - 2 * lv).sum(-1)).mean(),
     "logvar as log(std)"),
    (lambda x, lg, mu, lv: (F.binary_cross_entropy(torch.sigmoid(lg), x, reduction="none").flatten(1).sum(1)
                            + vae.gaussian_kl(mu, lv)).mean(), "confidently wrong logits"),
])
def test_negative_elbo_mistakes_are_named(wrong, words):
    assert_hint(check_negative_elbo(wrong), words)


# --- importance-weighted log-likelihood ----------------------------------------------------------------


def iw_estimate(model, x, k, variant="right"):
    """A student-style solution (one batch of k samples at once), with the usual mistakes as variants."""
    mu, logvar = model.encode(x)
    b, d = mu.shape
    eps = torch.randn(k, b, d)
    z = mu + torch.exp(0.5 * logvar) * eps                                          # (k, B, D)
    logits = model.decode(z.reshape(k * b, d)).reshape(k, b, -1)
    target = x.reshape(1, b, -1).expand_as(logits)
    log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    const = 0.5 * d * math.log(2 * math.pi)
    log_pz = -0.5 * (z ** 2).sum(-1) - const
    log_q = -0.5 * (eps ** 2).sum(-1) - 0.5 * logvar.sum(-1) - const
    if variant == "std":
        log_q = -0.5 * ((z - mu) ** 2 / torch.exp(2 * logvar)).sum(-1) - logvar.sum(-1) - const
    if variant == "z_not_eps":
        log_q = -0.5 * (z ** 2).sum(-1) - 0.5 * logvar.sum(-1) - const
    if variant == "prior_quarter":
        log_pz = -0.25 * (z ** 2).sum(-1) - const
    log_w = log_px_z + {"no_prior": 0 * log_pz, "no_prior_const": log_pz + const}.get(variant, log_pz) \
        - {"no_q": 0 * log_q, "plus_q": -log_q, "no_q_const": log_q + const}.get(variant, log_q)
    return {
        "elbo": lambda: log_w.mean(0),
        "no_minus_log_k": lambda: torch.logsumexp(log_w, 0),
        "twice_log_k": lambda: torch.logsumexp(log_w, 0) - 2 * math.log(k),
        "naive": lambda: torch.log(torch.exp(log_w).mean(0)),
        "nll": lambda: -(torch.logsumexp(log_w, 0) - math.log(k)),
        "wrong_dim": lambda: torch.logsumexp(log_w, 1) - math.log(k),
        "batch_mean": lambda: (torch.logsumexp(log_w, 0) - math.log(k)).mean(),
        "minus_k": lambda: torch.logsumexp(log_w, 0) - k,
        "offset": lambda: torch.logsumexp(log_w, 0) - math.log(k) - 3.0,
    }.get(variant, lambda: torch.logsumexp(log_w, 0) - math.log(k))()


def test_iw_solutions_pass():
    assert check_iw_log_likelihood(iw_estimate).passed
    reference = check_iw_log_likelihood(lambda model, x, k: torch.logsumexp(
        vae.log_importance_weights(model, x, k), 0) - math.log(k))
    assert reference.passed, reference.message


@pytest.mark.parametrize("variant, words", [
    ("elbo", "averaged the log-weights"),
    ("no_minus_log_k", "subtract log k"),
    ("twice_log_k", "not twice"),
    ("naive", "logsumexp"),
    ("nll", "not the negative log-likelihood"),
    ("wrong_dim", "over the k samples"),
    ("batch_mean", "one estimate per image"),
    ("no_prior", "prior term is missing"),
    ("no_q", "proposal term is missing"),
    ("plus_q", "wrong sign"),
    ("no_prior_const", "log(2 pi) is missing from log p(z)"),
    ("no_q_const", "log(2 pi) is missing from log q(z|x)"),
    ("std", "exp(logvar / 2)"),
    ("z_not_eps", "standardised draw"),
    ("minus_k", "not log k"),
    ("offset", "off by the same constant"),
    ("prior_quarter", "must average out"),
])
def test_iw_mistakes_are_named(variant, words):
    assert_hint(check_iw_log_likelihood(lambda model, x, k: iw_estimate(model, x, k, variant)), words)


def test_iw_decoding_three_dimensional_z_is_explained():
    def unflattened(model, x, k):
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(k, *mu.shape)
        return model.decode(z)

    assert_hint(check_iw_log_likelihood(unflattened), "(k * B, D)")


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="factor 0.5"):
        check_gaussian_kl(lambda mu, lv: (mu ** 2 + lv.exp() - 1 - lv).sum(-1))


# --- named causes added with issue 13 -------------------------------------------------------------------


@pytest.mark.parametrize("wrong, words", [
    (lambda mu, lv: torch.distributions.Normal(mu, torch.exp(0.5 * lv)).sample(), ".sample()"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape, dtype=torch.float64), "dtype"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv), "noise eps is missing"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.distributions.Laplace(0.0, 1.0).sample(mu.shape),
     "instead of 1. It must be standard normal"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * (torch.rand_like(mu) - 0.5) * math.sqrt(12), "not normal"),
    (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(1, mu.shape[1]), "same noise"),
])
def test_reparameterize_more_mistakes_are_named(wrong, words):
    assert_hint(check_reparameterize(wrong), words)


def _kl_of(mu, lv, minus_one=True, mu2=True):
    return 0.5 * ((mu ** 2 if mu2 else 0) + lv.exp() - (1 if minus_one else 0) - lv).sum(-1)


@pytest.mark.parametrize("wrong, words", [
    (lambda x, lg, mu, lv: (_recon(lg, x) + _kl_of(mu, lv, minus_one=False)).mean(), "'- 1'"),
    (lambda x, lg, mu, lv: _recon(lg, x).mean() - 0.5 * torch.sum(lv - mu ** 2 - lv.exp()) / len(x), "'- 1'"),
    (lambda x, lg, mu, lv: (_recon(lg, x) + _kl_of(mu, lv, mu2=False)).mean(), "mu^2 term is missing"),
    (lambda x, lg, mu, lv: (((torch.sigmoid(lg) - x) ** 2).flatten(1).sum(1) + _kl_of(mu, lv)).mean(),
     "squared error"),
    (lambda x, lg, mu, lv: F.mse_loss(torch.sigmoid(lg), x) + _kl_of(mu, lv).mean(), "squared error"),
    (lambda x, lg, mu, lv: F.mse_loss(lg, x, reduction="sum") / len(x) + _kl_of(mu, lv).mean(), "squared error"),
])
def test_negative_elbo_kl_and_likelihood_mistakes_are_named(wrong, words):
    result = check_negative_elbo(wrong)
    assert_hint(result, words)
    if words in ("'- 1'", "mu^2 term is missing"):
        assert "reconstruction" not in result.message, "a KL mistake was blamed on the reconstruction term"


def test_negative_elbo_bce_on_logits_gets_our_message_not_torchs():
    result = check_negative_elbo(
        lambda x, lg, mu, lv: (F.binary_cross_entropy(lg, x, reduction="none").flatten(1).sum(1)
                               + _kl_of(mu, lv)).mean())
    assert_hint(result, "F.binary_cross_entropy_with_logits")
    assert "all elements of input" not in result.message


def test_gaussian_kl_missing_mu_squared_is_named():
    assert_hint(check_gaussian_kl(lambda mu, lv: -0.5 * (1 + lv - lv.exp()).sum(-1)), "mu^2 term is missing")


def _iw_with(log_lik):
    def estimate(model, x, k):
        mu, logvar = model.encode(x)
        b, d = mu.shape
        eps = torch.randn(k, b, d)
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = model.decode(z.reshape(k * b, d)).reshape(k, b, -1)
        log_px_z = log_lik(logits, x.reshape(1, b, -1).expand_as(logits))
        log_pz = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(-1)
        log_q = -0.5 * (eps ** 2 + logvar + math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(log_px_z + log_pz - log_q, 0) - math.log(k)
    return estimate


@pytest.mark.parametrize("log_lik, words", [
    (lambda lg, t: -((torch.sigmoid(lg) - t) ** 2).sum(-1), "squared error"),
    (lambda lg, t: -((lg - t) ** 2).sum(-1), "squared error between the logits"),
    (lambda lg, t: -((torch.sigmoid(lg) - t) ** 2).mean(-1), "squared error"),
    (lambda lg, t: -F.binary_cross_entropy(lg, t, reduction="none").sum(-1), "F.binary_cross_entropy_with_logits"),
])
def test_iw_likelihood_mistakes_are_named(log_lik, words):
    result = check_iw_log_likelihood(_iw_with(log_lik))
    assert_hint(result, words)
    assert "all elements of input" not in result.message


def test_iw_latent_terms_left_out_are_named_not_blamed_on_the_std():
    def no_latent(model, x, k):
        mu, logvar = model.encode(x)
        b, d = mu.shape
        z = mu + torch.exp(0.5 * logvar) * torch.randn(k, b, d)
        logits = model.decode(z.reshape(k * b, d)).reshape(k, b, -1)
        target = x.reshape(1, b, -1).expand_as(logits)
        return torch.logsumexp(-F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1), 0) \
            - math.log(k)

    result = check_iw_log_likelihood(no_latent)
    assert_hint(result, "log p(z) - log q(z|x) is left out")
    assert "exp(logvar / 2)" not in result.message


# --- one training step -----------------------------------------------------------------------------------


def vae_step(model, x, optimizer, beta=1.0, mistake=""):
    """A student's step, right by default, with one typical mistake when ``mistake`` names it."""
    logits, mu, logvar = model(x)
    if mistake == "decode_mu":
        logits = model.decode(mu)
    if mistake == "sigmoid_twice":
        logits = torch.sigmoid(logits)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if mistake == "mse":
        recon = ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1)
    if mistake == "pixel_mean":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)
    kl = _kl_of(mu, logvar, minus_one=mistake != "no_minus_one", mu2=mistake != "no_mu2")
    if mistake == "kl_mean_dims":
        kl = kl / mu.shape[1]
    loss = {"kl_sign": (recon - beta * kl).mean(), "kl_batch_sum": recon.mean() + beta * kl.sum(),
            "beta_on_recon": (beta * recon + kl).mean(), "no_beta": (recon + kl).mean(),
            "batch_sum": (recon + beta * kl).sum(), "elbo": -(recon + beta * kl).mean()}.get(
        mistake, (recon + beta * kl).mean())
    if mistake not in ("no_zero_grad", "zero_grad_last", "zero_grad_between"):
        optimizer.zero_grad()
    if mistake == "step_first":
        optimizer.step()
    loss.backward()
    if mistake == "zero_grad_between":
        optimizer.zero_grad()
    if mistake not in ("no_step", "step_first"):
        optimizer.step()
    if mistake == "zero_grad_last":
        optimizer.zero_grad()
    numbers = {"loss": loss, "recon": recon.mean(), "kl": kl.mean()}
    if mistake == "graph":
        return numbers
    if mistake == "detached":
        return {k: v.detach() for k, v in numbers.items()}
    if mistake == "tuple":
        return tuple(v.item() for v in numbers.values())
    out = {k: v.item() for k, v in numbers.items()}
    if mistake == "report_beta_kl":
        out["kl"] *= beta
    return out


def test_vae_step_solutions_pass():
    for solution in (vae.vae_step, vae_step):
        result = check_vae_step(solution)
        assert result.passed, result.message


def test_vae_step_stub_fails_with_not_implemented_hint():
    result = check_vae_step(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("mistake, words", [
    ("kl_sign", "KL has the wrong sign"),
    ("pixel_mean", "averaged over the pixels"),
    ("sigmoid_twice", "sigmoid applied twice"),
    ("mse", "squared error"),
    ("decode_mu", "decodes mu itself"),
    ("no_zero_grad", "optimizer.zero_grad() before loss.backward()"),
    ("zero_grad_last", "optimizer.zero_grad() before loss.backward()"),
    ("zero_grad_between", "threw them away"),
    ("step_first", "ran before loss.backward()"),
    ("no_step", "call optimizer.step()"),
    ("kl_batch_sum", "KL is summed over the batch while the reconstruction is averaged"),
    ("beta_on_recon", "beta multiplies the reconstruction term instead of the KL"),
    ("no_beta", "beta is not applied"),
    ("batch_sum", "summed over the batch"),
    ("elbo", "wrong sign"),
    ("kl_mean_dims", "averaged over the latent dimensions"),
    ("no_mu2", "mu^2 term is missing"),
    ("no_minus_one", "'- 1'"),
    ("graph", "keeps the graph"),
    ("detached", ".item()"),
    ("tuple", "return a dict"),
    ("report_beta_kl", "report the KL itself"),
])
def test_vae_step_mistakes_are_named(mistake, words):
    assert_hint(check_vae_step(lambda m, x, o, b: vae_step(m, x, o, b, mistake)), words)


def test_vae_step_bce_on_logits_gets_our_message():
    def bce_on_logits(model, x, optimizer, beta):
        logits, mu, logvar = model(x)
        loss = (F.binary_cross_entropy(logits, x, reduction="none").flatten(1).sum(1) + beta * _kl_of(mu, logvar))
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
        return {"loss": loss.mean().item(), "recon": 0.0, "kl": 0.0}

    result = check_vae_step(bce_on_logits)
    assert_hint(result, "F.binary_cross_entropy_with_logits")
    assert "all elements of input" not in result.message


def test_vae_step_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_vae_step(vae.vae_step)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("broken, words", [
    (lambda m, x, o, b: None, "returned None"),
    (lambda m, x, o, b: "done", "got str"),
    (lambda m, x, o, b: {"loss": [1.0], "recon": 1.0, "kl": 1.0}, "got list"),
    (lambda m, x, o, b: {"loss": 1.0}, "lacks"),
    (lambda m, x, o, b: m(x.double()), "your code raised"),
    (lambda m, x, o, b: {"loss": float("nan"), "recon": 1.0, "kl": 1.0}, "not a finite number"),
])
def test_vae_step_broken_answers_get_a_message(broken, words):
    result = check_vae_step(broken)
    assert_hint(result, words)
    assert "the check could not use" not in result.message


def test_vae_step_judges_the_z_it_decoded_however_drawn():
    def draws_first(model, x, optimizer, beta):
        torch.randn(5)   # the noise stream moved: the check follows the z the step decoded, not a seed
        return vae.vae_step(model, x, optimizer, beta)

    result = check_vae_step(draws_first)
    assert result.passed, result.message


@pytest.mark.parametrize("draw, words", [
    (lambda mu, lv: torch.normal(mu, torch.exp(0.5 * lv)), "no gradient flows from it back into the encoder"),
    (lambda mu, lv: mu, "decodes mu itself"),
])
def test_vae_step_how_z_is_drawn_is_named(draw, words):
    def step(model, x, optimizer, beta):
        mu, logvar = model.encode(x)
        logits = model.decode(draw(mu, logvar))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        kl = vae.gaussian_kl(mu, logvar).mean()
        loss = recon + beta * kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    assert_hint(check_vae_step(step), words)
