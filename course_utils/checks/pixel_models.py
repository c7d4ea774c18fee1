"""Checks for notebooks 03 (PixelRNN) and 04 (PixelCNN): likelihood, sampling, masks, receptive fields.

    check_image_nll(image_nll, bits_per_dim)     # 03: per-image NLL in nats, and bits per dimension
    check_sample_raster(sample_raster)           # 03: the pixel-by-pixel sampling loop
    check_causal_mask(causal_mask)               # 04: masks of type A and B
    check_receptive_field(receptive_field)       # 04: which input pixels one output depends on
    check_row_lstm(row_lstm)                     # 03: one Row LSTM layer with given kernels
    check_gated_layer(gated_layer)               # 04: one layer of the gated PixelCNN's two stacks

Each check runs the student's function on inputs whose answer is known (hand-made logits, small
hand-made "models" whose samples are known, the reference implementation in
``course_utils.models``, gradients through a masked convolution) and names the likely mistake.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ..models.autoregressive import sample_naive
from ..models.pixelcnn import GatedLayer
from ..models.pixelcnn import causal_mask as reference_mask
from ..models.pixelcnn import gated_layer as reference_gated_layer
from ..models.pixelrnn import RowLSTM
from . import CheckFailed, _first_line, exercise_check, expect, expect_close, expect_shape
from .questions import choice, choices, number


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=tol, rtol=tol))


# --- 03: the likelihood of an image -------------------------------------------------------------


def _reference_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none").flatten(1).sum(1)


def _per_pixel_variants(logits: torch.Tensor, x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """What the usual wrong Bernoulli log-likelihoods cost per pixel (same shape as logits), with the hint that
    names each; the right one is F.binary_cross_entropy_with_logits(logits, x)."""
    l, x = logits.double(), x.double()  # noqa: E741 - l for logits, as in the formulas
    p = torch.sigmoid(l)
    mse = ("squared error is not the Bernoulli log-likelihood: for binary pixels -log p(x|z) is the binary "
           "cross-entropy, -[x log p + (1 - x) log(1 - p)] with p = sigmoid(logits) "
           "(F.binary_cross_entropy_with_logits(logits, x, reduction='none'))")
    return [
        (F.binary_cross_entropy_with_logits(p, x, reduction="none"),
         "sigmoid applied twice: you passed probabilities (torch.sigmoid(logits)) to "
         "F.binary_cross_entropy_with_logits, which applies the sigmoid itself; pass the logits unchanged"),
        ((p - x) ** 2, f"this is the squared error between sigmoid(logits) and x: {mse}"),
        ((l - x) ** 2, f"this is the squared error between the logits and x: {mse}"),
        (F.binary_cross_entropy_with_logits(x, l, reduction="none"),
         "the arguments are swapped: F.binary_cross_entropy_with_logits(logits, x) takes the model's logits "
         "first and the images (targets) second"),
        (F.binary_cross_entropy_with_logits(-l, x, reduction="none"),
         "you used sigmoid(logit) as the probability that the pixel is 0: it is the probability that the pixel "
         "is 1, so -log p(x) = -[x log p + (1 - x) log(1 - p)]"),
        (-F.logsigmoid(l) + 0 * x,
         "every pixel was scored as if it were 1 (-log p for all): a pixel that is 0 costs -log(1 - p); use "
         "-[x log p + (1 - x) log(1 - p)]"),
        (-x * F.logsigmoid(l), "the term of the pixels that are 0 is missing: -log p(x) = -[x log p + (1 - x) "
                               "log(1 - p)], the second part is the cost of the black pixels"),
        (-(1 - x) * F.logsigmoid(-l), "the term of the pixels that are 1 is missing: -log p(x) = -[x log p + "
                                      "(1 - x) log(1 - p)]"),
        (-(x * l + (1 - x) * (1 - l)).log() if bool(((l > 0) & (l < 1)).all()) else torch.full_like(l, float("nan")),
         "you used the logits as probabilities: p = sigmoid(logit); or let F.binary_cross_entropy_with_logits "
         "do both"),
    ]


def bernoulli_nll_mistakes(logits: torch.Tensor, x: torch.Tensor, reduce) -> list[tuple[torch.Tensor, str]]:
    """The usual wrong per-image Bernoulli NLLs: ``reduce`` turns per-pixel costs (N, ...) into what is compared
    (e.g. the sum over pixels per image). Each comes summed over pixels and averaged over pixels."""
    right = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none")
    pixels = right[0].numel()
    out = [(reduce(right) / pixels, "you averaged over the pixels: the log-likelihood of an image is the SUM over "
                                    "its pixels of their log-probabilities (reduction='none', then sum over "
                                    "every dimension after the batch)"),
           (-reduce(right), "the NLL came out negative: -log p(x) needs a minus sign (NLL >= 0)"),
           (reduce(right) / math.log(2), "this is in bits (log base 2): the NLL is in nats (natural log)")]
    for per_pixel, hint in _per_pixel_variants(logits, x):
        out.append((reduce(per_pixel), hint))
        out.append((reduce(per_pixel) / pixels, hint + " (and sum over the pixels, do not average)"))
    return out


def name_mistake(value, mistakes, right=None, tol: float = 1e-4) -> str | None:
    """The hint of the first mistake whose value ``value`` matches (and the right one does not)."""
    value = torch.as_tensor(value, dtype=torch.float64)
    for wrong, hint in mistakes:
        wrong = torch.as_tensor(wrong, dtype=torch.float64)
        if wrong.shape != value.shape or not torch.isfinite(wrong).all():
            continue
        if right is not None and torch.allclose(wrong, torch.as_tensor(right, dtype=torch.float64), atol=tol,
                                                rtol=tol):
            continue
        if torch.allclose(value, wrong, atol=tol, rtol=tol):
            return hint
    return None


def _call_nll(image_nll, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    logits_before, x_before = logits.clone(), x.clone()
    try:
        out = image_nll(logits, x)
    except (RuntimeError, ValueError) as err:
        if "between 0 and 1" in str(err):
            expect(False, "your code passed the logits where probabilities belong (binary_cross_entropy wants "
                          "values in [0, 1]): apply torch.sigmoid first, or use "
                          "F.binary_cross_entropy_with_logits")
        raise
    expect(torch.equal(logits, logits_before) and torch.equal(x, x_before),
           "your function changed its inputs: compute on copies (no in-place operations)")
    expect(torch.is_tensor(out), f"image_nll should return a torch tensor, got {type(out).__name__}")
    expect(out.is_floating_point(), f"image_nll returned dtype {out.dtype}: return float NLLs")
    n = len(x)
    expect(out.dim() != 0 and out.numel() != 1 or n == 1,
           f"image_nll returned one number for {n} images: return one NLL per image, shape ({n},) "
           "(sum over the pixels, do not average or sum over the batch)")
    expect(tuple(out.shape) != (n, 1), f"image_nll returned shape ({n}, 1): sum over the channel dimension too, so "
                                       f"that each image gets one number, shape ({n},) (e.g. .flatten(1).sum(1))")
    expect(not (out.dim() > 1 and out.shape[0] == n),
           f"image_nll returned shape {tuple(out.shape)}: some dimensions were not summed; sum over every dimension "
           f"after the batch (channels, rows, columns), e.g. .flatten(1).sum(1), for shape ({n},)")
    expect_shape(out, (n,), "image_nll(logits, x)")
    return out


@exercise_check
def check_image_nll(image_nll, bits_per_dim):
    """``image_nll(logits, x)`` -> (N,) nats; ``bits_per_dim(nll, dims)`` -> bits per pixel."""
    # Two 2x3 images; the logits are all in (0, 1) so that mistaking them for probabilities shows.
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], [[[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]])
    logits = torch.tensor([[[[0.9, 0.2, 0.6], [0.1, 0.3, 0.8]]], [[[0.4, 0.7, 0.5], [0.2, 0.6, 0.1]]]])
    want = _reference_nll(logits, x)
    out = _call_nll(image_nll, logits, x)
    got = out.detach().double()
    if not _close(got, want):
        hint = name_mistake(got, bernoulli_nll_mistakes(logits, x, lambda t: t.flatten(1).sum(1)), want)
        expect(hint is None, f"image_nll is wrong: {hint}")
    expect(not _close(got, -want), "the NLL came out negative: -log p(x) needs a minus sign (NLL >= 0)")
    expect(not _close(got, want / 6),
           "you averaged over the pixels: the log-likelihood of an image is the SUM of its pixels' log "
           "conditionals (the chain rule), so sum over pixels, one number per image")
    probs_as_given = F.binary_cross_entropy(logits.double(), x.double(), reduction="none").flatten(1).sum(1)
    expect(not _close(got, probs_as_given),
           "you used the logits as probabilities: p = sigmoid(logit); or let "
           "F.binary_cross_entropy_with_logits do both")
    expect(not _close(got, want / math.log(2)), "this is in bits (log base 2): the NLL is in nats (natural log)")
    expect((got >= 0).all(), "an NLL below zero: -log p(x) with p <= 1 is never negative; check the signs")
    expect_close(got, want, "image_nll on two hand-made 2x3 images",
                 hint="expected -sum over pixels of [x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))]")

    # Confident logits: a correct prediction must cost almost nothing, with no nan or inf on the way.
    x = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    logits = torch.tensor([[[[200.0, -200.0], [30.0, -30.0]]]])
    out = _call_nll(image_nll, logits, x).detach().double()
    expect(torch.isfinite(out).all(),
           f"image_nll gave {out.tolist()} for confident logits (+-200): log(sigmoid(l)) rounds to log(0) "
           "and 0 * log(0) = nan. Use F.binary_cross_entropy_with_logits or F.logsigmoid, which are stable")
    expect_close(out, _reference_nll(logits, x), "image_nll with confident correct logits", atol=1e-6)
    logits = torch.randn(5, 1, 7, 4, generator=torch.Generator().manual_seed(0)) * 3
    x = (torch.rand(5, 1, 7, 4, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    expect_close(_call_nll(image_nll, logits, x), _reference_nll(logits, x), "image_nll on 5 random 7x4 images",
                 hint="do you sum over every pixel (flatten from dim 1)?", sizes={"pixels": 28})

    # Bits per dimension: nats / (number of pixels * ln 2).
    nll = torch.tensor([100.0, 60.0])
    for dims in (784, 4):
        out = bits_per_dim(nll, dims)
        expect(torch.is_tensor(out) or isinstance(out, float),
               f"bits_per_dim should return a tensor (or a float), got {type(out).__name__}")
        got = torch.as_tensor(out.detach() if torch.is_tensor(out) else out, dtype=torch.float64)
        want = nll.double() / (dims * math.log(2))
        expect(got.shape == want.shape,
               f"bits_per_dim returned shape {tuple(got.shape)} for NLLs of shape {tuple(want.shape)}: convert each "
               "image's NLL on its own (no mean or sum over the images)")
        expect(not _close(got, nll.double() / dims),
               "bits per dim is nats / (dims * ln 2): you divided by dims but not by ln 2 (nats -> bits)")
        expect(not _close(got, nll.double() / math.log(2)),
               "these are bits per image: divide by the number of dimensions (pixels) as well")
        expect(not _close(got, nll.double() * math.log(2) / dims),
               "you multiplied by ln 2: one bit is ln 2 nats, so bits = nats / ln 2")
        expect(not _close(got, nll.double() / (dims * math.log(10))), "use ln 2 (bits), not ln 10")
        expect(not (dims == 4 and _close(got, nll.double() / (784 * math.log(2)))),
               "bits_per_dim ignored its dims argument (784 hard-coded?): divide by dims")
        if got.shape == want.shape and bool(torch.isfinite(got).all()) and bool((got != 0).all()):
            ratio = got / want
            factor = ratio[0].item()
            if torch.allclose(ratio, ratio[:1].expand_as(ratio), rtol=1e-4) and abs(factor - 1) > 1e-3:
                known = {math.log(10): ": that is ln 10, math.log10(2) where the natural log math.log(2) belongs",
                         math.log2(math.e): ": that is log2(e) = 1 / ln 2, math.log2(2) or a base-2 log where the "
                                            "natural log math.log(2) belongs",
                         1 / math.log(2) ** 2: ": that is 1 / ln 2 once too often"}
                why = next((w for f, w in known.items() if abs(factor - f) < 1e-3 * f), "")
                expect(False, f"bits_per_dim(nll, dims={dims}) is off by the same factor {factor:.4g} for every "
                              f"value{why}: the conversion is bits per dim = nats / (dims * ln 2), with "
                              "ln 2 = math.log(2) = 0.693")
        expect_close(got, want, f"bits_per_dim(nll, dims={dims})", hint="expected nll / (dims * ln 2)")
    return "NLL per image is the sum over pixels in nats; bits/dim divides by dims * ln 2"


# --- 03: the sampling loop ----------------------------------------------------------------------


def _raster_model(x: torch.Tensor) -> torch.Tensor:
    """A hand-made causal "model": each logit depends on the previous pixel in raster order and on
    the pixel above-right, which a column-by-column loop would not have drawn yet."""
    n, _, height, width = x.shape
    flat = x.reshape(n, -1)
    previous = torch.cat([torch.ones(n, 1), flat[:, :-1]], dim=1).reshape(x.shape)
    above_right = F.pad(x, (0, 1, 1, 0))[:, :, :height, 1:]
    return 2.5 * (2 * previous - 1) - 2.0 * (2 * above_right - 1) + 0.3


def _sample_variant(u: torch.Tensor, order: str = "raster", feed: bool = True, rule: str = "lt") -> torch.Tensor:
    """What a typical mistake would sample with the uniforms u (for naming the mistake)."""
    n, _, height, width = u.shape
    x = torch.zeros_like(u)
    pixels = [(i, j) for i in range(height) for j in range(width)]
    if order == "column":
        pixels = [(i, j) for j in range(width) for i in range(height)]
    for i, j in pixels:
        logits = _raster_model(x if feed else torch.zeros_like(u))[:, :, i, j]
        p = torch.sigmoid(logits)
        value = {"lt": u[:, :, i, j] < p, "gt": u[:, :, i, j] > p, "logit": u[:, :, i, j] < logits,
                 "half": p > 0.5 + 0 * u[:, :, i, j]}[rule]
        x[:, :, i, j] = value.float()
    return x


class _CountingModel:
    def __init__(self, fn):
        self.fn, self.calls, self.saw_future, self.non_binary = fn, 0, False, False

    def __call__(self, x):
        self.calls += 1
        if not torch.is_tensor(x) or x.dim() != 4:
            raise ValueError(f"the model takes images (N, 1, H, W), got {getattr(x, 'shape', type(x).__name__)}")
        self.non_binary |= not bool(((x == 0) | (x == 1)).all())
        return self.fn(x)


def _read_uniforms(sample_raster, height: int = 3, width: int = 5) -> torch.Tensor:
    """For each pixel, the raster index of the uniform it was compared with (-1: never drawn), decoded bit by bit
    with p = 0.5 everywhere and uniforms of 0.25 (bit 1) or 0.75 (bit 0)."""
    codes = torch.arange(1, height * width + 1).reshape(height, width)
    read = torch.zeros(height, width, dtype=torch.long)
    for bit in range(int(codes.max()).bit_length()):
        u = torch.where(((codes >> bit) & 1).bool(), 0.25, 0.75)[None, None].float()
        out = sample_raster(_CountingModel(lambda x: torch.zeros_like(x)), u)
        expect(torch.is_tensor(out) and tuple(out.shape) == (1, 1, height, width),
               f"sample_raster returned {getattr(out, 'shape', type(out).__name__)} for uniforms (1, 1, {height}, "
               f"{width}): return the images, same shape as the uniforms")
        read += (out[0, 0].detach() > 0.5).long() << bit
    return read - 1


def _read_positions(sample_raster, height: int = 3, width: int = 5) -> torch.Tensor:
    """For each pixel, the raster index of the model output it was drawn from, -1 where it was never drawn.

    Probe "models" return fixed logits of +-20 that spell, bit by bit, the code (index + 1) of each position;
    a pixel drawn from the output at position q comes out as bit b of q's code, whatever the uniforms (0.5).
    """
    codes = torch.arange(1, height * width + 1).reshape(height, width)
    u = torch.full((1, 1, height, width), 0.5)
    read = torch.zeros(height, width, dtype=torch.long)
    for bit in range(int(codes.max()).bit_length()):
        logits = (40.0 * ((codes >> bit) & 1).float() - 20.0)[None, None]
        out = sample_raster(_CountingModel(lambda x, fixed=logits: fixed.expand(len(x), 1, height, width).clone()),
                            u.clone())
        expect(torch.is_tensor(out) and tuple(out.shape) == (1, 1, height, width),
               f"sample_raster returned {getattr(out, 'shape', type(out).__name__)} for uniforms (1, 1, {height}, "
               f"{width}): return the images, same shape as the uniforms")
        read += (out[0, 0].detach() > 0.5).long() << bit
    return read - 1


def _position_hint(read: torch.Tensor) -> str | None:
    """Name the mistake when pixels were drawn from the wrong position's conditional (None: all right)."""
    height, width = read.shape
    index = torch.arange(height * width).reshape(height, width)
    if torch.equal(read, index):
        return None
    missing = [divmod(int(k), width) for k in index[read < 0]]
    if missing:
        return (f"pixels {missing[:4]}{' ...' if len(missing) > 4 else ''} were never drawn (they stay 0 whatever "
                "the model says): does your loop skip them? Visit every row i in range(H) and every column j in "
                "range(W)")
    delta = read - index
    values, counts = torch.unique(delta[read != index], return_counts=True)
    common = int(values[counts.argmax()])
    names = {-1: ("the PREVIOUS pixel", "j - 1"), 1: ("the NEXT pixel", "j + 1"),
             -width: ("the pixel ABOVE", "i - 1"), width: ("the pixel BELOW", "i + 1")}
    if common in names and int(counts.max()) >= (read != index).sum() // 2:
        which, index_text = names[common]
        return (f"each pixel was drawn from the conditional of {which} (logits at {index_text}): pixel (i, j) "
                "takes p = sigmoid(logits[:, :, i, j]), the model's output at its own position, which already "
                "depends only on the pixels before it")
    k = int(torch.nonzero(read != index)[0, 0] * width + torch.nonzero(read != index)[0, 1])
    i, j = divmod(k, width)
    return (f"pixel ({i}, {j}) was drawn from the model's output at {divmod(int(read[i, j]), width)}: take "
            "p = sigmoid(logits[:, :, i, j]) at the position of the pixel being drawn")


