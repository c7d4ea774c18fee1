"""The checks of notebook 02 pass the solutions, fail the stubs and name the cause of typical mistakes."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.autoencoders import (
    check_classifier_from_encoder,
    check_conv_decoder,
    check_reconstruction_loss,
    check_train_step,
)
from course_utils.models.autoencoder import classifier_from_encoder, conv_decoder, reconstruction_loss, train_step


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


@pytest.mark.parametrize("check", [check_reconstruction_loss, check_train_step, check_conv_decoder,
                                   check_classifier_from_encoder])
def test_stub_fails_with_not_implemented_hint(check):
    result = check(stub)
    assert not result.passed and result.message == NOT_IMPLEMENTED_HINT


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="not implemented"):
        check_conv_decoder(stub)


# --- reconstruction loss ---------------------------------------------------------------------------


def test_loss_reference_and_alternative_solutions_pass():
    assert check_reconstruction_loss(reconstruction_loss).passed
    assert check_reconstruction_loss(lambda a, b: F.mse_loss(a, b, reduction="sum") / len(a)).passed
    assert check_reconstruction_loss(lambda a, b: ((b - a) ** 2).reshape(len(a), -1).sum(-1).mean()).passed


@pytest.mark.parametrize("wrong, words", [
    (lambda a, b: F.mse_loss(a, b), "averaged over the pixels as well"),
    (lambda a, b: ((a - b) ** 2).mean() * 784, "hard-coded 784"),
    (lambda a, b: ((a - b) ** 2).sum(), "summed over the batch too"),
    (lambda a, b: ((a - b) ** 2).sum(0).mean(), "other way round"),
    (lambda a, b: (a - b).abs().flatten(1).sum(1).mean(), "absolute error"),
    (lambda a, b: (a - b).flatten(1).norm(dim=1).mean(), "square root"),
    (lambda a, b: (a - b).flatten(1).sum(1).mean(), "without squaring"),
    (lambda a, b: ((a - a) ** 2).sum(), "comparing x_hat with itself"),
    (lambda a, b: (a ** 2).flatten(1).sum(1).mean(), "does not change the loss"),
    (lambda a, b: ((a - b) ** 2).flatten(1).sum(1), "one number per image"),
    (lambda a, b: ((a - b) ** 2).flatten(1).sum(1).mean().item(), "no .item()"),
    (lambda a, b: ((a - b) ** 2).flatten(1).sum(1).mean().detach(), "carries no gradient"),
    (lambda a, b: ((a - b) ** 2).sum(dim=(1, 2, 3)).mean(), "flat images"),
    (lambda a, b: ((a - b) ** 2).sum(-1).mean(), "some of the dimensions only"),
])
def test_typical_loss_mistakes_are_named(wrong, words):
    result = check_reconstruction_loss(wrong)
    assert not result.passed
    assert words in result.message, result.message


def test_loss_that_changes_its_input_is_named():
    def in_place(a, b):
        b.mul_(0.5)
        return ((a - b) ** 2).flatten(1).sum(1).mean()

    result = check_reconstruction_loss(in_place)
    assert not result.passed and "in place" in result.message


# --- the training step ---------------------------------------------------------------------------------


def _step(model, optimizer, images, *, mode="train", target="images", loss="exercise", order="zbs", returns="item",
          optimizer_kind="given"):
    """A training step with one mistake switched on; the defaults are a right answer."""
    if mode == "train":
        model.train()
    elif mode == "eval":
        model.eval()
    out = model(images)
    goal = {"images": images, "zeros": torch.zeros_like(images), "itself": out.detach()}[target]
    if loss == "exercise":
        value = reconstruction_loss(out, goal)
    elif loss == "mse":
        value = F.mse_loss(out, goal)
    elif loss == "batch sum":
        value = (out - goal).pow(2).sum()
    elif loss == "negative":
        value = -reconstruction_loss(out, goal)
    elif loss == "latent":
        value = model.encoder(images).pow(2).sum(1).mean()
    elif loss == "bce":
        value = F.binary_cross_entropy(out, goal, reduction="sum") / len(images)
    elif loss == "l1":
        value = F.l1_loss(out, goal, reduction="sum") / len(images)
    elif loss == "twice averaged":
        value = reconstruction_loss(out, goal) / len(images)
    elif loss == "detached code":
        value = reconstruction_loss(model.decoder(model.encoder(images).detach()), goal)
    if optimizer_kind == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    elif optimizer_kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for op in order:  # z: zero_grad, b: backward, s: step
        {"z": optimizer.zero_grad, "b": value.backward, "s": optimizer.step}[op]()
    if returns == "after":
        return reconstruction_loss(model(images), images).item()
    if returns == "tensor":
        return value
    if returns == "pixel mean":
        return value.item() / 784
    return value.item()


def test_step_reference_and_alternatives_pass():
    assert check_train_step(train_step).passed
    assert check_train_step(_step).passed
    assert check_train_step(lambda m, o, x: _step(m, o, x, order="bsz")).passed  # zero_grad at the end is fine


@pytest.mark.parametrize("mistake, words", [
    ({"mode": "none"}, "model.train()"),
    ({"mode": "eval"}, "evaluation mode"),
    ({"target": "zeros"}, "blank image"),
    ({"target": "itself"}, "with itself"),
    ({"loss": "mse"}, "784 times too small"),
    ({"loss": "batch sum"}, "summed over the batch"),
    ({"loss": "negative"}, "UP the gradient"),
    ({"loss": "latent"}, "code z"),
    ({"loss": "bce"}, "binary cross-entropy"),
    ({"loss": "l1"}, "absolute error"),
    ({"loss": "twice averaged"}, "divided by the batch size twice"),
    ({"loss": "detached code"}, "encoder's parameters did not change"),
    ({"order": "bs"}, "optimizer.zero_grad() before loss.backward()"),
    ({"order": "bzs"}, "not between backward() and step()"),
    ({"order": "zb"}, "optimizer.step() after loss.backward()"),
    ({"order": "sb"}, "comes before loss.backward()"),
    ({"order": "zbss"}, "step() twice"),
    ({"returns": "after"}, "AFTER the update"),
    ({"returns": "tensor"}, "Python float"),
    ({"returns": "pixel mean"}, "not a mean over the pixels"),
    ({"optimizer_kind": "adam"}, "NEW Adam"),
    ({"optimizer_kind": "sgd"}, "use that optimizer"),
])
def test_typical_step_mistakes_are_named(mistake, words):
    result = check_train_step(lambda m, o, x: _step(m, o, x, **mistake))
    assert not result.passed
    assert words in result.message, result.message


def test_step_that_changes_the_images_or_crashes_is_named():
    def in_place(model, optimizer, images):
        images.mul_(0.5)
        return _step(model, optimizer, images)

    def no_grad(model, optimizer, images):
        with torch.no_grad():
            return _step(model, optimizer, images)

    assert "in place" in check_train_step(in_place).message
    assert "no gradient to follow" in check_train_step(no_grad).message
    assert "Python float" in check_train_step(lambda m, o, x: [_step(m, o, x)]).message
    assert "Python float" in check_train_step(lambda m, o, x: "loss").message


# --- convolutional decoder ----------------------------------------------------------------------


def test_decoder_reference_passes():
    result = check_conv_decoder(conv_decoder)
    assert result.passed, result.message


def test_check_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_conv_decoder(conv_decoder)
    assert torch.equal(torch.rand(3), expected)


def _decoder(latent_dim, last=None, sizes=(4, 2, 1), out_channels=1, flat=False, fixed=None, convt=True):
    k, s, p = sizes
    first = fixed if fixed is not None else latent_dim
    layers = [nn.Linear(first, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7))]
    if convt:
        layers += [nn.ConvTranspose2d(32, 16, k, s, p), nn.ReLU(), nn.ConvTranspose2d(16, out_channels, k, s, p)]
    else:
        layers += [nn.Flatten(), nn.Linear(32 * 49, 784), nn.Unflatten(1, (1, 28, 28))]
    layers += [last if last is not None else nn.Sigmoid()]
    if flat:
        layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def _upsampling(latent_dim):
    return nn.Sequential(nn.Linear(latent_dim, 32 * 49), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
                         nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
                         nn.Upsample(scale_factor=2), nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid())


class _Custom(nn.Module):
    """A decoder written as a module with its own forward (no Sequential): judged by what it does."""

    def __init__(self, latent_dim, relu=True):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 32 * 49)
        self.up1 = nn.ConvTranspose2d(32, 16, 4, 2, 1)
        self.up2 = nn.ConvTranspose2d(16, 1, 4, 2, 1)
        self.act = torch.relu if relu else (lambda t: t)

    def forward(self, z):
        h = self.act(self.fc(z)).view(-1, 32, 7, 7)
        return torch.sigmoid(self.up2(self.act(self.up1(h))))


@pytest.mark.parametrize("other", [
    lambda k: conv_decoder(k, channels=(8, 32)),
    _upsampling,
    _Custom,
    lambda k: nn.Sequential(*list(_decoder(k))[:-1], nn.Tanh(), nn.Hardtanh(0, 1)),
])
def test_other_working_decoders_pass(other):
    """The check judges behaviour, not one layer table: other sizes and upsampling layers pass."""
    result = check_conv_decoder(other)
    assert result.passed, result.message


class _Double(nn.Module):
    def forward(self, x):
        return x.double()


class _Frozen(nn.Module):
    def __init__(self, k, how):
        super().__init__()
        self.inner, self.how = _decoder(k), how

    def forward(self, z):
        out = self.inner(z)
        return {"round": lambda: out.round(), "detach": lambda: out.detach(),
                "threshold": lambda: (out > 0.5).float()}[self.how]()


@pytest.mark.parametrize("wrong, words", [
    (lambda k: _decoder(k, last=nn.Identity()), "forget the final nn.Sigmoid()"),
    (lambda k: _decoder(k, last=nn.ReLU()), "ReLU is unbounded"),
    (lambda k: _decoder(k, flat=True), "is flat"),
    (lambda k: _decoder(k, out_channels=3), "ONE grey channel"),
    (lambda k: _decoder(k, sizes=(3, 2, 1)), "doubles the size exactly"),
    (lambda k: _decoder(k, fixed=3), "use the latent_dim argument"),
    (lambda k: _decoder(k, convt=False), "no convolution"),
    (lambda k: nn.Sequential(_decoder(k), nn.Flatten(1, 2)), "keep the channel dimension"),
    (lambda k: nn.Sequential(nn.Linear(k, 32 * 49), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
                             nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid()), "two upsampling steps"),
    (lambda k: "not a module", "should return an nn.Module"),
    (lambda k: _decoder(k).double(), "not float32"),
    (lambda k: nn.Sequential(_decoder(k), _Double()), "dtype torch.float64"),
    (lambda k: nn.Sequential(nn.Linear(k, 32 * 49), nn.Unflatten(1, (32, 7, 7)), nn.ConvTranspose2d(32, 16, 4, 2, 1),
                             nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Sigmoid()), "no ReLU"),
    (lambda k: _Custom(k, relu=False), "linear function of the code"),
    (lambda k: nn.Sequential(*list(_decoder(k))[:-1], nn.Tanh()), "values in [0, 1]"),
    (lambda k: nn.Sequential(*list(_decoder(k))[:-1], nn.Softmax(dim=-1)), "softmax"),
    (lambda k: nn.Sequential(nn.Linear(k, 49), nn.ReLU(), nn.Unflatten(1, (1, 7, 7)), nn.ConvTranspose2d(1, 1, 4, 2, 1),
                             nn.ReLU(), nn.ConvTranspose2d(1, 1, 4, 2, 1), nn.Sigmoid()), "too few"),
    (lambda k: conv_decoder(k, channels=(256, 512)), "parameters, over"),
    (lambda k: _decoder(k).requires_grad_(False), "requires a gradient"),
    (lambda k: _Frozen(k, "round"), "torch.round"),
    (lambda k: _Frozen(k, "threshold"), "threshold"),
    (lambda k: _Frozen(k, "detach"), "carries no gradient"),
])
def test_typical_decoder_mistakes_are_named(wrong, words):
    result = check_conv_decoder(wrong)
    assert not result.passed
    assert words in result.message, result.message


class _Around(nn.Module):
    """A working decoder (or its logits, ``logits=True``) with ``how(decoder, z)`` doing the forward pass."""

    def __init__(self, k, how, logits=False):
        super().__init__()
        self.inner, self.how = (_decoder(k, last=nn.Identity()) if logits else conv_decoder(k)), how

    def forward(self, z):
        return self.how(self.inner, z)


@pytest.mark.parametrize("wrong, words", [
    (lambda k: _decoder(k, fixed=16), "Use the latent_dim argument"),
    (lambda k: _Around(k, lambda d, z: torch.softmax(d(z), dim=1), logits=True), "softmax over the single channel"),
    (lambda k: _Around(k, lambda d, z: d(z[:1].expand(5, -1))), "one image per code"),
    (lambda k: _Around(k, lambda d, z: d(torch.cat([z[:, :1], torch.zeros_like(z[:, 1:])], 1))), "no effect"),
])
def test_more_decoder_mistakes_are_named(wrong, words):
    result = check_conv_decoder(wrong)
    assert not result.passed and words in result.message, result.message


# --- reusing the encoder ----------------------------------------------------------------------------


def test_classifier_reference_and_alternatives_pass():
    assert check_classifier_from_encoder(classifier_from_encoder).passed

    def detached(encoder, latent_dim, num_classes=10, freeze=False):
        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = copy.deepcopy(encoder)
                self.head = nn.Sequential(nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, num_classes))

            def forward(self, x):
                z = self.encoder(x)
                return self.head(z.detach() if freeze else z)

        return Model()

    assert check_classifier_from_encoder(detached).passed


def _sequential(encoder, latent_dim, num_classes, freeze, copy_it=True, freeze_what="encoder", norm=True):
    enc = copy.deepcopy(encoder) if copy_it else encoder
    head = nn.Sequential(nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, num_classes)) if norm \
        else nn.Linear(latent_dim, num_classes)
    model = nn.Sequential(enc, head)
    if freeze:
        {"encoder": enc, "all": model, "head": head}[freeze_what].requires_grad_(False)
    return model


@pytest.mark.parametrize("wrong, words", [
    (lambda e, k, c=10, freeze=False: _sequential(e, k, c, freeze, copy_it=False), "passed in"),
    (lambda e, k, c=10, freeze=False: _sequential(e, k, c, False), "still gets gradients"),
    (lambda e, k, c=10, freeze=False: _sequential(e, k, c, freeze, freeze_what="all"), "head gets no gradient"),
    (lambda e, k, c=10, freeze=False: _sequential(e, k, c, True), "freeze=False the encoder gets no gradients"),
    (lambda e, k, c=10, freeze=False: _sequential(e, k, 10, freeze), "use the num_classes argument"),
    (lambda e, k, c=10, freeze=False: copy.deepcopy(e), "add the head"),
    (lambda e, k, c=10, freeze=False: _sequential(e, 6, c, freeze), "latent_dim=3"),
    (lambda e, k, c=10, freeze=False: _fresh(e, k, c, freeze), "freshly built"),
    (lambda e, k, c=10, freeze=False: _sequential(e, k, c, freeze, norm=False), "no nn.BatchNorm1d"),
    (lambda e, k, c=10, freeze=False: nn.Sequential(copy.deepcopy(e).requires_grad_(not freeze), nn.Linear(k, c),
                                                    nn.BatchNorm1d(c)), "BEFORE the Linear"),
    (lambda e, k, c=10, freeze=False: nn.Sequential(_sequential(e, k, c, freeze), nn.Softmax(dim=1)),
     "returns probabilities"),
    (lambda e, k, c=10, freeze=False: nn.Sequential(_sequential(e, k, c, freeze), nn.Sigmoid()),
     "lies in [0, 1]"),
])
def test_typical_classifier_mistakes_are_named(wrong, words):
    result = check_classifier_from_encoder(wrong)
    assert not result.passed
    assert words in result.message, result.message


def _fresh(encoder, latent_dim, num_classes, freeze):
    from course_utils.models.autoencoder import conv_encoder

    return classifier_from_encoder(conv_encoder(latent_dim), latent_dim, num_classes, freeze)


def test_fine_tuning_the_original_encoder_is_named():
    def no_copy_fine_tune(encoder, latent_dim, num_classes=10, freeze=False):
        if freeze:
            return classifier_from_encoder(encoder, latent_dim, num_classes, True)
        return nn.Sequential(encoder, nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, num_classes))

    result = check_classifier_from_encoder(no_copy_fine_tune)
    assert not result.passed and "changed the encoder passed in" in result.message


# --- checked questions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("qid, answer, words", [
    ("ae_linear_subspace", "a", "invertible mixture"), ("ae_linear_subspace", "d", "never beat it"),
    ("ae_no_bottleneck", "a", "copy the pixels"), ("ae_no_bottleneck", "d", "only a LINEAR"),
    ("ae_what_it_gives", {"a", "b", "c"}, "(c) does not belong"), ("ae_what_it_gives", {"a"}, "(b) belongs too"),
    ("ae_what_it_gives", {"a", "b", "d"}, "VAE adds"),
])
def test_questions_name_each_wrong_answer(monkeypatch, qid, answer, words):
    from course_utils.checks.questions import check_answer

    result = check_answer(qid, answer)
    assert not result.passed and words in result.message, result.message
