"""Checks for notebook 06 (GANs): the two losses, one alternating training step and interpolation.

    check_discriminator_loss(discriminator_loss)   # logits on real (N,), on fakes (M,) -> 0-d loss
    check_generator_loss(generator_loss)           # the non-saturating -mean log D(G(z)) from logits
    check_gan_step(gan_step)                       # one D update (fakes detached), then one G update
    check_gradient_penalty(gradient_penalty)       # WGAN-GP: mean (||grad f(x_hat)|| - 1)^2, per-sample x_hat
    check_interpolate(interpolate)                 # evenly spaced points from z0 to z1, ends included

The losses are compared with the values of the typical wrong versions (labels swapped, the
saturating loss, logits used as probabilities, ...) so a failure names the mistake. The training
step is run on tiny networks whose gradients are watched: the discriminator's update must not send
gradients into the generator, and the result must match the reference step exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import CheckFailed, exercise_check, expect, expect_close, expect_shape
from .questions import choices, number

LOGITS_HINT = ("these are logits (any real number), not probabilities: turn them into log-probabilities "
               "with F.logsigmoid (log D = logsigmoid(a), log(1 - D) = logsigmoid(-a)) or use "
               "F.binary_cross_entropy_with_logits")


LSQ_HINT = ("this is a squared-error (least-squares GAN) loss: the loss asked for is the binary cross-entropy of "
            "the original GAN, built from log D = F.logsigmoid(logits)")


def _call(fn, *args):
    """Run the student's function; turn the errors of typical mistakes into hints."""
    try:
        return fn(*args)
    except (RuntimeError, ValueError) as err:
        text = str(err)
        expect("between 0 and 1" not in text and "between 0.0 and 1.0" not in text,
               f"your code raised: {text.splitlines()[0]} -- {LOGITS_HINT}")
        expect("modified by an inplace operation" not in text,
               "the generator's backward pass needs the discriminator as it was when you called it, but "
               "d_opt.step() changed it in between: compute the generator's loss with a NEW forward pass "
               "discriminator(fake) after the discriminator's update")
        expect("backward through the graph a second time" not in text,
               "the generator's backward pass went through a graph that the discriminator's backward had "
               "already freed: detach the fakes for the discriminator (discriminator(fake.detach())) and "
               "call the discriminator again on fake for the generator's loss")
        raise


def _scalar(out, what: str) -> torch.Tensor:
    expect(torch.is_tensor(out), f"{what} should return a torch tensor (so that .backward() works), "
                                 f"got {type(out).__name__}")
    expect(out.dim() == 0, f"{what} returned shape {tuple(out.shape)}: average over the batch with .mean() "
                           "to get one number (a 0-d tensor)")
    return out.detach().double()


def _close(a: torch.Tensor, b: torch.Tensor | float, tol: float = 1e-4) -> bool:
    b = torch.as_tensor(b, dtype=torch.float64)
    return bool(torch.isfinite(a) and torch.isfinite(b) and (a - b).abs() <= tol * (1 + b.abs()))


# --- the discriminator's loss -------------------------------------------------------------------

def _d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(real.double()).mean() - F.logsigmoid(-fake.double()).mean()


