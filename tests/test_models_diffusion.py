"""The reference diffusion and flow-matching pieces: schedules, the forward process, steps and samplers
against hand-computed values, the networks' shapes and input checks, training and the zoo's cache."""

import math

import pytest
import torch

from course_utils import zoo
from course_utils.checkpoint import cached_model_path
from course_utils.config import RunConfig
from course_utils.models import diffusion
from course_utils.models.diffusion import (
    MLPDenoiser,
    UNet,
    cfg_combine,
    ddim_step,
    ddpm_step,
    make_schedule,
    q_sample,
    schedule_from_betas,
)

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = RunConfig("smoke", 0, torch.device("cpu"))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_decrease_from_almost_one_to_almost_zero(kind):
    s = make_schedule(1000, kind)
    assert s.T == 1000 and s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (1000,)
    assert s.alpha_bars[0] > 0.99 and s.alpha_bars[-1] < 1e-3
    assert bool((s.alpha_bars.diff() < 0).all())
    assert torch.allclose(s.alpha_bars, torch.cumprod(1 - s.betas.double(), 0).float(), rtol=1e-4)
    assert torch.allclose(s.snr(), s.alpha_bars / (1 - s.alpha_bars))


@pytest.mark.parametrize("call, words", [
    (lambda: make_schedule(1, "cosine"), "T must"),
    (lambda: make_schedule(10, "quadratic"), "kind"),
    (lambda: schedule_from_betas(torch.tensor([0.1, 1.5])), r"\(0, 1\)"),
])
def test_schedule_errors(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_q_sample_matches_the_formula_and_its_moments():
    s = make_schedule(100, "linear")
    x0 = torch.full((20000, 1), 0.7)
    t = torch.full((20000,), 40)
    out = q_sample(x0, t, torch.randn_like(x0), s)
    a = s.alpha_bars[40]
    assert out.mean().item() == pytest.approx(a.sqrt().item() * 0.7, abs=0.02)
    assert out.var().item() == pytest.approx(1 - a.item(), abs=0.02)


@pytest.mark.parametrize("call, words", [
    (lambda s: q_sample(torch.zeros(3, 2), torch.zeros(3), torch.zeros(3, 2), s), "int64"),
    (lambda s: q_sample(torch.zeros(3, 2), torch.full((3,), 10), torch.zeros(3, 2), s), r"\[0, 9\]"),
    (lambda s: q_sample(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.zeros(3, 3), s), "same shape"),
    (lambda s: q_sample(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), torch.zeros(3), s),
     "float"),
    (lambda s: ddpm_step(torch.zeros(2, 2), torch.zeros(2, 2), 10, s, torch.zeros(2, 2)), r"\[0, 9\]"),
    (lambda s: ddim_step(torch.zeros(2, 2), torch.zeros(2, 2), 3, 3, s), "earlier"),
    (lambda s: ddim_step(torch.zeros(2, 2), torch.zeros(2, 2), 3, 1, s, eta=1.0), "needs noise"),
    (lambda s: cfg_combine(torch.zeros(2, 2), torch.zeros(2, 3), 1.0), "same shape"),
])
def test_input_errors_are_clear(call, words):
    with pytest.raises(ValueError, match=words):
        call(make_schedule(10, "cosine"))


def test_ddpm_step_by_hand_and_no_noise_at_the_end():
    s = schedule_from_betas(torch.tensor([0.1, 0.2, 0.3]))
    x, eps, noise = torch.tensor([[1.0]]), torch.tensor([[0.5]]), torch.tensor([[2.0]])
    a_bar = [0.9, 0.72, 0.504]
    mean = (1.0 - 0.3 / math.sqrt(1 - a_bar[2]) * 0.5) / math.sqrt(0.7)
    var = 0.3 * (1 - a_bar[1]) / (1 - a_bar[2])
    assert ddpm_step(x, eps, 2, s, noise).item() == pytest.approx(mean + math.sqrt(var) * 2.0, rel=1e-5)
    assert ddpm_step(x, eps, 0, s, noise).item() == pytest.approx((1.0 - 0.1 / math.sqrt(0.1) * 0.5) / math.sqrt(0.9),
                                                                   rel=1e-5)


def test_ddim_with_eta_one_is_the_ancestral_step_and_lands_on_x0():
    s = make_schedule(50, "cosine")
    x, eps, noise = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(ddim_step(x, eps, 20, 19, s, eta=1.0, noise=noise), ddpm_step(x, eps, 20, s, noise),
                          atol=1e-5)
    x0 = torch.randn(4, 3)
    x_t = q_sample(x0, torch.full((4,), 30), eps, s)
    assert torch.allclose(ddim_step(x_t, eps, 30, -1, s), x0, atol=1e-4)   # the true noise gives back x0
    assert torch.allclose(ddim_step(x_t, eps, 30, 10, s), q_sample(x0, torch.full((4,), 10), eps, s), atol=1e-4)


