"""Checks for notebook 02 (autoencoders): the loss, the convolutional decoder, reusing the encoder.

    check_reconstruction_loss(reconstruction_loss)        # squared error: sum over pixels, mean over batch
    check_train_step(train_step)                          # one optimizer step on the reconstruction loss
    check_conv_decoder(conv_decoder)                      # codes (B, k) -> images (B, 1, 28, 28) in [0, 1]
    check_classifier_from_encoder(classifier_from_encoder)  # encoder copy + head; freeze or fine-tune

Each check runs the student's code on inputs whose answer is known (hand-made errors, what a decoder must
do whatever its layers, which parameters receive gradients) and names the likely mistake when it fails. The
checks draw their random inputs from their own generator, so they never change the notebook's.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..models.autoencoder import Autoencoder
from ..models.autoencoder import conv_encoder as reference_encoder
from ..models.autoencoder import reconstruction_loss as _reference_loss
from . import exercise_check, expect, expect_close, expect_shape, student_code
from .questions import choice, choices

# --- the reconstruction loss ---------------------------------------------------------------------


NO_SQUARE = "the differences were added without squaring them: positive and negative errors cancel; square them"


def _loss_value(out, batch: int, what: str = "reconstruction_loss(x_hat, x)") -> torch.Tensor:
    expect(torch.is_tensor(out),
           f"{what} returned a {type(out).__name__}: return the torch tensor itself (no .item() or "
           ".numpy()), so that gradients can flow back into the model")
    expect(out.dim() == 0 or tuple(out.shape) != (batch,),
           f"{what} returned one number per image (shape {tuple(out.shape)}): average them over the batch "
           "with .mean() to get a single loss")
    expect(out.dim() == 0, f"{what} should be a single number (a 0-d tensor), got shape {tuple(out.shape)}")
    return out


@exercise_check
def check_reconstruction_loss(reconstruction_loss):
    """``reconstruction_loss(x_hat, x)``: float (B, ...) twice -> 0-d tensor, sum over pixels, mean over B."""
    # 1. Three hand-made "images" of 2x2 pixels whose errors are known: image 1 is off by 0.5 in one pixel
    #    (squared error 0.25), image 2 by (-1, 1, 0.5, 0) (2.25), image 3 by (0.5, 0.5, -0.5, 0.5) (1.0): the
    #    answer is (0.25 + 2.25 + 1.0) / 3 = 7/6. Three images of four pixels keep the usual mix-ups apart.
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]], [[[1.0, 0.0], [0.5, 0.0]]], [[[0.2, 0.0], [0.5, 0.3]]]])
    error = torch.tensor([[[[0.5, 0.0], [0.0, 0.0]]], [[[-1.0, 1.0], [0.5, 0.0]]], [[[0.5, 0.5], [-0.5, 0.5]]]])
    b = len(x)
    x_hat = (x + error).requires_grad_()
    x_before, x_hat_before = x.clone(), x_hat.detach().clone()
    got = _loss_value(reconstruction_loss(x_hat, x), b)
    expect(torch.equal(x, x_before) and torch.equal(x_hat.detach(), x_hat_before),
           "your function changed its inputs in place: compute on new tensors (no -=, **= or .pow_())")
    value = float(got.detach())
    expect(abs(value) > 1e-9,
           "the loss is 0 although x_hat differs from x: are you comparing x_hat with itself (or x with x)?")
    # The loss must depend on the target x, not only on x_hat.
    other = _loss_value(reconstruction_loss(x_hat.detach(), torch.zeros_like(x)), b)
    expect(abs(float(other) - value) > 1e-6,
           "changing the target x does not change the loss: compare x_hat with x, the images that were encoded")
    total = 3.5  # the squared errors of the three images, summed
    mistakes = [
        (total / 12, "you averaged over the pixels as well as the batch (that is F.mse_loss's default): sum the "
                     "squared errors over each image's pixels, then average over the images"),
        (total / 12 * 784, "you hard-coded 784 pixels: these test images have 4; sum over every dimension after "
                           "the first instead of multiplying a mean by 784"),
        (total, "you summed over the batch too: average over the images, or the loss grows with the batch size"),
        (total / 4, "you summed over the batch and averaged over the pixels: it is the other way round "
                    "(sum over pixels, mean over images)"),
        (total / 6, "this is half the squared error (0.5 * ||x_hat - x||^2): the loss asked for has no factor 0.5"),
        (-total / 3, "the loss is negative: the squared error is positive, no minus sign"),
        (5.0 / 3, "this is the absolute error: square the differences instead of taking .abs()"),
        (1.0, "this is the length of the error (a square root of the sum): use the squared error, no sqrt "
              "(torch.norm and torch.dist take the root)"),
        ((total / 12) ** 0.5, "this is the root of the mean squared error: use the squared error summed over the "
                              "pixels (no sqrt), averaged over the images"),
        (2.0 / 3, NO_SQUARE),
        (-2.0 / 3, NO_SQUARE),
    ]
    if abs(value - total / 3) > 1e-5:
        # The same images flattened to (B, 4): right there but wrong on (B, 1, 2, 2) means some dimensions were left
        # out of the sum over each image.
        try:
            flat = float(reconstruction_loss(x_hat.detach().flatten(1), x.flatten(1)))
        except Exception:  # noqa: BLE001 - the checks below report this function's errors
            flat = None
        expect(flat is None or abs(flat - total / 3) > 1e-5,
               f"got {value:.4g} on images of shape (3, 1, 2, 2) but the right {flat:.4g} on the same images "
               "flattened to (3, 4): you summed over some of the dimensions only (e.g. the last one); sum over "
               "every dimension after the batch, e.g. .flatten(1).sum(1)")
    for wrong, hint in mistakes:
        expect(abs(value - wrong) > 1e-5 * max(1.0, abs(wrong)), f"got {value:.4g}: {hint}")
    expect_close(value, total / 3, "the loss of three 2x2 images with squared errors 0.25, 2.25 and 1",
                 hint="sum the squared errors over each image's pixels, then average over the batch")
    expect(got.requires_grad and got.grad_fn is not None,
           "the loss carries no gradient: did you call .detach(), .item() or work under torch.no_grad()?")
    got.backward()
    expect(x_hat.grad is not None, "no gradient reached x_hat: build the loss from x_hat with torch operations")
    expect_close(x_hat.grad, 2 * error / b, "the gradient of the loss with respect to x_hat",
                 hint="expected 2 (x_hat - x) / B")

    # 2. A batch of digit-shaped images and the same batch flattened to (B, 784).
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 28, 28, generator=gen)
    x_hat = torch.rand(5, 1, 28, 28, generator=gen)
    expected = (x_hat - x).pow(2).flatten(1).sum(1).mean()
    expect_close(_loss_value(reconstruction_loss(x_hat, x), 5), expected, "the loss on 5 images (5, 1, 28, 28)",
                 atol=1e-3)
    try:
        flat = reconstruction_loss(x_hat.flatten(1), x.flatten(1))
    except Exception as err:  # e.g. .sum(dim=(1, 2, 3)) on a 2-D tensor
        expect(False, f"the loss fails on flat images (5, 784) ({type(err).__name__}: {err}): sum over every "
                      "dimension after the first, e.g. (x_hat - x).flatten(1), so any (B, ...) shape works")
    expect_close(_loss_value(flat, 5), expected, "the loss on flat images (5, 784)", atol=1e-3,
                 hint="the same images flattened must give the same loss")
    return "squared error summed over pixels, averaged over the batch, with gradients"


# --- the training step ---------------------------------------------------------------------------

STEP_BEFORE_BACKWARD = ("the first call changed nothing, and the second applied (or tried to apply) the FIRST batch's "
                        "gradient: optimizer.step() comes before loss.backward(); the order is zero_grad(), "
                        "backward(), step()")
STEP_LR = 0.05  # the check's optimizer: plain SGD, so that one step moves the parameters by exactly -lr * gradient


def _step_model() -> Autoencoder:
    """A small autoencoder with a BatchNorm layer (whose running statistics move only in training mode)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 4), nn.BatchNorm1d(4))
        decoder = nn.Sequential(nn.Linear(4, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
        return Autoencoder(encoder, decoder, 4)


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in tensors])


