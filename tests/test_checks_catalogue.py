"""A catalogue of typical student mistakes, one mutated solution per mistake class, for every exercise of
notebooks 00-07: each must fail its check with a message that names the cause (the words listed).

Run as a script for the figures (share caught, share named)::

    .venv/bin/python -m tests.test_checks_catalogue
"""

from __future__ import annotations

import copy
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import STRICT_ENV
from course_utils.checks.autoencoders import (
    check_classifier_from_encoder,
    check_conv_decoder,
    check_reconstruction_loss,
)
from course_utils.checks.comparison import check_sharpness
from course_utils.checks.gan import check_discriminator_loss, check_gan_step, check_generator_loss, check_interpolate
from course_utils.checks.pixel_models import (
    check_causal_mask,
    check_image_nll,
    check_receptive_field,
    check_sample_raster,
)
from course_utils.checks.tour import check_to_unit_range
from course_utils.checks.unsupervised import check_cluster_purity, check_pca_fit, check_pca_project, check_sample_gmm
from course_utils.checks.vae import (
    check_gaussian_kl,
    check_iw_log_likelihood,
    check_negative_elbo,
    check_reparameterize,
)

# Messages that say only that something is off, not why: a mistake answered with one of them is caught, not named.
GENERIC = ("is wrong: got", "differ from the reference", "the check could not use", "is wrong: expected")

# --- 00 -------------------------------------------------------------------------------------------------------


def unit(p):
    return p.float() / 255


# --- 01 -------------------------------------------------------------------------------------------------------


def purity(ids, labels, *, per_cluster_mean=False, by_clusters=False, as_tensor=False, floor=False, direct=False):
    if direct:
        return (ids == labels).float().mean().item()
    if by_clusters:
        ids, labels = labels, ids
    total, shares = 0, []
    for c in torch.unique(ids):
        members = labels[ids == c]
        top = int(torch.bincount(members).max())
        total += top
        shares.append(top / len(members))
    if per_cluster_mean:
        return sum(shares) / len(shares)
    if floor:
        return total // len(labels)
    return torch.tensor(total / len(labels)) if as_tensor else total / len(labels)


def pca_fit(x, k, *, centre=True, eigh=False, columns=False, scaled=False, in_place=False, keepdim=False):
    if in_place:
        x -= x.mean(0)
        mean = x.mean(0)
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        return mean, vh[:k]
    mean = x.mean(0, keepdim=keepdim)
    xc = x - mean if centre else x
    if eigh:
        _, vecs = torch.linalg.eigh(xc.T @ xc)
        return mean, vecs.T[:k]
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    if columns:
        return mean, vh.T[:k]
    return mean, (vh[:k] * s[:k, None]) if scaled else vh[:k]


def pca_project(x, mean, comps):
    return (x - mean) @ comps.T


def pca_reconstruct(z, mean, comps):
    return z @ comps + mean


def gmm(weights, means, covs, n, generator=None, *, uniform=False, no_gen=False, use_sigma=False, diag=False,
        transposed=False):
    gen = None if no_gen else generator
    probs = torch.ones_like(weights) if uniform else weights
    k = torch.multinomial(probs, n, replacement=True, generator=gen)
    if use_sigma:
        factor = covs
    elif diag:
        factor = torch.diag_embed(torch.diagonal(covs, dim1=-2, dim2=-1).sqrt())
    else:
        factor = torch.linalg.cholesky(covs)
    eps = torch.randn(n, means.shape[1], generator=gen)
    out = means[k] + (factor[k] @ eps.unsqueeze(-1)).squeeze(-1)
    return out.T if transposed else out


# --- 02 -------------------------------------------------------------------------------------------------------


def recon(x_hat, x):
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def decoder(latent_dim, *, relus=(True, True), sigmoid=True, last_relu=False, one_up=False, channels=1,
            fixed=None):
    layers = [nn.Linear(fixed or latent_dim, 32 * 7 * 7)] + ([nn.ReLU()] if relus[0] else [])
    layers += [nn.Unflatten(1, (32, 7, 7)), nn.ConvTranspose2d(32, 16, 4, 2, 1)] + ([nn.ReLU()] if relus[1] else [])
    if not one_up:
        layers += [nn.ConvTranspose2d(16, channels, 4, 2, 1)]
    else:
        layers += [nn.Conv2d(16, channels, 3, padding=1)]
    layers += [nn.ReLU()] if last_relu else ([nn.Sigmoid()] if sigmoid else [])
    return nn.Sequential(*layers)


def classifier(encoder, latent_dim, num_classes=10, freeze=False, *, copy_it=True, bn=True, head=True,
               classes=None, freeze_original=False):
    enc = copy.deepcopy(encoder) if copy_it else encoder
    if freeze_original:
        encoder.requires_grad_(False)
    enc.requires_grad_(not freeze)
    if not head:
        return enc
    layers = ([nn.BatchNorm1d(latent_dim)] if bn else []) + [nn.Linear(latent_dim, classes or num_classes)]
    return nn.Sequential(enc, *layers)


# --- 03 / 04 --------------------------------------------------------------------------------------------------