@exercise_check
def check_discriminator_loss(discriminator_loss):
    """``discriminator_loss(real_logits (N,), fake_logits (M,))`` -> 0-d: -mean log D(x) - mean log(1 - D(G(z)))."""
    t = torch.tensor
    # 1. Moderate logits, different batch sizes for real and fake.
    real, fake = t([2.0, -1.0, 0.5, 3.0]), t([-2.5, 1.0])
    before = (real.clone(), fake.clone())
    try:
        raw = discriminator_loss(real, fake)
    except (RuntimeError, ValueError) as err:
        try:  # the same sizes on both sides: does it work then?
            discriminator_loss(real[:2].clone(), fake.clone())
        except Exception:  # noqa: BLE001 - reported by the call below
            raw = None
        else:
            expect(False, f"your code raised ({str(err).splitlines()[0] if str(err) else type(err).__name__}) when "
                          "the real and fake batches differ in size (N = 4, M = 2), and works when they match: you "
                          "combined the two batches' per-sample terms elementwise; average each term over its own "
                          "batch, then add the two means")
    out = _scalar(raw if raw is not None else _call(discriminator_loss, real, fake), "discriminator_loss")
    expect(torch.equal(real, before[0]) and torch.equal(fake, before[1]),
           "your function changed its inputs: compute on new tensors (no in-place operations)")
    expect(bool(torch.isfinite(out)), f"the loss is {out.item()} for ordinary logits: {LOGITS_HINT}")
    want = _d_loss(real, fake)
    if not _close(out, want):
        expect(not _close(out, _d_loss(-real, -fake)),
               "real and fake are swapped: the discriminator wants D(x) -> 1 for REAL samples (label 1) "
               "and D(G(z)) -> 0 for fakes (label 0)")
        expect(not _close(out, -want),
               "the loss has the wrong sign: you returned the objective the discriminator MAXIMISES, "
               "log D(x) + log(1 - D(G(z))); return its negative, a loss to minimise")
        expect(not _close(out, want / 2),
               "the loss is half the expected value: add the real and the fake term, do not average them")
        expect(not _close(out, -F.logsigmoid(real.double()).sum() - F.logsigmoid(-fake.double()).sum()),
               "the loss grows with the batch size: take the MEAN over each batch, not the sum")
        both = torch.cat([F.logsigmoid(real.double()), F.logsigmoid(-fake.double())])
        expect(not _close(out, -both.mean()),
               "you averaged over real and fake samples together; the objective is the mean over the real "
               "batch plus the mean over the fake batch (they may have different sizes)")
        for smooth in (0.9, 0.8, 0.95):
            smoothed = -(smooth * F.logsigmoid(real.double()) + (1 - smooth) * F.logsigmoid(-real.double())).mean() \
                - F.logsigmoid(-fake.double()).mean()
            expect(not _close(out, smoothed), f"the real samples get label {smooth} (label smoothing): the loss asked "
                                              "for uses labels 1 for real and 0 for fake exactly")
        expect(not _close(out, -F.logsigmoid(real.double()).mean() - F.logsigmoid(fake.double()).mean()),
               "the fakes got label 1 too: the discriminator's target is 1 for real samples and 0 for fakes, "
               "-mean log D(x) - mean log(1 - D(G(z)))")
        expect(not _close(out, -F.logsigmoid(-real.double()).mean() - F.logsigmoid(-fake.double()).mean()),
               "the real samples got label 0 too: the discriminator's target is 1 for real samples and 0 for fakes")
        expect(not _close(out, -F.logsigmoid(real.double()).mean()),
               "the fake term is missing: add -mean log(1 - D(G(z))) = -mean logsigmoid(-fake_logits)")
        expect(not _close(out, -F.logsigmoid(-fake.double()).mean()),
               "the real term is missing: add -mean log D(x) = -mean logsigmoid(real_logits)")
        r64, f64_ = real.double(), fake.double()
        for lsq in ((torch.sigmoid(r64) - 1).pow(2).mean() + torch.sigmoid(f64_).pow(2).mean(),
                    (r64 - 1).pow(2).mean() + f64_.pow(2).mean(),
                    0.5 * ((torch.sigmoid(r64) - 1).pow(2).mean() + torch.sigmoid(f64_).pow(2).mean()),
                    0.5 * ((r64 - 1).pow(2).mean() + f64_.pow(2).mean())):
            expect(not _close(out, lsq), LSQ_HINT)
        expect(not _close(out, _d_loss(torch.sigmoid(real), torch.sigmoid(fake))),
               "sigmoid was applied twice: the inputs are already logits, and F.binary_cross_entropy_with_"
               "logits (or F.logsigmoid) applies the sigmoid itself")
        expect_close(out, want, "discriminator_loss", sizes={"real batch": 4, "fake batch": 2},
                     hint=f"expected {want.item():.5g} = -mean log sigmoid(real_logits) - mean log(1 - "
                          "sigmoid(fake_logits))")

    # 2. Logits between 0 and 1 look like probabilities: the student must still treat them as logits.
    real, fake = t([0.9, 0.7, 0.8]), t([0.2, 0.1, 0.3])
    out = _scalar(_call(discriminator_loss, real, fake), "discriminator_loss")
    as_probs = -(real.double().log().mean() + (1 - fake.double()).log().mean())
    expect(not _close(out, as_probs), f"the inputs were used as probabilities: {LOGITS_HINT}")
    expect_close(out, _d_loss(real, fake), "discriminator_loss on logits between 0 and 1", hint=LOGITS_HINT)

    # 3. A confident discriminator: |logits| = 20, where 1 - sigmoid(20) rounds to 0 in float32.
    real, fake = t([20.0, -20.0]), t([-20.0, 20.0])
    out = _scalar(_call(discriminator_loss, real, fake), "discriminator_loss")
    expect(bool(torch.isfinite(out)),
           f"the loss is {out.item()} for confident logits (+-20): 1 - sigmoid(20) rounds to 0 and log(0) = "
           "-inf. Use log(1 - sigmoid(a)) = F.logsigmoid(-a), or F.binary_cross_entropy_with_logits")
    expect(out.item() > _d_loss(real, fake).item() - 0.5,
           f"the loss is {out.item():.4g} for confident logits (+-20), expected "
           f"{_d_loss(real, fake).item():.4g}: it is "
           "cut off, as log(sigmoid(a) + eps) or a clamp does, so a confidently wrong discriminator gets no "
           "gradient. Use F.logsigmoid (log(1 - sigmoid(a)) = F.logsigmoid(-a)) or "
           "F.binary_cross_entropy_with_logits")
    expect_close(out, _d_loss(real, fake), "discriminator_loss for logits +-20", rtol=1e-3,
                 hint="log(sigmoid(a)) is clipped or rounded here: use F.logsigmoid or "
                      "F.binary_cross_entropy_with_logits, which are exact for large logits")

    # 4. Gradients: raising a real logit lowers the loss, raising a fake logit raises it.
    real = t([0.3, -0.4], requires_grad=True)
    fake = t([0.1, 0.6, -1.2], requires_grad=True)
    out = _call(discriminator_loss, real, fake)
    expect(out.requires_grad, "the loss has no gradient: did you call .item(), .detach() or use numpy? "
                              "Keep it a torch tensor so .backward() reaches the discriminator")
    out.backward()
    expect(real.grad is not None and fake.grad is not None,
           "the loss does not depend on both inputs: use the real AND the fake logits")
    expect_close(real.grad, (torch.sigmoid(real.detach()) - 1) / 2, "d loss / d real_logits")
    expect_close(fake.grad, torch.sigmoid(fake.detach()) / 3, "d loss / d fake_logits")
    return "binary cross-entropy with real -> 1 and fake -> 0, stable for confident logits"


# --- the generator's non-saturating loss --------------------------------------------------------