def _gradient(model: nn.Module, images: torch.Tensor, loss_of=None) -> tuple[float, torch.Tensor]:
    """The reference loss of ``images`` and its gradient (flat), on a copy of ``model`` in training mode."""
    twin = copy.deepcopy(model).train()
    twin.zero_grad(set_to_none=True)
    out = twin(images)
    loss = loss_of(twin, images, out) if loss_of else _reference_loss(out, images)
    loss.backward()
    return float(loss.detach()), _flat(p.grad if p.grad is not None else torch.zeros_like(p)
                                      for p in twin.parameters())


def _close_vectors(a: torch.Tensor, b: torch.Tensor, rtol: float = 2e-3) -> bool:
    return bool((a - b).norm() <= rtol * b.norm() + 1e-9)


def _scale_of(delta: torch.Tensor, direction: torch.Tensor) -> float | None:
    """c when delta = c * direction (nearly), else None."""
    if direction.norm() == 0:
        return None
    c = float((delta @ direction) / (direction @ direction))
    return c if _close_vectors(delta, c * direction, 5e-3) else None


def _step_value(out, what: str) -> float:
    expect(not torch.is_tensor(out),
           f"{what} returned a tensor: return the loss as a Python float (loss.item()); a tensor that still "
           "carries the graph keeps the whole batch's computation in memory across the training loop")
    expect(not isinstance(out, bool) and isinstance(out, (int, float)),
           f"{what} should return the batch's loss as a Python float, got {type(out).__name__}")
    return float(out)


