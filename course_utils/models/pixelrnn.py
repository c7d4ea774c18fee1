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
    x = model.sample_fast(uniforms)             # Row LSTM: the same samples as sample_naive, ~15x faster

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

from .autoregressive import _check_sampling_inputs, check_eval_mode, check_images, cpu_threads
from .pixelcnn import MaskedConv2d

# What notebook 03 trains in each profile: the model's class and sizes and the training budget.
# Notebooks 04 (timing), 05 and 07 rebuild the model from here to load the cached weights
# (cached_model_path("pixelrnn", profile)), so change it here and nowhere else.
CONFIGS = {
    "smoke": {"kind": "row", "model": {"hidden": 8, "layers": 1}, "train_images": 256, "epochs": 1,
              "batch_size": 16, "lr": 1e-2, "weight_decay": 0.0},
    "lecture": {"kind": "row", "model": {"hidden": 32, "layers": 2}, "train_images": 4000, "epochs": 4,
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

    def step(self, from_input: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the recurrence: row i's input-to-state term (N, 4C, W) and the state (h, c) of row
        i - 1, each (N, C, W) -> the state (h, c) of row i."""
        return lstm_update(from_input + self.state_to_state(h), c)  # gates: (N, 4C, W)

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The zero state (h, c) above the first row, each (N, C, W), for input x (N, in_channels, H, W)."""
        zeros = x.new_zeros(len(x), self.hidden, x.shape[-1])
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return row_lstm(x, self.input_to_state, self.state_to_state)


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM update from the pre-activations ``gates`` (N, 4C, ...), four blocks of C channels in the order
    input gate, forget gate, output gate, content, and the previous cell state c (N, C, ...) -> the new (h, c)."""
    in_gate, forget, out_gate, content = gates.chunk(4, dim=1)
    c = torch.sigmoid(forget) * c + torch.sigmoid(in_gate) * torch.tanh(content)
    return torch.sigmoid(out_gate) * torch.tanh(c), c


def row_lstm(x: torch.Tensor, input_to_state: nn.Module, state_to_state: nn.Module) -> torch.Tensor:
    """One Row LSTM layer with the given kernels (notebook 03's exercise): x (N, C_in, H, W) -> h (N, C, H, W).

    input_to_state: the masked 1 x k convolution, (N, C_in, H, W) -> (N, 4C, H, W), run on all rows at once;
    state_to_state: the 1-D convolution over the previous row's state, (N, C, W) -> (N, 4C, W). The state
    above the first row is zero; row i's state is :func:`lstm_update` of both terms and row i - 1's state.
    """
    from_input = input_to_state(x)  # (N, 4C, H, W): all rows at once, in parallel
    n, four_c, height, width = from_input.shape
    h = from_input.new_zeros(n, four_c // 4, width)
    c = torch.zeros_like(h)
    rows = []
    for i in range(height):  # the recurrence: row i needs the state of row i - 1
        h, c = lstm_update(from_input[:, :, i] + state_to_state(h), c)
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

    def _row(self, window: torch.Tensor, row: int, states: list) -> tuple[torch.Tensor, list]:
        """Row ``row`` of the image rows ``window`` (N, 1, R, W) through the network, given each layer's
        state (h, c) of the row above: returns (logits of that row (N, 1, W), each layer's state of the row)."""
        h = self.first(window)[:, :, row: row + 1]  # (N, C, 1, W): the first layer only looks up and left
        new_states = []
        for lstm, back, (h_above, c_above) in zip(self.lstms, self.back, states, strict=True):
            h_row, c_row = lstm.step(lstm.input_to_state(h)[:, :, 0], h_above, c_above)
            new_states.append((h_row, c_row))
            h = h + back(h_row.unsqueeze(2))
        return self.head(h)[:, :, 0], new_states

    @torch.no_grad()
    def sample_fast(self, uniforms: torch.Tensor, threads: int | None = 1) -> torch.Tensor:
        """The same samples as ``sample_naive(self, uniforms)``, with one row step per pixel instead of a full pass.

        Once row i - 1 is drawn, every layer's LSTM state of that row is final, so it is kept; a pixel
        of row i then needs only row i's step of each layer (and the first convolution on the rows
        within its reach), not the recurrence over all rows. uniforms: float (N, 1, H, W) in [0, 1);
        returns binary float (N, 1, H, W). The model must be in eval mode.
        """
        _check_sampling_inputs(uniforms, None, 0)
        check_eval_mode(self)
        height, width = uniforms.shape[2:]
        reach = self.first.kernel_size[0] // 2
        x = torch.zeros_like(uniforms)
        states = [lstm.initial_state(x) for lstm in self.lstms]
        with cpu_threads(threads, uniforms.device):
            for i in range(height):
                top = max(0, i - reach)
                window = x[:, :, top: i + reach + 1]  # the rows the first layer reads for row i
                for j in range(width):
                    logits, _ = self._row(window, i - top, states)
                    window[:, :, i - top, j] = (uniforms[:, :, i, j] < torch.sigmoid(logits[:, :, j])).float()
                _, states = self._row(window, i - top, states)  # row i is complete: keep its states
        return x


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
            h, c = lstm_update(gates, c)
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