@exercise_check
def check_generator_loss(generator_loss):
    """``generator_loss(fake_logits (N,))`` -> 0-d: the non-saturating -mean log D(G(z))."""
    t = torch.tensor
    fake = t([-3.0, -0.5, 1.5, 0.2])
    before = fake.clone()
    out = _scalar(_call(generator_loss, fake), "generator_loss")
    expect(torch.equal(fake, before), "your function changed its input: no in-place operations")
    expect(bool(torch.isfinite(out)), f"the loss is {out.item()} for ordinary logits: {LOGITS_HINT}")
    f64 = fake.double()
    want = -F.logsigmoid(f64).mean()
    if not _close(out, want):
        expect(not _close(out, F.logsigmoid(-f64).mean()),
               "this is the SATURATING loss log(1 - D(G(z))), the minimax objective: its gradient vanishes "
               "while the discriminator rejects the fakes. Minimise -log D(G(z)) instead")
        expect(not _close(out, -F.logsigmoid(-f64).mean()),
               "this is the discriminator's term for fakes (label 0, -log(1 - D(G(z)))): the generator wants "
               "its fakes called REAL, label 1: -log D(G(z))")
        expect(not _close(out, F.logsigmoid(f64).mean()),
               "the loss has the wrong sign: the generator MINIMISES -log D(G(z)) (equivalently maximises "
               "log D(G(z)))")
        expect(not _close(out, -F.logsigmoid(f64).sum()), "the loss is a sum: take the MEAN over the batch")
        for lsq in ((torch.sigmoid(f64) - 1).pow(2).mean(), (f64 - 1).pow(2).mean(),
                    0.5 * (torch.sigmoid(f64) - 1).pow(2).mean(), 0.5 * (f64 - 1).pow(2).mean()):
            expect(not _close(out, lsq), LSQ_HINT)
        expect(not _close(out, -F.logsigmoid(torch.sigmoid(f64)).mean()),
               "sigmoid was applied twice: the input is already a logit")
        expect_close(out, want, "generator_loss", sizes={"batch": 4},
                     hint=f"expected {want.item():.5g} = -mean log sigmoid(fake_logits)")

    # Logits between 0 and 1 must still be treated as logits.
    fake = t([0.1, 0.5, 0.9])
    out = _scalar(_call(generator_loss, fake), "generator_loss")
    expect(not _close(out, -fake.double().log().mean()), f"the inputs were used as probabilities: {LOGITS_HINT}")
    expect_close(out, -F.logsigmoid(fake.double()).mean(), "generator_loss on logits between 0 and 1",
                 hint=LOGITS_HINT)

    # A discriminator that rejects the fakes confidently: logits -30. The loss must stay finite and large,
    # and its gradient strong (about -1/N per logit), which is the point of the non-saturating loss.
    fake = t([-30.0, -8.0], requires_grad=True)
    out = _call(generator_loss, fake)
    expect(torch.is_tensor(out) and out.requires_grad,
           "the loss has no gradient: keep it a torch tensor (no .item(), .detach() or numpy)")
    expect(bool(torch.isfinite(out)), f"the loss is {out.item()} for logits -30: use F.logsigmoid, "
                                      "which stays exact where log(sigmoid(-30)) loses precision")
    expect(float(out.detach()) > 18.0,
           f"the loss is {float(out.detach()):.4g} for logits (-30, -8), expected 19.0: it is cut off where the "
           "discriminator rejects the fakes, as log(sigmoid(a) + eps) or a clamp does; there its gradient vanishes, "
           "exactly when the generator needs it. Use F.logsigmoid(a), exact for any logit")
    out.backward()
    expect_close(fake.grad, (torch.sigmoid(fake.detach()) - 1) / 2, "d loss / d fake_logits at logits (-30, -8)",
                 hint="the gradient should be about -1/N while the discriminator rejects the fakes: "
                      "that strong signal is why this loss is used")
    # Further out, sigmoid(-120) rounds to 0 in float32: only a log-sigmoid computed as one function stays finite.
    fake = t([-120.0, 2.0])
    out = _scalar(_call(generator_loss, fake), "generator_loss")
    expect(bool(torch.isfinite(out)),
           f"the loss is {out.item()} for logits (-120, 2): sigmoid(-120) rounds to 0 in float32 and log(0) = -inf; "
           "use F.logsigmoid(a) (or F.binary_cross_entropy_with_logits), exact for any logit")
    expect_close(out, -F.logsigmoid(fake.double()).mean(), "generator_loss for logits (-120, 2)",
                 hint="use F.logsigmoid(a), exact for any logit", rtol=1e-3)
    return "-mean log D(G(z)): strong gradients while the discriminator still rejects the fakes"


# --- one training step ----------------------------------------------------------------------------

class _TinyD(nn.Module):
    """2-D points (N, 2) -> logits (N,)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def _fresh(model: nn.Module, leftover: float = 0.5) -> bool:
    """Whether ``model`` holds gradients computed in this step (not None, not zeroed, not the leftovers)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return any(not torch.all(g == 0) and not torch.all(g == leftover) for g in grads)


class _WatchedSGD(torch.optim.SGD):
    """SGD that remembers the other network's parameters and gradients at the moment it steps, and logs
    (its name, whether its own network's gradients are fresh, whether the other's are) in the shared ``log``."""

    def __init__(self, params, lr, own: nn.Module, other: nn.Module, name: str, log: list):
        super().__init__(params, lr=lr)
        self.own, self.other, self.name, self.log = own, other, name, log
        self.seen: list[dict] = []

    def step(self, closure=None):
        self.seen.append({"params": [p.detach().clone() for p in self.other.parameters()],
                          "grads": [None if p.grad is None else p.grad.detach().clone()
                                    for p in self.other.parameters()]})
        self.log.append((self.name, _fresh(self.own), _fresh(self.other)))
        return super().step(closure)


