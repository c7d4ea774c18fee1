"""Checks for notebook 07 (every model side by side): the edge-sharpness measure.

    check_sharpness(sharpness)   # images (N, 1, H, W) in [0, 1] -> (N,): sum(d^2) / sum(|d|)

and its conceptual questions (asked after the table): cmp_exact_likelihood, cmp_one_pass, cmp_fid_floor.
"""

from __future__ import annotations

import torch

from ..metrics import edge_sharpness
from . import exercise_check, expect, expect_close, expect_shape
from .questions import choice, choices


def _step_image(height: int = 6, width: int = 8, ramp: int = 1) -> torch.Tensor:
    """One image (1, H, W): black on the left, white on the right, joined by a ramp of ``ramp`` steps."""
    row = ((torch.arange(width, dtype=torch.float32) - width // 2 + ramp) / ramp).clamp(0, 1)
    return row.expand(height, width).reshape(1, height, width).clone()


@exercise_check
def check_sharpness(sharpness):
    """``sharpness(images)``: float (N, 1, H, W) in [0, 1] -> float (N,), sum of squared steps / sum of |steps|."""
    crisp, smeared = _step_image(ramp=1), _step_image(ramp=4)  # one step of 1 vs four steps of 1/4
    vertical = crisp.transpose(1, 2).contiguous()              # the same edge, lying the other way
    blank = torch.zeros(1, 6, 8)
    batch = torch.stack([crisp, smeared, blank])                # (3, 1, 6, 8)
    before = batch.clone()
    out = sharpness(batch)
    expect(torch.is_tensor(out), f"the result should be a torch tensor, got {type(out).__name__}")
    expect(torch.equal(batch, before), "your function changed its input: compute the differences into new tensors")
    expect(out.dim() != 0, "you returned one number for the whole batch: return one value per image, shape (N,)")
    expect_shape(out, (3,), "sharpness of 3 images")
    expect(bool(torch.isfinite(out).all()),
           "a blank image (no steps at all) gave nan or inf: return 0 where the sum of |steps| is 0")
    expect(not bool((out.detach()[:2] == 0).all()),
           "the crisp edge (a step from one column to the next) scores 0: take the differences along the width "
           "(images.diff(dim=3)) as well as along the height (dim=2)")
    expect(not torch.allclose(out.detach(), out.detach()[:1].expand(3)),
           f"every image got the same value ({out[0].item():.4g}): compute the sums per image (over dims 1, 2, 3), "
           "not over the whole batch")
    expect(abs(out[2].item()) < 1e-6, f"a blank image should score 0 (it has no edges), got {out[2].item():.4g}")
    for i, what in enumerate(("crisp", "smeared")):
        alone = sharpness(batch[i:i + 1].clone())
        alone = alone.detach().flatten()[0].item() if torch.is_tensor(alone) and alone.numel() == 1 else None
        expect(alone is None or abs(alone - out[i].item()) < 1e-5 * max(1.0, abs(alone)),
               f"the {what} edge scores {out[i].item():.4g} in the batch but {alone:.4g} on its own: an image's value "
               "must not depend on the other images in the batch; take the sums per image (over dims 1, 2, 3, "
               "e.g. .flatten(1).sum(1)), not over the whole batch")
    steps = torch.cat([batch.diff(dim=3).flatten(1), batch.diff(dim=2).flatten(1)], 1)[:2].double()
    got2 = out[:2].detach().double()
    for wrong, hint in [
        (steps.pow(2).sum(1) / steps.abs().sum(1) ** 2, "the denominator is squared: divide sum(d^2) by sum(|d|), "
                                                        "not by sum(|d|)^2"),
        (steps.pow(2).sum(1).sqrt() / steps.abs().sum(1), "the numerator is a root (a norm): use sum(d^2), no sqrt"),
        (steps.pow(2).mean(1) / steps.abs().sum(1), "the numerator is a mean and the denominator a sum: use sums "
                                                    "for both (or means for both)"),
        (steps.pow(2).sum(1) / steps.abs().mean(1), "the numerator is a sum and the denominator a mean: use sums "
                                                    "for both (or means for both)"),
        (steps.abs().sum(1) / steps.pow(2).sum(1), "the ratio is upside down: use sum(d^2) / sum(|d|)"),
        ((lambda d: d.pow(2).sum(1) / d.abs().sum(1))(batch[:2].flatten(1).double().diff(dim=1)),
         "you took differences of the flattened images: that pairs the last pixel of a row with the first of the "
         "next and misses the vertical neighbours; use images.diff(dim=3) and images.diff(dim=2)"),
    ]:
        expect(not torch.allclose(got2, wrong, atol=1e-4, rtol=1e-4), hint)
    expect(abs(out[1].item() - 4.0) > 1e-3,
           "an edge smeared over 4 pixels scores 4, not 1/4: the ratio is upside down, use sum(d^2) / sum(|d|)")
    expect(out[0].item() > out[1].item(), "the crisp edge should score higher than the smeared one")
    expect(abs(out[0].item() - 1.0) < 1e-4 or out[0].item() < 0.99,
           f"the crisp edge scores {out[0].item():.4g}, above 1: its steps are 0 or 1, so sum(d^2) / sum(|d|) is 1; "
           "keep the images in [0, 1] (no rescaling) and divide by the sum of |d| (not by a count or a square)")
    expect_close(out[:2], torch.tensor([1.0, 0.25]), "sharpness of a crisp edge and of one smeared over 4 pixels",
                 hint="divide the sum of squared differences by the sum of absolute differences, per image")
    dimmed = sharpness(0.5 * batch[:2])
    if torch.is_tensor(dimmed) and dimmed.shape == (2,) and bool(torch.isfinite(dimmed).all()):
        expect(not torch.allclose(dimmed.detach().double(), got2, atol=1e-4),
               "the same edges at half the contrast (images x 0.5) score as much as the originals: sum(d^2) / "
               "sum(|d|) is in intensity units, so it halves when the steps halve; do not rescale the images (by "
               "their maximum, or to [0, 1]) before taking the differences")
        expect_close(dimmed, 0.5 * got2, "sharpness of the two edges at half the contrast (images x 0.5)",
                     hint="the value should halve with the steps: sum(d^2) / sum(|d|) of the images as they are")
    out_v = sharpness(vertical.unsqueeze(0))
    expect(out_v.numel() == 1 and abs(out_v.flatten()[0].item() - 1.0) < 1e-4,
           "an edge between rows (a vertical step) scores "
           f"{out_v.flatten()[0].item() if out_v.numel() else float('nan'):.4g}, not 1: "
           "use the differences along both the width (dim 3) and the height (dim 2)")
    line = torch.zeros(1, 1, 6, 8)
    line[..., 3] = 1.0  # a thin white line: a step up, then a step down
    out_line = sharpness(line).flatten()
    expect(out_line.numel() == 1 and torch.isfinite(out_line).all() and abs(out_line[0].item() - 1.0) < 1e-4,
           "a thin line (a step up, then the same step down) should score 1: take the absolute value of each "
           "difference before summing, or the ups and downs cancel")
    noise = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    expect_close(sharpness(noise), edge_sharpness(noise), "sharpness of 5 random 28x28 images",
                 hint="count both directions, every neighbouring pair once, and sum per image")
    return "one value per image; crisp edges score 1, smeared ones less; blank images 0"


# --- conceptual questions (notebook 07, after the table) ------------------------------------------

choices(
    "cmp_exact_likelihood", {"a", "d"},
    "the chain rule makes PixelCNN's log p(x) a sum of 784 conditionals that one network pass computes, and "
    "independent pixels are the chain rule with every conditional ignoring the others; the VAE's p(x) is an "
    "integral over z that only a bound or an estimate reaches, and the GAN and the autoencoder define no "
    "density over images at all.",
    {"a": "the chain rule log p(x) = sum_i log p(x_i | x_<i) is exact, and a masked network computes all 784 "
          "conditionals in one pass",
     "b": "p(x) = integral of p(x | z) p(z) dz has no closed form for a neural decoder: the ELBO is a bound and "
          "the importance-weighted number an estimate that only reaches log p(x) as k goes to infinity",
     "c": "a GAN's generator maps noise to images but defines no density to evaluate at a given image; the "
          "discriminator's output is not a probability of the image either",
     "d": "a product of 784 Bernoulli probabilities is a density over binary images, and its log is an exact "
          "sum: simple, but exact",
     "e": "an autoencoder maps an image to a code and back; nothing in it assigns a probability to an image"})

choices(
    "cmp_one_pass", {"a", "b"},
    "the GAN's generator and the VAE's decoder map a whole batch of noise vectors to images in one pass; "
    "PixelCNN needs one dependent step per pixel (784), and the flow-matching sampler one pass per Euler step.",
    {"a": "the generator maps z to a whole image in one forward pass",
     "b": "sampling draws z from the prior and decodes it once; the encoder is not needed to sample",
     "c": "each pixel is drawn from a distribution that depends on the pixels drawn before it, so 784 steps run "
          "one after another; the fast sampler makes each step cheap, not fewer",
     "d": "each Euler step needs the velocity at the current point, which the previous step produced: 20 "
          "dependent passes, fewer than 784 but not one",
     "e": "PixelRNN is autoregressive like PixelCNN: 784 dependent steps per image"})

choice(
    "cmp_fid_floor", "a",
    "FID compares means and covariances estimated from a finite number of images; two finite samples of the "
    "same distribution never have exactly the same statistics, so even a perfect model scores about the "
    "real-vs-real floor at this sample size (the floor shrinks as the number of images grows).",
    {"b": "the classifier's mistakes do not matter here: FID uses its features, not its labels, and a model whose "
          "images follow the data distribution exactly gives the same feature distribution, right or wrong "
          "labels alike; what is left is the sampling noise of a finite number of images",
     "c": "the floor is measured between two sets of real digits: no model is involved, so a larger model "
          "cannot lower it; only more images per side can",
     "d": "both halves are real test digits of the same kind; their difference is chance, the finite number of "
          "images, not a difference in blur"})