def _diagnose_update(delta: torch.Tensor, model: nn.Module, images: torch.Tensor, grad: torch.Tensor,
                     encoder_part: torch.Tensor) -> None:
    """Name what the first update is when it is not -lr * (the reconstruction loss's gradient); ``model`` is the
    state before it."""
    expected = -STEP_LR * grad
    if _close_vectors(delta, expected):
        return
    batch = len(images)
    c = _scale_of(delta, expected)
    if c is not None:
        for factor, why in ((-1.0, "the parameters moved UP the gradient: is the loss's sign flipped (x - x_hat "
                                   "squared is fine, but a minus in front is not), or do you add the gradient?"),
                            (1 / 784, "the step is 784 times too small: the loss averages over the pixels as well "
                                      "(F.mse_loss's default); use exercise 1's loss, summed over pixels and "
                                      "averaged over the batch"),
                            (batch, f"the step is {batch} times too large: the loss is summed over the batch; "
                                    "average it over the images"),
                            (2.0, "the step is twice too large: is the loss counted twice, or did you call "
                                  "optimizer.step() twice?"),
                            (0.5, "the step is half the expected one: a factor 0.5 in the loss?"),
                            (1 / batch, f"the step is {batch} times too small: the loss is divided by the batch size "
                                        "twice (a mean over the images, then / B again?)")):
            expect(abs(c - factor) > 1e-2 * abs(factor),
                   f"{why} (the update is {c:.4g} times one step of the optimizer passed in)")
        expect(False, f"the parameters moved along the gradient, but {c:.4g} times as far as one step of the "
                      "optimizer passed in: use that optimizer (do not build a new one with your own learning "
                      "rate), and exercise 1's loss as it is")
    sign = _scale_of(delta, -torch.sign(grad))
    expect(sign is None, "each parameter moved by the same amount against the sign of its gradient: that is the "
                         "first step of a NEW Adam optimizer; use the optimizer passed in, built once outside the "
                         "step, so that its state carries over from batch to batch")
    moved_encoder = bool(delta[encoder_part].abs().sum() > 0)
    moved_decoder = bool(delta[~encoder_part].abs().sum() > 0)
    expect(moved_decoder, "the decoder's parameters did not change: the loss does not go through the decoder; is "
                          "it computed on the code z = model.encoder(images) instead of the reconstruction "
                          "model(images)?")
    expect(moved_encoder, "the encoder's parameters did not change: the gradient does not reach the encoder; did "
                          "you .detach() the code, or reconstruct something other than model(images)?")
    others = {"binary cross-entropy": lambda m, x, out: F.binary_cross_entropy(out, x, reduction="none").flatten(1)
              .sum(1).mean(),
              "absolute error": lambda m, x, out: (out - x).abs().flatten(1).sum(1).mean()}
    for name, loss_of in others.items():
        _, other = _gradient(model, images, loss_of)
        c = _scale_of(delta, -STEP_LR * other)
        expect(c is None or c <= 0,
               f"the update follows the gradient of the {name}, not of the squared error: use exercise 1's loss "
               "(reference_reconstruction_loss), which every model in this notebook is trained and compared on")
    _, to_zero = _gradient(model, images, lambda m, x, out: _reference_loss(out, torch.zeros_like(x)))
    expect(not _close_vectors(delta, -STEP_LR * to_zero),
           "the update pulls the reconstruction towards a blank image: the target of the loss must be the images "
           "themselves, reconstruction_loss(model(images), images)")
    expect(False, "the parameters did not move by one optimizer step on the reconstruction loss of this batch: "
                  "compute reconstruction_loss(model(images), images), then optimizer.zero_grad(), loss.backward(), "
                  "optimizer.step()")


