"""The reference VAE: shapes, the ELBO's pieces against independent computations, the importance-weighted
bound's behaviour, training on a few digits and clear errors on wrong inputs (the latent explorer: test_widgets.py)."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.models import vae
from course_utils.models.vae import (
    CONFIGS,
    VAE,
    build_vae,
    decode_probs,
    encode_means,
    evaluate_elbo,
    gaussian_kl,
    iw_log_likelihood,
    latent_traversal,
    log_importance_weights,
    log_normal,
    negative_elbo,
    reparameterize,
    train_vae,
    vae_loss,
)


@pytest.fixture
def small():
    torch.manual_seed(0)
    return VAE(latent_dim=4, hidden=16, channels=(4, 8))


@pytest.fixture
def binary():
    return torch.bernoulli(torch.full((6, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(1))


def test_shapes(small, binary):
    mu, logvar = small.encode(binary)
    assert mu.shape == logvar.shape == (6, 4)
    assert small.decode(mu).shape == (6, 1, 28, 28)
    logits, mu2, logvar2 = small(binary)
    assert logits.shape == (6, 1, 28, 28) and torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    images = small.sample(5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    drawn = small.sample(3, binary=True)
    assert torch.all((drawn == 0) | (drawn == 1))
    assert encode_means(small, binary).shape == (6, 4)
    assert decode_probs(small, torch.zeros(2, 4)).shape == (2, 1, 28, 28)
    assert latent_traversal(small, torch.zeros(4), [0, 3], torch.linspace(-2, 2, 5)).shape == (10, 1, 28, 28)


def test_sampling_is_repeatable_with_a_generator(small):
    a = small.sample(4, generator=torch.Generator().manual_seed(3))
    b = small.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_kl_and_log_normal_match_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    q = Normal(mu, torch.exp(0.5 * logvar))
    expected = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)
    z = torch.randn(5, 3, generator=gen)
    assert torch.allclose(log_normal(z, mu, logvar), q.log_prob(z).sum(-1), atol=1e-5)
    assert torch.allclose(log_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-5)


def test_reparameterize_moments_and_gradients():
    mu = torch.full((20000, 2), 1.5, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 1.5) < 0.02 and abs(z.std().item() - 0.5) < 0.02
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert torch.allclose(logvar.grad, 0.5 * (z - mu).detach(), atol=1e-6)


def test_negative_elbo_is_reconstruction_plus_kl(small, binary):
    logits, mu, logvar = small(binary)
    per_image = negative_elbo(binary, logits, mu, logvar, reduction="none")
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, binary, reduction="sum") / len(binary)
    assert per_image.shape == (6,)
    assert torch.allclose(negative_elbo(binary, logits, mu, logvar), recon + gaussian_kl(mu, logvar).mean())
    assert torch.allclose(per_image.mean(), negative_elbo(binary, logits, mu, logvar))


def test_iw_bound_rises_with_k_and_k1_matches_the_elbo(small, binary):
    torch.manual_seed(0)
    elbo = -torch.stack([evaluate_elbo(small, binary)["neg_elbo"] for _ in range(200)]).mean(0)
    iw1 = torch.stack([iw_log_likelihood(small, binary, k=1) for _ in range(200)]).mean(0)
    assert torch.allclose(iw1, elbo, atol=0.5)
    iw100 = iw_log_likelihood(small, binary, k=100)
    assert (iw100 > elbo - 0.5).all()
    log_w = log_importance_weights(small.eval(), binary, k=7, max_decodes=12)   # chunks of 2 draws
    assert log_w.shape == (7, 6)


def test_iw_matches_exact_likelihood_when_q_is_the_posterior():
    """A decoder that ignores z: p(x|z) = p(x), so with any q every weight equals p(x) and the estimate is exact."""
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=8, channels=(2, 2))
    with torch.no_grad():
        for layer in model.decoder:
            if hasattr(layer, "weight"):
                layer.weight.zero_()
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.zero_()                       # q(z|x) = N(0, I) = p(z): log w = log p(x|z) = log p(x)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.5), generator=torch.Generator().manual_seed(2))
    exact = -torch.nn.functional.binary_cross_entropy_with_logits(
        model.decode(torch.zeros(3, 2)), x, reduction="none").flatten(1).sum(1)
    assert torch.allclose(iw_log_likelihood(model, x, k=10), exact.detach(), atol=1e-4)


def test_training_lowers_the_loss_and_records_the_split(small):
    images = torch.rand(128, 1, 28, 28) ** 3
    eval_images = torch.bernoulli(images[:32])
    history = train_vae(small, images, epochs=3, batch_size=32, lr=3e-3, warmup_epochs=2, eval_images=eval_images,
                        progress=False)
    assert len(history.epochs) == 3
    assert {"loss", "neg_elbo", "recon", "kl", "beta", "lr", "eval_neg_elbo"} <= set(history.epochs[-1])
    assert history.epochs[0]["beta"] == 0.5 and history.epochs[-1]["beta"] == 1.0
    first, last = history.steps[0]["neg_elbo"], history.epochs[-1]["neg_elbo"]
    assert last < first
    out = vae_loss(small, images[:4])
    assert torch.allclose(out["loss"], out["recon"] + out["kl"])


def test_ema_leaves_the_averaged_weights():
    images = torch.rand(64, 1, 28, 28) ** 3
    torch.manual_seed(0)
    plain, averaged = VAE(4, 16, (4, 8)), VAE(4, 16, (4, 8))
    averaged.load_state_dict(plain.state_dict())
    start = [p.detach().clone() for p in plain.parameters()]
    train_vae(plain, images, epochs=1, batch_size=16, lr=1e-2, progress=False)
    train_vae(averaged, images, epochs=1, batch_size=16, lr=1e-2, ema_decay=0.9, progress=False)

    def moved(m):
        return sum((p.detach() - s).norm() for p, s in zip(m.parameters(), start, strict=True))

    assert 0 < moved(averaged) < 0.5 * moved(plain)    # 4 steps with decay 0.9: the average moved 1 - 0.9^4 = 34%
    with pytest.raises(ValueError, match="ema_decay"):
        train_vae(plain, images, epochs=1, ema_decay=1.0)


def test_build_vae_and_checkpoint_roundtrip(tmp_path):
    for profile in CONFIGS:
        model = build_vae(profile)
        assert model.latent_dim == CONFIGS[profile]["model"]["latent_dim"]
    model = build_vae("smoke")
    path = save_checkpoint(tmp_path / "vae.pt", model)
    again = build_vae("smoke")
    load_checkpoint(path, again)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(),
                                                  strict=True))
    with pytest.raises(ValueError, match="unknown profile"):
        build_vae("huge")


@pytest.mark.parametrize("call, words", [
    (lambda m: m.encode(torch.rand(2, 28, 28)), "float tensor"),
    (lambda m: m.encode(torch.rand(2, 1, 14, 14)), "(N, 1, 28, 28)"),
    (lambda m: m.decode(torch.zeros(3, 2, 4)), "(k * B, D)"),
    (lambda m: m.decode(torch.zeros(3, 5)), "(N, 4)"),
    (lambda m: m.sample(0), "positive int"),
    (lambda m: iw_log_likelihood(m, torch.rand(2, 1, 28, 28), k=5), "binary"),
    (lambda m: iw_log_likelihood(m, torch.zeros(2, 1, 28, 28), k=0), "positive int"),
    (lambda m: latent_traversal(m, torch.zeros(3), [0], torch.zeros(2)), "one code"),
    (lambda m: latent_traversal(m, torch.zeros(4), [4], torch.zeros(2)), "dims"),
    (lambda m: train_vae(m, torch.rand(8, 1, 28, 28), epochs=0), "epochs"),
])
def test_wrong_inputs_raise_clear_errors(small, call, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        call(small)


@pytest.mark.parametrize("call, words", [
    (lambda: gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)), "same shape"),
    (lambda: gaussian_kl(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), "float"),
    (lambda: negative_elbo(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28), torch.zeros(3, 4),
                           torch.zeros(3, 4)), "B = 2"),
    (lambda: negative_elbo(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28), torch.zeros(2, 4),
                           torch.zeros(2, 4), reduction="sum"), "reduction"),
    (lambda: VAE(latent_dim=0), "latent_dim"),
])
def test_function_inputs_are_checked(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_image_shape():
    assert vae.IMAGE_SHAPE == (1, 28, 28)