@exercise_check
def check_sample_raster(sample_raster):
    """``sample_raster(model, uniforms)``: (N, 1, H, W) uniforms -> binary float (N, 1, H, W) samples."""
    u = torch.rand(4, 1, 3, 5, generator=torch.Generator().manual_seed(3))  # not square: rows != columns
    u_before = u.clone()
    model = _CountingModel(_raster_model)
    try:
        out = sample_raster(model, u)
    except IndexError as err:
        expect(False, f"your code raised IndexError: {str(err).splitlines()[0] if str(err) else ''} -- an index ran "
                      "past the image: pixel (i, j) reads logits[:, :, i, j] (its own position, not j + 1 or "
                      "i + 1) and sets x[:, :, i, j], for i in range(H) and j in range(W)")
    expect(torch.equal(u, u_before), "your function changed the uniforms: keep them as they are")
    expect(torch.is_tensor(out), f"sample_raster should return a tensor, got {type(out).__name__}")
    expect_shape(out, u.shape, "sample_raster(model, uniforms)")
    expect(out.is_floating_point(), f"return float 0./1. images (use .float()), got dtype {out.dtype}")
    expect(torch.all((out == 0) | (out == 1)), "the samples should be 0. or 1.: set pixel = (u < p).float()")
    want = sample_naive(_raster_model, u)
    if not torch.equal(out, want):
        expect(model.calls > 1,
               "the model was called once: you sampled all pixels at once from an empty image. Each pixel "
               "needs its own pass, on the image with the pixels before it already filled in")
        again = sample_raster(_CountingModel(_raster_model), u)
        expect(torch.equal(again, out),
               "two calls with the same uniforms gave different images: draw pixel (i, j) as "
               "u[:, :, i, j] < p, not with torch.bernoulli or fresh random numbers")
        expect(not torch.equal(out, _sample_variant(u, rule="half")),
               "you set a pixel to 1 when p > 0.5: that picks the most likely value every time, it is not a "
               "sample (every image would be the same). Draw it: pixel = (u < p).float() with the given uniforms")
        other = sample_raster(_CountingModel(_raster_model), torch.rand(u.shape, generator=torch.Generator()
                                                                        .manual_seed(8)))
        expect(not torch.equal(other, out),
               "other uniforms gave the same images: the samples must depend on the uniforms, "
               "pixel = (uniforms[:, :, i, j] < p).float()")
        expect(not torch.equal(out, _sample_variant(u, feed=False)),
               "each pixel was drawn from an empty image: write each sampled pixel into the image you "
               "feed to the model for the next one")
        expect(not torch.equal(out, _sample_variant(u, order="column")),
               "you went column by column: raster order is row by row, left to right within a row "
               "(for i in rows: for j in columns)")
        expect(not torch.equal(out, _sample_variant(u, rule="gt")),
               "pixel = 1 when u < p (so that P(pixel = 1) = p), not when u > p")
        expect(not torch.equal(out, _sample_variant(u, rule="logit")),
               "you compared u with the logit: turn it into a probability with torch.sigmoid first")
        hint = _position_hint(_read_positions(sample_raster))
        expect(hint is None, hint or "")
        expect(not model.non_binary,
               "the model was given values other than 0 and 1 (the uniforms?): feed it the binary image drawn so far, "
               "x, and compare the uniforms with its probabilities")
        hint = _position_hint(_read_uniforms(sample_raster))
        expect(hint is None, "the uniforms are read at the wrong place: " + (hint or "").replace(
            "was drawn from the conditional of", "was compared with the uniform of").replace(
            "was drawn from the model's output at", "was compared with the uniform at").replace(
            "(logits at", "(uniforms at").replace("takes p = sigmoid(logits[:, :, i, j]), the model's output at its "
                                                   "own position, which already depends only on the pixels before it",
                                                   "compares uniforms[:, :, i, j] with its p"))
        expect(model.calls >= u.shape[2] * u.shape[3] - 1,
               f"the model was called {model.calls} times for {u.shape[2] * u.shape[3]} pixels: each pixel needs "
               "its own pass, on the image with all the pixels before it already drawn")
        expect(False, "the samples differ from the reference loop: for each pixel (i, j) in raster order, run "
                      "the model on the current image, p = sigmoid(logits[:, :, i, j]), set "
                      "x[:, :, i, j] = (u[:, :, i, j] < p).float()")
    expect(model.calls >= u.shape[2] * u.shape[3] - 1,
           f"the model was called {model.calls} times for {u.shape[2] * u.shape[3]} pixels: "
           "one pass per pixel is what makes the samples exact for any model")
    return "pixel by pixel in raster order, each drawn from the model given the pixels before it"