@exercise_check
def check_train_step(train_step):
    """``train_step(model, optimizer, images)``: one update on the reconstruction loss; returns the loss (float)."""
    gen = torch.Generator().manual_seed(2)
    x1, x2 = torch.rand(6, 1, 28, 28, generator=gen), torch.rand(6, 1, 28, 28, generator=gen)
    before = x1.clone()
    model = _step_model().eval()  # it may arrive in evaluation mode, e.g. after a measurement
    params = list(model.parameters())
    encoder_part = torch.cat([torch.full((p.numel(),), any(p is q for q in model.encoder.parameters()))
                              for p in params])
    bn = model.encoder[2]
    stats = bn.running_mean.clone()
    optimizer = torch.optim.SGD(params, lr=STEP_LR)
    p0 = _flat(params)
    start = copy.deepcopy(model)  # the state before the first call, for naming what the first update did
    loss1, grad1 = _gradient(model, x1)

    out1 = train_step(model, optimizer, x1)
    expect(torch.equal(x1, before), "your step changed the images in place: compute on new tensors")
    value1 = _step_value(out1, "train_step(model, optimizer, images)")
    delta1 = _flat(params) - p0
    expect(not torch.equal(bn.running_mean, stats) or model.training,
           "the model stayed in evaluation mode: call model.train() at the start of the step, so that layers "
           "such as BatchNorm and Dropout behave as in training (the model may come in eval mode, e.g. after a "
           "measurement)")
    p1 = _flat(params)
    twin = copy.deepcopy(model)  # the state after the first call, for the second call's reference
    loss2, grad2 = _gradient(twin, x2)
    try:
        out2 = train_step(model, optimizer, x2)
    except RuntimeError as err:  # step() changed the weights between the forward pass and backward()
        expect(not (delta1.abs().sum() == 0 and "inplace operation" in str(err)), STEP_BEFORE_BACKWARD)
        raise
    delta2 = _flat(params) - p1
    value2 = _step_value(out2, "train_step(model, optimizer, images)")

    if delta1.abs().sum() == 0:
        expect(abs(value1) > 1e-9,
               "the loss you return is 0 and nothing changed: are you comparing the reconstruction with itself (or "
               "a detached copy of it)? The target is the images themselves")
        expect(not _close_vectors(delta2, -STEP_LR * grad1) or delta2.abs().sum() == 0,
               STEP_BEFORE_BACKWARD)
        expect(False, "the parameters did not change: the step must end with optimizer.step() after loss.backward() "
                      "(and optimizer.zero_grad() must come before backward(), not between backward() and step())")
    _diagnose_update(delta1, start, x1, grad1, encoder_part)
    expect(not _close_vectors(delta2, -STEP_LR * (grad1 + grad2)),
           "the second step used the sum of both batches' gradients: gradients accumulate in .grad until they are "
           "cleared; call optimizer.zero_grad() before loss.backward()")
    expect(_close_vectors(delta2, -STEP_LR * grad2),
           "the first step was right, but the second was not one optimizer step on the second batch: does your "
           "step keep state of its own between calls?")
    after1 = _gradient(twin, x1)[0]  # the first batch's loss after the first update
    for got, want in ((value1, loss1), (value2, loss2)):
        expect(abs(got - want / 784) > 1e-3 * want,
               f"the returned loss is {got:.4g}, the batch's loss is {want:.4g}: return the loss you trained on, "
               "exercise 1's loss (summed over pixels, averaged over the images), not a mean over the pixels")
        expect(abs(got - want) <= 1e-3 * want + 1e-6,
               f"the returned loss is {got:.4g}, but the batch's reconstruction loss before the update is {want:.4g}"
               + (": you returned the loss AFTER the update (computed again); return the one you called backward() "
                  "on" if abs(value1 - after1) <= 1e-3 * after1 else ""))
    return "model.train(), the loss against the images themselves, zero_grad, backward, step; the loss returned"


# --- the convolutional decoder -------------------------------------------------------------------


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.PReLU,
                nn.ReLU6, nn.SELU, nn.CELU, nn.Mish, nn.Hardtanh)
_WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def _layer_name(module: nn.Module) -> str:
    return type(module).__name__


def _missing_nonlinearity(decoder: nn.Module) -> str | None:
    """Where two weight layers of a Sequential decoder follow each other with no nonlinearity between them."""
    if not isinstance(decoder, nn.Sequential):
        return None
    leaves = [m for m in decoder.modules() if not list(m.children())]
    if any(type(m).forward is not getattr(nn, type(m).__name__, type(None)).forward
           for m in leaves if hasattr(nn, type(m).__name__)):
        return None
    if not all(hasattr(nn, type(m).__name__) for m in leaves):  # a custom module: its forward is unknown
        return None
    weights = [i for i, m in enumerate(leaves) if isinstance(m, _WEIGHT_LAYERS)]
    for a, b in zip(weights, weights[1:], strict=False):
        if not any(isinstance(m, _ACTIVATIONS) for m in leaves[a + 1:b]):
            return (f"there is no nonlinearity between the {_layer_name(leaves[a])} and the following "
                    f"{_layer_name(leaves[b])}: add nn.ReLU() after every layer but the last (which ends in "
                    "nn.Sigmoid()). Without it the two layers make one linear map, and the decoder loses depth")
    return None


_CONVS = (nn.Conv2d, nn.ConvTranspose2d, nn.LazyConv2d, nn.LazyConvTranspose2d)
PARAMETER_RANGE = (1_000, 1_000_000)  # a sane decoder for 28x28 digits; the encoder has 13,000 to 34,000


