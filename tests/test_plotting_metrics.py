import math

import matplotlib
import pytest
import torch

from course_utils import metrics, plotting
from course_utils.train import History

matplotlib.use("Agg")


def test_image_grid_places_every_image():
    images = torch.stack([torch.full((1, 2, 2), i / 5) for i in range(5)])
    grid = plotting.image_grid(images, nrow=3, pad=1)
    assert grid.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert grid[0, 0] == 0 and grid[0, 3] == pytest.approx(0.2) and grid[3, 3] == pytest.approx(0.8)


def test_image_grid_rejects_colour_and_flat_input():
    with pytest.raises(ValueError, match="grey images of shape"):
        plotting.image_grid(torch.rand(4, 3, 8, 8))
    with pytest.raises(ValueError, match="grey images of shape"):
        plotting.image_grid(torch.rand(4, 784))


def test_figures_draw():
    ax = plotting.show_images(torch.rand(6, 1, 28, 28), title="t")
    assert ax.get_title() == "t"
    fig = plotting.show_rows([torch.rand(4, 1, 8, 8)] * 2, ["in", "out"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="one label per row"):
        plotting.show_rows([torch.rand(4, 1, 8, 8)], ["a", "b"])
    ax = plotting.plot_history(History(epochs=[{"loss": 2.0, "kl": 1.0}, {"loss": 1.0, "kl": 0.5}]))
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "kl"]
    with pytest.raises(ValueError, match="history is empty"):
        plotting.plot_history(History())


def test_bits_per_dim():
    assert metrics.nats_to_bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    assert metrics.nats_to_bits_per_dim(81.30) == pytest.approx(0.1496, abs=1e-4)
    assert metrics.bits_per_dim_to_nats(metrics.nats_to_bits_per_dim(90.0)) == pytest.approx(90.0)
    with pytest.raises(ValueError, match="dims must be a positive int"):
        metrics.nats_to_bits_per_dim(1.0, dims=0)


def test_accuracy_and_parameters():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert metrics.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="expected logits"):
        metrics.accuracy(logits, torch.tensor([0, 1]))
    assert metrics.count_parameters(torch.nn.Linear(3, 2)) == 8


@pytest.fixture(scope="module")
def small_classifier():
    from course_utils.data import load_mnist, make_loader
    from course_utils.models.classifier import DigitClassifier, cross_entropy_loss
    from course_utils.train import fit

    torch.manual_seed(0)
    train = load_mnist("train", limit=1500, verbose=False)
    model = DigitClassifier()
    fit(model, cross_entropy_loss, make_loader(train.images, train.labels, batch_size=64), epochs=3, progress=False)
    return model


def test_classifier_fid_orders_real_blurred_and_noise(small_classifier):
    from course_utils.data import load_mnist

    test = load_mnist("test", verbose=False).images
    real_a, real_b = test[:500], test[500:]
    floor = metrics.classifier_fid(real_a, real_b, small_classifier)
    blurred = metrics.classifier_fid(real_a, torch.nn.functional.avg_pool2d(real_b, 3, 1, 1), small_classifier)
    noise = metrics.classifier_fid(real_a, torch.rand(500, 1, 28, 28), small_classifier)
    assert 0 <= floor < blurred < noise
    assert small_classifier.training  # the classifier's mode is restored


def test_confident_share(small_classifier):
    from course_utils.data import load_mnist

    real = load_mnist("test", limit=300, verbose=False).images
    assert metrics.confident_share(real, small_classifier) > metrics.confident_share(
        torch.rand(300, 1, 28, 28), small_classifier)
    with pytest.raises(ValueError, match="threshold must lie in"):
        metrics.confident_share(real, small_classifier, threshold=1.5)


def test_fid_input_errors(small_classifier):
    with pytest.raises(ValueError, match=r"fake must be float images \(N, 1, 28, 28\)"):
        metrics.classifier_fid(torch.rand(10, 1, 28, 28), torch.rand(10, 784), small_classifier)
    with pytest.raises(ValueError, match="features\\(x\\) method"):
        metrics.classifier_fid(torch.rand(10, 1, 28, 28), torch.rand(10, 1, 28, 28), torch.nn.Linear(2, 2))
