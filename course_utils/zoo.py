"""The course's trained models: build one, load the weights its notebook cached, or train it here.

Each model family is trained by its own notebook (02 the convolutional autoencoder, 03 the PixelRNN,
04 the PixelCNN, 05 the VAE, 06 the DCGAN) through its function below (``autoencoder_model``,
``pixelrnn_model``, ``pixelcnn_model``, ``vae_model``, ``dcgan_model``), which
caches the weights at ``cached_model_path(name, profile)``. Later notebooks (05 compares with
the PixelCNN, 07 compares everything) call the same function: it loads the cached weights, or,
when there are none, trains the model with the same recipe and caches it, so every notebook
also runs on its own. The sizes and budgets live in each model file's ``CONFIGS``.

    cfg = setup("lecture")
    model, history = zoo.pixelcnn_model(cfg)            # GatedPixelCNN in eval mode on cfg.device
    generator, history, snapshots = zoo.dcgan_model(cfg)

Every function takes ``model=`` (a freshly built model to train or load into; default: built here
after ``torch.manual_seed(cfg.seed)``), ``train=`` (the training digits; default: the profile's
``train_images`` of ``load_mnist('train')``) and returns the model in eval mode on ``cfg.device``
with its training :class:`~course_utils.train.History` (None only for a checkpoint saved without one).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .checkpoint import cached_model_path, load_checkpoint, load_or_train
from .config import RunConfig
from .data import Digits, binarize_fixed, load_mnist, make_loader
from .models import autoencoder, diffusion, gan, pixelcnn, pixelrnn, vae
from .models.autoregressive import evaluate_nll, train_autoregressive
from .train import History, fit, run_steps

EpochHook = Callable[[int, History], dict | None]


def _training_digits(config: dict, train: Digits | None) -> Digits:
    """The digits given, else the profile's training digits (``config['train_images']`` of them; None: all)."""
    return train if train is not None else load_mnist("train", limit=config["train_images"])