def nll(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def bpd(n, dims):
    return n / (dims * math.log(2))


def raster(model, u, *, read=(0, 0), flat_shift=0, rule="lt", feed=True, order="rows", start_col=0):
    x = torch.zeros_like(u)
    _, _, h, w = u.shape
    pixels = [(i, j) for i in range(h) for j in range(start_col, w)]
    if order == "columns":
        pixels = [(i, j) for j in range(w) for i in range(h)]
    for i, j in pixels:
        logits = model(x if feed else torch.zeros_like(u))
        if flat_shift:
            p = torch.sigmoid(logits.flatten(1)[:, (i * w + j + flat_shift) % (h * w)])[:, None]
        else:
            p = torch.sigmoid(logits[:, :, i + read[0], j + read[1]])
        value = {"lt": u[:, :, i, j] < p, "gt": u[:, :, i, j] > p, "half": p > 0.5,
                 "bernoulli": torch.bernoulli(p).bool()}[rule]
        x[:, :, i, j] = value.float()
    return x


def mask(k, kind, *, swap=False, transpose=False, dtype=torch.float32, future=False, batch_dims=False):
    if swap:
        kind = "A" if kind == "B" else "B"
    c = k // 2
    m = torch.zeros(k, k, dtype=dtype)
    m[:c, :] = 1
    m[c, :c] = 1
    if future:
        m[c, c + 1:] = 1
    if kind == "B":
        m[c, c] = 1
    if transpose:
        m = m.T.contiguous()
    return m[None, None] if batch_dims else m


def field(model, row, col, height=28, width=28, *, rule="ne", summed=False, swap=False, keep_dims=False):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    out = model(x)
    (out.sum() if summed else (out[0, 0, col, row] if swap else out[0, 0, row, col])).backward()
    g = x.grad if keep_dims else x.grad[0, 0]
    return {"ne": g != 0, "gt": g > 0, "eq": g == 0, "abs": g.abs()}[rule]


# --- 05 -------------------------------------------------------------------------------------------------------


def kl(mu, lv):
    return 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(-1)


def elbo_with(recon_fn=None, kl_fn=kl, batch="mean"):
    def negative_elbo(x, logits, mu, logvar):
        r = recon_fn(logits, x) if recon_fn else nll(logits, x)
        per_image = r + kl_fn(mu, logvar)
        return per_image.mean() if batch == "mean" else per_image.sum()
    return negative_elbo


def iw(model, x, k, variant="right"):
    mu, logvar = model.encode(x)
    b, d = mu.shape
    std = torch.exp(logvar if variant == "sample_std" else 0.5 * logvar)
    eps = torch.randn(k, b, d)
    z = mu + std * eps
    logits = model.decode(z.reshape(k * b, d)).reshape(k, b, -1)
    target = x.reshape(1, b, -1).expand_as(logits)
    if variant == "mse":
        log_px_z = -((torch.sigmoid(logits) - target) ** 2).sum(-1)
    else:
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    const = 0.5 * d * math.log(2 * math.pi)
    log_pz = -0.5 * (z ** 2).sum(-1) - const
    log_q = -0.5 * (((z - mu) / torch.exp(0.5 * logvar)) ** 2).sum(-1) - 0.5 * logvar.sum(-1) - const
    if variant == "no_latent":
        log_w = log_px_z
    elif variant == "no_prior":
        log_w = log_px_z - log_q
    elif variant == "no_half_logvar":
        log_w = log_px_z + log_pz - (log_q + 0.5 * logvar.sum(-1))
    else:
        log_w = log_px_z + log_pz - log_q
    if variant == "elbo":
        return log_w.mean(0)
    if variant == "no_log_k":
        return torch.logsumexp(log_w, 0)
    return torch.logsumexp(log_w, 0) - math.log(k)


# --- 06 -------------------------------------------------------------------------------------------------------


def d_loss(real, fake):
    return -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean()


def g_loss(fake):
    return -F.logsigmoid(fake).mean()


def step(generator, discriminator, g_opt, d_opt, real, z, *, detach=True, d_first=True, zero_d=True, zero_g=True,
         saturating=False, items=True, swap=False, stale=False, after=False):
    fake = generator(z)

    def d_update():
        if zero_d:
            d_opt.zero_grad()
        r, f = discriminator(real), discriminator(fake.detach() if detach else fake)
        if swap:
            r, f = f, r
        loss = d_loss(r, f)
        loss.backward()
        d_opt.step()
        return loss

    def g_update(logits):
        if zero_g:
            g_opt.zero_grad()
        loss = F.logsigmoid(-logits).mean() if saturating else g_loss(logits)
        loss.backward()
        g_opt.step()
        return loss

    if d_first:
        early = discriminator(fake) if stale else None
        dl = d_update()
        gl = g_update(early if stale else discriminator(fake))
    else:
        gl = g_update(discriminator(fake))
        fake = fake.detach()
        dl = d_update()
    if after:
        with torch.no_grad():
            dl = d_loss(discriminator(real), discriminator(fake))
    return {"d_loss": dl.item(), "g_loss": gl.item()} if items else {"d_loss": dl, "g_loss": gl}


def lerp(z0, z1, steps):
    t = torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None]
    return (1 - t) * z0 + t * z1


# --- 07 -------------------------------------------------------------------------------------------------------


def sharp(images, *, upside=False, horizontal_only=False, no_abs=False, squared_bottom=False, batch_sum=False,
          nan_blank=False):
    parts = [images.diff(dim=3).flatten(1)] + ([] if horizontal_only else [images.diff(dim=2).flatten(1)])
    d = torch.cat(parts, 1)
    top, bottom = d.pow(2).sum(1), (d.sum(1) if no_abs else d.abs().sum(1))
    if squared_bottom:
        bottom = bottom ** 2
    if upside:
        top, bottom = bottom, top
    if batch_sum:
        return top.sum() / bottom.sum()
    if nan_blank:
        return top / bottom
    return torch.where(bottom != 0, top / bottom.clamp_min(1e-12) * (bottom != 0), torch.zeros_like(bottom))