# --- 04: masks ----------------------------------------------------------------------------------


def _mask_hint(mask: torch.Tensor, k: int, kind: str) -> None:
    c = k // 2
    want = reference_mask(k, kind)
    if torch.equal(mask, want):
        return
    expect(not torch.equal(mask, want.T),
           f"your {k}x{k} mask of type {kind} is transposed: index it as mask[row, column]; "
           "rows above the centre are mask[:c, :]")
    expect(not (kind == "A" and mask[c, c] != 0),
           "type A includes the centre pixel: the first layer must not see the pixel it predicts "
           "(set mask[c, c] = 0 for type A)")
    expect(not (kind == "B" and mask[c, c] == 0),
           "type B hides the centre: later layers may use position (i, j) (its features only saw "
           "earlier pixels), so set mask[c, c] = 1 for type B")
    expect(mask[c, c + 1:].sum() == 0,
           "future pixels in the same row are visible: mask[c, c+1:] (right of the centre) must be 0")
    expect(mask[c + 1:].sum() == 0, "rows below the centre are visible: mask[c+1:, :] must be 0")
    expect(bool((mask[:c] == 1).all()),
           "some pixels in the rows above the centre are hidden: all of mask[:c, :] should be 1 (every "
           "pixel of an earlier row comes before (i, j) in raster order)")
    expect(bool((mask[c, :c] == 1).all()),
           "pixels left of the centre in its own row are hidden: mask[c, :c] should be 1 (they come "
           "before the centre in raster order)")
    expect(False, f"the {k}x{k} mask of type {kind} is wrong: expected\n{want.int().tolist()}")