def _setup(seed: int = 0, leftover: float = 0.5):
    """Tiny G (3 -> 2), D (2 -> logits), watched SGD optimisers, a real batch and z; grads pre-filled."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g, d = nn.Linear(3, 2), _TinyD()
    real = torch.randn(5, 2, generator=gen) + 1.0
    z = torch.randn(5, 3, generator=gen)
    for p in list(g.parameters()) + list(d.parameters()):
        p.grad = torch.full_like(p, leftover)  # left over from an earlier step: zero_grad must clear them
    log: list = []
    g_opt = _WatchedSGD(g.parameters(), lr=0.2, own=g, other=d, name="g_opt", log=log)
    d_opt = _WatchedSGD(d.parameters(), lr=0.2, own=d, other=g, name="d_opt", log=log)
    return g, d, g_opt, d_opt, real, z


def _reference_step(g, d, g_opt, d_opt, real, z, *, saturating=False, detach=True, zero_d=True, zero_g=True,
                    swap=False, g_label_zero=False):
    fake = g(z)
    if zero_d:
        d_opt.zero_grad()
    real_logits, fake_logits = d(real), d(fake.detach() if detach else fake)
    if swap:
        real_logits, fake_logits = fake_logits, real_logits
    d_loss = -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
    d_loss.backward()
    d_opt.step()
    if zero_g:
        g_opt.zero_grad()
    logits = d(fake)
    if g_label_zero:  # the generator trained to make its fakes look fake
        g_loss = -F.logsigmoid(-logits).mean()
    else:
        g_loss = F.logsigmoid(-logits).mean() if saturating else -F.logsigmoid(logits).mean()
    g_loss.backward()
    g_opt.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor], tol: float = 1e-5) -> bool:
    return all(torch.allclose(x, y, atol=tol, rtol=1e-4) for x, y in zip(a, b, strict=True))


def _reference_after(**variant):
    g, d, g_opt, d_opt, real, z = _setup()
    out = _reference_step(g, d, g_opt, d_opt, real, z, **variant)
    return _params(g), _params(d), out


def _number(value, what: str) -> float:
    if torch.is_tensor(value):
        expect(value.numel() == 1, f"{what} should be one number, got a tensor of shape {tuple(value.shape)}")
        expect(False, f"{what} is a tensor: return a plain Python float (loss.item()). A tensor keeps its graph "
                      "alive, so a training loop that stores the losses of every step holds all of their graphs "
                      "in memory, and printing or plotting them needs .item() anyway")
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should be a number (a Python float, loss.item()), got {type(value).__name__}")
    return float(value)


@exercise_check
def check_gan_step(gan_step):
    """``gan_step(generator, discriminator, g_opt, d_opt, real (B, ...), z (B, z_dim))`` -> {'d_loss', 'g_loss'}."""
    g, d, g_opt, d_opt, real, z = _setup()
    g0, d0 = _params(g), _params(d)
    real_before, z_before = real.clone(), z.clone()
    flows = [0]
    g.weight.register_hook(lambda grad: flows.__setitem__(0, flows[0] + 1))  # once per backward through G
    g_inputs: list[torch.Tensor] = []
    g.register_forward_pre_hook(lambda module, args: g_inputs.append(args[0].detach().clone()))
    out = _call(gan_step, g, d, g_opt, d_opt, real, z)
    expect(torch.equal(real, real_before) and torch.equal(z, z_before), "your step changed `real` or `z` in place")

    # The discriminator's update: it must happen, before the generator's, with G untouched.
    expect(len(d_opt.seen) > 0, "d_opt.step() was never called: the discriminator is not updated")
    expect(not (len(g_opt.seen) == 0 and len(d_opt.seen) >= 2),
           f"d_opt.step() ran {len(d_opt.seen)} times and g_opt.step() never: the generator's update went through "
           "the discriminator's optimiser. An optimiser moves only the parameters it was built with, so the second "
           "d_opt.step() moved the discriminator again (with the generator's gradients) and left the generator as "
           "it was: step the generator with g_opt")
    first = d_opt.log[0]
    expect(not (first[0] == "g_opt" and not first[1] and first[2]),
           "g_opt.step() ran first, when only the discriminator had fresh gradients: the optimisers are swapped "
           "(g_opt moves the generator's parameters, d_opt the discriminator's). Update the discriminator with "
           "d_opt, then the generator with g_opt")
    expect(len(g_opt.seen) > 0, "g_opt.step() was never called: the generator is not updated")
    expect(len(d_opt.seen) == 1 and len(g_opt.seen) == 1,
           f"d_opt.step() ran {len(d_opt.seen)} times and g_opt.step() {len(g_opt.seen)} times: one step is "
           "ONE discriminator update followed by ONE generator update")
    at_d_step = d_opt.seen[0]
    expect(_same(at_d_step["params"], g0),
           "the generator had already changed when the discriminator stepped: update the discriminator "
           "FIRST, then the generator (against the updated discriminator)")
    clean = all(gr is None or torch.all(gr == 0) or torch.all(gr == 0.5) for gr in at_d_step["grads"])
    expect(flows[0] <= 1 and clean,
           "the discriminator's loss sent gradients into the generator: its fakes must be detached, "
           "discriminator(fake.detach()), so that the discriminator's update leaves G alone")
    expect(flows[0] == 1, "no gradient reached the generator: compute the generator's loss from "
                          "discriminator(fake) where fake = generator(z) (not detached)")

    # The returned numbers.
    g_ref, d_ref, ref = _reference_after()
    expect(isinstance(out, dict) and {"d_loss", "g_loss"} <= set(out),
           "return a dict with the two losses: {'d_loss': ..., 'g_loss': ...}")
    d_loss, g_loss = _number(out["d_loss"], "out['d_loss']"), _number(out["g_loss"], "out['g_loss']")

    # The discriminator after its update.
    d1, g1 = _params(d), _params(g)
    if not _same(d1, d_ref):
        expect(any(torch.equal(inp, z_before) for inp in g_inputs),
               "the generator never ran on the z given: make the fakes from it, fake = generator(z), not from "
               "fresh noise (the caller chooses z, e.g. to compare steps)")
        expect(not _same(d1, d0), "the discriminator's parameters did not change: its gradients were empty when "
                                  "d_opt.step() ran. The order is d_opt.zero_grad(), d_loss.backward(), "
                                  "d_opt.step() (zero_grad after backward throws the gradients away)")
        expect(not _same(d1, _reference_after(zero_d=False)[1]),
               "the discriminator's gradients from an earlier step were still there: call d_opt.zero_grad() "
               "before d_loss.backward()")
        expect(not _same(d1, _reference_after(swap=True)[1]),
               "the discriminator learned with real and fake swapped: real logits get label 1, fake logits 0")
        expect(False, "the discriminator's update differs from the reference: one step of "
                      "discriminator_loss(discriminator(real), discriminator(fake.detach())) with fake = "
                      "generator(z), using the z given")
    expect(abs(d_loss - float(ref["d_loss"])) < 1e-4,
           f"out['d_loss'] is {d_loss:.5g}, expected {float(ref['d_loss']):.5g}: report the discriminator's loss "
           "computed in this step (before its update)")

    # The generator after its update.
    if not _same(g1, g_ref):
        expect(not _same(g1, g0), "the generator's parameters did not change: call g_loss.backward() before "
                                  "g_opt.step()")
        expect(not _same(g1, _reference_after(zero_g=False)[0]),
               "the generator's gradients from an earlier step were still there: call g_opt.zero_grad() "
               "before g_loss.backward()")
        expect(not _same(g1, _reference_after(saturating=True)[0]),
               "the generator used the saturating loss log(1 - D(G(z))): use the non-saturating "
               "-log D(G(z)) (gan.generator_loss)")
        expect(not _same(g1, _reference_after(g_label_zero=True)[0]),
               "the generator was trained with label 0 for its fakes (-log(1 - D(G(z))), the discriminator's "
               "target): it learned to make its fakes look FAKE. The generator wants them called real: label 1, "
               "-log D(G(z))")
        expect(False, "the generator's update differs from the reference: one step of the non-saturating "
                      "loss on discriminator(fake) with the UPDATED discriminator")
    expect(abs(g_loss - float(ref["g_loss"])) < 1e-4,
           f"out['g_loss'] is {g_loss:.5g}, expected {float(ref['g_loss']):.5g}: report the generator's loss "
           "computed in this step")
    return "D first (fakes detached, G untouched), then G with the non-saturating loss; both match the reference"


# --- interpolation in z -----------------------------------------------------------------------------

@exercise_check
def check_interpolate(interpolate):
    """``interpolate(z0 (d,), z1 (d,), steps)`` -> (steps, d): row 0 is z0, the last row is z1, evenly spaced."""
    z0, z1 = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([4.0, -2.0, 1.0])
    before = (z0.clone(), z1.clone())
    try:
        out = interpolate(z0, z1, 5)
    except RuntimeError as err:
        expect("must match the size" not in str(err),
               f"your code raised RuntimeError: {str(err).splitlines()[0]} -- the weights t have shape (steps,) and "
               "z0 has (d,): give t a second dimension, t[:, None] (steps, 1), so that row i mixes z0 and z1 with t_i")
        raise
    expect(torch.is_tensor(out), f"interpolate should return a tensor, got {type(out).__name__}")
    expect(torch.equal(z0, before[0]) and torch.equal(z1, before[1]),
           "your function changed z0 or z1 in place: build a new tensor")
    expect(tuple(out.shape) != (3, 5), "the result has shape (d, steps): return one point per ROW, (steps, d)")
    expect(tuple(out.shape) != (6, 3), "6 points for steps=5: one too many; steps points in all, both ends "
                                       "included (torch.linspace(0, 1, steps))")
    expect(tuple(out.shape) != (4, 3), "4 points for steps=5: one too few; steps points in all, both ends "
                                       "included (torch.linspace(0, 1, steps))")
    expect_shape(out, (5, 3), "interpolate(z0 (3,), z1 (3,), steps=5)")
    expect(out.dtype == z0.dtype, f"the result has dtype {out.dtype}; keep z's dtype ({z0.dtype})")
    expect(out.is_floating_point(), f"the result has dtype {out.dtype}: return float points")
    want = torch.stack([z0 + (z1 - z0) * i / 4 for i in range(5)])
    if not torch.allclose(out, want, atol=1e-5):
        expect(not torch.allclose(out, want.flip(0), atol=1e-5),
               "the path runs backwards: row 0 must be z0 and the last row z1")
        expect(torch.allclose(out[0], z0, atol=1e-5), f"row 0 is {out[0].tolist()}, expected z0 = {z0.tolist()}")
        expect(not torch.allclose(out, torch.stack([z0 + (z1 - z0) * i / 5 for i in range(5)]), atol=1e-5),
               "the last row stops short of z1: use weights t = 0, 1/(steps-1), ..., 1 "
               "(torch.linspace(0, 1, steps)), not i/steps")
        expect(torch.allclose(out[-1], z1, atol=1e-5),
               f"the last row is {out[-1].tolist()}, expected z1 = {z1.tolist()}: the weights t must run from 0 to 1")
        direction = z1 - z0
        t = ((out.detach().double() - z0.double()) @ direction.double()) / direction.double().dot(direction.double())
        on_line = torch.allclose(out.detach().double(), z0.double() + t[:, None] * direction.double(), atol=1e-4)
        shown = [round(v, 3) for v in t.tolist()]
        expect(not on_line or not all(abs(v - round(v)) < 1e-6 for v in t.tolist()),
               f"your points sit at t = {shown} along the line, whole numbers only: integer division (i // (steps - "
               "1))? Use t = torch.linspace(0, 1, steps), or i / (steps - 1) with true division")
        expect(not on_line, f"your points lie on the line but at t = {shown}, expected t = [0, 0.25, 0.5, 0.75, 1]: "
                            "evenly spaced weights, t = torch.linspace(0, 1, steps), row i = (1 - t_i) * z0 + t_i * z1")
        expect(False, "the points are not on the straight line from z0 to z1: row i should be "
                      "(1 - t_i) * z0 + t_i * z1 with t = torch.linspace(0, 1, steps), the same t_i for every "
                      "coordinate")
    out = interpolate(z0, z1, 2)
    expect(torch.is_tensor(out), f"interpolate should return a tensor, got {type(out).__name__}")
    expect_shape(out, (2, 3), "interpolate(..., steps=2)")
    expect_close(out, torch.stack([z0, z1]), "interpolate(..., steps=2)", hint="two steps are just z0 and z1")
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(32, generator=gen), torch.randn(32, generator=gen)
    out = interpolate(a, b, 9)
    expect_shape(out, (9, 32), "interpolate for 32-dimensional z, steps=9")
    expect_close(out[4], (a + b) / 2, "the middle point of 9 steps", hint="it should be (z0 + z1) / 2")
    # Latent codes in float64 (and a generator that works in float64) must stay float64.
    a64, b64 = a.double() + 1e-9, b.double()
    out = interpolate(a64, b64, 4)
    expect(torch.is_tensor(out), f"interpolate should return a tensor, got {type(out).__name__}")
    expect(out.dtype == torch.float64,
           f"for float64 z0 and z1 the result has dtype {out.dtype}: keep the dtype of z (e.g. "
           "torch.linspace(0, 1, steps, dtype=z0.dtype)); a float32 t rounds the points and a model in float64 "
           "then gets float32 codes")
    expect_shape(out, (4, 32), "interpolate for float64 z, steps=4")
    want = torch.stack([a64 + (b64 - a64) * i / 3 for i in range(4)])
    expect_close(out, want, "interpolate for float64 z, steps=4", atol=1e-6, rtol=1e-6,
                 hint="row i should be (1 - t_i) * z0 + t_i * z1 with t = torch.linspace(0, 1, steps)")
    return "straight line from z0 to z1, both ends included, evenly spaced"


# --- the gradient penalty of WGAN-GP ------------------------------------------------------------------

class _Critic(nn.Module):
    """A fixed critic for the check: samples (N, 1, 2, 3) (or (N, 6)) -> scores (N,); records what it is shown."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
        with torch.no_grad():
            self.net[3].weight.mul_(12.0)  # gradient norms from about 0.65 to 1.7 at the check's points
        self.seen: list[tuple[torch.Tensor, bool]] = []

    def forward(self, x):
        if torch.is_tensor(x):
            self.seen.append((x.detach().clone(), x.requires_grad))
        return self.net(x).squeeze(1)