def _step_zero_after(generator, discriminator, g_opt, d_opt, real, z):
    fake = generator(z)
    dl = d_loss(discriminator(real), discriminator(fake.detach()))
    dl.backward()
    d_opt.zero_grad()
    d_opt.step()
    g_opt.zero_grad()
    gl = g_loss(discriminator(fake))
    gl.backward()
    g_opt.step()
    return {"d_loss": dl.item(), "g_loss": gl.item()}


def _iw_unsummed_prior(model, x, k):
    mu, logvar = model.encode(x)
    b, d = mu.shape
    z = mu + torch.exp(0.5 * logvar) * torch.randn(k, b, d)
    logits = model.decode(z.reshape(k * b, d)).reshape(k, b, -1)
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.reshape(1, b, -1).expand_as(logits),
                                                   reduction="none").sum(-1)
    const = 0.5 * math.log(2 * math.pi)
    log_pz = -0.5 * z ** 2 - const                                                    # (k, B, D): not summed
    log_q = (-0.5 * ((z - mu) ** 2 / logvar.exp()) - 0.5 * logvar - const).sum(-1)
    return torch.logsumexp(log_px_z + log_pz - log_q, 0) - math.log(k)


def _gmm_in_place(weights, means, covs, n, generator=None):
    covs += 1e-6 * torch.eye(covs.shape[-1])  # "jitter" for the Cholesky factor, written into the input
    return gmm(weights, means, covs, n, generator)


def _raster_feeds_u(model, u):
    x = torch.zeros_like(u)
    for i in range(u.shape[2]):
        for j in range(u.shape[3]):
            x[:, :, i, j] = (u[:, :, i, j] < torch.sigmoid(model(u)[:, :, i, j])).float()
    return x