def _masked_stack_field(mask_a: torch.Tensor, mask_b: torch.Tensor, size: int, row: int, col: int) -> torch.Tensor:
    """Gradient of output (row, col) of two masked convolutions (A then B) w.r.t. the input: (size, size)."""
    gen = torch.Generator().manual_seed(0)
    k = mask_a.shape[-1]
    w1 = (torch.rand(4, 1, k, k, generator=gen) + 0.5) * mask_a
    w2 = (torch.rand(1, 4, k, k, generator=gen) + 0.5) * mask_b
    x = torch.rand(1, 1, size, size, generator=gen, requires_grad=True)
    out = F.conv2d(torch.tanh(F.conv2d(x, w1, padding=k // 2)), w2, padding=k // 2)
    out[0, 0, row, col].backward()
    return x.grad[0, 0]


@exercise_check
def check_causal_mask(causal_mask):
    """``causal_mask(kernel_size, mask_type)`` -> float (k, k) of 0s and 1s, for types 'A' and 'B'."""
    for k in (3, 5, 7):
        for kind in ("A", "B"):
            mask = causal_mask(k, kind)
            expect(torch.is_tensor(mask), f"causal_mask should return a torch tensor, got {type(mask).__name__}")
            expect(mask.dim() == 2,
                   f"causal_mask({k}, {kind!r}) has shape {tuple(mask.shape)}: return the (k, k) mask itself; "
                   "the convolution adds the (1, 1) in front when it multiplies the weight")
            expect_shape(mask, (k, k), f"causal_mask({k}, {kind!r})")
            expect(mask.is_floating_point(),
                   f"causal_mask returned dtype {mask.dtype}: return a float tensor (.float()) so it can "
                   "multiply the weights")
            expect(mask.dtype == torch.float32,
                   f"causal_mask returned dtype {mask.dtype}: return float32 (torch.zeros' default, or .float())"
                   + ("; a float64 mask turns the float32 weights it multiplies into float64, and the convolution "
                      "then fails on float32 images" if mask.dtype == torch.float64 else ""))
            expect(not mask.requires_grad, "the mask requires grad: it is a constant, not a parameter "
                                           "(create it with torch.zeros, no requires_grad)")
            expect(torch.all((mask == 0) | (mask == 1)), "the mask should hold only 0. and 1.")
            _mask_hint(mask, k, kind)
    a, b = causal_mask(3, "A").detach().float(), causal_mask(3, "B").detach().float()
    expect(not torch.equal(a, b), "types A and B gave the same mask: only the centre differs")
    # Causality by gradients: output (i, j) of conv A then conv B must not depend on input (i, j) or later.
    size = 6
    for row, col in ((2, 3), (0, 4), (5, 0), (3, 5)):
        grad = _masked_stack_field(a, b, size, row, col).flatten()
        index = row * size + col
        if grad[index:].abs().sum() != 0:
            first = divmod(int(torch.nonzero(grad[index:])[0]) + index, size)
            expect(False, f"output pixel ({row}, {col}) of a type A + type B stack has a gradient from input "
                          f"pixel {first}, at or after it in raster order: the stack is not causal")
        if index > 0:
            expect(grad[index - 1] != 0 or col == 0, "the pixel just left of the output is not used")
    return "type A hides the centre, type B keeps it; gradients confirm the stack is causal"


# --- 04: receptive fields from gradients --------------------------------------------------------


def _shift_model(dy: int, dx: int):
    """A "model" whose output at (i, j) is the input at (i + dy, j + dx) (zero outside): one dependency."""
    def model(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)))
        return 3 * padded[:, :, abs(dy) + dy: abs(dy) + dy + h, abs(dx) + dx: abs(dx) + dx + w]
    return model


def _linear_masked_stack(layers: int, size: int, signed: bool = False):
    """Masked 3x3 convolutions (A, then B) with no nonlinearity; weights positive, or of both signs (``signed``),
    as in a trained model, where many inputs lower the output (a negative gradient) and still count."""
    gen = torch.Generator().manual_seed(1)
    weights = [(torch.rand(1, 1, 3, 3, generator=gen) + 0.5) * reference_mask(3, "A" if n == 0 else "B")
               for n in range(layers)]
    if signed:
        weights = [w * torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]) for w in weights]

    def model(x: torch.Tensor) -> torch.Tensor:
        for w in weights:
            x = F.conv2d(x, w, padding=1)
        return x
    return model


def _reference_gradient(model, row: int, col: int, height: int, width: int) -> torch.Tensor:
    x = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(5), requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0]


def _reference_field(model, row: int, col: int, height: int, width: int) -> torch.Tensor:
    x = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(5), requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] != 0


@exercise_check
def check_receptive_field(receptive_field):
    """``receptive_field(model, row, col, height, width)`` -> bool (height, width): used input pixels."""
    height, width = 6, 9
    model = _shift_model(-1, 2)  # output (i, j) reads input (i - 1, j + 2)
    out = receptive_field(model, 3, 4, height, width)
    expect(torch.is_tensor(out), f"receptive_field should return a tensor, got {type(out).__name__}")
    expect(out.dim() == 2, f"receptive_field returned shape {tuple(out.shape)}: drop the batch and channel "
                           f"dimensions, return ({height}, {width}) (e.g. x.grad[0, 0])")
    expect_shape(out, (height, width), "receptive_field(model, 3, 4, 6, 9)")
    expect(out.dtype == torch.bool, f"return a bool map (grad != 0), got dtype {out.dtype}")
    want = _reference_field(model, 3, 4, height, width)
    expect(int(out.sum()) != 0, "no input pixel was marked, for an output that reads one input pixel with gradient "
                                "+3: mark the pixels where the gradient is not zero (grad != 0; neither > 0 nor < 0 "
                                "alone)")
    expect(not torch.equal(out, ~want), "every pixel is marked except the one the output reads: you marked where the "
                                        "gradient IS zero; mark grad != 0")
    expect(not torch.equal(out, _reference_field(model, 4, 3, height, width)),
           "row and column are swapped: take the output at [0, 0, row, col]")
    expect(int(out.sum()) <= 1,
           f"{int(out.sum())} pixels marked where one output reads one input: back-propagate from the single "
           "output logits[0, 0, row, col], not from the sum of all outputs")
    expect(torch.equal(out, want), "the marked pixel is not the one the output reads: did you mark where the "
                                   "gradient is zero (use != 0), or take the output at another position?")
    down = _shift_model(1, -1)
    down_model = lambda x: -down(x)  # noqa: E731 - output (i, j) = -3 * input (i + 1, j - 1): a negative gradient
    got = receptive_field(down_model, 2, 2, height, width)
    expect(torch.is_tensor(got) and tuple(got.shape) == (height, width),
           f"receptive_field returned {getattr(got, 'shape', type(got).__name__)}: return a bool "
           f"({height}, {width}) map")
    right = _reference_field(down_model, 2, 2, height, width)
    expect(int(got.sum()) != 0 or not bool(right.any()),
           "nothing was marked for an output that reads its input with a negative weight (gradient -3): an input "
           "the output depends on can have a negative gradient; mark grad != 0, not grad > 0")
    expect(torch.equal(got, right), "the marked pixel is not the one the output reads (output (2, 2) reads input "
                                    "(3, 1) with gradient -3): mark where the gradient is not zero")
    for signed in (False, True):
        model = _linear_masked_stack(3, 8, signed=signed)
        for row, col in ((4, 4), (7, 1), (0, 6)):
            got = receptive_field(model, row, col, 8, 8)
            expect(torch.is_tensor(got) and tuple(got.shape) == (8, 8),
                   f"receptive_field returned {getattr(got, 'shape', type(got).__name__)} for an 8x8 input")
            want = _reference_field(model, row, col, 8, 8)
            if torch.equal(got, want):
                continue
            grad = _reference_gradient(model, row, col, 8, 8)
            expect(not torch.equal(got, grad > 0),
                   f"only the inputs with a POSITIVE gradient are marked ({int(got.sum())} of the {int(want.sum())} "
                   "that output ({row}, {col}) depends on): an input that lowers the output counts too; "
                   "mark grad != 0 (trained models have weights of both signs)".replace("({row}, {col})",
                                                                                       f"({row}, {col})"))
            expect(not torch.equal(got, grad < 0), "only the inputs with a NEGATIVE gradient are marked: mark "
                                                   "grad != 0")
            expect(not torch.equal(got, want.T), "row and column are swapped: the map is indexed [row, column]")
            expect(False, f"the receptive field of output ({row}, {col}) of three masked 3x3 convolutions "
                          f"{'with weights of both signs ' if signed else ''}is wrong: {int(got.sum())} pixels "
                          f"marked, expected {int(want.sum())}")
    # A second, faint dependency: any nonzero gradient counts, however small.
    strong, faint = _shift_model(-1, 2), _shift_model(0, -1)
    two = lambda x: strong(x) + 1e-6 * faint(x)  # noqa: E731 - output (i, j) reads (i - 1, j + 2) and, faintly, (i, j - 1)
    got = receptive_field(two, 3, 4, height, width)
    want = _reference_field(two, 3, 4, height, width)
    expect(not (torch.is_tensor(got) and tuple(got.shape) == (height, width) and got.dtype == torch.bool
                and int(got.sum()) == int(want.sum()) - 1 and bool((got <= want).all())),
           "an input that moves the output only a little (gradient 3e-06) was not marked: the output depends on it "
           "all the same; mark every nonzero gradient (grad != 0), with no threshold")
    expect(torch.is_tensor(got) and torch.equal(got, want),
           "for an output that reads input (2, 6) strongly and input (3, 3) faintly (gradient 3e-06) the marked "
           "pixels are wrong: mark every input whose gradient is not zero")
    # A nonlinear model whose gradient vanishes at the all-zero input (as ReLU's does at 0): only an input where
    # no such accident happens (random values) shows every dependency.
    stack = _linear_masked_stack(3, 8)
    squared = lambda x: stack(x) ** 2  # noqa: E731 - d out / d x = 2 * stack(x) * (weights): 0 at x = 0
    got = receptive_field(squared, 4, 4, 8, 8)
    want = _reference_field(squared, 4, 4, 8, 8)
    expect(torch.is_tensor(got) and tuple(got.shape) == (8, 8) and got.dtype == torch.bool,
           f"receptive_field returned {getattr(got, 'shape', type(got).__name__)} for an 8x8 input: return a bool "
           "(8, 8) map")
    expect(torch.equal(got, want),
           f"for a model whose output is the SQUARE of three masked convolutions you marked {int(got.sum())} of the "
           f"{int(want.sum())} pixels that output (4, 4) depends on: its gradient is 0 at an all-zero input (as a "
           "ReLU's is at 0), so a gradient taken at zeros (or another special input) misses dependencies; take it "
           "at a random input, torch.rand(1, 1, height, width, requires_grad=True)")
    return "the gradient of one output pixel marks exactly the inputs it depends on"