def _gp_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 2, 3, generator=gen) + 1.0, torch.randn(n, 1, 2, 3, generator=gen) - 1.0


GP_HINT = ("x_hat_i = mix_i * real_i + (1 - mix_i) * fake_i, the critic's gradient w.r.t. x_hat (one gradient per "
           "sample), its norm over all of a sample's coordinates, then the mean of (norm - 1)^2 over the batch")


def _call_gp(gradient_penalty, *args):
    """Run the student's penalty; turn the errors of typical mistakes into hints."""
    try:
        return gradient_penalty(*args)
    except (RuntimeError, ValueError, TypeError, AttributeError) as err:
        text = str(err)
        expect("'tuple' object" not in text and "not tuple" not in text,
               f"your code raised {type(err).__name__}: {text.splitlines()[0] if text else ''} -- torch.autograd.grad "
               "returns a TUPLE, one gradient per input: take its only element, (grad,) = torch.autograd.grad(...) "
               "or torch.autograd.grad(...)[0]")
        expect("implicitly created" not in text,
               "torch.autograd.grad got the critic's (N,) scores: it differentiates one number. Differentiate the "
               "SUM of the scores: each score depends only on its own sample, so the gradient of the sum holds "
               "every sample's own gradient (or pass grad_outputs=torch.ones_like(scores))")
        expect("does not require grad" not in text,
               "autograd could not differentiate w.r.t. the interpolates: x_hat must require grad (x_hat."
               "requires_grad_(True)) before the critic scores it")
        expect("appears to not have been used in the graph" not in text,
               "you differentiate w.r.t. a tensor the critic's scores were not computed from: take the gradient "
               "w.r.t. x_hat, the very tensor you passed to the critic")
        expect("must match the size of tensor" not in text,
               f"your code raised RuntimeError: {text.splitlines()[0]} -- one weight per sample must multiply the "
               "whole sample: give the weights as many dimensions as real has, (N, 1, 1, ...) (e.g. "
               "mix.view(-1, *[1] * (real.dim() - 1))), so that they broadcast over each sample's coordinates")
        name = f"{getattr(gradient_penalty, '__name__', 'gradient_penalty')}()"
        expect(not (name in text and ("positional argument" in text or "keyword argument" in text)),
               f"your function could not be called as gradient_penalty(critic, real, fake, mix): {text}")
        raise


