"""Checks for notebooks 03 (PixelRNN) and 04 (PixelCNN): likelihood, sampling, masks, receptive fields.

    check_image_nll(image_nll, bits_per_dim)     # 03: per-image NLL in nats, and bits per dimension
    check_sample_raster(sample_raster)           # 03: the pixel-by-pixel sampling loop
    check_causal_mask(causal_mask)               # 04: masks of type A and B
    check_receptive_field(receptive_field)       # 04: which input pixels one output depends on

Each check runs the student's function on inputs whose answer is known (hand-made logits, small
hand-made "models" whose samples are known, the reference implementation in
``course_utils.models``, gradients through a masked convolution) and names the likely mistake.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..models.autoregressive import sample_naive
from ..models.pixelcnn import causal_mask as reference_mask
from . import exercise_check, expect, expect_close, expect_shape


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
                   f"causal_mask returned dtype {mask.dtype}: return float32 (torch.zeros' default, or .float()); "
                   "a float64 mask turns the float32 weights it multiplies into float64, and the convolution "
                   "then fails on float32 images")
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
    expect(int(out.sum()) != 0, "no input pixel was marked: mark the pixels where the gradient is not zero")
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
    return "the gradient of one output pixel marks exactly the inputs it depends on"