def _fresh(cfg: RunConfig, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """A newly built model whose initial weights depend only on ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    return build()


def autoencoder_model(cfg: RunConfig, model: autoencoder.ConvAutoencoder | None = None, train: Digits | None = None,
                     on_epoch_end: EpochHook | None = None) -> tuple[autoencoder.ConvAutoencoder, History | None]:
    """Notebook 02's convolutional autoencoder (squared error, Adam), cached as 'conv_autoencoder'."""
    config = cfg.pick(**autoencoder.CONV_CONFIGS)
    model = model if model is not None else _fresh(cfg, lambda: autoencoder.ConvAutoencoder(config["latent_dim"]))
    train = _training_digits(config, train)

    def recipe(m):
        loader = make_loader(train.images, batch_size=config["batch_size"], seed=cfg.seed)
        return fit(m, autoencoder.autoencoder_loss, loader, epochs=config["epochs"], lr=config["lr"],
                   device=cfg.device, on_epoch_end=on_epoch_end)

    history = load_or_train(cached_model_path("conv_autoencoder", cfg.profile), model, recipe,
                            latent_dim=config["latent_dim"], epochs=config["epochs"], source=train.source,
                            images=len(train))
    return model.to(cfg.device).eval(), history


MONITOR_IMAGES = 250  # test digits whose NLL a pixel model's history records after every epoch


def _autoregressive(name: str, configs: dict, build: Callable[[str], torch.nn.Module], cfg: RunConfig,
                    model, train, on_epoch_end) -> tuple[torch.nn.Module, History | None]:
    """Train or load a pixel model; its history has 'loss', 'bpd' and, per epoch, 'test_nll' (nats) on the
    first ``MONITOR_IMAGES`` test digits, whichever notebook trained it (plus what ``on_epoch_end`` adds)."""
    config = cfg.pick(**configs)
    model = model if model is not None else _fresh(cfg, lambda: build(cfg.profile))
    train = _training_digits(config, train)
    monitor = binarize_fixed(load_mnist("test", limit=MONITOR_IMAGES, verbose=False).images, seed=0)

    def recipe(m):
        def epoch_end(epoch, history):
            extra = on_epoch_end(epoch, history) if on_epoch_end is not None else None
            return {"test_nll": evaluate_nll(m, monitor).mean().item(), **(extra or {})}

        return train_autoregressive(m, train.images, epochs=config["epochs"], lr=config["lr"],
                                    batch_size=config["batch_size"], weight_decay=config["weight_decay"],
                                    device=cfg.device, seed=cfg.seed, on_epoch_end=epoch_end)

    history = load_or_train(cached_model_path(name, cfg.profile), model, recipe, config=str(config),
                            source=train.source, monitor=f"test_nll per epoch on {MONITOR_IMAGES} test digits")
    return model.to(cfg.device).eval(), history


def pixelrnn_model(cfg: RunConfig, model: torch.nn.Module | None = None, train: Digits | None = None,
                   on_epoch_end: EpochHook | None = None) -> tuple[torch.nn.Module, History | None]:
    """Notebook 03's PixelRNN (Row LSTM in 'lecture', Diagonal BiLSTM in 'full'), cached as 'pixelrnn'."""
    return _autoregressive("pixelrnn", pixelrnn.CONFIGS, pixelrnn.build_pixelrnn, cfg, model, train, on_epoch_end)


def pixelcnn_model(cfg: RunConfig, model: pixelcnn.GatedPixelCNN | None = None, train: Digits | None = None,
                   on_epoch_end: EpochHook | None = None) -> tuple[pixelcnn.GatedPixelCNN, History | None]:
    """Notebook 04's gated PixelCNN, cached as 'pixelcnn'."""
    return _autoregressive("pixelcnn", pixelcnn.CONFIGS, pixelcnn.build_pixelcnn, cfg, model, train, on_epoch_end)


def vae_model(cfg: RunConfig, model: vae.VAE | None = None, train: Digits | None = None,
              eval_images: torch.Tensor | None = None) -> tuple[vae.VAE, History | None]:
    """Notebook 05's VAE (negative ELBO, cosine schedule, weight averaging), cached as 'vae'.

    eval_images: binary test images (M, 1, 28, 28) whose negative ELBO is recorded per epoch for
    plotting; default: the first 500 test digits with the course's fixed binarization.
    """
    config = cfg.pick(**vae.CONFIGS)
    model = model if model is not None else _fresh(cfg, lambda: vae.build_vae(cfg.profile))
    train = _training_digits(config, train)
    if eval_images is None:
        eval_images = binarize_fixed(load_mnist("test", limit=500, verbose=False).images, seed=0)

    def recipe(m):
        return vae.train_vae(m, train.images, epochs=config["epochs"], lr=config["lr"],
                             batch_size=config["batch_size"], weight_decay=config["weight_decay"],
                             warmup_epochs=config["warmup_epochs"], ema_decay=config["ema_decay"],
                             eval_images=eval_images, device=cfg.device, seed=cfg.seed)

    history = load_or_train(cached_model_path("vae", cfg.profile), model, recipe, config=str(config),
                            source=train.source, images=len(train))
    return model.to(cfg.device).eval(), history


def dcgan_model(cfg: RunConfig, model: gan.DCGANGenerator | None = None, train: Digits | None = None
          ) -> tuple[gan.DCGANGenerator, History | None, dict[int, torch.Tensor]]:
    """Notebook 06's DCGAN generator (non-saturating loss, k = 1, Adam), cached as 'dcgan_generator'.

    Also returns snapshots: {epoch: images (10, 1, 28, 28)} of 10 fixed noise vectors (seeded by
    ``cfg.seed``) after epochs 1, 2, 5, 10 and the last, saved with the weights.
    """
    config = cfg.pick(**gan.DCGAN_CONFIGS)
    model = model if model is not None else _fresh(cfg, lambda: gan.DCGANGenerator(**config["model"]))
    train = _training_digits(config, train)
    epochs = config["epochs"]
    snapshot_z = torch.randn(10, model.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    snapshot_epochs = {1, 2, 5, 10, epochs} & set(range(1, epochs + 1))
    snapshots: dict[int, torch.Tensor] = {}

    def recipe(generator):
        torch.manual_seed(cfg.seed)
        generator.to(cfg.device)
        discriminator = gan.DCGANDiscriminator(**config["discriminator"]).to(cfg.device)
        g_opt = torch.optim.Adam(generator.parameters(), lr=config["lr"], betas=config["betas"])
        d_opt = torch.optim.Adam(discriminator.parameters(), lr=config["lr"], betas=config["betas"])
        step = gan.make_gan_step(generator, discriminator, g_opt, d_opt, device=cfg.device)

        def snapshot(epoch, history):
            if epoch + 1 in snapshot_epochs:
                snapshots[epoch + 1] = generator.generate(snapshot_z)

        loader = make_loader(train.images, batch_size=config["batch_size"], seed=cfg.seed)
        return run_steps(step, loader, epochs=epochs, on_epoch_end=snapshot)

    path = cached_model_path("dcgan_generator", cfg.profile)
    history = load_or_train(path, model, recipe, snapshots=snapshots, source=train.source,
                            recipe=f"{epochs} epochs, Adam {config['lr']} {config['betas']}, "
                                   f"batch {config['batch_size']}, non-saturating, "
                                   f"G {config['model']}, 3-layer D {config['discriminator']}")
    if not snapshots:  # loaded from the cache: the snapshots were saved with the weights
        snapshots = load_checkpoint(path, model)["meta"].get("snapshots", {})
    return model.to(cfg.device).eval(), history, snapshots


def diffusion_model(cfg: RunConfig, objective: str = "eps", model: diffusion.UNet | None = None,
                    train: Digits | None = None) -> tuple[diffusion.UNet, History | None]:
    """Notebook 08's class-conditional U-Net, cached as 'diffusion_eps' or 'diffusion_flow'.

    objective: 'eps' (DDPM: noise prediction on the profile's cosine schedule; sample it with
    ``diffusion.sample_images(net, n, steps, sampler='ddim' or 'ddpm')``) or 'flow' (flow matching:
    velocity prediction; ``sampler='flow'``, Euler steps). Both are trained with label dropout, so
    ``labels=None`` (or scale 0) samples unconditionally and ``labels=..., scale=s`` with classifier-free
    guidance. Same U-Net size and number of optimizer steps for both objectives (``diffusion.CONFIGS``).
    """
    if objective not in diffusion.OBJECTIVES:
        raise ValueError(f"objective must be one of {diffusion.OBJECTIVES}, got {objective!r}")
    config = cfg.pick(**diffusion.CONFIGS)
    model = model if model is not None else _fresh(cfg, lambda: diffusion.build_unet(cfg.profile, objective))
    train = _training_digits(config, train)

    def recipe(m):
        return diffusion.train_diffusion(m, train.images, train.labels, steps=config["steps"], lr=config["lr"],
                                         batch_size=config["batch_size"], p_uncond=config["p_uncond"],
                                         ema_decay=config["ema_decay"], device=cfg.device, seed=cfg.seed,
                                         progress=False)

    history = load_or_train(cached_model_path(f"diffusion_{objective}", cfg.profile), model, recipe,
                            source=train.source, images=len(train),
                            recipe=f"{objective}, {config['steps']} steps, batch {config['batch_size']}, "
                                   f"Adam {config['lr']} warmup+cosine, EMA {config['ema_decay']}, "
                                   f"p_uncond {config['p_uncond']}, U-Net {config['model']}, "
                                   f"T {config['T']} {config['schedule']}")
    return model.to(cfg.device).eval(), history
