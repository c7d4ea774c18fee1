"""The checks of notebooks 03 and 04 pass the solutions and name the cause of typical mistakes."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import NOT_IMPLEMENTED_HINT, CheckFailed
from course_utils.checks.pixel_models import (
    check_causal_mask,
    check_gated_layer,
    check_image_nll,
    check_receptive_field,
    check_row_lstm,
    check_sample_raster,
)
from course_utils.models.pixelcnn import gated_layer as reference_gated_layer
from course_utils.models.pixelrnn import row_lstm as reference_row_lstm


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


# --- image_nll and bits_per_dim -----------------------------------------------------------------

def image_nll(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def bits_per_dim(nll, dims):
    return nll / (dims * math.log(2))


def naive_log(logits, x):
    p = torch.sigmoid(logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def test_nll_solution_passes():
    result = check_image_nll(image_nll, bits_per_dim)
    assert result.passed, result.message


def test_nll_alternative_solutions_pass():
    def with_logsigmoid(logits, x):
        return -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=(1, 2, 3))

    assert check_image_nll(with_logsigmoid, lambda nll, dims: nll / dims / math.log(2)).passed


def test_nll_stubs_fail_with_not_implemented_hint():
    assert check_image_nll(stub, bits_per_dim).message == NOT_IMPLEMENTED_HINT
    assert check_image_nll(image_nll, stub).message == NOT_IMPLEMENTED_HINT


def bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


@pytest.mark.parametrize("wrong, words", [
    (lambda logits, x: bce(logits, x).flatten(1).mean(1), "averaged over the pixels"),
    (lambda logits, x: F.binary_cross_entropy_with_logits(logits, x), "one NLL per image"),
    (lambda logits, x: bce(logits, x).sum().reshape(1), "one NLL per image"),
    (lambda logits, x: F.binary_cross_entropy(logits, x, reduction="none").flatten(1).sum(1), "as probabilities"),
    (lambda logits, x: -bce(logits, x).flatten(1).sum(1), "minus sign"),
    (lambda logits, x: image_nll(logits, x) / math.log(2), "in bits"),
    (naive_log, "F.binary_cross_entropy_with_logits or F.logsigmoid"),
    (lambda logits, x: bce(logits, x).sum(dim=(1, 2)), "shape"),
    (lambda logits, x: image_nll(torch.sigmoid(logits), x), "sigmoid applied twice"),
    (lambda logits, x: bce(torch.sigmoid(logits), x).flatten(1).mean(1), "sigmoid applied twice"),
    (lambda logits, x: ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1), "squared error"),
    (lambda logits, x: F.mse_loss(torch.sigmoid(logits), x, reduction="none").flatten(1).mean(1), "squared error"),
    (lambda logits, x: ((logits - x) ** 2).flatten(1).sum(1), "squared error"),
])
def test_nll_mistakes_are_named(wrong, words):
    result = check_image_nll(wrong, bits_per_dim)
    assert not result.passed
    assert words in result.message, result.message


def test_nll_in_place_change_is_named():
    def in_place(logits, x):
        out = image_nll(logits, x)
        logits.zero_()
        return out

    assert "changed its inputs" in check_image_nll(in_place, bits_per_dim).message


@pytest.mark.parametrize("wrong, words", [
    (lambda nll, dims: nll / dims, "not by ln 2"),
    (lambda nll, dims: nll / math.log(2), "bits per image"),
    (lambda nll, dims: nll * math.log(2) / dims, "multiplied by ln 2"),
    (lambda nll, dims: nll / dims / math.log(10), "not ln 10"),
    (lambda nll, dims: nll / (784 * math.log(2)), "784 hard-coded"),
    (lambda nll, dims: nll / (dims * math.log10(2)), "math.log10(2) where the natural log"),
    (lambda nll, dims: nll / (dims * 0.5), "same factor"),
])
def test_bits_per_dim_mistakes_are_named(wrong, words):
    result = check_image_nll(image_nll, wrong)
    assert not result.passed
    assert words in result.message, result.message


# --- the sampling loop --------------------------------------------------------------------------

def sample_raster(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            p = torch.sigmoid(model(x)[:, :, i, j])
            x[:, :, i, j] = (uniforms[:, :, i, j] < p).float()
    return x


def all_at_once(model, uniforms):
    return (uniforms < torch.sigmoid(model(torch.zeros_like(uniforms)))).float()


def column_major(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for j in range(width):
        for i in range(height):
            x[:, :, i, j] = (uniforms[:, :, i, j] < torch.sigmoid(model(x)[:, :, i, j])).float()
    return x


def no_feedback(model, uniforms):
    x = torch.zeros_like(uniforms)
    out = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            out[:, :, i, j] = (uniforms[:, :, i, j] < torch.sigmoid(model(x)[:, :, i, j])).float()
    return out


def own_random_numbers(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = torch.bernoulli(torch.sigmoid(model(x)[:, :, i, j]))
    return x


def greater_than(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = (uniforms[:, :, i, j] > torch.sigmoid(model(x)[:, :, i, j])).float()
    return x


def logit_as_probability(model, uniforms):
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            x[:, :, i, j] = (uniforms[:, :, i, j] < model(x)[:, :, i, j]).float()
    return x


def raster_reading(model, uniforms, dj=0, flat=0, rule="lt"):
    """The loop, reading the conditional of another pixel (dj columns over, or flat steps in raster order), or
    thresholding p at 0.5 instead of drawing."""
    x = torch.zeros_like(uniforms)
    _, _, height, width = uniforms.shape
    for i in range(height):
        for j in range(width):
            logits = model(x)
            if flat:
                p = torch.sigmoid(logits.flatten(1)[:, (i * width + j + flat) % (height * width)])[:, None]
            else:
                p = torch.sigmoid(logits[:, :, i, min(max(j + dj, 0), width - 1)])
            x[:, :, i, j] = (p > 0.5 if rule == "half" else uniforms[:, :, i, j] < p).float()
    return x


def test_sampling_solution_passes():
    result = check_sample_raster(sample_raster)
    assert result.passed, result.message


def test_sampling_stub_fails():
    assert check_sample_raster(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (all_at_once, "all pixels at once"),
    (column_major, "column by column"),
    (no_feedback, "write each sampled pixel into the image"),
    (own_random_numbers, "not with torch.bernoulli"),
    (greater_than, "not when u > p"),
    (logit_as_probability, "torch.sigmoid"),
    (lambda m, u: sample_raster(m, u).bool(), "float"),
    (lambda m, u: sample_raster(m, u)[:, 0], "shape"),
    (lambda m, u: raster_reading(m, u, rule="half"), "p > 0.5"),
    (lambda m, u: raster_reading(m, u, dj=-1), "PREVIOUS pixel"),
    (lambda m, u: raster_reading(m, u, dj=1), "NEXT pixel"),
    (lambda m, u: raster_reading(m, u, flat=-1), "PREVIOUS pixel"),
    (lambda m, u: raster_reading(m, u, flat=1), "NEXT pixel"),
])
def test_sampling_mistakes_are_named(wrong, words):
    result = check_sample_raster(wrong)
    assert not result.passed
    assert words in result.message, result.message


# --- causal masks -------------------------------------------------------------------------------

def causal_mask(kernel_size, mask_type):
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c] = 1
    mask[c, :c] = 1
    if mask_type == "B":
        mask[c, c] = 1
    return mask


def _edit(edit):
    def wrong(k, kind):
        mask = causal_mask(k, kind)
        edit(mask, k // 2, kind)
        return mask
    return wrong


def test_mask_solution_passes():
    result = check_causal_mask(causal_mask)
    assert result.passed, result.message


def test_mask_stub_fails():
    assert check_causal_mask(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (_edit(lambda m, c, kind: m[c].__setitem__(c, 1.0)), "type A includes the centre"),
    (_edit(lambda m, c, kind: m[c].__setitem__(c, 0.0)), "type B hides the centre"),
    (_edit(lambda m, c, kind: m[c].__setitem__(slice(c + 1, None), 1.0)), "future pixels in the same row"),
    (_edit(lambda m, c, kind: m.__setitem__(slice(c + 1, None), 1.0)), "rows below the centre are visible"),
    (_edit(lambda m, c, kind: m[0].__setitem__(slice(None), 0.0)), "rows above the centre are hidden"),
    (_edit(lambda m, c, kind: m[c].__setitem__(0, 0.0)), "left of the centre"),
    (lambda k, kind: causal_mask(k, kind).T.contiguous(), "transposed"),
    (lambda k, kind: causal_mask(k, kind).bool(), "float tensor"),
    (lambda k, kind: causal_mask(k, kind)[None, None], "return the (k, k) mask itself"),
    (lambda k, kind: causal_mask(k, kind).numpy(), "torch tensor"),
    (lambda k, kind: causal_mask(k, "B"), "type A includes the centre"),
    (lambda k, kind: causal_mask(k, kind).double(), "float64"),
    (lambda k, kind: causal_mask(k, kind).half(), "float32"),
    (lambda k, kind: causal_mask(k, kind).long(), "float tensor"),
    (lambda k, kind: causal_mask(k, kind).tolist(), "torch tensor"),
])
def test_mask_mistakes_are_named(wrong, words):
    result = check_causal_mask(wrong)
    assert not result.passed
    assert words in result.message, result.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="type A includes the centre"):
        check_causal_mask(lambda k, kind: causal_mask(k, "B"))


# --- receptive fields ---------------------------------------------------------------------------

def receptive_field(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] != 0


def summed_outputs(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x).sum().backward()
    return x.grad[0, 0] != 0


def swapped(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, col, row].backward()
    return x.grad[0, 0] != 0


def signed_field(model, row, col, height, width, sign):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] > 0 if sign == ">" else x.grad[0, 0] < 0


def test_receptive_field_positive_gradients_only_fail_on_the_signed_stack():
    """Even when every single-weight test passes (a positive-only answer that handles the shift models right),
    the stack with weights of both signs catches ``grad > 0``."""
    def positive_unless_shift(model, row, col, height=28, width=28):
        x = torch.rand(1, 1, height, width, requires_grad=True)
        model(x)[0, 0, row, col].backward()
        g = x.grad[0, 0]
        return g != 0 if int((g != 0).sum()) <= 1 else g > 0

    result = check_receptive_field(positive_unless_shift)
    assert not result.passed and "POSITIVE gradient" in result.message, result.message


def zeros_input(model, row, col, height=28, width=28):
    x = torch.zeros(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0] != 0


def thresholded(model, row, col, height=28, width=28):
    x = torch.rand(1, 1, height, width, requires_grad=True)
    model(x)[0, 0, row, col].backward()
    return x.grad[0, 0].abs() > 1e-4


def test_receptive_field_solution_passes():
    result = check_receptive_field(receptive_field)
    assert result.passed, result.message


def test_receptive_field_stub_fails():
    assert check_receptive_field(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("wrong, words", [
    (summed_outputs, "not from the sum of all outputs"),
    (zeros_input, "at a random input"),
    (thresholded, "no threshold"),
    (swapped, "swapped"),
    (lambda m, r, c, h=28, w=28: receptive_field(m, r, c, h, w)[None, None], "drop the batch and channel"),
    (lambda m, r, c, h=28, w=28: receptive_field(m, r, c, h, w).float(), "bool"),
    (lambda m, r, c, h=28, w=28: ~receptive_field(m, r, c, h, w), "gradient IS zero"),
    (lambda m, r, c, h=28, w=28: signed_field(m, r, c, h, w, ">"), "grad != 0"),
    (lambda m, r, c, h=28, w=28: signed_field(m, r, c, h, w, "<"), "grad != 0"),
])
def test_receptive_field_mistakes_are_named(wrong, words):
    result = check_receptive_field(wrong)
    assert not result.passed
    assert words in result.message, result.message


# --- one Row LSTM layer (03) --------------------------------------------------------------------

def row_lstm(x, input_to_state, state_to_state, *, order=(0, 1, 2, 3), acts="sssT", tanh_c=True, keep_c=True,
             keep_h=True, late=False, give_c=False, start=0.0, reverse=False, own_dtype=False, dim=2, detach=False,
             pair=False, old_c=False, last_only=False, input_gate=True, next_row=False, state_reads_x=False,
             cat=False, forget_h=False, state_channels_from_x=False):
    """A student's Row LSTM; each keyword is one typical slip (the defaults are the right answer)."""
    act = {"s": torch.sigmoid, "T": torch.tanh}
    from_input = input_to_state(x)
    n, four_c, height, width = from_input.shape
    if own_dtype:
        h, c = torch.zeros(n, four_c // 4, width), torch.zeros(n, four_c // 4, width)
    elif state_channels_from_x:
        h = x.new_zeros(n, x.shape[1], width)
        c = x.new_zeros(n, four_c // 4, width)
    else:
        h = x.new_full((n, four_c // 4, width), start)
        c = torch.full_like(h, start)
    rows = []
    for r in (range(height - 1, -1, -1) if reverse else range(height)):
        if not keep_c:
            c = torch.zeros_like(c)
        if not keep_h:
            h = torch.zeros_like(h)
        row = from_input[:, :, min(r + 1, height - 1)] if next_row else from_input[:, :, r]
        blocks = (row + state_to_state(x[:, :, r] if state_reads_x else h)).chunk(4, 1)
        i, f, o, g = (act[acts[k]](blocks[order[k]]) for k in range(4))
        before = c
        c = f * (h if forget_h else c) + (i * g if input_gate else g)
        new_h = o * (torch.tanh(before if old_c else c) if tanh_c else c)
        if late:
            rows.append(h)
        h = new_h.detach() if detach else new_h
        if not late:
            rows.append(c if give_c else h)
    if reverse:
        rows = rows[::-1]
    if last_only:
        return h
    out = torch.cat(rows, dim=2) if cat else torch.stack(rows, dim=dim)
    return (out, c) if pair else out


def _rl(**slip):
    return lambda x, a, b: row_lstm(x, a, b, **slip)


def test_row_lstm_solution_and_reference_pass():
    for fn in (row_lstm, reference_row_lstm):
        result = check_row_lstm(fn)
        assert result.passed, result.message


def test_row_lstm_stub_fails():
    assert check_row_lstm(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("slip, words", [
    (dict(order=(2, 1, 0, 3)), "wrong order"),  # [o, f, i, g]
    (dict(order=(0, 1, 3, 2)), "wrong order"),
    (dict(acts="TTTs"), "tanh and sigmoid are swapped"),
    (dict(acts="ssss"), "content g went through a sigmoid"),
    (dict(acts="sTsT"), "a gate went through tanh"),
    (dict(tanh_c=False), "o * tanh(c_i)"),
    (dict(old_c=True), "NEW c"),
    (dict(keep_c=False), "cell state is not carried"),
    (dict(keep_h=False), "hidden state is not carried"),
    (dict(input_gate=False), "input gate is missing"),
    (dict(late=True), "one row late"),
    (dict(give_c=True), "returned the cell states"),
    (dict(start=1.0), "must be zero"),
    (dict(reverse=True), "rows below"),
    (dict(next_row=True), "rows below"),
    (dict(state_reads_x=True), "never the current row"),
    (dict(own_dtype=True), "dtype"),
    (dict(dim=3), "stack the rows on dim 2"),
    (dict(dim=1), "stack the rows on dim 2"),
    (dict(detach=True), "no gradient"),
    (dict(pair=True), "return only the hidden states"),
    (dict(last_only=True), "EVERY row"),
    (dict(cat=True), "torch.stack"),
    (dict(forget_h=True), "forget gate multiplied the hidden state"),
    (dict(state_channels_from_x=True), "not C_in"),
])
def test_row_lstm_mistakes_are_named(slip, words):
    result = check_row_lstm(_rl(**slip))
    assert not result.passed
    assert words in result.message, result.message


# --- one gated PixelCNN layer (04) --------------------------------------------------------------

def gated_layer(layer, v, h, *, halves="tanh-sigmoid", shift_v=True, shift_h=True, h_right=False, v_below=False,
                residual="h", use_h_out=True, link="pre", v_left=False, swap_out=False, v_pre_out=False,
                shift_all=False, pad=None, gated_link=False, link_after_gate=False):
    """A student's gated layer; each keyword is one typical slip (the defaults are the right answer)."""
    p = layer.v_conv.kernel_size[1] // 2 if pad is None else pad
    shifted = layer.first or shift_all

    def gate(t):
        a, b = t.chunk(2, dim=1)
        return torch.sigmoid(a) * torch.tanh(b) if halves == "sigmoid-tanh" else torch.tanh(a) * torch.sigmoid(b)

    sides = (2 * p, 0) if v_left else (p, p)
    if v_below:
        v_pre = layer.v_conv(F.pad(v, (*sides, 0, p)))
    elif shifted and shift_v:
        v_pre = layer.v_conv(F.pad(v, (*sides, p + 1, 0)))[:, :, :-1]
    else:
        v_pre = layer.v_conv(F.pad(v, (*sides, p, 0)))
    if shifted and shift_h:
        h_pre = layer.h_conv(F.pad(h, (p + 1, 0, 0, 0)))[:, :, :, :-1]
    else:
        h_pre = layer.h_conv(F.pad(h, (0, p, 0, 0) if h_right else (p, 0, 0, 0)))
    to_h = layer.v_to_h(gate(v_pre) if gated_link else v_pre)
    to_h = {"pre": to_h, "none": torch.zeros_like(to_h), "down": F.pad(to_h, (0, 0, 1, 0))[:, :, :-1]}[link]
    gated = gate(h_pre) + to_h if link_after_gate else gate(h_pre + to_h)
    out = layer.h_out(gated) if use_h_out else gated
    v_new = v_pre if v_pre_out else gate(v_pre)
    h_new = {"h": out if layer.first else h + out, "none": out, "always": h + out, "v": out,
             "inside": out if layer.first else layer.h_out(h + gated)}[residual]
    if residual == "v" and not layer.first:
        v_new = v + v_new
    return (h_new, v_new) if swap_out else (v_new, h_new)


def _gl(**slip):
    return lambda layer, v, h: gated_layer(layer, v, h, **slip)


def test_gated_layer_solution_and_reference_pass():
    for fn in (gated_layer, reference_gated_layer):
        result = check_gated_layer(fn)
        assert result.passed, result.message


def test_gated_layer_stub_fails():
    assert check_gated_layer(stub).message == NOT_IMPLEMENTED_HINT


@pytest.mark.parametrize("slip, words", [
    (dict(shift_v=False), "vertical stack sees row i of the image"),
    (dict(v_below=True), "rows below"),
    (dict(shift_h=False), "sees the pixel it predicts"),
    (dict(h_right=True), "RIGHT of the output"),
    (dict(halves="sigmoid-tanh"), "halves are swapped"),
    (dict(residual="v"), "wrong stack"),
    (dict(residual="none"), "no residual connection after the first layer"),
    (dict(residual="always"), "first layer has no residual"),
    (dict(use_h_out=False), "layer.h_out is missing"),
    (dict(link="none"), "does not use the vertical stack"),
    (dict(link="down"), "link is shifted down"),
    (dict(v_left=True), "blind spot"),
    (dict(swap_out=True), "swapped"),
    (dict(v_pre_out=True), "GATED values"),
    (dict(shift_all=True), "shifted like the first"),
    (dict(pad=1), "hard-coded"),
    (dict(gated_link=True), "PRE-activation"),
    (dict(link_after_gate=True), "before the gate"),
    (dict(residual="inside"), "inside the 1x1 output convolution"),
])
def test_gated_layer_mistakes_are_named(slip, words):
    result = check_gated_layer(_gl(**slip))
    assert not result.passed
    assert words in result.message, result.message


def test_gated_layer_calling_the_finished_layer_is_named():
    result = check_gated_layer(lambda layer, v, h: layer(v, h))
    assert not result.passed and "called the layer itself" in result.message, result.message


def test_gated_layer_survives_broken_answers():
    assert "returned None" in check_gated_layer(lambda layer, v, h: None).message
    assert "pair (v, h)" in check_gated_layer(lambda layer, v, h: "v, h").message
    assert "your code raised ValueError" in check_gated_layer(lambda layer, v, h: int("x")).message
    float64 = check_gated_layer(lambda layer, v, h: tuple(t.double() for t in reference_gated_layer(layer, v, h)))
    assert float64.passed, float64.message
    assert not check_gated_layer(lambda layer, v, h: tuple(t[None] for t in reference_gated_layer(layer, v, h))).passed