def _expect_images(out, batch: int, latent_dim: int) -> None:
    """The decoder's output for ``batch`` codes must be float32 images (batch, 1, 28, 28); names each slip."""
    what = f"the decoder's output for codes ({batch}, {latent_dim})"
    expect(torch.is_tensor(out), f"{what} should be a tensor, got {type(out).__name__}")
    shape = tuple(out.shape)
    expect(shape != (batch, 784), f"{what} is flat ({batch}, 784): the decoder ends with images (B, 1, 28, 28); "
                                  "reshape to a small feature map (nn.Unflatten) early, never flatten at the end")
    expect(out.dim() == 4, f"{what} has shape {shape}: images are (B, 1, 28, 28), keep the channel dimension "
                           "(do not squeeze it)")
    expect(shape[0] == batch, f"{what} has {shape[0]} rows: one image per code, the batch stays first")
    expect(shape[1] == 1, f"{what} has {shape[1]} channels: the last layer makes ONE grey channel "
                          "(out_channels=1)")
    expect(shape[2:] != (14, 14), f"{what} is 14x14: the encoder halved 28 -> 14 -> 7, so the decoder needs two "
                                  "upsampling steps back, 7 -> 14 -> 28")
    expect(shape[2:] == (28, 28),
           f"{what} is {shape[2]}x{shape[3]}: each upsampling step must double the side exactly (7 -> 14 -> 28); "
           "a transposed convolution maps n to (n - 1) * stride - 2 * padding + kernel_size, so kernel_size=4, "
           "stride=2, padding=1 doubles the size exactly (nn.Upsample(scale_factor=2) followed by a Conv2d with "
           "kernel_size=3, padding=1 does too)")
    expect(out.dtype == torch.float32,
           f"{what} has dtype {out.dtype}: keep float32, the dtype of the codes and of the images "
           "(no .double() or dtype=torch.float64)")


