"""Reference autoencoders: shapes, value ranges, clear errors, the loss, reuse of the encoder, PCA."""

import pytest
import torch

from course_utils.checkpoint import load_or_train
from course_utils.models.autoencoder import (
    ConvAutoencoder,
    EncoderClassifier,
    LinearAutoencoder,
    MLPAutoencoder,
    autoencoder_loss,
    classifier_from_encoder,
    conv_decoder,
    conv_encoder,
    decode_codes,
    encode_images,
    reconstruction_error,
    reconstruction_loss,
)
from course_utils.train import History

MODELS = [lambda k: LinearAutoencoder(k), lambda k: LinearAutoencoder(k, sigmoid=True),
          lambda k: MLPAutoencoder(k), lambda k: MLPAutoencoder(k, hidden=(32,)), lambda k: ConvAutoencoder(k)]


@pytest.fixture
def images():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make", MODELS)
def test_shapes_of_every_family(make, images):
    model = make(5)
    z = model.encode(images)
    assert z.shape == (6, 5) and model.latent_dim == 5
    assert model.decode(z).shape == (6, 1, 28, 28)
    assert model(images).shape == (6, 1, 28, 28)


@pytest.mark.parametrize("make", MODELS[1:])
def test_sigmoid_outputs_lie_in_unit_range(make):
    out = make(4).decode(100 * torch.randn(8, 4))
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("bad", [torch.rand(6, 784), torch.rand(6, 1, 32, 32),
                                 torch.zeros(6, 1, 28, 28, dtype=torch.uint8)])
def test_wrong_images_raise(bad):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        ConvAutoencoder(3)(bad)


def test_wrong_codes_raise():
    model = MLPAutoencoder(3)
    with pytest.raises(ValueError, match=r"codes of shape \(N, 3\)"):
        model.decode(torch.randn(2, 4))
    with pytest.raises(ValueError, match="float codes"):
        model.decode(torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_bad_latent_dim_raises(bad):
    with pytest.raises(ValueError, match="latent_dim"):
        ConvAutoencoder(bad)


def test_bad_hidden_sizes_raise():
    with pytest.raises(ValueError, match="hidden"):
        MLPAutoencoder(3, hidden=())


def test_conv_halves_and_doubles(images):
    assert conv_encoder(7)(images).shape == (6, 7)
    assert conv_decoder(7)(torch.randn(2, 7)).shape == (2, 1, 28, 28)
    assert conv_encoder(7, channels=(8, 8))[0].out_channels == 8


def test_reconstruction_loss_sums_pixels_and_averages_images():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[0.5, 0.0], [0.0, 0.0]]], [[[1.0, 1.0], [0.5, 0.0]]]])
    assert reconstruction_loss(x_hat, x).item() == pytest.approx((0.25 + 2.25) / 2)
    assert reconstruction_loss(x_hat.flatten(1), x.flatten(1)).item() == pytest.approx(1.25)
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_loss(x_hat, x.flatten(1))
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_loss(x_hat[:, 0, 0, 0], x[:, 0, 0, 0])


def test_autoencoder_loss_accepts_tensors_and_tuples(images):
    model = LinearAutoencoder(3)
    expected = reconstruction_loss(model(images), images)
    assert torch.allclose(autoencoder_loss(model, images), expected)
    assert torch.allclose(autoencoder_loss(model, (images, torch.zeros(6, dtype=torch.long))), expected)
    assert torch.allclose(autoencoder_loss(model, [images]), expected)


def test_batched_helpers_match_one_pass_and_restore_mode(images):
    model = ConvAutoencoder(4).train()
    with torch.no_grad():
        full_z, full_err = model.encode(images), reconstruction_loss(model(images), images).item()
    assert torch.allclose(encode_images(model, images, batch_size=4), full_z, atol=1e-6)
    assert reconstruction_error(model, images, batch_size=4) == pytest.approx(full_err, rel=1e-5)
    assert decode_codes(model, full_z, batch_size=5).shape == (6, 1, 28, 28)
    assert model.training
    with pytest.raises(ValueError):
        encode_images(model, images, batch_size=0)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        decode_codes(model, torch.randn(3, 2))


def test_classifier_copies_and_freezes(images):
    encoder = conv_encoder(5)
    frozen = classifier_from_encoder(encoder, 5, num_classes=3, freeze=True)
    assert isinstance(frozen, EncoderClassifier) and frozen(images).shape == (6, 3)
    assert all(p.requires_grad for p in encoder.parameters()), "the original must stay trainable"
    assert not any(p.requires_grad for p in frozen.encoder.parameters())
    assert all(p.requires_grad for p in frozen.head.parameters())
    assert isinstance(frozen.head[0], torch.nn.BatchNorm1d)
    tuned = classifier_from_encoder(encoder, 5)
    assert tuned.encoder is not encoder
    assert all(torch.equal(a, b) for a, b in zip(tuned.encoder.parameters(), encoder.parameters(), strict=True))
    tuned(images).sum().backward()
    assert all(p.grad is not None for p in tuned.parameters()) and all(p.grad is None for p in encoder.parameters())
    with pytest.raises(ValueError, match="num_classes"):
        EncoderClassifier(encoder, 5, num_classes=1)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        tuned(images.flatten(1))


def test_pca_solution_is_a_stationary_point_of_the_linear_autoencoder():
    """Baldi and Hornik: with squared error, encoding onto the top-k principal directions and decoding
    back is an optimum: the gradient vanishes there and the loss is the variance PCA leaves out."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 784, generator=gen, dtype=torch.float64) * torch.linspace(0, 1, 784, dtype=torch.float64)
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    k = 4
    model = LinearAutoencoder(k).double()
    with torch.no_grad():
        model.encoder[1].weight.copy_(vh[:k])
        model.encoder[1].bias.copy_(-vh[:k] @ mean)
        model.decoder[0].weight.copy_(vh[:k].T)
        model.decoder[0].bias.copy_(mean)
    loss = autoencoder_loss(model, x.reshape(-1, 1, 28, 28))
    assert loss.item() == pytest.approx((s[k:] ** 2).sum().item() / len(x), rel=1e-9)
    loss.backward()
    assert max(p.grad.abs().max().item() for p in model.parameters()) < 1e-9


def test_cached_training_round_trip(tmp_path, images):
    path = tmp_path / "conv_autoencoder.pt"
    torch.manual_seed(0)
    trained = ConvAutoencoder(4)
    load_or_train(path, trained, lambda m: History(epochs=[{"loss": 1.0}]))
    again = ConvAutoencoder(4)
    history = load_or_train(path, again, lambda m: pytest.fail("should load, not train"))
    assert history.epochs == [{"loss": 1.0}]
    assert torch.allclose(again(images), trained(images))


@pytest.mark.parametrize("make", MODELS[1:])
def test_sigmoid_decoders_start_near_the_average_pixel(make):
    torch.manual_seed(0)
    out = make(4).decode(torch.randn(32, 4))
    assert 0.08 < out.mean().item() < 0.2 and out.max().item() < 0.5, "the sigmoid should start unsaturated"