# --- 03: one Row LSTM layer ---------------------------------------------------------------------

GATE_NAMES = ("input", "forget", "output", "content")


def _row_lstm_layer(c_in: int, hidden: int, kernel: int, seed: int) -> RowLSTM:
    """A Row LSTM layer with random weights large enough that every gate matters (sigmoid and tanh far from
    linear), so that each of the usual slips changes the output visibly."""
    layer = RowLSTM(c_in, hidden, kernel)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.9)
    return layer


def _row_lstm_variant(x: torch.Tensor, layer: RowLSTM, order=GATE_NAMES, acts=("sigmoid",) * 3 + ("tanh",),
                      cell_tanh: bool = True, forget_term: bool = True, input_gate: bool = True,
                      carry_h: bool = True, h_from_old_c: bool = False, shift_out: bool = False,
                      return_c: bool = False, init: float = 0.0, input_row: int = 0,
                      forget_on_h: bool = False) -> torch.Tensor:
    """What a Row LSTM with one of the usual slips computes (the right one with the defaults)."""
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}
    from_input = layer.input_to_state(x)
    n, four_c, height, width = from_input.shape
    h = from_input.new_full((n, four_c // 4, width), init)
    c = torch.full_like(h, init)
    rows = []
    for i in range(height):
        k = i + input_row
        row_in = from_input[:, :, k] if 0 <= k < height else torch.zeros_like(from_input[:, :, 0])
        blocks = dict(zip(order, (row_in + layer.state_to_state(h if carry_h else torch.zeros_like(h))).chunk(4, 1),
                          strict=True))
        in_gate, forget, out_gate, g = (functions[act](blocks[k]) for k, act in zip(GATE_NAMES, acts, strict=True))
        old_c = c
        c = (forget * (h if forget_on_h else c) if forget_term else 0) + (in_gate * g if input_gate else g)
        h_new = out_gate * (torch.tanh if cell_tanh else (lambda t: t))(old_c if h_from_old_c else c)
        rows.append(h if shift_out else (c if return_c else h_new))
        h = h_new
    return torch.stack(rows, dim=2)


def _row_lstm_mistakes(x: torch.Tensor, layer: RowLSTM) -> list[tuple[torch.Tensor, str]]:
    out = []
    wanted = "[input, forget, output, content] (gates.chunk(4, dim=1) in that order)"
    for order in itertools.permutations(GATE_NAMES):
        if order != GATE_NAMES:
            out.append((_row_lstm_variant(x, layer, order=order),
                        f"the four gate blocks are read in the wrong order: you took the 4C channels as "
                        f"[{', '.join(order)}], they come as {wanted}"))
    rule = ("the three gates (input, forget, output) are sigmoids, values in (0, 1) that say how much passes; the "
            "content g is a tanh, values in (-1, 1)")
    for acts in itertools.product(("sigmoid", "tanh"), repeat=4):
        wrong = [name for name, act, right in zip(GATE_NAMES, acts, ("sigmoid",) * 3 + ("tanh",), strict=True)
                 if act != right]
        if not wrong:
            continue
        if len(wrong) == 4:
            why = f"tanh and sigmoid are swapped: {rule}"
        elif wrong == ["content"]:
            why = f"the content g went through a sigmoid: it is tanh(g), values in (-1, 1); {rule}"
        else:
            why = f"a gate went through tanh ({', '.join(wrong)}): {rule}"
        out.append((_row_lstm_variant(x, layer, acts=acts), why))
    out += [
        (_row_lstm_variant(x, layer, cell_tanh=False), "h = o * c: the hidden state is o * tanh(c_i), a tanh of "
                                                       "the new cell state"),
        (_row_lstm_variant(x, layer, h_from_old_c=True), "h was computed from the cell state of the row above: "
                                                         "update c first, then h_i = o * tanh(c_i) with the NEW c"),
        (_row_lstm_variant(x, layer, forget_term=False),
         "the cell state is not carried from row to row: c_i = f * c_(i-1) + i * g, keep c from one row to the "
         "next (did you start every row from c = 0, or drop the f * c term?)"),
        (_row_lstm_variant(x, layer, forget_on_h=True), "the forget gate multiplied the hidden state: it keeps part "
                                                       "of the previous CELL state, c_i = f * c_(i-1) + i * g"),
        (_row_lstm_variant(x, layer, input_gate=False), "the input gate is missing: c_i = f * c_(i-1) + i * g, "
                                                        "with the content g scaled by the input gate i"),
        (_row_lstm_variant(x, layer, carry_h=False),
         "the hidden state is not carried from row to row: the state-to-state convolution reads h_(i-1), the "
         "hidden state of the row above (you gave it zeros every row)"),
        (_row_lstm_variant(x, layer, shift_out=True),
         "the output is one row late: row i of the output is h_i, the state computed FROM row i (you stored the "
         "state before updating it)"),
        (_row_lstm_variant(x, layer, return_c=True), "you returned the cell states c: return the hidden states h"),
        (_row_lstm_variant(x, layer, init=1.0), "the state above the first row must be zero (h_0 = c_0 = 0)"),
        (_row_lstm_variant(x, layer, input_row=-1), "row i used the input-to-state term of row i - 1: the current "
                                                    "row's input, input_to_state(x)[:, :, i], goes with the state "
                                                    "of the row above"),
        (_row_lstm_variant(x, layer, input_row=1), "row i used the input-to-state term of row i + 1: the current "
                                                   "row's input, input_to_state(x)[:, :, i], goes with the state "
                                                   "of the row above"),
    ]
    return out


def _call_row_lstm(row_lstm, x: torch.Tensor, layer: RowLSTM) -> torch.Tensor:
    x_before = x.detach().clone()
    try:
        out = row_lstm(x, layer.input_to_state, layer.state_to_state)
    except RuntimeError as err:
        expect("channels" not in str(err),
               f"a convolution got the wrong number of channels ({_first_line(err)}): input_to_state reads x "
               "(C_in channels, all rows at once); state_to_state reads one row of HIDDEN states h, (N, C, W), "
               "with C = 4C // 4 from input_to_state's output, not C_in")
        raise
    n, _, height, width = x.shape
    hidden = layer.hidden
    expect(torch.equal(x.detach(), x_before), "your function changed its input x: compute on new tensors")
    if isinstance(out, (tuple, list)):
        expect(not (len(out) == 2 and all(torch.is_tensor(o) for o in out)),
               "row_lstm returned two tensors: return only the hidden states h, one tensor (N, C, H, W) "
               "(the cell states stay inside the layer)")
        expect(False, f"row_lstm returned a {type(out).__name__}: return the hidden states of every row, one "
                      "tensor (N, C, H, W) (stack the rows with torch.stack(rows, dim=2))")
    expect(torch.is_tensor(out), f"row_lstm should return a torch tensor (N, C, H, W), got {type(out).__name__}")
    shape = tuple(out.shape)
    named = {(n, hidden, width, height): "the rows are stacked on the last dimension: the output is (N, C, H, W), "
                                         "stack the rows on dim 2 (torch.stack(rows, dim=2))",
             (n, height, hidden, width): "the rows are stacked on dim 1: the output is (N, C, H, W), stack the rows "
                                         "on dim 2 (torch.stack(rows, dim=2))",
             (n, 4 * hidden, height, width): "the output has 4C channels: return the hidden states h (C channels), "
                                             "not the gates' pre-activations",
             (n, hidden, width): "row_lstm returned one row (N, C, W): return the hidden state of EVERY row, "
                                 "stacked on dim 2 into (N, C, H, W)",
             (n, hidden, height * width): "the rows were joined end to end (torch.cat): stack them on a new "
                                          "dimension 2 with torch.stack(rows, dim=2), for (N, C, H, W)",
             (height, n, hidden, width): "the rows are stacked on dim 0: the output is (N, C, H, W), stack the rows "
                                         "on dim 2 (torch.stack(rows, dim=2))"}
    expect(shape not in named or height == width, named.get(shape, ""))
    expect_shape(out, (n, hidden, height, width), "row_lstm(x, input_to_state, state_to_state)")
    expect(out.is_floating_point(), f"row_lstm returned dtype {out.dtype}: return float hidden states")
    return out


def _leak_hint(grad: torch.Tensor, i: int, j: int) -> str | None:
    """Name a dependence of output (i, j) on an input position at or after it in raster order (None: causal)."""
    seen = grad.abs().sum(0) != 0  # (H, W)
    if seen[i + 1:].any():
        return (f"the state of row {i} depends on the rows below it: the recurrence runs from the top row down, "
                f"and row i reads only the state of row i - 1 (nothing from i + 1)")
    if seen[i, j + 1:].any():
        return (f"the output at ({i}, {j}) depends on inputs to its right in its own row: the state-to-state "
                "convolution is unmasked, so it may read only the previous row's state h_(i-1), never the current "
                "row (only the masked input_to_state reads row i)")
    return None


@exercise_check
def check_row_lstm(row_lstm):
    """``row_lstm(x, input_to_state, state_to_state)`` -> h (N, C, H, W): one Row LSTM layer, the rows in order."""
    checked = 0
    for c_in, hidden, kernel, height, width, seed in ((2, 2, 3, 5, 4, 0), (3, 2, 3, 4, 6, 1), (4, 3, 5, 6, 5, 2)):
        layer = _row_lstm_layer(c_in, hidden, kernel, seed)
        x = torch.randn(2, c_in, height, width, generator=torch.Generator().manual_seed(10 + seed))
        want = layer(x).detach().double()
        x_grad = x.clone().requires_grad_(True)
        out = _call_row_lstm(row_lstm, x_grad, layer)
        expect(out.requires_grad, "no gradient flows through your output: do not use torch.no_grad(), .detach() or "
                                  ".item() inside the layer; training needs the gradients")
        got = out.detach().double()
        if _close(got, want):
            checked += 1
            continue
        expect(torch.isfinite(got).all(), "the output holds nan or inf: the gates are sigmoids and the content a "
                                          "tanh, which keep every value finite")
        for i, j in ((height - 2, 1), (1, width - 2), (0, 0)):
            x_grad.grad = None
            out = row_lstm(x_grad, layer.input_to_state, layer.state_to_state)
            out[:, :, i, j].sum().backward()
            expect(x_grad.grad is not None, "no gradient reaches the input x: do not detach it")
            hint = _leak_hint(x_grad.grad[0], i, j)
            expect(hint is None, hint or "")
        hint = name_mistake(got, _row_lstm_mistakes(x, layer), want)
        expect(hint is None, hint or "")
        row = int(((got - want).abs().amax(dim=(0, 1, 3)) > 1e-4).nonzero()[0])
        where = ("the first row is right, so look at what is carried from one row to the next" if row > 0 else
                 "already the first row is off, so look at the gates and the update of c and h")
        expect(False, f"row_lstm does not give the layer's hidden states (first row off: {row}, of {height}; "
                      f"{where}): row i's gates are input_to_state(x)[:, :, i] + state_to_state(h_(i-1)), four blocks "
                      "[input, forget, output, content]; c_i = f * c_(i-1) + i * tanh(g), h_i = o * tanh(c_i)")
    # The layer must work in any dtype (and on any device): here float64 weights and inputs.
    layer = _row_lstm_layer(3, 2, 3, 3).double()
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(20), dtype=torch.float64)
    try:
        out = row_lstm(x, layer.input_to_state, layer.state_to_state)
    except RuntimeError as err:
        expect(not any(w in str(err).lower() for w in ("dtype", "double", "float", "scalar type")),
               "with float64 inputs and weights your code raised a dtype error: create the zero state with the "
               "input's dtype and device (x.new_zeros(...), or torch.zeros(..., dtype=x.dtype, device=x.device))")
        raise
    expect(torch.is_tensor(out) and _close(out.detach(), layer(x).detach()),
           "with float64 inputs and weights the hidden states come out different: keep the input's dtype "
           "(x.new_zeros(...) for the zero state)")
    return "the rows in order from the top, each from its own input and the row above's state; same as RowLSTM"


# --- 04: one layer of the gated PixelCNN --------------------------------------------------------


class _GivenWeights(GatedLayer):
    """A GatedLayer that only lends its weights: calling it (the course's finished layer) is not the exercise."""

    def forward(self, v, h):
        raise CheckFailed("gated_layer called the layer itself, layer(v, h), which runs the course's finished "
                          "layer: compute both stacks from its convolutions, layer.v_conv, layer.h_conv, "
                          "layer.v_to_h and layer.h_out")


def _gated_layer(in_channels: int, channels: int, kernel: int, first: bool, seed: int) -> GatedLayer:
    """A GatedLayer with random weights large enough that each half of the gate matters (calling it fails)."""
    layer = _GivenWeights(in_channels, channels, kernel, first=first)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.8)
    return layer.eval()