def _gradient_rows(forward, z0: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """d(pixel p of decoder(z0)) / dz for each p in ``pixels``: (P, latent_dim), one code per pixel in a batch."""
    z = z0.expand(len(pixels), -1).clone().requires_grad_(True)
    out = forward(z).reshape(len(pixels), -1)
    out[torch.arange(len(pixels)), pixels].sum().backward()
    return z.grad.detach().double()


def _linear_in_code(decoder: nn.Module, forward, latent_dim: int) -> bool:
    """True when every pixel depends on the code through one fixed direction a_p (pixel = g(a_p . z + b_p)):
    the decoder is one linear map followed by an elementwise squashing, whatever its layers look like."""
    gen = torch.Generator().manual_seed(11)
    pixels = torch.arange(0, 784, 5)
    was_training = decoder.training
    decoder.eval()  # one code per row of a batch: no batch statistics mixing the rows
    try:
        rows = [_gradient_rows(forward, torch.randn(1, latent_dim, generator=gen), pixels) for _ in range(3)]
    finally:
        decoder.train(was_training)
    for other in rows[1:]:
        n0, n1 = rows[0].norm(dim=1), other.norm(dim=1)
        used = (n0 > 1e-6 * n0.max()) & (n1 > 1e-6 * n1.max())
        if not used.any():
            return False
        cos = ((rows[0] * other).sum(1)[used] / (n0[used] * n1[used])).abs()
        if bool((cos < 0.9999).any()):
            return False
    return True


def _blobs(n: int) -> torch.Tensor:
    """n soft round blobs (n, 1, 28, 28) in [0, 1] at different places: targets any decoder can learn."""
    side = torch.linspace(-1, 1, 28)
    yy, xx = torch.meshgrid(side, side, indexing="ij")
    centres = torch.rand(n, 2, generator=torch.Generator().manual_seed(5)) * 1.2 - 0.6
    return torch.exp(-((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2) / 0.08)[:, None]


def _expect_it_trains(decoder: nn.Module, forward, latent_dim: int) -> None:
    """A few Adam steps on 8 fixed codes and 8 target images must lower the squared error."""
    z = torch.randn(8, latent_dim, generator=torch.Generator().manual_seed(3))
    x = _blobs(8)
    params = [p for p in decoder.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    losses = []
    for _ in range(25):
        out = forward(z)
        loss = (out - x).pow(2).flatten(1).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    expect(min(losses[1:]) < 0.9 * losses[0],
           f"25 Adam steps (learning rate 3e-3) on 8 codes and 8 target images did not lower the squared error "
           f"(from {losses[0]:.4g} to {losses[-1]:.4g}): is the output clamped, rounded or squashed so that most "
           "pixels get no gradient, or are the layers' weights scaled far from their default size?")


def _expect_gradients(decoder: nn.Module, out: torch.Tensor, z: torch.Tensor) -> None:
    """The output must carry gradients to the decoder's parameters and to every coordinate of the code z."""
    params = list(decoder.parameters())
    expect(any(p.requires_grad for p in params),
           "none of the decoder's parameters requires a gradient: it cannot learn (remove .requires_grad_(False))")
    expect(out.requires_grad,
           "the decoder's output carries no gradient: is its forward under torch.no_grad(), does it .detach() a "
           "tensor, or does it threshold the output (out > 0.5)? The decoder must be trainable through its output")
    out.sum().backward()
    if not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params):
        expect(not bool((out == 1).all()),
               "every output pixel is exactly 1 and nothing learns: a softmax over the single channel (dim=1) "
               "always gives 1; each pixel's intensity is its own number: end with nn.Sigmoid()")
        binary = bool(((out == 0) | (out == 1)).all())
        expect(False, "no parameter of the decoder receives a gradient from its output"
               + (": every output pixel is exactly 0 or 1. Rounding the output (torch.round) has no gradient, and "
                  "a sigmoid whose inputs are huge (scaled up) is flat there" if binary else
                  ": an operation without a gradient sits in the way (torch.round, integer casts, .detach())"))
    expect(z.grad is not None and bool((z.grad.abs().sum(0) > 0).all()),
           "some coordinates of z have no effect on the image: the first layer must read all latent_dim numbers")


@exercise_check
def check_conv_decoder(conv_decoder):
    """``conv_decoder(latent_dim)`` -> module: codes float (B, latent_dim) -> images float (B, 1, 28, 28) in [0, 1].

    Judges what the decoder does, not one architecture: images of the right shape and dtype for several batch
    sizes and code sizes, values in [0, 1] for any code (the loss compares them with pixel intensities),
    convolutions, a nonlinear map from the code, every code coordinate used, a sane size, and that it trains.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        latent_dim = 3
        decoder = conv_decoder(latent_dim)
        expect(isinstance(decoder, nn.Module),
               f"conv_decoder should return an nn.Module (e.g. an nn.Sequential), got {type(decoder).__name__}")
        expect(all(p.dtype == torch.float32 for p in decoder.parameters()),
               "the decoder's weights are not float32: build the layers in torch's default dtype (no .double()), "
               "so that they take the float32 codes and images the course uses")
        forward = student_code(decoder)
        z = torch.randn(5, latent_dim, requires_grad=True)
        try:
            out = forward(z)
        except RuntimeError as err:
            expect(not any(s in str(err) for s in ("mat1 and mat2", "shapes cannot be multiplied")),
                   f"the decoder fails on codes of shape (5, {latent_dim}) ({str(err).splitlines()[0]}): does its "
                   "first layer take latent_dim numbers? Use the latent_dim argument, not a fixed number")
            raise
        _expect_images(out, 5, latent_dim)
        for batch in (2, 16):
            _expect_images(forward(torch.randn(batch, latent_dim)), batch, latent_dim)
        _expect_gradients(decoder, out, z)
        expect(any(isinstance(m, _CONVS) for m in decoder.modules()),
               "the decoder has no convolution (no nn.ConvTranspose2d, no nn.Conv2d): mirror the encoder's strided "
               "convolutions, from a small feature map up to 28x28, with transposed convolutions (or "
               "nn.Upsample followed by nn.Conv2d), which reuse the same small filters everywhere in the image")
        expect(not any(isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)) for m in decoder.modules()),
               "the decoder ends with a softmax: it makes the pixels compete (they sum to 1 along a dimension), "
               "while each pixel's intensity is its own number in [0, 1]; end with nn.Sigmoid(), applied to every "
               "pixel on its own")
        for dims in ((-1,), (-2,), (-2, -1)):
            expect(not torch.allclose(out.detach().sum(dims), torch.ones((), dtype=out.dtype), atol=1e-4),
                   "the decoder's pixels sum to 1 (a softmax?): each pixel's intensity is its own number in "
                   "[0, 1]; end with nn.Sigmoid(), applied to every pixel on its own")
        low, high = float(out.detach().min()), float(out.detach().max())
        expect(low >= 0 and high <= 1,
               f"the output has values in [{low:.3g}, {high:.3g}]: the loss compares the output with pixel "
               "intensities in [0, 1], so the decoder must produce values in [0, 1]; did you forget the final "
               "nn.Sigmoid()?")
        with torch.no_grad():
            big = forward(50 * z.detach())
        expect(float(big.min()) >= 0 and float(big.max()) <= 1,
               f"for large codes the output reaches [{float(big.min()):.3g}, {float(big.max()):.3g}]: the last "
               "layer must squash into [0, 1] whatever its input, i.e. nn.Sigmoid() (ReLU is unbounded)")
        expect(not _linear_in_code(decoder, forward, latent_dim),
               "the decoder is a linear function of the code followed by a squashing: there is no ReLU (or other "
               "nonlinearity) between its layers, so they collapse into one linear map, and the decoder can do no "
               "better than PCA's flat subspace; put nn.ReLU() after every layer but the last")
        missing = _missing_nonlinearity(decoder)
        expect(missing is None, missing or "")
        try:
            out7 = conv_decoder(7)(torch.randn(2, 7))
        except Exception as err:
            expect(False, f"conv_decoder(7) fails on codes of shape (2, 7) ({type(err).__name__}: {err}): use "
                          "the latent_dim argument as the first layer's input size, not a fixed number")
        _expect_images(out7, 2, 7)
        count = _count(decoder)
        low_count, high_count = PARAMETER_RANGE
        expect(count >= low_count,
               f"the decoder has only {count:,} parameters: too few to draw 28x28 digits from a code (the "
               "notebook's encoder has over 10,000); give the layers a few channels (e.g. 32 and 16)")
        expect(count <= high_count,
               f"the decoder has {count:,} parameters, over {high_count:,}: far more than the encoder's few tens of "
               "thousands, slow to train on a CPU and prone to memorise; convolutions with a few channels are enough")
        _expect_it_trains(decoder, forward, latent_dim)
    return ("codes (B, k) become images (B, 1, 28, 28) in [0, 1] through nonlinear upsampling layers, "
            f"{count:,} parameters, and a few Adam steps lower the loss")


# --- reusing the encoder: freeze or fine-tune ----------------------------------------------------


def _split_parameters(model: nn.Module, encoder: nn.Module):
    """The model's parameters that hold the encoder's values (in the encoder's order) and the others."""
    params = list(model.parameters())
    copies, used = [], set()
    for p in encoder.parameters():
        match = next((i for i, q in enumerate(params)
                      if i not in used and q.shape == p.shape and torch.equal(q.detach(), p.detach())), None)
        expect(match is not None,
               "the classifier does not hold the encoder's weights: use the encoder passed in (a copy of it), "
               "not a freshly built one, or the pretraining is thrown away")
        used.add(match)
        copies.append(params[match])
    return copies, [q for i, q in enumerate(params) if i not in used]


def _has_gradient(p: torch.Tensor) -> bool:
    return p.grad is not None and bool(p.grad.abs().sum() > 0)


@exercise_check
def check_classifier_from_encoder(classifier_from_encoder):
    """``classifier_from_encoder(encoder, latent_dim, num_classes, freeze)`` -> module: images -> logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        latent_dim, num_classes = 6, 4
        encoder = reference_encoder(latent_dim)
        state = {k: v.clone() for k, v in encoder.state_dict().items()}
        x = torch.rand(3, 1, 28, 28)
        labels = torch.tensor([0, 1, 3])

        # 1. Frozen: output shape, the encoder's weights inside, gradients only for the head.
        model = classifier_from_encoder(encoder, latent_dim, num_classes, freeze=True)
        expect(isinstance(model, nn.Module),
               f"classifier_from_encoder should return an nn.Module, got {type(model).__name__}")
        expect(all(p.requires_grad for p in encoder.parameters()),
               "your function switched off the gradients of the encoder passed in: freeze the COPY, so the "
               "original can still be fine-tuned (or copied) later")
        logits = model(x)
        expect(torch.is_tensor(logits), f"the classifier should return a tensor, got {type(logits).__name__}")
        expect(tuple(logits.shape) != (3, latent_dim),
               f"the output has shape (3, {latent_dim}), the size of the code: add the head "
               "(nn.BatchNorm1d(latent_dim), then nn.Linear(latent_dim, num_classes)) after the encoder")
        expect(tuple(logits.shape) != (3, 10),
               "the output has 10 logits, but num_classes=4 was asked for: use the num_classes argument")
        expect_shape(logits, (3, num_classes), f"the logits for 3 images with num_classes={num_classes}")
        raw = logits.detach()
        expect(not (torch.allclose(raw.mean(0), torch.zeros_like(raw.mean(0)), atol=1e-4)
                    and bool((raw.std(0) > 1e-3).all())),
               "every logit has mean 0 over the batch: the BatchNorm1d normalises the logits, after "
               "the Linear; put it BEFORE the Linear (nn.BatchNorm1d(latent_dim), then nn.Linear), where it "
               "rescales the code")
        if bool(((raw >= 0) & (raw <= 1)).all()):
            expect(not torch.allclose(raw.sum(1), torch.ones(3, dtype=raw.dtype), atol=1e-4),
                   "the classifier returns probabilities (every row sums to 1: a softmax at the end): return the raw "
                   "logits; F.cross_entropy applies the (log-)softmax itself, and a softmax before it flattens the "
                   "gradients")
            expect(False, "every output lies in [0, 1] (a sigmoid or another squashing layer at the end?): return "
                          "the raw logits of the last nn.Linear; F.cross_entropy turns them into probabilities itself")
        copies, head = _split_parameters(model, encoder)
        expect(bool(head), "the classifier has no parameters of its own: add a new head (nn.BatchNorm1d, "
                           "nn.Linear(latent_dim, num_classes))")
        expect(logits.requires_grad,
               "with freeze=True nothing in the classifier learns, the head gets no gradient either: freeze only "
               "the encoder; the new head must learn")
        F.cross_entropy(logits, labels).backward()
        expect(all(p.grad is None for p in encoder.parameters()),
               "gradients reached the encoder passed in: the classifier must work on a copy "
               "(copy.deepcopy(encoder)), so that every run starts from the same pretrained weights")
        expect(all(_has_gradient(p) for p in head),
               "with freeze=True the head gets no gradient: freeze only the encoder; the new head must learn")
        expect(not any(_has_gradient(p) for p in copies),
               "with freeze=True the encoder still gets gradients: switch them off on the copied encoder "
               "with .requires_grad_(False)")

        # 2. Fine-tuned: every parameter learns, and training never touches the encoder passed in.
        model = classifier_from_encoder(encoder, latent_dim, num_classes, freeze=False)
        copies, head = _split_parameters(model, encoder)
        logits = model(x)
        expect_shape(logits, (3, num_classes), "the logits with freeze=False")
        F.cross_entropy(logits, labels).backward()
        expect(all(_has_gradient(p) for p in copies),
               "with freeze=False the encoder gets no gradients: fine-tuning trains the encoder too (leave "
               "requires_grad on, and do not .detach() the code or use torch.no_grad())")
        expect(all(_has_gradient(p) for p in head), "with freeze=False the head gets no gradient")
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        changed = [k for k, v in encoder.state_dict().items() if not torch.equal(v, state[k])]
        expect(not changed,
               "training the classifier changed the encoder passed in: use a copy (copy.deepcopy(encoder)) so "
               "that every run starts from the same pretrained weights")

        # 3. Another code size and the default number of classes.
        other = classifier_from_encoder(reference_encoder(3), 3, 10, freeze=False)
        try:
            out = other(x)
        except Exception as err:
            expect(False, f"with latent_dim=3 the classifier fails ({type(err).__name__}: {err}): the head's "
                          "input size is the latent_dim argument, not a fixed number")
        expect_shape(out, (3, 10), "the logits with latent_dim=3, num_classes=10")

        # 4. The head normalises the code: in training mode, rescaling the code leaves the logits alone.
        expect(any(isinstance(m, nn.BatchNorm1d) for m in model.modules()),
               "the head has no nn.BatchNorm1d: the pretrained code's numbers have an arbitrary scale (often "
               "tens), which makes a bare linear head learn slowly; put nn.BatchNorm1d(latent_dim) before it")
    return "a copy of the encoder plus a head (BatchNorm1d, Linear); freeze=True trains only the head"


# --- conceptual questions ------------------------------------------------------------------------

choice("ae_linear_subspace", "b",
       "the loss only sees the reconstruction, which depends on the two weight matrices through their product "
       "W_d W_e (plus the biases), and for any invertible 16x16 matrix A the pair (A W_e, W_d A^-1) has the same "
       "product, so it reconstructs exactly as well. The loss pins down the subspace (PCA's, by Eckart "
       "and Young) but not the basis, so the columns are some mixture of the principal directions: that is why "
       "the notebook compares principal angles, not columns.",
       {"a": "nothing in the loss prefers orthonormal or ordered columns: any invertible mixture of the principal "
             "directions reconstructs exactly as well, and the decoder columns shown above look nothing like them",
        "c": "the columns are directions added with any sign and weight, not prototypes to pick from: that is "
             "k-means' picture, where each image is replaced by ONE centre",
        "d": "PCA's subspace is the best of all linear k-dimensional reconstructions of the training images "
             "(Eckart and Young): a linear autoencoder can reach it, never beat it"},
       options="abcd")

choice("ae_no_bottleneck", "b",
       "with k = 784 the network can pass the image through almost unchanged (the identity is a perfect answer), "
       "so a low error says nothing about what the code learned. The bottleneck is what forces the code to keep "
       "only what the digits share.",
       {"a": "a low error is easy without the bottleneck (copy the pixels), and a copy of the pixels is no better "
             "a feature than the pixels themselves: notebook 01's classifier on raw pixels is that baseline",
        "c": "a code of 784 numbers is no harder to train than one of 16; the loss simply has an easy (and useless) "
             "answer, the identity",
        "d": "only a LINEAR autoencoder is tied to PCA's subspace; this one is nonlinear, and with k = 784 the "
             "question is not which subspace but that nothing forces it to compress at all"},
       options="abcd")

choices("ae_what_it_gives", {"a", "b"},
        "the encoder gives a code and the decoder a reconstruction for any image, but nothing in the loss said "
        "where the codes should lie or how likely an image is: there is no density, neither over images nor over "
        "codes. The VAE (notebook 05) adds exactly that: codes pulled towards N(0, I), so that sampling is "
        "'draw z, decode'.",
        {"a": "the encoder maps every image, seen or not, to its code: that is what section 6 reuses",
         "b": "decoding the image's own code gives its reconstruction, for any image",
         "c": "the loss only asks for good reconstructions; no p(x) is defined, and the reconstruction error is no "
              "likelihood (an unlikely image can still be reconstructed well)",
         "d": "the codes fill a clumpy region of arbitrary place and scale (section 7): decoding N(0, I) draws gave "
              "smudges; choosing a distribution of codes is what the VAE adds",
         "e": "only encoding real digits tells where the good codes are: the decoded grid in section 7 showed "
              "smudges wherever no codes fall"},
        options="abcde")
