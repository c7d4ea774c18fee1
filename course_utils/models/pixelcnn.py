"""PixelCNN: masked convolutions, the blind spot, and the gated PixelCNN that removes it.

A PixelCNN predicts every pixel of a binary image from the pixels before it in raster order (the
rows above, and the pixels to the left in its own row). Masking the convolution kernels keeps that
promise for all pixels at once, so training is one parallel pass; sampling still needs one pass
per pixel (see :func:`course_utils.models.autoregressive.sample_naive`).

    mask = causal_mask(3, "B")                   # (3, 3) float: 1 where the kernel may look
    conv = MaskedConv2d(1, 32, 7, mask_type="A") # first layer: the centre pixel is hidden
    model = PixelCNN()                           # a plain stack of masked convs (has a blind spot)
    model = GatedPixelCNN()                      # vertical + horizontal stacks: no blind spot
    logits = model(x)                            # x binary (N, 1, H, W) -> logits (N, 1, H, W)
    x = model.sample_fast(uniforms)              # the same samples as sample_naive, several times faster
    model = build_pixelcnn("lecture")            # the architecture notebook 04 trains and caches

Gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders"),
as built here. The vertical stack at row i sees only the rows above i (all columns within its
reach); the horizontal stack at (i, j) sees row i left of j, plus the vertical stack at (i, j).
Each layer::

    v_pre = conv_(k//2+1) x k (v)            # rows i - k//2 .. i of the vertical stack
    h_pre = conv_1 x (k//2+1) (h) + 1x1(v_pre)        (the link from the vertical stack)
    v = tanh(v_pre[:C]) * sigmoid(v_pre[C:])
    h = h + 1x1(tanh(h_pre[:C]) * sigmoid(h_pre[C:]))    (residual; the first layer has none)

The first layer reads the image itself and is shifted by one row (vertical) and one column
(horizontal), which plays the role of mask A: the pixel being predicted is never seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .autoregressive import _check_sampling_inputs, check_eval_mode, check_images, cpu_threads

MASK_TYPES = ("A", "B")

# What notebook 04 trains in each profile: the GatedPixelCNN's sizes and the training budget.
# Notebooks 05 and 07 rebuild the model from here to load the cached weights
# (cached_model_path("pixelcnn", profile)), so change it here and nowhere else.
CONFIGS = {
    "smoke": {"model": {"channels": 8, "layers": 2}, "train_images": 256, "epochs": 1, "batch_size": 16,
              "lr": 1e-2, "weight_decay": 0.0},
    "lecture": {"model": {"channels": 16, "layers": 10}, "train_images": 4000, "epochs": 6, "batch_size": 16,
                "lr": 1e-2, "weight_decay": 0.0},
    "full": {"model": {"channels": 64, "layers": 15}, "train_images": None, "epochs": 30, "batch_size": 64,
             "lr": 3e-3, "weight_decay": 0.0},
}


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The mask of a raster-order masked convolution: float32 (k, k) of 0s and 1s.

    Rows above the centre: 1. The centre row: 1 left of the centre, and at the centre only for
    type 'B' (type 'A', the first layer, must not see the pixel it predicts). Below: 0.
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size!r}")
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(k, k)
    mask[:c, :] = 1.0
    mask[c, :c] = 1.0
    if mask_type == "B":
        mask[c, c] = 1.0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution ('same' padding) whose kernel is multiplied by :func:`causal_mask`.

    in: (N, in_channels, H, W) -> out: (N, out_channels, H, W). The output at (i, j) depends on
    the input at the pixels before (i, j) in raster order, and for type 'B' also at (i, j).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str = "B"):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type)[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def _check_input(x: torch.Tensor) -> None:
    check_images(x, "x", binary=False)


class PixelCNN(nn.Module):
    """The original PixelCNN on binary images: masked conv A, then residual masked 3x3 convs B.

    x float (N, 1, H, W) with values in [0, 1] -> logits float (N, 1, H, W).
    Its receptive field has a blind spot up and to the right of each pixel; see GatedPixelCNN.
    """

    def __init__(self, channels: int = 32, layers: int = 5, first_kernel: int = 7, kernel: int = 3):
        super().__init__()
        if layers < 1 or channels < 1:
            raise ValueError(f"need layers >= 1 and channels >= 1, got {layers}, {channels}")
        self.first = MaskedConv2d(1, channels, first_kernel, "A")
        self.blocks = nn.ModuleList(MaskedConv2d(channels, channels, kernel, "B") for _ in range(layers - 1))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        h = self.first(x)
        for block in self.blocks:
            h = h + block(F.relu(h))
        return self.head(h)


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of both stacks. v, h: (N, C_in, H, W) -> v, h: (N, C, H, W) (see the module docstring)."""

    def __init__(self, in_channels: int, channels: int, kernel: int, first: bool = False, dropout: float = 0.0):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd positive int, got {kernel}")
        self.first, self.pad = first, kernel // 2
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (self.pad + 1, kernel))
        self.h_conv = nn.Conv2d(in_channels, 2 * channels, (1, self.pad + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def vertical(self, v: torch.Tensor) -> torch.Tensor:
        """Pre-activation of the vertical stack: row i sees rows i - k//2 .. i of v (the first layer: rows above i)."""
        p = self.pad
        if self.first:  # shift down one row: the image's own row i stays hidden
            return self.v_conv(F.pad(v, (p, p, p + 1, 0)))[:, :, :-1]
        return self.v_conv(F.pad(v, (p, p, p, 0)))

    def horizontal(self, h: torch.Tensor, link: torch.Tensor) -> torch.Tensor:
        """The new horizontal stack from the old one h and ``link = v_to_h(v_pre)``, the vertical stack's
        contribution at the same positions: (N, C_in, R, W), (N, 2C, R, W) -> (N, C, R, W)."""
        p = self.pad
        if self.first:  # shift right one column: pixel (i, j) itself stays hidden
            h_pre = self.h_conv(F.pad(h, (p + 1, 0, 0, 0)))[:, :, :, :-1]
        else:
            h_pre = self.h_conv(F.pad(h, (p, 0, 0, 0)))
        out = self.h_out(self.dropout(_gate(h_pre + link)))
        return out if self.first else h + out

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return gated_layer(self, v, h)


def gated_layer(layer: GatedLayer, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer of both stacks with the weights of ``layer`` (notebook 04's exercise): the new (v, h).

    v, h: (N, C_in, H, W) -> v, h: (N, C, H, W); ``GatedLayer.forward`` is this function.
    """
    v_pre = layer.vertical(v)
    return _gate(v_pre), layer.horizontal(h, layer.v_to_h(v_pre))


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN with vertical and horizontal stacks: a receptive field without a blind spot.

    x float (N, 1, H, W) with values in [0, 1] -> logits float (N, 1, H, W).
    channels C per stack, ``layers`` gated layers (the first with ``first_kernel``), dropout inside.
    """

    def __init__(self, channels: int = 32, layers: int = 6, first_kernel: int = 7, kernel: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        if layers < 1 or channels < 1:
            raise ValueError(f"need layers >= 1 and channels >= 1, got {layers}, {channels}")
        self.layers = nn.ModuleList(
            [GatedLayer(1, channels, first_kernel, first=True, dropout=dropout)]
            + [GatedLayer(channels, channels, kernel, dropout=dropout) for _ in range(layers - 1)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def reach(self) -> int:
        """How many rows above (and columns to the left) the output at a pixel can see."""
        first, rest = self.layers[0], self.layers[1:]
        return first.pad + 1 + sum(layer.pad for layer in rest)

    @torch.no_grad()
    def sample_fast(self, uniforms: torch.Tensor, known: torch.Tensor | None = None, start: int = 0,
                    threads: int | None = 1) -> torch.Tensor:
        """The same samples as ``sample_naive(self, uniforms, known, start)``, computing only what is needed.

        The vertical stack at row i depends on the rows above i only, so it is computed once per
        row, on the ``reach()`` rows above i; for each pixel (i, j) only the horizontal stack of
        row i is recomputed, on the ``reach()`` columns up to j. Each logit is computed from the same
        inputs with the same weights as in a full pass.
        uniforms: float (N, 1, H, W) in [0, 1); returns binary float (N, 1, H, W). The model must be
        in eval mode. threads: CPU threads while sampling (None keeps torch's setting).
        """
        _check_sampling_inputs(uniforms, known, start)
        check_eval_mode(self)
        _, _, height, width = uniforms.shape
        reach = self.reach()
        x = known.clone() if known is not None else torch.zeros_like(uniforms)
        x.view(len(x), -1)[:, start:] = 0.0
        with cpu_threads(threads, uniforms.device):
            for i in range(start // width, height):
                top = max(0, i - reach)
                v, links = x[:, :, top: i + 1], []  # the rows that can reach row i
                for layer in self.layers:  # the vertical stack, once per row
                    v_pre = layer.vertical(v)
                    links.append(layer.v_to_h(v_pre[:, :, i - top: i - top + 1]))  # row i: (N, 2C, 1, W)
                    v = _gate(v_pre)
                for j in range(start - i * width if i == start // width else 0, width):
                    left = max(0, j - reach)
                    h = x[:, :, i: i + 1, left: j + 1]  # row i, the columns that can reach (i, j)
                    for layer, link in zip(self.layers, links, strict=True):
                        h = layer.horizontal(h, link[..., left: j + 1])
                    p = torch.sigmoid(self.head(h)[:, :, 0, -1])  # (N, 1): the logit at (i, j)
                    x[:, :, i, j] = (uniforms[:, :, i, j] < p).float()
        return x


def build_pixelcnn(profile: str) -> GatedPixelCNN:
    """A fresh GatedPixelCNN with the sizes notebook 04 uses in ``profile`` (see :data:`CONFIGS`)."""
    if profile not in CONFIGS:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(CONFIGS)}")
    return GatedPixelCNN(**CONFIGS[profile]["model"])