def _weights_seen(seen: list, real: torch.Tensor, fake: torch.Tensor):
    """The mixing weights of the points the critic scored: (N, D) per coordinate, or None if no input was a
    mix of real and fake of the right size."""
    r, f = real.flatten(1).double(), fake.flatten(1).double()
    for x, _ in seen:
        if x.numel() != r.numel() or len(x) != len(r):
            continue
        w = (x.flatten(1).double() - f) / (r - f)
        if torch.allclose(f + w * (r - f), x.flatten(1).double(), atol=1e-4):
            return w
    return None


def _penalty_of(norms: torch.Tensor) -> torch.Tensor:
    return ((norms - 1) ** 2).mean()


def _shape_hint(gradient_penalty, critic, real, fake, mix):
    """The student's penalty on 2-D points as a float; fails with a hint when it crashes or has the wrong type."""
    try:
        out = gradient_penalty(critic, real, fake, mix)
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:  # the student's code crashed on 2-D points only: name the likely cause
        expect(False, f"your penalty works for images (N, 1, 2, 3) but raised {type(err).__name__} for points "
                      f"(N, 6): {str(err).splitlines()[0] if str(err) else ''} -- shape the weights from real.dim() "
                      "((N, 1) for points, (N, 1, 1, 1) for images), not for one kind of input")
    expect(torch.is_tensor(out) and out.dim() == 0,
           f"for points (N, 6) your penalty returned {type(out).__name__}"
           f"{tuple(out.shape) if torch.is_tensor(out) else ''}, expected a 0-d tensor: shape the weights from "
           "real.dim(), so that the same code works for points and images")
    return out.detach().double()


def _check_drawn_weights(gradient_penalty, reference, shape: tuple) -> None:
    """With mix=None: the critic must see x_hat with one weight per sample, uniform on [0, 1]."""
    kind = "points" if len(shape) == 2 else "images"
    critic = _Critic()
    real, fake = _gp_data(shape[0], 2)
    real, fake = real.reshape(shape), fake.reshape(shape)
    try:
        out = gradient_penalty(critic, real, fake, None)
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:
        expect(False, f"with mix=None your penalty raised {type(err).__name__} for {kind} {shape}: "
                      f"{str(err).splitlines()[0] if str(err) else ''} -- draw one weight per sample, shaped from "
                      "real.dim() (torch.rand(N, 1, ...)), then go on as with given weights")
    expect(out is not None, f"gradient_penalty(critic, real, fake) (mix=None) returned None for {kind}: draw the "
                            "weights when mix is None, then go on as with given weights")
    expect(torch.is_tensor(out) and out.dim() == 0, f"with mix=None the result for {kind} should be a 0-d tensor "
                                                    "as well")
    expect(len(critic.seen) > 0, "with mix=None the critic was never called")
    w = _weights_seen(critic.seen, real, fake)
    expect(w is not None, "with mix=None the critic never saw points between real and fake: draw one weight per "
                          "sample and build x_hat = mix * real + (1 - mix) * fake")
    expect(torch.allclose(w, w[:, :1].expand_as(w), atol=1e-4),
           "with mix=None the weight varies between the coordinates of a sample: draw ONE weight per sample, shape "
           "(N, 1, 1, ...) (torch.rand(N, 1, ...)), not one per coordinate")
    w = w[:, 0]
    expect(w.std() > 0.05,
           f"with mix=None every sample got the same weight ({w[0].item():.3g}): draw one weight PER SAMPLE, "
           "torch.rand(N, ...), not one for the whole batch, so that the penalty looks at many places between the "
           "two distributions")
    expect(w.min() >= -1e-6 and w.max() <= 1 + 1e-6,
           f"with mix=None some weights lie outside [0, 1] (from {w.min().item():.3g} to {w.max().item():.3g}): "
           "draw them uniformly on [0, 1] (torch.rand), not from a normal distribution (torch.randn), so that x_hat "
           "lies BETWEEN real and fake")
    expect(abs(w.mean().item() - 0.5) < 0.1 and abs(w.std().item() - 0.2887) < 0.07,
           f"with mix=None the weights do not look uniform on [0, 1] (mean {w.mean().item():.3g}, std "
           f"{w.std().item():.3g}; uniform gives 0.5 and 0.289): draw them with torch.rand")
    want = reference(_Critic(), real, fake, w.float())
    expect_close(out.detach().double(), want.detach().double(), f"the penalty with mix=None for {kind}", atol=1e-4,
                 hint="with the weights you drew, the value differs from the one with the same weights given: "
                      "use the same computation for both")