def _raster_u_flat_shift(model, u):
    x = torch.zeros_like(u)
    h, w = u.shape[2:]
    for i in range(h):
        for j in range(w):
            k = (i * w + j + 1) % (h * w)
            x[:, :, i, j] = (u[:, :, k // w, k % w] < torch.sigmoid(model(x)[:, :, i, j])).float()
    return x


def _raster_squeezed(model, u):
    x = torch.zeros_like(u)
    for i in range(u.shape[2]):
        for j in range(u.shape[3]):
            x[:, :, i, j] = (u[:, 0, i, j] < torch.sigmoid(model(x)[:, 0, i, j])).float()
    return x


def _field_no_grad(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] != 0


def _kw(fn, **kw):
    return lambda *a, **k: fn(*a, **k, **kw)


# (id, check, the student's functions, words that name the cause)
CATALOGUE = [
    # 00
    ("unit-256", check_to_unit_range, (lambda p: p.float() / 256,), "divide by 255"),
    ("unit-no-division", check_to_unit_range, (lambda p: p.float(),), "divide by 255"),
    ("unit-floor", check_to_unit_range, (lambda p: p // 255,), "uint8"),
    ("unit-float64", check_to_unit_range, (lambda p: p.double() / 255,), "float64"),
    ("unit-own-max", check_to_unit_range, (lambda p: p.float() / p.max(),), "own maximum"),
    ("unit-minus-one-to-one", check_to_unit_range, (lambda p: p.float() / 127.5 - 1,), "[0, 1]"),
    ("unit-flat", check_to_unit_range, (lambda p: unit(p).flatten(),), "shape"),
    ("unit-numpy", check_to_unit_range, (lambda p: unit(p).numpy(),), "torch tensor"),
    ("unit-inverted", check_to_unit_range, (lambda p: 1 - p.float() / 255,), "inverted"),
    ("unit-in-place", check_to_unit_range, (lambda p: p.div_(255),), "in-place"),
    ("unit-dequantised", check_to_unit_range, (lambda p: (p.float() + 0.5) / 256,), "offset"),
    ("unit-float16", check_to_unit_range, (lambda p: p.half() / 255,), "float32"),
    # 01
    ("purity-impurity", check_cluster_purity, (lambda i, y: 1 - purity(i, y),), "1 - purity"),
    ("pca-mean-of-everything", check_pca_fit, (lambda x, k: (x.mean(), pca_fit(x, k)[1]),), "every entry"),
    ("purity-global-majority", check_cluster_purity,
     (lambda i, y: int(torch.bincount(y).max()) / len(y),), "inside EACH cluster"),
    ("purity-range-max", check_cluster_purity,
     (lambda i, y: sum(int(torch.bincount(y[i == c]).max()) for c in range(int(i.max()))) / len(y),),
     "largest id"),
    ("purity-over-labels", check_cluster_purity, (lambda i, y: purity(i, y) * len(y) / len(torch.unique(y)),),
     "distinct labels"),
    ("purity-percent", check_cluster_purity, (lambda i, y: 100 * purity(i, y),), "percentage"),
    ("pca-mean-dim1", check_pca_fit, (lambda x, k: (x.mean(1), pca_fit(x, k)[1]),), "dim=1"),
    ("gmm-one-eps", check_sample_gmm,
     (lambda w, m, c, n, generator=None: m[torch.multinomial(w, n, True, generator=generator)]
      + torch.randn(m.shape[1], generator=generator) @ torch.linalg.cholesky(c)[0].T,), "EACH sample"),
    ("purity-direct", check_cluster_purity, (_kw(purity, direct=True),), "cluster ids with labels"),
    ("purity-mean-of-shares", check_cluster_purity, (_kw(purity, per_cluster_mean=True),), "weight each cluster"),
    ("purity-roles-swapped", check_cluster_purity, (_kw(purity, by_clusters=True),), "swapped the roles"),
    ("purity-tensor", check_cluster_purity, (_kw(purity, as_tensor=True),), "Python float"),
    ("purity-floor", check_cluster_purity, (_kw(purity, floor=True),), "integer division"),
    ("pca-uncentred", check_pca_fit, (_kw(pca_fit, centre=False),), "centre"),
    ("pca-eigh-ascending", check_pca_fit, (_kw(pca_fit, eigh=True),), "SMALLEST variance"),
    ("pca-columns", check_pca_fit, (_kw(pca_fit, columns=True),), "ROWS"),
    ("pca-scaled", check_pca_fit, (_kw(pca_fit, scaled=True),), "orthonormal"),
    ("pca-in-place", check_pca_fit, (_kw(pca_fit, in_place=True),), "in place"),
    ("pca-keepdim", check_pca_fit, (_kw(pca_fit, keepdim=True),), "keepdim"),
    ("project-no-mean", check_pca_project, (lambda x, m, c: x @ c.T, pca_reconstruct), "subtract the mean"),
    ("project-reconstructs", check_pca_project, (lambda x, m, c: pca_reconstruct(pca_project(x, m, c), m, c),
                                                 pca_reconstruct), "not a reconstruction"),
    ("reconstruct-no-mean", check_pca_project, (pca_project, lambda z, m, c: z @ c), "missing the mean"),
    ("project-sign", check_pca_project, (lambda x, m, c: (m - x) @ c.T, pca_reconstruct), "wrong sign"),
    ("reconstruct-minus-mean", check_pca_project, (pca_project, lambda z, m, c: z @ c - m), "ADDS"),
    ("gmm-in-place", check_sample_gmm, (_gmm_in_place,), "in place"),
    ("gmm-uniform", check_sample_gmm, (_kw(gmm, uniform=True),), "uniformly"),
    ("gmm-no-generator", check_sample_gmm, (_kw(gmm, no_gen=True),), "generator"),
    ("gmm-sigma", check_sample_gmm, (_kw(gmm, use_sigma=True),), "Sigma @ Sigma"),
    ("gmm-diagonal", check_sample_gmm, (_kw(gmm, diag=True),), "uncorrelated"),
    ("gmm-transposed", check_sample_gmm, (_kw(gmm, transposed=True),), "(d, n)"),
    # 02
    ("recon-mse-mean", check_reconstruction_loss, (lambda a, b: F.mse_loss(a, b),), "F.mse_loss"),
    ("recon-sum-all", check_reconstruction_loss, (lambda a, b: (a - b).pow(2).sum(),), "summed over the batch"),
    ("recon-abs", check_reconstruction_loss, (lambda a, b: (a - b).abs().flatten(1).sum(1).mean(),),
     "absolute error"),
    ("recon-no-square", check_reconstruction_loss, (lambda a, b: (a - b).flatten(1).sum(1).mean(),), "square"),
    ("recon-per-image", check_reconstruction_loss, (lambda a, b: (a - b).pow(2).flatten(1).sum(1),), ".mean()"),
    ("recon-item", check_reconstruction_loss, (lambda a, b: recon(a, b).item(),), "no .item()"),
    ("recon-detach", check_reconstruction_loss, (lambda a, b: recon(a.detach(), b),), "no gradient"),
    ("recon-784", check_reconstruction_loss, (lambda a, b: F.mse_loss(a, b) * 784,), "784"),
    ("recon-half", check_reconstruction_loss, (lambda a, b: 0.5 * recon(a, b),), "factor 0.5"),
    ("recon-negative", check_reconstruction_loss, (lambda a, b: -recon(a, b),), "negative"),
    ("recon-rmse", check_reconstruction_loss, (lambda a, b: F.mse_loss(a, b).sqrt(),), "root"),
    ("decoder-no-relus", check_conv_decoder, (_kw(decoder, relus=(False, False)),), "ReLU"),
    ("decoder-one-relu-missing", check_conv_decoder, (_kw(decoder, relus=(True, False)),), "nonlinearity"),
    ("decoder-no-sigmoid", check_conv_decoder, (_kw(decoder, sigmoid=False),), "Sigmoid"),
    ("decoder-relu-last", check_conv_decoder, (_kw(decoder, last_relu=True),), "Sigmoid"),
    ("decoder-softmax", check_conv_decoder, (lambda k: nn.Sequential(*list(decoder(k))[:-1], nn.Softmax(dim=-1)),),
     "softmax"),
    ("decoder-14x14", check_conv_decoder, (_kw(decoder, one_up=True),), "14"),
    ("decoder-3-channels", check_conv_decoder, (_kw(decoder, channels=3),), "channel"),
    ("decoder-fixed-latent", check_conv_decoder, (_kw(decoder, fixed=3),), "latent_dim"),
    ("classifier-no-copy", check_classifier_from_encoder, (_kw(classifier, copy_it=False),), "COPY"),
    ("classifier-freezes-original", check_classifier_from_encoder, (_kw(classifier, freeze_original=True),),
     "COPY"),
    ("classifier-no-bn", check_classifier_from_encoder, (_kw(classifier, bn=False),), "BatchNorm1d"),
    ("classifier-no-head", check_classifier_from_encoder, (_kw(classifier, head=False),), "head"),
    ("classifier-ten-classes", check_classifier_from_encoder, (_kw(classifier, classes=10),), "num_classes"),
    ("classifier-ignores-freeze", check_classifier_from_encoder,
     (lambda e, d, n=10, freeze=False: classifier(e, d, n, False),), "freeze=True"),
    # 03
    ("nll-mean-pixels", check_image_nll, (lambda lg, x: nll(lg, x) / x[0].numel(), bpd), "averaged over the pixels"),
    ("nll-sigmoid-twice", check_image_nll, (lambda lg, x: nll(torch.sigmoid(lg), x), bpd), "sigmoid applied twice"),
    ("nll-mse", check_image_nll, (lambda lg, x: ((torch.sigmoid(lg) - x) ** 2).flatten(1).sum(1), bpd),
     "squared error"),
    ("nll-mse-logits", check_image_nll, (lambda lg, x: ((lg - x) ** 2).flatten(1).sum(1), bpd), "squared error"),
    ("nll-logits-as-probs", check_image_nll,
     (lambda lg, x: F.binary_cross_entropy(lg, x, reduction="none").flatten(1).sum(1), bpd), "as probabilities"),
    ("nll-negative", check_image_nll, (lambda lg, x: -nll(lg, x), bpd), "minus sign"),
    ("nll-bits", check_image_nll, (lambda lg, x: nll(lg, x) / math.log(2), bpd), "bits"),
    ("nll-batch-sum", check_image_nll, (lambda lg, x: nll(lg, x).sum(), bpd), "one number"),
    ("nll-no-zero-term", check_image_nll, (lambda lg, x: -(x * F.logsigmoid(lg)).flatten(1).sum(1), bpd),
     "pixels that are 0"),
    ("nll-unstable", check_image_nll,
     (lambda lg, x: -(x * torch.log(torch.sigmoid(lg)) + (1 - x) * torch.log(1 - torch.sigmoid(lg))).flatten(1).sum(1),
      bpd), "confident logits"),
    ("nll-last-dim-only", check_image_nll,
     (lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none").sum(-1), bpd), "not summed"),
    ("bpd-no-ln2", check_image_nll, (nll, lambda n, d: n / d), "ln 2"),
    ("bpd-ln10", check_image_nll, (nll, lambda n, d: n / (d * math.log(10))), "ln 10"),
    ("bpd-784", check_image_nll, (nll, lambda n, d: n / (784 * math.log(2))), "784"),
    ("raster-threshold", check_sample_raster, (_kw(raster, rule="half"),), "p > 0.5"),
    ("raster-previous-pixel", check_sample_raster, (_kw(raster, read=(0, -1)),), "PREVIOUS pixel"),
    ("raster-previous-flat", check_sample_raster, (_kw(raster, flat_shift=-1),), "PREVIOUS pixel"),
    ("raster-next-flat", check_sample_raster, (_kw(raster, flat_shift=1),), "NEXT pixel"),
    ("raster-next-pixel", check_sample_raster, (_kw(raster, read=(0, 1)),), "j + 1"),
    ("raster-above", check_sample_raster, (_kw(raster, read=(-1, 0)),), "ABOVE"),
    ("raster-no-feed", check_sample_raster, (_kw(raster, feed=False),), "empty image"),
    ("raster-columns", check_sample_raster, (_kw(raster, order="columns"),), "column by column"),
    ("raster-greater", check_sample_raster, (_kw(raster, rule="gt"),), "u < p"),
    ("raster-bernoulli", check_sample_raster, (_kw(raster, rule="bernoulli"),), "same uniforms"),
    ("raster-skips-column", check_sample_raster, (_kw(raster, start_col=1),), "never drawn"),
    ("mask-swapped", check_causal_mask, (_kw(mask, swap=True),), "centre"),
    ("mask-transposed", check_causal_mask, (_kw(mask, transpose=True),), "transposed"),
    ("mask-future", check_causal_mask, (_kw(mask, future=True),), "future pixels"),
    ("mask-float64", check_causal_mask, (_kw(mask, dtype=torch.float64),), "float64"),
    ("mask-bool", check_causal_mask, (_kw(mask, dtype=torch.bool),), "float"),
    ("mask-4d", check_causal_mask, (_kw(mask, batch_dims=True),), "(k, k)"),
    ("field-positive", check_receptive_field, (_kw(field, rule="gt"),), "grad != 0"),
    ("field-zero", check_receptive_field, (_kw(field, rule="eq"),), "!= 0"),
    ("field-summed", check_receptive_field, (_kw(field, summed=True),), "single output"),
    ("field-swapped", check_receptive_field, (_kw(field, swap=True),), "swapped"),
    ("field-batch-dims", check_receptive_field, (_kw(field, keep_dims=True),), "batch and channel"),
    ("field-float", check_receptive_field, (_kw(field, rule="abs"),), "bool"),
    ("nll-keeps-channel", check_image_nll,
     (lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none").sum((2, 3)), bpd), "channel"),
    ("bpd-mean", check_image_nll, (nll, lambda n, d: (n / (d * math.log(2))).mean()), "each image"),
    ("raster-squeezed", check_sample_raster, (_raster_squeezed,), "shape"),
    ("raster-feeds-uniforms", check_sample_raster, (_raster_feeds_u,), "other than 0 and 1"),
    ("raster-uniform-transposed", check_sample_raster, (_raster_u_flat_shift,), "uniform"),
    ("field-no-requires-grad", check_receptive_field, (_field_no_grad,), "requires_grad"),
    # 05
    ("reparam-abs-noise", check_reparameterize, (lambda m, v: m + (0.5 * v).exp() * torch.randn_like(m).abs(),),
     "never negative"),
    ("kl-kingma-all-dims", check_gaussian_kl, (lambda m, v: -0.5 * torch.sum(1 + v - m.pow(2) - v.exp()),),
     "one KL per row"),
    ("elbo-beta-half", check_negative_elbo, (elbo_with(kl_fn=lambda m, v: 0.5 * kl(m, v)),), "0.5"),
    ("nll-log-prob", check_image_nll,
     (lambda lg, x: torch.distributions.Bernoulli(logits=lg).log_prob(x).sum((1, 2, 3)), bpd), "minus sign"),
    ("reparam-half-logvar", check_reparameterize, (lambda m, v: m + 0.5 * v * torch.randn_like(m),), "exponentiate"),
    ("reparam-no-mu", check_reparameterize, (lambda m, v: (0.5 * v).exp() * torch.randn_like(m),), "add mu"),
    ("iw-divide-by-k", check_iw_log_likelihood,
     (lambda model, x, k: iw(model, x, k, "no_log_k") / k,), "subtract log k"),
    ("reparam-var", check_reparameterize, (lambda m, v: m + v.exp() * torch.randn_like(m),), "exp(logvar / 2)"),
    ("reparam-logvar-std", check_reparameterize, (lambda m, v: m + v * torch.randn_like(m),), "log-variance itself"),
    ("reparam-uniform", check_reparameterize, (lambda m, v: m + (0.5 * v).exp() * torch.rand_like(m),), "randn"),
    ("reparam-normal", check_reparameterize, (lambda m, v: torch.normal(m, (0.5 * v).exp()),), "torch.normal"),
    ("reparam-one-eps", check_reparameterize, (lambda m, v: m + (0.5 * v).exp() * torch.randn(1),), "same noise"),
    ("reparam-detach", check_reparameterize, (lambda m, v: (m + (0.5 * v).exp() * torch.randn_like(m)).detach(),),
     "detach"),
    ("reparam-float64-eps", check_reparameterize,
     (lambda m, v: m + (0.5 * v).exp() * torch.randn(m.shape, dtype=torch.float64),), "dtype"),
    ("kl-sign", check_gaussian_kl, (lambda m, v: -kl(m, v),), "negative"),
    ("kl-logvar-sign", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 + v).sum(-1),), "sign"),
    ("kl-log-std", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 + (2 * v).exp() - 1 - 2 * v).sum(-1),),
     "log(std)"),
    ("kl-no-half", check_gaussian_kl, (lambda m, v: 2 * kl(m, v),), "factor 0.5"),
    ("kl-mean-dims", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 - v).mean(-1),), "average"),
    ("kl-no-minus-one", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 + v.exp() - v).sum(-1),), "'- 1'"),
    ("kl-no-mu2", check_gaussian_kl, (lambda m, v: 0.5 * (v.exp() - 1 - v).sum(-1),), "mu^2 term is missing"),
    ("kl-no-exp", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 - 1 - v).sum(-1),), "exp(logvar) term"),
    ("kl-minus-one-outside", check_gaussian_kl, (lambda m, v: 0.5 * ((m ** 2 + v.exp() - v).sum(-1) - 1),),
     "inside the sum"),
    ("kl-normal-logvar-scale", check_gaussian_kl,
     (lambda m, v: torch.distributions.kl_divergence(torch.distributions.Normal(m, v),
                                                      torch.distributions.Normal(0.0, 1.0)).sum(-1),),
     "exp(logvar / 2)"),
    ("kl-batch-average-per-row", check_gaussian_kl,
     (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 - v).sum() / m.shape[0] + 0 * m[:, 0],), "average of all"),
    ("kl-reverse", check_gaussian_kl, (lambda m, v: 0.5 * ((1 + m ** 2) / v.exp() - 1 + v).sum(-1),),
     "other direction"),
    ("kl-batch-sum", check_gaussian_kl, (lambda m, v: kl(m, v).sum(),), "one KL per row"),
    ("kl-dim0", check_gaussian_kl, (lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 - v).sum(0),), "dim=0"),
    ("elbo-no-minus-one", check_negative_elbo,
     (elbo_with(kl_fn=lambda m, v: 0.5 * (m ** 2 + v.exp() - v).sum(-1)),), "'- 1'"),
    ("elbo-no-mu2", check_negative_elbo, (elbo_with(kl_fn=lambda m, v: 0.5 * (v.exp() - 1 - v).sum(-1)),),
     "mu^2 term is missing"),
    ("elbo-bce-on-logits", check_negative_elbo,
     (elbo_with(recon_fn=lambda lg, x: F.binary_cross_entropy(lg, x, reduction="none").flatten(1).sum(1)),),
     "F.binary_cross_entropy_with_logits"),
    ("elbo-mse", check_negative_elbo,
     (elbo_with(recon_fn=lambda lg, x: ((torch.sigmoid(lg) - x) ** 2).flatten(1).sum(1)),), "squared error"),
    ("elbo-sigmoid-twice", check_negative_elbo, (elbo_with(recon_fn=lambda lg, x: nll(torch.sigmoid(lg), x)),),
     "sigmoid applied twice"),
    ("elbo-batch-sum", check_negative_elbo, (elbo_with(batch="sum"),), "sum over the batch"),
    ("elbo-kl-minus", check_negative_elbo, (elbo_with(kl_fn=lambda m, v: -kl(m, v)),), "Sign of the KL"),
    ("elbo-no-kl", check_negative_elbo, (elbo_with(kl_fn=lambda m, v: 0 * m.sum(-1)),), "KL term is missing"),
    ("elbo-mean-pixels", check_negative_elbo,
     (lambda x, lg, m, v: F.binary_cross_entropy_with_logits(lg, x) + kl(m, v).mean(),), "averaged over"),
    ("elbo-kl-mean-dims", check_negative_elbo,
     (elbo_with(kl_fn=lambda m, v: 0.5 * (m ** 2 + v.exp() - 1 - v).mean(-1)),), "average"),
    ("elbo-swapped-bce", check_negative_elbo, (elbo_with(recon_fn=lambda lg, x: nll(x, lg)),), "swapped"),
    ("elbo-positive-elbo", check_negative_elbo, (lambda x, lg, m, v: -elbo_with()(x, lg, m, v),), "NEGATIVE ELBO"),
    ("elbo-item", check_negative_elbo, (lambda x, lg, m, v: elbo_with()(x, lg, m, v).item(),), ".item()"),
    ("iw-unsummed-log-prior", check_iw_log_likelihood, (_iw_unsummed_prior,), "shapes do not fit"),
    ("iw-elbo", check_iw_log_likelihood, (_kw(iw, variant="elbo"),), "averaged the log-weights"),
    ("iw-no-log-k", check_iw_log_likelihood, (_kw(iw, variant="no_log_k"),), "subtract log k"),
    ("iw-no-latent-terms", check_iw_log_likelihood, (_kw(iw, variant="no_latent"),), "log p(z) - log q(z|x)"),
    ("iw-no-prior", check_iw_log_likelihood, (_kw(iw, variant="no_prior"),), "prior term is missing"),
    ("iw-mse", check_iw_log_likelihood, (_kw(iw, variant="mse"),), "squared error"),
    ("iw-sample-std", check_iw_log_likelihood, (_kw(iw, variant="sample_std"),), "exp(logvar / 2)"),
    ("iw-no-half-logvar", check_iw_log_likelihood, (_kw(iw, variant="no_half_logvar"),), "-0.5 * logvar"),
    # 06
    ("d-swapped", check_discriminator_loss, (lambda r, f: d_loss(f, r),), "swapped"),
    ("d-sign", check_discriminator_loss, (lambda r, f: -d_loss(r, f),), "wrong sign"),
    ("d-half", check_discriminator_loss, (lambda r, f: d_loss(r, f) / 2,), "half"),
    ("d-sum", check_discriminator_loss,
     (lambda r, f: -F.logsigmoid(r).sum() - F.logsigmoid(-f).sum(),), "MEAN"),
    ("d-joint-mean", check_discriminator_loss,
     (lambda r, f: -torch.cat([F.logsigmoid(r), F.logsigmoid(-f)]).mean(),), "together"),
    ("d-sigmoid-twice", check_discriminator_loss, (lambda r, f: d_loss(torch.sigmoid(r), torch.sigmoid(f)),),
     "sigmoid was applied twice"),
    ("d-bce-on-logits", check_discriminator_loss,
     (lambda r, f: F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f)),),
     "logits"),
    ("d-unstable", check_discriminator_loss,
     (lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),), "logsigmoid"),
    ("d-label-smoothing", check_discriminator_loss,
     (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9))
      + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),), "label smoothing"),
    ("d-no-fake-term", check_discriminator_loss, (lambda r, f: -F.logsigmoid(r).mean() + 0 * f.sum(),),
     "fake term is missing"),
    ("d-eps-in-log", check_discriminator_loss,
     (lambda r, f: -torch.log(torch.sigmoid(r) + 1e-8).mean() - torch.log(1 - torch.sigmoid(f) + 1e-8).mean(),),
     "cut off"),
    ("g-eps-in-log", check_generator_loss, (lambda f: -torch.log(torch.sigmoid(f) + 1e-8).mean(),), "cut off"),
    ("d-fakes-label-one", check_discriminator_loss,
     (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
      + F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),), "label 1 too"),
    ("d-least-squares", check_discriminator_loss,
     (lambda r, f: ((torch.sigmoid(r) - 1) ** 2).mean() + (torch.sigmoid(f) ** 2).mean(),), "least-squares"),
    ("g-least-squares", check_generator_loss, (lambda f: ((torch.sigmoid(f) - 1) ** 2).mean(),), "least-squares"),
    ("g-saturating", check_generator_loss, (lambda f: F.logsigmoid(-f).mean(),), "SATURATING"),
    ("g-fake-label", check_generator_loss, (lambda f: -F.logsigmoid(-f).mean(),), "label 1"),
    ("g-sign", check_generator_loss, (lambda f: F.logsigmoid(f).mean(),), "wrong sign"),
    ("g-sum", check_generator_loss, (lambda f: -F.logsigmoid(f).sum(),), "MEAN"),
    ("g-sigmoid-twice", check_generator_loss, (lambda f: g_loss(torch.sigmoid(f)),), "sigmoid was applied twice"),
    ("g-probabilities", check_generator_loss, (lambda f: -torch.log(f).mean(),), "probabilities"),
    ("step-tensors", check_gan_step, (_kw(step, items=False),), "Python float"),
    ("step-no-detach", check_gan_step, (_kw(step, detach=False),), "fake.detach()"),
    ("step-g-first", check_gan_step, (_kw(step, d_first=False),), "FIRST"),
    ("step-no-zero-d", check_gan_step, (_kw(step, zero_d=False),), "d_opt.zero_grad()"),
    ("step-no-zero-g", check_gan_step, (_kw(step, zero_g=False),), "g_opt.zero_grad()"),
    ("step-saturating", check_gan_step, (_kw(step, saturating=True),), "saturating"),
    ("step-swapped", check_gan_step, (_kw(step, swap=True),), "swapped"),
    ("step-stale-logits", check_gan_step, (_kw(step, stale=True),), "NEW forward pass"),
    ("step-fresh-z", check_gan_step, (lambda g, d, go, do, r, z: step(g, d, go, do, r, torch.randn_like(z)),),
     "z given"),
    ("step-zero-grad-after-backward", check_gan_step, (_step_zero_after,), "zero_grad after backward"),
    ("step-loss-after-update", check_gan_step, (_kw(step, after=True),), "before its update"),
    ("lerp-backwards", check_interpolate, (lambda a, b, s: lerp(b, a, s),), "backwards"),
    ("lerp-transposed", check_interpolate, (lambda a, b, s: lerp(a, b, s).T,), "(d, steps)"),
    ("lerp-short", check_interpolate, (lambda a, b, s: torch.stack([a + (b - a) * i / s for i in range(s)]),),
     "stops short"),
    ("lerp-float32", check_interpolate,
     (lambda a, b, s: torch.zeros(s, a.shape[0]) + lerp(a.float(), b.float(), s),), "float64"),
    ("lerp-no-broadcast", check_interpolate,
     (lambda a, b, s: (1 - torch.linspace(0, 1, s)) * a + torch.linspace(0, 1, s) * b,), "t[:, None]"),
    ("lerp-linspace-tensors", check_interpolate, (lambda a, b, s: torch.linspace(a, b, s),), "plain numbers"),
    ("lerp-one-too-many", check_interpolate, (lambda a, b, s: lerp(a, b, s + 1),), "one too many"),
    ("lerp-uneven", check_interpolate,
     (lambda a, b, s: torch.stack([a + (b - a) * (i / (s - 1)) ** 2 for i in range(s)]),), "evenly spaced"),
    ("lerp-integer-division", check_interpolate,
     (lambda a, b, s: torch.stack([a + (b - a) * (i // (s - 1)) for i in range(s)]),), "integer division"),
    ("lerp-off-line", check_interpolate,
     (lambda a, b, s: torch.stack([a + (b - a) * i / (s - 1) + 0.1 * (i % 2) for i in range(s)]),),
     "not on the straight line"),
    # 07
    ("sharp-upside-down", check_sharpness, (_kw(sharp, upside=True),), "upside down"),
    ("sharp-one-direction", check_sharpness, (_kw(sharp, horizontal_only=True),), "both"),
    ("sharp-no-abs", check_sharpness, (_kw(sharp, no_abs=True),), "absolute value"),
    ("sharp-squared-bottom", check_sharpness, (_kw(sharp, squared_bottom=True),), "sum(|d|)^2"),
    ("sharp-flattened-diff", check_sharpness,
     (lambda im: (lambda d: d.pow(2).sum(1) / d.abs().sum(1).clamp_min(1e-12))(im.flatten(1).diff(dim=1)),),
     "flattened"),
    ("sharp-batch-mean-repeated", check_sharpness, (lambda im: sharp(im).mean().expand(len(im)),), "same value"),
    ("sharp-batch", check_sharpness, (_kw(sharp, batch_sum=True),), "one value per image"),
    ("sharp-nan-blank", check_sharpness, (_kw(sharp, nan_blank=True),), "blank image"),
]


def _run(check, functions):
    torch.manual_seed(0)
    return check(*functions)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.mark.parametrize("check, functions, words", [pytest.param(c, f, w, id=i) for i, c, f, w in CATALOGUE])
def test_mistake_is_caught_and_named(check, functions, words):
    result = _run(check, functions)
    assert not result.passed, "the check passed a wrong answer"
    assert words in result.message, result.message
    assert not any(g in result.message for g in GENERIC), result.message


def summary() -> tuple[int, int, int]:
    caught = named = 0
    for ident, check, functions, words in CATALOGUE:
        result = _run(check, functions)
        is_named = not result.passed and words in result.message and not any(g in result.message for g in GENERIC)
        caught += not result.passed
        named += is_named
        print(f"{'PASS!' if result.passed else 'named' if is_named else 'caught'}  {ident}: {result.message}")
    return len(CATALOGUE), caught, named


if __name__ == "__main__":
    total, caught, named = summary()
    print(f"\n{total} mistakes: {caught} caught ({caught / total:.1%}), {named} named ({named / total:.1%})")
    sys.exit(0 if caught == total else 1)