def _gated_variant(layer: GatedLayer, v: torch.Tensor, h: torch.Tensor, halves: str = "tanh-sigmoid",
                   v_shift: bool = True, h_shift: bool = True, residual: str = "h", h_out: bool = True,
                   link: str = "pre", v_pad: str = "both",
                   shift_all: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """What one gated layer with one of the usual slips computes (the right one with the defaults)."""
    p, first, shifted = layer.pad, layer.first, layer.first or shift_all

    def gate(t):
        a, b = t.chunk(2, dim=1)
        return torch.sigmoid(a) * torch.tanh(b) if halves == "sigmoid-tanh" else torch.tanh(a) * torch.sigmoid(b)

    left, right = {"both": (p, p), "left": (2 * p, 0)}[v_pad]
    if shifted and v_shift:
        v_pre = layer.v_conv(F.pad(v, (left, right, p + 1, 0)))[:, :, :-1]
    else:
        v_pre = layer.v_conv(F.pad(v, (left, right, p, 0)))
    if shifted and h_shift:
        h_pre = layer.h_conv(F.pad(h, (p + 1, 0, 0, 0)))[:, :, :, :-1]
    else:
        h_pre = layer.h_conv(F.pad(h, (p, 0, 0, 0)))
    to_h = {"pre": layer.v_to_h(v_pre), "none": torch.zeros_like(h_pre),
            "down": F.pad(layer.v_to_h(v_pre), (0, 0, 1, 0))[:, :, :-1]}[link]
    gated = gate(h_pre + to_h)
    out = layer.h_out(gated) if h_out else gated
    v_new = gate(v_pre)
    if residual == "h":
        h_new = out if first else h + out
    elif residual == "none":
        h_new = out
    elif residual == "always":
        h_new = h + out
    elif residual == "inside":  # h added before the 1x1 output convolution
        h_new = layer.h_out(gated) if first else layer.h_out(h + gated)
    else:  # "v": the residual went to the vertical stack instead
        h_new = out
        v_new = v_new + v if v.shape == v_new.shape else v_new
    return v_new, h_new


def _gated_mistakes(layer: GatedLayer, v: torch.Tensor, h: torch.Tensor) -> list[tuple[tuple, str]]:
    first = layer.first
    found = [
        (dict(halves="sigmoid-tanh"), "the gate's halves are swapped: tanh of the FIRST C channels times sigmoid of "
                                      "the last C (t.chunk(2, dim=1): tanh(a) * sigmoid(b)); the sigmoid half "
                                      "is the gate that says how much of the tanh half passes"),
        (dict(h_out=False), "the horizontal stack's 1x1 output convolution layer.h_out is missing: the new h is "
                            "h + layer.h_out(gate(...)) (without the residual h in the first layer)"),
        (dict(link="none"), "the horizontal stack does not use the vertical stack: add the link "
                            "layer.v_to_h(v_pre) (the vertical pre-activation) to the horizontal pre-activation before "
                            "the gate; without it the prediction never sees the rows above"),
        (dict(link="down"), "the link is shifted down a row: in this design the vertical pre-activation at row i "
                            "already sees only rows above i (the first layer's shift does that), so add "
                            "layer.v_to_h(v_pre) at the same position, unshifted"),
        (dict(v_pad="left"), "the vertical stack only reaches columns to the LEFT: pad k//2 columns on each side, so "
                             "that row i sees the rows above on both sides of column j (that is what removes the "
                             "blind spot)"),
        (dict(residual="inside"), "the residual h was added inside the 1x1 output convolution: h_new = h + "
                                  "layer.h_out(gated), so that h itself passes unchanged to the next layer"),
        (dict(residual="v"), "the residual connection is on the wrong stack: the horizontal stack is residual, "
                             "h_new = h + layer.h_out(gate(...)); the vertical stack's output is only the gate"),
    ]
    if first:
        found += [(dict(residual="always"), "the first layer has no residual connection: its input h is the image "
                                            "(1 channel), so h_new = layer.h_out(gate(...)) only"),
                  (dict(v_shift=False), "the first layer's vertical stack sees row i of the image: shift it down "
                                        "one row, so that row i reads image rows i - k//2 - 1 .. i - 1 (pad one more "
                                        "row on top and drop the last output row)"),
                  (dict(h_shift=False), "the first layer's horizontal stack sees the pixel it predicts: shift it right "
                                        "one column, so that (i, j) reads columns j - k//2 - 1 .. j - 1 (pad one "
                                        "more column on the left and drop the last output column)")]
    else:
        found += [(dict(residual="none"), "the horizontal stack has no residual connection after the first layer: "
                                          "h_new = h + layer.h_out(gate(...))"),
                  (dict(shift_all=True, residual="h"),
                   "a later layer is shifted like the first: only the first layer reads the image and must hide row i "
                   "(vertical) and pixel (i, j) (horizontal); later layers read features that already exclude them, "
                   "so they read rows i - k//2 .. i and columns j - k//2 .. j, unshifted"),
                  (dict(v_shift=True, h_shift=True, residual="v"), "the residual connection is on the wrong stack: "
                                                                   "the horizontal stack is residual")]
    out = []
    for kwargs, hint in found:
        try:
            out.append((_gated_variant(layer, v, h, **kwargs), hint))
        except RuntimeError:  # a slip whose shapes do not fit this layer: the student's code would raise too
            pass
    return out


def _pair(out, what: str, n: int, channels: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    expect(isinstance(out, (tuple, list)), f"gated_layer should return a pair (v, h) of tensors, got "
                                           f"{type(out).__name__}")
    expect(len(out) == 2, f"gated_layer returned {len(out)} values: return the pair (v_new, h_new)")
    v_new, h_new = out
    for name, t in (("v", v_new), ("h", h_new)):
        expect(torch.is_tensor(t), f"the new {name} should be a torch tensor, got {type(t).__name__}")
        expect(t.is_floating_point(), f"the new {name} has dtype {t.dtype}: return float tensors")
        shape, want = tuple(t.shape), (n, channels, height, width)
        if shape != want and t.dim() == 4 and shape[:2] == want[:2]:
            expect(False, f"the new {name} has shape {shape} for {what}, expected {want}: the convolutions have no "
                          "padding of their own; pad their input (F.pad(t, (left, right, top, bottom))) so that the "
                          "output keeps H rows and W columns, and crop what a shift pushes out")
        expect(not (t.dim() == 4 and shape[1] == 2 * channels),
               f"the new {name} has 2C = {2 * channels} channels: return the GATED values, tanh(a) * sigmoid(b) "
               f"of the two halves, C = {channels} channels")
        expect_shape(t, want, f"the new {name} ({what})")
    return v_new, h_new


def _gated_leaks(gated_layer, layer: GatedLayer, x: torch.Tensor) -> str | None:
    """Causality of one layer by gradients; the likely cause of the first leak or gap found (None: none)."""
    _, _, height, width = x.shape
    p, first = layer.pad, layer.first
    for i, j in ((2, 2), (3, 1), (height - 1, width - 2)):
        xv, xh = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        v_new, h_new = gated_layer(layer, xv, xh)
        (g_vv,) = torch.autograd.grad(v_new[:, :, i, j].sum(), xv, retain_graph=True, allow_unused=True)
        g_hv, g_hh = torch.autograd.grad(h_new[:, :, i, j].sum(), (xv, xh), allow_unused=True)
        seen_vv = (g_vv.abs().sum((0, 1)) != 0) if g_vv is not None else torch.zeros(height, width, dtype=torch.bool)
        seen_hv = (g_hv.abs().sum((0, 1)) != 0) if g_hv is not None else torch.zeros(height, width, dtype=torch.bool)
        seen_hh = (g_hh.abs().sum((0, 1)) != 0) if g_hh is not None else torch.zeros(height, width, dtype=torch.bool)
        last = i - 1 if first else i  # the lowest input row the vertical stack may read
        if seen_vv[last + 1:].any() or seen_hv[last + 1:].any():
            if first and not seen_vv[i + 1:].any() and not seen_hv[i + 1:].any():
                return ("the first layer's vertical stack sees row i of the image (through it, the prediction sees "
                        "the pixel itself and the ones right of it): shift the vertical stack down one row, so that "
                        "row i reads image rows i - k//2 - 1 .. i - 1")
            return ("the vertical stack sees rows below the output row: pad k//2 rows on TOP only (F.pad(v, (k//2, "
                    "k//2, k//2, 0))), so that row i reads rows i - k//2 .. i")
        if seen_hh[:i].any() or seen_hh[i + 1:].any():
            return ("the horizontal stack reads other rows than its own: it is a 1 x (k//2 + 1) convolution of row i "
                    "alone (pad columns only); the rows above reach it through the link from the vertical stack")
        if seen_hh[i, j + 1:].any():
            return ("the horizontal stack sees pixels to the RIGHT of the output: pad k//2 columns on the LEFT only, "
                    "so that (i, j) reads columns j - k//2 .. j")
        if first and seen_hh[i, j]:
            return ("the first layer's horizontal stack sees the pixel it predicts: shift it right one column, so "
                    "that (i, j) reads columns j - k//2 - 1 .. j - 1 of the image (the role of mask A)")
        if j > 0 and not seen_hh[i, j - 1]:
            return (f"the horizontal output at ({i}, {j}) does not depend on its left neighbour ({i}, {j - 1}): the "
                    "horizontal stack reads row i up to column j - 1 (first layer) or j")
        if not first and not seen_vv[i].any():
            return ("a later layer's vertical stack does not read its own row i: only the first layer, which reads "
                    "the image, is shifted down; later layers read rows i - k//2 .. i of features that already "
                    "exclude image row i")
        if not first and not seen_hh[i, j]:
            return ("a later layer's horizontal stack does not read position (i, j): only the first layer, which "
                    "reads the image, is shifted right; later layers read columns j - k//2 .. j")
        if i > 0 and not seen_hv[i - 1 if first else i].any():
            return ("the horizontal stack does not see the rows above: add the link layer.v_to_h(v_pre) to its "
                    "pre-activation")
        if i > 0 and j + p < width and not seen_vv[i - 1 if first else i, j + p]:
            return (f"the vertical stack at ({i}, {j}) does not see column {j + p} of the row above it: pad k//2 "
                    "columns on each side, so that it reaches to the right as well (no blind spot)")
    return None


@exercise_check
def check_gated_layer(gated_layer):
    """``gated_layer(layer, v, h)`` -> (v_new, h_new): one layer of the gated PixelCNN with layer's weights."""
    n, height, width = 2, 6, 7
    gen = torch.Generator().manual_seed(4)
    image = (torch.rand(n, 1, height, width, generator=gen) < 0.5).float()
    cases = [(_gated_layer(1, 3, 3, True, 0), image, image, "the first layer (k = 3) on an image"),
             (_gated_layer(3, 3, 3, False, 1), torch.randn(n, 3, height, width, generator=gen),
              torch.randn(n, 3, height, width, generator=gen), "a later layer (k = 3)"),
             (_gated_layer(1, 2, 5, True, 2), image, image, "the first layer (k = 5) on an image"),
             (_gated_layer(2, 2, 5, False, 3), torch.randn(n, 2, height, width, generator=gen),
              torch.randn(n, 2, height, width, generator=gen), "a later layer (k = 5)")]
    for layer, v, h, what in cases:
        v_before, h_before = v.clone(), h.clone()
        try:
            out = gated_layer(layer, v, h)
        except RuntimeError as err:
            expect("channels" not in str(err),
                   f"{what}: a convolution got the wrong number of channels ({_first_line(err)}): layer.v_conv and "
                   "layer.h_conv read the stacks' inputs v and h, layer.v_to_h the vertical PRE-activation (2C "
                   "channels, before the gate), layer.h_out the gated horizontal values (C channels)")
            expect("must match the size" not in str(err) or "dimension 1" not in str(err),
                   f"{what}: the channel counts do not fit ({_first_line(err)}): the link layer.v_to_h(v_pre) has "
                   "2C channels and is added to the horizontal PRE-activation (2C channels, before the gate); the "
                   "gate halves it to C, which layer.h_out takes")
            expect("must match the size" not in str(err) or layer.pad == 1,
                   f"{what}: the sizes do not fit ({_first_line(err)}): pad by k//2 with k the layer's own kernel "
                   "width, layer.v_conv.kernel_size[1] (the check uses k = 3 and k = 5: is a 1 hard-coded?)")
            raise
        expect(torch.equal(v, v_before) and torch.equal(h, h_before),
               "your function changed its inputs v or h: compute new tensors (no in-place operations)")
        channels = layer.h_out.out_channels
        v_new, h_new = _pair(out, what, n, channels, height, width)
        want_v, want_h = (t.detach().double() for t in reference_gated_layer(layer, v, h))
        got_v, got_h = v_new.detach().double(), h_new.detach().double()
        if _close(got_v, want_v) and _close(got_h, want_h):
            continue
        expect(not (_close(got_v, want_h) and _close(got_h, want_v)),
               "v and h are swapped: return (v_new, h_new), the vertical stack first")
        mistakes = _gated_mistakes(layer, v, h)
        both = torch.cat([got_v.flatten(), got_h.flatten()])
        hint = name_mistake(both, [(torch.cat([a.flatten(), b.flatten()]), why) for (a, b), why in mistakes],
                            torch.cat([want_v.flatten(), want_h.flatten()]))
        expect(hint is None, f"{what}: {hint}")
        hint = _gated_leaks(gated_layer, layer, image if layer.first else v)
        expect(hint is None, f"{what}: {hint}")
        part = "v" if not _close(got_v, want_v) else "h"
        expect(False, f"{what}: the new {part} does not match the layer's own forward pass with the same weights "
                      "(yet no leak of the future was found): check the gate, tanh(first C channels) * "
                      "sigmoid(last C), the link layer.v_to_h(v_pre) added before the horizontal gate, and "
                      "h + layer.h_out(...) (no residual in the first layer)")
    for layer, v, h, what in cases[:2]:  # gradients reach the weights, and float64 works as well
        v_new, h_new = _pair(gated_layer(layer, v, h), what, n, layer.h_out.out_channels, height, width)
        expect(v_new.requires_grad and h_new.requires_grad,
               "no gradient flows through your outputs: no torch.no_grad(), .detach() or .item() inside the layer")
        wide = _gated_layer(layer.v_conv.in_channels, layer.h_out.out_channels, layer.pad * 2 + 1, layer.first,
                            0 if layer.first else 1).double()
        v_new, h_new = _pair(gated_layer(wide, v.double(), h.double()), what + " in float64", n,
                             layer.h_out.out_channels, height, width)
        want_v, want_h = reference_gated_layer(wide, v.double(), h.double())
        expect(_close(v_new.detach(), want_v.detach()) and _close(h_new.detach(), want_h.detach()),
               "with float64 weights and inputs the result changes: keep the inputs' dtype")
    return "causal in both stacks, no blind spot, and the same values as GatedLayer with the same weights"


# --- conceptual questions of notebooks 03 and 04 -------------------------------------------------

choice(
    "rowlstm_causal_kernels", "a",
    "the layer's input at (i, j) is a feature map from the type-A first convolution, which hid x_ij, so the "
    "input-to-state kernel may read column j; the state of row i - 1 depends only on rows above i, all of them "
    "before (i, j) in raster order, so the state-to-state kernel may look left and right freely.",
    {"b": "causality matters most in training: a logit that could see x_ij would learn to copy it (the NLL would "
          "drop towards 0), and at sampling time it would copy a pixel that is not drawn yet. The gradients in "
          "the next cell check it in training mode",
     "c": "the gates are learned functions of whatever the kernels read; nothing makes them close on future "
          "pixels. Causality must come from what the kernels can reach",
     "d": "a Conv1d with padding k//2 looks both ways (columns j - 1 and j + 1 for k = 3); it is safe only because "
          "it reads the state of row i - 1, which is entirely in the past"})

number(
    "rowlstm_sequential_steps", 32,
    "one step per row: the input-to-state term of all rows comes out of one convolution, and a row's state is "
    "updated for all its columns at once, but row i needs the state of row i - 1. So H = 32 steps, whatever the "
    "width; the Diagonal BiLSTM needs 2 (H + W - 1), a PixelCNN none.",
    {20: "that is one step per column: the Row LSTM updates all the columns of a row at once; its recurrence runs "
         "over the ROWS",
     640: "that is one step per pixel, the cost of SAMPLING; in training every pixel is known, so a whole row's "
          "state is updated in one step",
     1: "the input-to-state convolution runs on all rows at once, but the state of row i needs the state of row "
        "i - 1: that chain is sequential",
     102: "that is 2 (H + W - 1), the Diagonal BiLSTM's count (two directions along the diagonals); the Row LSTM "
          "walks down the rows only",
     51: "that is H + W - 1, the number of diagonals, the Diagonal BiLSTM's count per direction; the Row LSTM "
         "walks down the rows",
     31: "the first row starts from the zero state but still needs its own update: one step per row, all 32"})

number(
    "pixelrnn_batch_passes", 784,
    "784: each pass computes the conditionals of all 8 images at once (the batch dimension is parallel, the "
    "images are independent), but pixel (i, j) can only be drawn after the pixels before it, so there is one "
    "pass per pixel position, whatever the batch size.",
    {6272: "that is one pass per pixel of each image (8 x 784); but the 8 images do not interact, so pixel (i, j) "
           "of all 8 is drawn from one batched pass: the batch is parallel, the pixel order is not",
     8: "one pass per image is enough to SCORE 8 known images; to DRAW them, each pixel needs a pass on the images "
        "with the pixels before it already drawn",
     1: "one pass gives all 784 conditionals only when every pixel is known (training, scoring); when sampling, "
        "the conditional of pixel (i, j) depends on the pixels drawn before it",
     28: "one pass per row would draw all pixels of a row at once, but pixel (i, j) depends on (i, j - 1) of the "
         "same row",
     224: "that is 8 x 28, one pass per row of each image: but pixel (i, j) depends on (i, j - 1) of its own row, "
          "and the batch is parallel"})

choice(
    "pixelcnn_all_type_b", "a",
    "type B keeps the centre weight; in the first layer the centre of the output at (i, j) is the pixel x_ij "
    "itself. The network can then copy each pixel into its own prediction: the training NLL falls towards 0, "
    "but the model is not a distribution over images, and sampling reads a pixel that is not drawn yet (0).",
    {"b": "that one weight is the centre: in the first layer it connects the logit at (i, j) to the very pixel "
          "x_ij it predicts",
     "c": "type B hides the rows below exactly like type A: the two masks differ only at the centre",
     "d": "the blind spot comes from the shape of the 3x3 masks (right of the centre only in rows above); the "
          "centre weight changes nothing about which pixels up and to the right can be reached"})

choices(
    "pixelcnn_blind_spot", {"a", "c", "e"},
    "a path through masked 3x3 kernels moves one column right only by also moving one row up (the type-B kernel "
    "reaches (i - 1, j + 1) but nothing right of j in its own row), and never moves down again. So (i - d, j + e) "
    "is reachable when e <= d, and with enough layers every pixel to the left; e > d is the blind spot.",
    {"a": "(9, 11) belongs: one row up, one column right, reached directly by a type-B kernel",
     "b": "(9, 12) is two columns right but only one row up: e = 2 > d = 1, in the blind spot",
     "c": "(6, 14) belongs: four rows up and four columns right, four up-right steps (e = d = 4)",
     "d": "(10, 11) comes AFTER (10, 10) in raster order: no causal model may depend on it",
     "e": "(10, 3) belongs: the first layer reaches one column left and each later layer one more; 20 layers reach "
          "far beyond seven",
     "f": "(5, 16) is six columns right and only five rows up: e = 6 > d = 5, in the blind spot"})

choice(
    "pixelcnn_parallel_training", "a",
    "in training the whole image is data: every pixel is known, so the masked network computes all 784 "
    "conditionals in one pass, each from the true pixels before it. A sample's pixel i does not exist until it is "
    "drawn from a conditional that needs pixels 1 .. i - 1: one pass per pixel.",
    {"b": "the masks are part of the layers (a buffer multiplied into the weights at every call): the very same "
          "masked network runs in training and in sampling",
     "c": "torch.no_grad only skips recording the graph for backward; the forward pass is the same parallel "
          "convolution",
     "d": "drawing 784 Bernoulli values at once is one vectorised comparison (u < p); the trouble is that the p of "
          "a later pixel depends on the values drawn for the earlier ones"})
