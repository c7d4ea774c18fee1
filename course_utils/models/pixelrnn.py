"""PixelRNN with Row LSTM layers: an LSTM that walks down the image one row at a time.

The model predicts every pixel of a binary image from the pixels before it in raster order. A
masked 7x7 convolution (type A) reads the image; then each Row LSTM layer runs a recurrence from
the top row to the bottom row, where the state of a whole row is updated at once::

    gates_i = K_is (*) x_i  +  K_ss (*) h_(i-1)        (4C channels: input, forget, output, content)
    c_i = sigmoid(f) * c_(i-1) + sigmoid(i) * tanh(g)
    h_i = sigmoid(o) * tanh(c_i)

K_is, the input-to-state kernel, is a 1 x k convolution along row i, masked so that position j
sees only positions <= j (the layer's input at (i, j) already excludes pixel (i, j) itself);
K_ss, the state-to-state kernel, is an unmasked 1-D convolution of width k over the previous
row's state, which only depends on rows above. So h_i at column j depends on the rows above
(within a triangle that widens upward) and on row i left of j: the model stays causal.

    model = RowLSTMPixelRNN()                   # Row LSTM layers: a triangular context
    model = DiagonalBiLSTMPixelRNN()            # Diagonal BiLSTM layers: the whole context
    logits = model(x)                           # x binary (N, 1, H, W) -> logits (N, 1, H, W)

The Row LSTM's state at (i, j) reaches the rows above only within a triangle (k//2 columns more to
each side per row up). The Diagonal BiLSTM removes that limit: it skews the image so that each
diagonal becomes a column, and runs an LSTM over the columns whose state at (i, j) combines the
states at (i, j - 1) and (i - 1, j); hence every pixel above and to the left. A second LSTM runs
from right to left (on the mirrored image) and is shifted down one row before the two are added,
so it contributes every pixel of the rows above, also to the right. Its price: 2 (H + W - 1)
sequential steps per layer instead of H.

(van den Oord, Kalchbrenner and Kavukcuoglu, 2016, "Pixel Recurrent Neural Networks".)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .autoregressive import check_images
from .pixelcnn import MaskedConv2d

# What notebook 03 trains in each profile: the model's class and sizes and the training budget.
# Notebooks 04 (timing), 05 and 07 rebuild the model from here to load the cached weights
# (cached_model_path("pixelrnn", profile)), so change it here and nowhere else.
CONFIGS = {
    "smoke": {"kind": "row", "model": {"hidden": 8, "layers": 1}, "train_images": 256, "epochs": 1,
              "batch_size": 16, "lr": 1e-2, "weight_decay": 0.0},
    "lecture": {"kind": "row", "model": {"hidden": 32, "layers": 2}, "train_images": None, "epochs": 4,
                "batch_size": 16, "lr": 1e-2, "weight_decay": 0.0},
    "full": {"kind": "diagonal", "model": {"hidden": 64, "layers": 4}, "train_images": None, "epochs": 30,
             "batch_size": 64, "lr": 3e-3, "weight_decay": 0.0},
}


class RowMaskedConv(nn.Conv2d):
    """A 1 x k convolution along each row whose output at column j sees input columns <= j only.

    in: (N, in_channels, H, W) -> out: (N, out_channels, H, W). Columns right of j are masked out.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3):
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd positive int, got {kernel}")
        super().__init__(in_channels, out_channels, (1, kernel), padding=(0, kernel // 2))
        mask = torch.zeros(1, 1, 1, kernel)
        mask[..., : kernel // 2 + 1] = 1.0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class RowLSTM(nn.Module):
    """One Row LSTM layer: x (N, in_channels, H, W) -> hidden states h (N, hidden, H, W)."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = RowMaskedConv(in_channels, 4 * hidden, kernel)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        from_input = self.input_to_state(x)  # (N, 4C, H, W): all rows at once, in parallel
        h = x.new_zeros(n, self.hidden, width)
        c = x.new_zeros(n, self.hidden, width)
        rows = []
        for i in range(height):  # the recurrence: row i needs the state of row i - 1
            gates = from_input[:, :, i] + self.state_to_state(h)  # (N, 4C, W)
            in_gate, forget, out_gate, content = gates.chunk(4, dim=1)
            c = torch.sigmoid(forget) * c + torch.sigmoid(in_gate) * torch.tanh(content)
            h = torch.sigmoid(out_gate) * torch.tanh(c)
            rows.append(h)
        return torch.stack(rows, dim=2)


class RowLSTMPixelRNN(nn.Module):
    """PixelRNN: masked 7x7 conv (A) -> ``layers`` residual Row LSTM layers -> two 1x1 convs -> logits.

    x float (N, 1, H, W) with values in [0, 1] -> logits float (N, 1, H, W).
    hidden: channels C of the LSTM state; kernel: width k of both row convolutions.
    """

    def __init__(self, hidden: int = 32, layers: int = 2, kernel: int = 3, first_kernel: int = 7):
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"need layers >= 1 and hidden >= 1, got {layers}, {hidden}")
        self.first = MaskedConv2d(1, hidden, first_kernel, "A")
        self.lstms = nn.ModuleList(RowLSTM(hidden, hidden, kernel) for _ in range(layers))
        self.back = nn.ModuleList(nn.Conv2d(hidden, hidden, 1) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, "x", binary=False)
        h = self.first(x)
        for lstm, back in zip(self.lstms, self.back, strict=True):
            h = h + back(lstm(h))  # residual connection around each layer
        return self.head(h)


def skew(x: torch.Tensor) -> torch.Tensor:
    """Shift row i of x (N, C, H, W) right by i: returns (N, C, H, H + W - 1), zeros elsewhere.

    After skewing, the pixels (i, t - i) of the diagonal t form column t.
    """
    n, c, height, width = x.shape
    padded = F.pad(x, (0, height))  # rows of length W + H; re-read them as rows of length W + H - 1
    return padded.flatten(2)[:, :, : height * (width + height - 1)].reshape(n, c, height, width + height - 1)


def unskew(y: torch.Tensor, width: int) -> torch.Tensor:
    """Undo :func:`skew`: y (N, C, H, H + W - 1) -> (N, C, H, W)."""
    n, c, height, skewed = y.shape
    if skewed != width + height - 1:
        raise ValueError(f"expected a skewed width of {width + height - 1} for width {width}, got {skewed}")
    return F.pad(y.flatten(2), (0, height)).reshape(n, c, height, width + height)[..., :width]


class DiagonalLSTM(nn.Module):
    """An LSTM along the diagonals, left to right: x (N, in_channels, H, W) -> h (N, hidden, H, W).

    The state at (i, j) is computed from the input at (i, j) (a 1x1 convolution) and from the
    states at (i, j - 1) and (i - 1, j) (a convolution of height 2 over the previous skewed column).
    """

    def __init__(self, in_channels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(in_channels, 4 * hidden, 1)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        from_input = skew(self.input_to_state(x))  # (N, 4C, H, H + W - 1)
        h = x.new_zeros(n, self.hidden, height)
        c = x.new_zeros(n, self.hidden, height)
        columns = []
        for t in range(from_input.shape[-1]):  # one diagonal of the image per step
            gates = from_input[..., t] + self.state_to_state(F.pad(h, (1, 0)))  # row r: states r - 1 and r
            in_gate, forget, out_gate, content = gates.chunk(4, dim=1)
            c = torch.sigmoid(forget) * c + torch.sigmoid(in_gate) * torch.tanh(content)
            h = torch.sigmoid(out_gate) * torch.tanh(c)
            columns.append(h)
        return unskew(torch.stack(columns, dim=-1), width)


class DiagonalBiLSTM(nn.Module):
    """Both directions: x (N, in_channels, H, W) -> (N, hidden, H, W), causal in raster order."""

    def __init__(self, in_channels: int, hidden: int):
        super().__init__()
        self.left_to_right = DiagonalLSTM(in_channels, hidden)
        self.right_to_left = DiagonalLSTM(in_channels, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forward = self.left_to_right(x)
        backward = self.right_to_left(x.flip(-1)).flip(-1)  # sees (i, j) and right of j: not allowed yet
        backward = F.pad(backward, (0, 0, 1, 0))[:, :, :-1]  # shift down one row: only rows above i
        return forward + backward


class DiagonalBiLSTMPixelRNN(nn.Module):
    """PixelRNN: masked 7x7 conv (A) -> ``layers`` residual Diagonal BiLSTM layers -> 1x1 convs -> logits.

    x float (N, 1, H, W) with values in [0, 1] -> logits float (N, 1, H, W).
    """

    def __init__(self, hidden: int = 32, layers: int = 1, first_kernel: int = 7):
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"need layers >= 1 and hidden >= 1, got {layers}, {hidden}")
        self.first = MaskedConv2d(1, hidden, first_kernel, "A")
        self.lstms = nn.ModuleList(DiagonalBiLSTM(hidden, hidden) for _ in range(layers))
        self.back = nn.ModuleList(nn.Conv2d(hidden, hidden, 1) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, "x", binary=False)
        h = self.first(x)
        for lstm, back in zip(self.lstms, self.back, strict=True):
            h = h + back(lstm(h))
        return self.head(h)


def build_pixelrnn(profile: str) -> nn.Module:
    """A fresh PixelRNN (Row LSTM or Diagonal BiLSTM) with the sizes notebook 03 uses in ``profile``."""
    if profile not in CONFIGS:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(CONFIGS)}")
    config = CONFIGS[profile]
    kind = {"row": RowLSTMPixelRNN, "diagonal": DiagonalBiLSTMPixelRNN}[config["kind"]]
    return kind(**config["model"])