@exercise_check
def check_gradient_penalty(gradient_penalty):
    """``gradient_penalty(critic, real (N, ...), fake (N, ...), mix (N,) or None)`` -> 0-d: mean (||grad|| - 1)^2
    at x_hat = mix * real + (1 - mix) * fake, with a graph to the critic's parameters."""
    from ..models.gan import gradient_penalty as reference

    critic = _Critic()
    real, fake = _gp_data(5, 5)
    mix = torch.tensor([0.1, 0.35, 0.5, 0.8, 0.95])
    before = (real.clone(), fake.clone(), mix.clone())
    out = _call_gp(gradient_penalty, critic, real, fake, mix)
    expect(out is not None, "gradient_penalty returned None: did you forget the `return` statement?")
    expect(torch.is_tensor(out), f"gradient_penalty should return a torch tensor (it is part of the critic's "
                                 f"loss), got {type(out).__name__}")
    expect(out.dim() == 0, f"gradient_penalty returned shape {tuple(out.shape)}: average the per-sample penalties "
                           "over the batch (.mean()) to one number, a 0-d tensor")
    expect(torch.equal(real, before[0]) and torch.equal(fake, before[1]) and torch.equal(mix, before[2]),
           "your function changed real, fake or mix in place: build x_hat as a new tensor")
    expect(all(p.grad is None for p in critic.parameters()),
           "your function called backward(): return the penalty; the critic's training step adds it to its loss "
           "and calls backward() once")

    # 1. Where the critic was evaluated: at x_hat, with the weights given.
    seen = critic.seen
    expect(len(seen) > 0, "the critic was never called: score the interpolates x_hat with it")
    r, f = real.flatten(1), fake.flatten(1)
    m = mix[:, None]
    want_x = m * r + (1 - m) * f
    saw = [x.flatten(1) if x.numel() == r.numel() and len(x) == len(r) else None for x, _ in seen]
    if not any(x is not None and torch.allclose(x, want_x, atol=1e-5) for x in saw):
        def shown(target):
            return any(x is not None and torch.allclose(x, target, atol=1e-5) for x in saw)

        expect(not shown(r), "the critic scored the REAL samples: the penalty is measured at the interpolates "
                             "x_hat between real and fake (the gradient w.r.t. real is the wrong place)")
        expect(not shown(f), "the critic scored the FAKE samples: the penalty is measured at the interpolates "
                             "x_hat between real and fake")
        expect(not shown((1 - m) * r + m * f),
               "the weights are the wrong way round: x_hat = mix * real + (1 - mix) * fake (mix = 1 gives the real "
               "sample)")
        w = _weights_seen(seen, real, fake)
        expect(w is not None, f"the critic never saw points between real and fake of the batch's size: {GP_HINT}")
        expect(torch.allclose(w, w[:, :1].expand_as(w), atol=1e-4),
               "the mixing weight varies between the coordinates of one sample: each sample gets ONE weight, the "
               "same for all its coordinates, so that x_hat lies on the straight line from fake_i to real_i (shape "
               "mix as (N, 1, 1, ...) to broadcast over a sample)")
        expect(False, f"the critic saw x_hat with weights {[round(v, 3) for v in w[:, 0].tolist()]}, not the mix "
                      f"given ({mix.tolist()}): when mix is not None, use it (draw weights only when mix is None)")

    # 2. The value, against the reference and the values of the typical mistakes.
    ref_critic = _Critic()
    want = reference(ref_critic, real, fake, mix)
    if not _close(out.detach().double(), want.detach().double()):
        x = want_x.clone().reshape_as(real).requires_grad_(True)
        (g,) = torch.autograd.grad(ref_critic(x).sum(), x)
        g64 = g.double()
        norms = g64.flatten(1).norm(dim=1)
        got = out.detach().double()
        m64 = mix.double()
        variants = [
            ((g64.norm() - 1) ** 2, "you took ONE norm over the whole batch: the constraint is per sample, so take "
                                    "each sample's gradient norm (over its own coordinates) and average (norm - 1)^2 "
                                    "over the samples"),
            (_penalty_of(norms ** 2), "you used the SQUARED norm ||grad||^2 where the norm ||grad|| belongs: the "
                                      "penalty pulls the slope itself towards 1"),
            ((norms ** 2).mean(), "the '- 1' is missing: the penalty pulls the gradient norm towards 1 (a critic "
                                  "with slope 1), not towards 0"),
            (norms.mean(), "the '- 1' and the square are missing: average (||grad|| - 1)^2"),
            ((norms - 1).abs().mean(), "the square is missing: average (||grad|| - 1)^2, not |...|"),
            ((norms - 1).mean(), "the square is missing: average (||grad|| - 1)^2"),
            (_penalty_of(norms / len(real)), "the gradient is divided by the batch size: you differentiated the MEAN "
                                             "of the scores. Differentiate their SUM, so that each sample gets its "
                                             "own full gradient"),
            (_penalty_of(m64 * norms), "this is the gradient w.r.t. `real`, mix_i times the one at x_hat: take the "
                                       "gradient w.r.t. x_hat itself, the points the critic scored"),
            (_penalty_of((1 - m64) * norms), "this is the gradient w.r.t. `fake`, (1 - mix_i) times the one at x_hat: "
                                             "take the gradient w.r.t. x_hat itself"),
            (_penalty_of(g64.norm(dim=1).flatten(1)), "the norm was taken over one dimension only (dim=1 of an image "
                                                     "batch is the channel): flatten each sample's gradient, "
                                                     "grad.flatten(1), and take the norm over all its coordinates"),
            (_penalty_of(g64.norm(dim=-1).flatten(1)), "the norm was taken over the last dimension only: flatten each "
                                                      "sample's gradient, grad.flatten(1), and take the norm over all "
                                                      "its coordinates"),
            (_penalty_of(g64.flatten(1).norm(dim=0)), "the norm was taken over the batch, one per coordinate: take "
                                                     "one norm per SAMPLE, over its coordinates (dim=1 of "
                                                     "grad.flatten(1))"),
            (10 * want.detach().double(), "the penalty is multiplied by 10: return the penalty itself; the weight "
                                          "lambda = 10 is applied by the caller, in the critic's loss"),
            (_penalty_of(norms / g64[0].numel() ** 0.5), "you averaged the squared gradient over the coordinates (a "
                                                         "root mean square): the norm is the square root of their "
                                                         "SUM"),
            (_penalty_of(g64.flatten(1).abs().sum(1)), "this is the L1 norm (sum of absolute values): use the "
                                                       "Euclidean norm, the square root of the sum of squares"),
            ((torch.relu(norms - 1) ** 2).mean(), "this is a one-sided penalty, max(0, ||grad|| - 1)^2: WGAN-GP's "
                                                  "penalty is two-sided and also pulls slopes below 1 up towards 1"),
            (((g64 - 1) ** 2).mean(), "you subtracted 1 from every coordinate of the gradient: take each sample's "
                                      "gradient NORM first, then (norm - 1)^2"),
        ]
        for value, why in variants:
            expect(not _close(got, value), why)
        expect_close(got, want.detach().double(), "gradient_penalty", sizes={"batch": len(real)}, hint=GP_HINT)

    # 3. The penalty trains the critic: it must keep a graph to the critic's parameters.
    expect(out.requires_grad,
           "the penalty has no gradient w.r.t. the critic's parameters, so adding it to the critic's loss would "
           "not train the critic at all: the gradient that torch.autograd.grad returns is a constant unless you "
           "ask it to build a graph of its own (create_graph=True)")
    params = list(critic.parameters())
    try:
        got_grads = torch.autograd.grad(out, params, allow_unused=True)
    except RuntimeError as err:
        expect(False, f"the penalty cannot be differentiated w.r.t. the critic's parameters ({str(err).splitlines()[0]}"
                      "): compute the gradient with create_graph=True and do not call backward() inside")
    # (the last bias does not change the slope: the penalty does not depend on it)
    want_grads = torch.autograd.grad(want, list(ref_critic.parameters()), allow_unused=True)
    expect(all(a is not None for a, b in zip(got_grads, want_grads, strict=True) if b is not None),
           "the penalty does not depend on all of the critic's weights: keep the graph from the critic's scores "
           "through the gradient (create_graph=True), no .detach() on the way")
    expect(all(b is None or torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4)
               for a, b in zip(got_grads, want_grads, strict=True)),
           "the penalty's gradient w.r.t. the critic's parameters differs from the reference's although its value "
           "matches: is a part of it detached (e.g. the gradient or its norm)? The graph must run through "
           "torch.autograd.grad(..., create_graph=True)")
    expect(not real.requires_grad and not fake.requires_grad,
           "your function switched on requires_grad of `real` or `fake` (the caller's tensors): make x_hat, a new "
           "tensor, require grad instead")

    # 4. The same batch as points (N, 6) instead of images (N, 1, 2, 3): the weights' shape must follow real's.
    flat = _shape_hint(gradient_penalty, _Critic(), real.flatten(1), fake.flatten(1), mix)
    expect(flat is None or _close(flat, want.detach().double()),
           "for the same samples given as points (N, 6) instead of images (N, 1, 2, 3) your penalty gives "
           f"{flat} instead of {want.item():.5g}: shape the weights from real.dim(), (N, 1) for points and "
           "(N, 1, 1, 1) for images, so that one weight multiplies each whole sample")

    # 5. mix=None: one random weight per sample, uniform on [0, 1], for images and for points.
    for shape in ((400, 1, 2, 3), (400, 6)):
        _check_drawn_weights(gradient_penalty, reference, shape)
    return "per-sample interpolates, the critic's gradient there (create_graph=True), mean (||grad|| - 1)^2"