def test_cfg_combine_end_points():
    c, u = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(cfg_combine(c, u, 0.0), u)
    assert torch.allclose(cfg_combine(c, u, 1.0), c)
    assert torch.allclose(cfg_combine(c, u, 3.0), u + 3 * (c - u))


def test_networks_shapes_labels_and_errors():
    net = UNet(channels=(8, 16, 16), emb_dim=32)
    x = torch.randn(3, 1, 28, 28)
    assert net(x, torch.tensor([0, 500, 999]), torch.tensor([1, 2, 10])).shape == (3, 1, 28, 28)
    assert net(x, torch.tensor([0, 1, 2]), None).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 10\]"):
        net(x, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 11]))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        net(torch.randn(3, 1, 14, 14), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        net(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="multiples of 8"):
        UNet(channels=(8, 12, 16))
    with pytest.raises(ValueError, match="objective"):
        UNet(objective="score")
    mlp = MLPDenoiser(num_classes=8, hidden=16)
    assert mlp(torch.randn(5, 2), torch.randint(0, 1000, (5,)), torch.full((5,), 8)).shape == (5, 2)


def test_losses_are_finite_and_reach_the_network():
    net = UNet(channels=(8, 16, 16), emb_dim=32)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3])
    for loss in (diffusion.diffusion_loss(net, x0, labels, net.schedule), diffusion.flow_loss(net, x0, labels)):
        assert loss.dim() == 0 and torch.isfinite(loss)
        net.zero_grad()
        loss.backward()
        assert net.inp.weight.grad is not None
    assert diffusion.drop_labels(labels, 1.0, 10).eq(10).all() and diffusion.drop_labels(labels, 0.0, 10).equal(labels)


def test_samplers_shapes_ranges_seeds_and_passes():
    torch.manual_seed(0)
    eps_net, flow_net = UNet(channels=(8, 16, 16), emb_dim=32), UNet("flow", channels=(8, 16, 16), emb_dim=32)
    for net, sampler, steps in ((eps_net, "ddim", 3), (eps_net, "ddpm", 3), (flow_net, "flow", 3)):
        a = diffusion.sample_images(net, 5, steps=steps, sampler=sampler, generator=torch.Generator().manual_seed(1),
                                    batch_size=3)
        b = diffusion.sample_images(net, 5, steps=steps, sampler=sampler, generator=torch.Generator().manual_seed(1),
                                    batch_size=3)
        assert a.shape == (5, 1, 28, 28) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)
    guided = diffusion.sample_images(eps_net, 4, steps=2, labels=[1, 2, 3, 4], scale=2.0)
    assert guided.shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="does not fit"):
        diffusion.sample_images(eps_net, 2, steps=2, sampler="flow")
    assert diffusion.network_passes("ddpm", None, T=1000) == 1000 and diffusion.network_passes("flow", 20) == 20
    assert diffusion._time_steps(1000, 4) == [999, 666, 333, 0] and diffusion._time_steps(1000, 1) == [999]


def test_full_ancestral_chain_uses_the_step_function_t_times():
    net = MLPDenoiser(T=20, hidden=16)
    calls = []

    def step(x, eps, t, schedule, noise):
        calls.append(t)
        return ddpm_step(x, eps, t, schedule, noise)

    out, path = diffusion.ddpm_sample(net, 6, step_fn=step, clip=False, trajectory=True)
    assert out.shape == (6, 2) and len(path) == 21 and calls == list(range(19, -1, -1))


def test_ring_denoiser_learns_the_modes():
    """The notebook's warm-up, smaller: after a few hundred steps many ancestral samples land near a mode (an
    untrained denoiser puts about 2% there), and nearly every mode gets some."""
    from course_utils.data import make_loader, ring_centres, ring_of_gaussians
    from course_utils.train import fit

    torch.manual_seed(0)
    ring = ring_of_gaussians(4000, seed=0)
    labels = torch.cdist(ring, ring_centres()).argmin(1)
    net = MLPDenoiser(T=50, num_classes=8, hidden=64)
    fit(net, lambda m, b: diffusion.diffusion_loss(m, b[0], b[1], m.schedule, 0.5, 8),
        make_loader(ring, labels, batch_size=250), epochs=30, lr=2e-3, progress=False)
    out = diffusion.ddpm_sample(net.eval(), 400, clip=False, generator=torch.Generator().manual_seed(0))
    distance, mode = torch.cdist(out, ring_centres()).min(1)
    assert (distance < 0.3).float().mean() > 0.25
    assert len(mode[distance < 0.3].unique()) >= 7


def test_zoo_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    for objective in ("eps", "flow"):
        net, history = zoo.diffusion_model(SMOKE, objective)
        assert isinstance(net, UNet) and net.objective == objective and not net.training
        assert history is not None and len(history.steps) == diffusion.CONFIGS["smoke"]["steps"]
        assert cached_model_path(f"diffusion_{objective}", "smoke").is_file()
        again, _ = zoo.diffusion_model(SMOKE, objective)
        assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(),
                                                          strict=True))
    with pytest.raises(ValueError, match="objective"):
        zoo.diffusion_model(SMOKE, "score")
