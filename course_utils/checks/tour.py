"""Checks for notebook 00 (setup and tour): the warm-up exercise.

    check_to_unit_range(to_unit_range)   # uint8 pixels 0..255 -> float32 in [0, 1]
"""

from __future__ import annotations

import torch

from . import exercise_check, expect, expect_close
from .questions import number


def _expect_same_shape(out: torch.Tensor, pixels: torch.Tensor) -> None:
    expect(tuple(out.shape) == tuple(pixels.shape),
           f"the result has shape {tuple(out.shape)} for an input of shape {tuple(pixels.shape)}: "
           "keep the input's shape (no flatten, reshape or squeeze)")


@exercise_check
def check_to_unit_range(to_unit_range):
    """``to_unit_range(pixels)``: uint8 tensor of any shape, values 0..255 -> float32, same shape, /255."""
    # A hand-made 2x3 "image" whose brightest pixel is 128, not 255: the answer must not depend on it.
    dim = torch.tensor([[0, 51, 102], [128, 64, 0]], dtype=torch.uint8)
    before = dim.clone()
    out = to_unit_range(dim)
    expect(torch.is_tensor(out), f"the result should be a torch tensor, got {type(out).__name__}")
    expect(torch.equal(dim, before), "your function changed its input: return a new tensor instead")
    expect(out.dtype != torch.uint8,
           "the result is still uint8 (whole numbers only): convert with .float() before dividing, "
           "and do not use // (integer division)")
    expect(out.is_floating_point(), f"the result has dtype {out.dtype}: convert with .float()")
    expect(out.dtype == torch.float32,
           f"the result has dtype {out.dtype}; the course uses float32 (.float()), "
           + ("not float64" if out.dtype == torch.float64 else "the models' dtype"))
    _expect_same_shape(out, dim)
    expect(out.min() >= -1e-6,
           f"negative values (down to {out.min().item():.4g}): the result should lie in [0, 1]; did you map to "
           "[-1, 1] (x / 127.5 - 1) or subtract a mean? Divide by 255 only")
    expect(out.max() <= 1.0 + 1e-6,
           f"values up to {out.max().item():.4g}: did you forget to divide by 255?")
    expect(not torch.allclose(out, 1 - dim.float() / 255, atol=1e-6),
           "the values are inverted (1 - pixels / 255): 0 is black and must stay 0.0; return pixels / 255")
    expect(not torch.all(out[dim > 0] == 0),
           "the non-zero pixels all became 0: integer division (// or rounding)? "
           "Convert to float, then divide with /")
    expect(not bool((out == out.round()).all()),
           "every value came out a whole number (0 or 1): the fractions were rounded away (.round(), .int(), "
           "//, or a cast to an integer type after dividing); keep pixels / 255 as it is")
    expect(not torch.allclose(out.max(), torch.tensor(1.0)),
           "the brightest pixel of this input is 128, yet it maps to 1.0: did you divide by the "
           "image's own maximum (or stretch min..max)? Divide by 255, the largest possible value")
    expect(not torch.allclose(out, dim.float() / 256, atol=1e-7),
           "the values are pixels / 256: divide by 255 so that 255 maps exactly to 1.0")
    # Any other affine map a * pixels + b: name its scale and offset.
    p = dim.double().flatten()
    design = torch.stack([p, torch.ones_like(p)], 1)
    got = out.detach().double().flatten()
    coef = torch.linalg.lstsq(design, got[:, None]).solution.flatten()
    if torch.allclose(design @ coef, got, atol=1e-5) and not torch.allclose(got, p / 255, atol=1e-6):
        a, b = coef.tolist()
        expect(False, f"your values are {a:.6g} * pixels + {b:.4g}"
               + (f" = (pixels + {b / a:.3g}) / {1 / a:.4g}" if abs(a) > 1e-12 and abs(b) > 1e-9 else "")
               + f": the map asked for is pixels / 255 (scale {1 / 255:.6g}, no offset), so that 0 -> 0.0 and "
                 "255 -> 1.0"
               + ("; an offset (e.g. + 0.5 for dequantisation) moves 0 away from 0.0" if abs(b) > 1e-9 else ""))
    expect_close(out, dim.float() / 255, "to_unit_range on a 2x3 image", hint="expected pixels / 255")

    # The full range 0..255, and a batch of the usual image shape (N, 1, 28, 28).
    full = torch.arange(256, dtype=torch.uint8)
    out = to_unit_range(full)
    _expect_same_shape(out, full)
    expect_close(out[[0, 255]], torch.tensor([0.0, 1.0]), "to_unit_range([0, 255])",
                 hint="0 must map to 0.0 and 255 to exactly 1.0")
    expect_close(out, full.float() / 255, "to_unit_range(0..255)")
    batch = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    out = to_unit_range(batch)
    _expect_same_shape(out, batch)
    expect_close(out, batch.float() / 255, "to_unit_range on a batch of images")
    return "uint8 0..255 becomes float32 in [0, 1], shape kept"


# --- conceptual questions ------------------------------------------------------------------------

number("tour_uint8_wraps", 44,
       "a uint8 holds only 0..255, and arithmetic on uint8 tensors stays uint8 and wraps around modulo 256: "
       "200 + 100 = 300 becomes 300 - 256 = 44, silently. That is why to_unit_range converts to float BEFORE "
       "computing anything with the pixels.",
       {300: "that is the sum in ordinary numbers; but a uint8 cannot hold 300 (its values are 0..255) and adding "
             "two uint8 tensors gives a uint8 tensor",
        255: "PyTorch's uint8 arithmetic does not clip (saturate) at 255, as some image libraries do: it wraps "
             "around modulo 256",
        300 / 255: "that is (200 + 100) / 255, after converting to floats; the question adds the uint8 tensors "
                   "themselves, with no conversion",
        0: "nothing resets to 0: the result wraps around modulo 256"})