# --- conceptual questions (notebook 06) ---------------------------------------------------------------

number(
    "gan_dstar_three_to_one", 0.75,
    "D*(x) = p_data / (p_data + p_g) = 3 / (3 + 1) = 0.75: the discriminator's best guess is the share of the "
    "samples near x that are real. It is 1/2 only where the two densities agree, which is why the game's "
    "optimum p_g = p_data leaves it at 1/2 everywhere.",
    {3: "that is the density ratio p_data / p_g itself; D* is a probability, p_data / (p_data + p_g)",
     0.25: "that is p_g / (p_data + p_g), the probability that x is FAKE; D(x) is the probability that x is real",
     0.5: "D* is 1/2 only where the two densities agree; here real data is three times as dense",
     1: "D* reaches 1 only where the generator puts no samples at all (p_g = 0); here both densities are positive",
     1 / 3: "that is p_g / p_data; D* compares p_data with the SUM p_data + p_g",
     2 / 3: "D* = p_data / (p_data + p_g): with p_data = 3 p_g that is 3 / (3 + 1)"},
    tolerance=0.01)

number(
    "gan_ns_gradient_ratio", 49,
    "per fake, the saturating loss log(1 - D) has d/da = -D = -0.02 and the non-saturating -log D has "
    "d/da = -(1 - D) = -0.98: a ratio (1 - D) / D = 49. The weaker the fakes, the larger the ratio, which is "
    "why the non-saturating loss is used: it gives the generator a strong signal exactly when it is losing.",
    {50: "that is 1 / D, as if the non-saturating gradient were 1: it is -(1 - D) = -0.98, so the ratio is "
         "(1 - D) / D",
     1 / 49: "that is the ratio the other way round: the saturating gradient (-D) over the non-saturating one "
             "(-(1 - D)); the non-saturating one is the LARGER",
     1: "both losses push D(G(z)) up, but with different slopes: d/da log(1 - sigmoid(a)) = -D, d/da "
        "(-log sigmoid(a)) = -(1 - D)",
     0.98: "that is the non-saturating gradient itself, 1 - D; divide it by the saturating one, D",
     0.02: "that is the saturating gradient itself, D; the question asks how many times larger the "
           "non-saturating one (1 - D) is",
     193.6: "that is the ratio of the two losses' VALUES (-log 0.02 over -log 0.98); the generator learns from "
            "their slopes with respect to the logit, -(1 - D) and -D"},
    tolerance=0.005)

choices(
    "gan_mode_collapse", {"a", "c"},
    "a collapsed generator draws a few modes, and often draws them well: its high-quality share can stay high "
    "while modes_covered drops. Only a number that counts WHICH modes get samples reveals the collapse (on "
    "digits: the histogram of predicted classes in section 8).",
    {"a": "that is what collapse looks like: the generator found a few places the discriminator accepts and "
          "stays there, so the other modes get no samples",
     "b": "a blurry ring between the modes is LOW QUALITY (samples far from every mode), as the WGAN-GP run's "
          "more diffuse samples show in part; a collapsed generator puts its samples on a few modes, often sharply",
     "c": "modes_covered counts the modes that get at least a fifth of their fair share of high-quality "
          "samples: exactly what collapse takes away",
     "d": "the high-quality share counts samples close to SOME mode, whichever; a generator that draws two modes "
          "sharply scores high on it while covering a quarter of the ring",
     "e": "the losses measure each player against the current opponent, not the coverage of the data: a "
          "collapsed generator can come with ordinary-looking losses, and a discriminator loss near 0 means a "
          "discriminator that wins, with or without collapse"})
