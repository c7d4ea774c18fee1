"""course_utils.zoo: each course model is trained once with its recipe, cached, and then loaded as it was."""

import pytest
import torch

from course_utils import zoo
from course_utils.checkpoint import cached_model_path
from course_utils.config import RunConfig
from course_utils.models.autoencoder import ConvAutoencoder
from course_utils.models.gan import DCGANGenerator
from course_utils.models.pixelcnn import GatedPixelCNN
from course_utils.models.vae import VAE

SMOKE = RunConfig("smoke", 0, torch.device("cpu"))


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))


pytestmark = pytest.mark.usefixtures("one_thread")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("get, name, kind", [
    (zoo.autoencoder_model, "conv_autoencoder", ConvAutoencoder),
    (zoo.pixelcnn_model, "pixelcnn", GatedPixelCNN),
    (zoo.pixelrnn_model, "pixelrnn", torch.nn.Module),
    (zoo.vae_model, "vae", VAE),
])
def test_trains_once_then_loads_the_same_model(get, name, kind):
    model, history = get(SMOKE)
    assert isinstance(model, kind) and not model.training
    assert history is not None and history.seconds > 0 and len(history.series("loss")) > 0
    assert cached_model_path(name, "smoke").is_file()
    again, history_again = get(SMOKE)
    assert again is not model and _same_weights(model, again)
    assert history_again.seconds == pytest.approx(history.seconds)


def test_a_model_passed_in_is_the_one_trained_and_the_epoch_hook_runs():
    calls = []
    model = ConvAutoencoder(16)
    out, _ = zoo.autoencoder_model(SMOKE, model=model, on_epoch_end=lambda epoch, history: calls.append(epoch))
    assert out is model and calls == [0]


def test_dcgan_keeps_its_snapshots_in_the_cache():
    generator, history, snapshots = zoo.dcgan_model(SMOKE)
    assert isinstance(generator, DCGANGenerator) and not generator.training
    assert list(snapshots) == [1] and snapshots[1].shape == (10, 1, 28, 28)
    again, _, snapshots_again = zoo.dcgan_model(SMOKE)
    assert _same_weights(generator, again)
    assert torch.equal(snapshots[1], snapshots_again[1])


def test_an_unusable_cached_file_is_set_aside_and_the_model_retrained():
    path = cached_model_path("vae", "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    model, history = zoo.vae_model(SMOKE)
    assert history is not None and path.is_file()
    assert path.with_name(path.name + ".unusable").read_bytes() == b"not a checkpoint"
