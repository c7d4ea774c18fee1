"""How good notebook 08's diffusion model gets for its training budget: classifier FID per sampler, and guidance.

Trains notebook 08's class-conditional U-Net (``diffusion.UNet`` with ``diffusion.train_diffusion``; the
defaults are the lecture recipe ``diffusion.CONFIGS["lecture"]``, read at run time) on the first
``--train-images`` training digits, with either objective: 'eps' (noise prediction on a noise
schedule) or 'flow' (flow matching). Then it measures, with the course's digit classifier:

- the training seconds and the network's parameters;
- for each sampler, the classifier FID of ``--samples`` unconditional samples against the first half
  of the lecture test set (500 digits; the FID of its two halves, the floor that sampling noise alone
  gives, is printed and returned), and the seconds the sampler took: DDIM with 20 steps and ancestral
  sampling with 50 for 'eps', Euler with 10 and with 20 steps for 'flow';
- with classifier-free guidance at scales 1, 2 and 3 (10 DDIM or Euler steps, labels 0..9 cycled): the
  share of samples the classifier reads as the digit asked for, and their FID.

Every sampler starts from the same seeded noise. Nothing is cached; each run trains afresh.

    .venv/bin/python benchmarks/diffusion_budget.py                          # the lecture recipe, 'eps'
    .venv/bin/python benchmarks/diffusion_budget.py --objective flow --json flow.json
    .venv/bin/python benchmarks/diffusion_budget.py --steps 1400 --channels 16,32,32 --ema 0 --threads 1

Recorded on the course's 2-core CPU with the offline digits (4,000 train / 1,000 test; FID floor 13.6; the
VAE of notebook 05 scores about 84), one thread per run, two runs side by side on a shared machine (so the
seconds are high): ancestral-50 FID / DDIM-20 FID / right class at guidance scale 2 / at scale 3.

    eps, batch 64 x 700 steps, cosine schedule, EMA 0.995 (the old lecture recipe):  176 / 238 / 47% / 61%
        the same, --ema 0:                                                       166 / 230 / 49% / 63%
        the same with EMA, --lr 1e-3:                                            215 / 277 / 37% / 52%
        the same with EMA, --schedule linear:                                    134 / 200 / 43% / 57%
        the same with EMA, --channels 32,64,64 (0.51 M parameters, ~3x the work): 83 / 127 / 53% / 63%
    eps, --schedule linear --ema 0, equal computation in smaller batches:
        --batch-size 32 --steps 1400:                                            119 / 153 / 70% / 79%
        --batch-size 16 --steps 2800:                                             92 / 122 / 83% / 93%
        --batch-size 8 --steps 5600 (the lecture recipe now; 220 s of training):  73 /  96 / 92% / 96%
    flow, --batch-size 16 --steps 2800 --ema 0: Euler 10 / 20 steps FID 107 / 91; right class at scale
        1 / 2 / 3: 90% / 98% / 100%

Step time of the lecture U-Net (two threads, quiet machine): 23 ms per batch of 8, 35 ms per 16, 125 ms
per 64, so batches of 8 cost about 1.5x the wall time of batches of 64 for the same number of digits.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_utils.config import DATA_BUDGET
from course_utils.data import load_mnist
from course_utils.metrics import accuracy, classifier_fid, count_parameters, fid_classifier
from course_utils.models import diffusion

SCALES = (1.0, 2.0, 3.0)  # guidance scales measured
GUIDED_STEPS = 10  # sampler steps for the guided samples


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, defaults from ``diffusion.CONFIGS["lecture"]``; a parser error names what was expected."""
    lecture = diffusion.CONFIGS["lecture"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=diffusion.OBJECTIVES, default="eps",
                        help="'eps': predict the noise; 'flow': flow matching")
    parser.add_argument("--steps", type=int, default=lecture["steps"], help="Adam updates")
    parser.add_argument("--batch-size", type=int, default=lecture["batch_size"])
    parser.add_argument("--lr", type=float, default=lecture["lr"], help="peak learning rate (warm-up, cosine decay)")
    parser.add_argument("--channels", default=",".join(str(c) for c in lecture["model"]["channels"]),
                        help="feature maps at 28x28, 14x14 and 7x7: three multiples of 8, comma-separated")
    parser.add_argument("--emb-dim", type=int, default=lecture["model"]["emb_dim"],
                        help="size of the time and label embedding (even)")
    parser.add_argument("--schedule", choices=("linear", "cosine"), default=lecture["schedule"],
                        help="noise schedule of 'eps' (unused by 'flow')")
    parser.add_argument("--ema", type=float, default=lecture["ema_decay"] or 0.0,
                        help="decay of the weights' moving average; 0: none")
    parser.add_argument("--p-uncond", type=float, default=lecture["p_uncond"],
                        help="probability of dropping the label in training (for guidance)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--train-images", type=int, default=lecture["train_images"],
                        help="first N training digits")
    parser.add_argument("--samples", type=int, default=500, help="samples per FID (and per guidance scale)")
    parser.add_argument("--json", default=None, help="also write the args and results to this file")
    args = parser.parse_args(argv)
    try:
        args.channel_sizes = tuple(int(c) for c in args.channels.split(","))
    except ValueError:
        args.channel_sizes = ()
    if len(args.channel_sizes) != 3 or any(c < 8 or c % 8 for c in args.channel_sizes):
        parser.error(f"--channels must be three positive multiples of 8 like 16,32,64, got {args.channels!r}")
    if args.steps < 1 or args.batch_size < 1 or args.train_images is None or args.train_images < 1:
        parser.error(f"need --steps >= 1, --batch-size >= 1 and --train-images >= 1, got {args.steps}, "
                     f"{args.batch_size}, {args.train_images}")
    if args.samples < 2:
        parser.error(f"need --samples >= 2 (FID needs two samples at least), got {args.samples}")
    if args.emb_dim < 2 or args.emb_dim % 2:
        parser.error(f"--emb-dim must be an even number >= 2, got {args.emb_dim}")
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if not 0 <= args.ema < 1:
        parser.error(f"--ema must lie in [0, 1) (0: no moving average), got {args.ema}")
    if not 0 <= args.p_uncond < 1:
        parser.error(f"--p-uncond must lie in [0, 1), got {args.p_uncond}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def samplers_for(objective: str) -> list[tuple[str, int]]:
    """(sampler, steps) of the unconditional FIDs: DDIM 20 and ancestral 50 for 'eps', Euler 10 and 20 for 'flow'."""
    return [("ddim", 20), ("ddpm", 50)] if objective == "eps" else [("flow", 10), ("flow", 20)]


@torch.no_grad()
def labelled_share(images: torch.Tensor, labels: torch.Tensor, classifier: torch.nn.Module) -> float:
    """Share of ``images`` (N, 1, 28, 28) that ``classifier`` reads as their ``labels`` (N,)."""
    logits = torch.cat([classifier(images[i:i + 500]) for i in range(0, len(images), 500)])
    return accuracy(logits, labels)


def main(argv: list[str] | None = None) -> dict:
    """Train once, then measure every sampler and guidance scale; returns (and prints) one dict."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_mnist("train", limit=args.train_images)
    test = load_mnist("test", limit=DATA_BUDGET["lecture"]["test"])
    classifier = fid_classifier(progress=False, profile="lecture").eval()
    half = len(test) // 2
    reference = test.images[:half]
    floor = classifier_fid(reference, test.images[half:2 * half], classifier)
    print(f"FID of real digits (two halves of the test set, {half} each): {floor:.1f}", flush=True)

    torch.manual_seed(args.seed)
    net = diffusion.UNet(args.objective, channels=args.channel_sizes, emb_dim=args.emb_dim, schedule=args.schedule)
    began = time.perf_counter()
    history = diffusion.train_diffusion(net, train.images, train.labels, steps=args.steps, lr=args.lr,
                                        batch_size=args.batch_size, p_uncond=args.p_uncond,
                                        ema_decay=args.ema or None, seed=args.seed, progress=False)
    losses = history.series("loss", per="step")[-50:]
    results = {"objective": args.objective, "train_seconds": round(time.perf_counter() - began, 1),
               "parameters": count_parameters(net), "final_loss": round(sum(losses) / len(losses), 4),
               "fid_floor": round(floor, 2), "samplers": [], "guidance": []}

    def noise() -> torch.Generator:
        return torch.Generator().manual_seed(args.seed + 1)

    for sampler, steps in samplers_for(args.objective):
        began = time.perf_counter()
        images = diffusion.sample_images(net, args.samples, steps=steps, sampler=sampler, generator=noise())
        seconds = time.perf_counter() - began
        results["samplers"].append({"sampler": sampler, "steps": steps, "seconds": round(seconds, 1),
                                    "fid": round(classifier_fid(reference, images, classifier), 2)})
    labels = torch.arange(args.samples) % 10
    sampler = "ddim" if args.objective == "eps" else "flow"
    for scale in SCALES:
        images = diffusion.sample_images(net, args.samples, steps=GUIDED_STEPS, sampler=sampler, labels=labels,
                                         scale=scale, generator=noise())
        results["guidance"].append({"scale": scale, "sampler": sampler, "steps": GUIDED_STEPS,
                                    "right_share": round(labelled_share(images, labels, classifier), 4),
                                    "fid": round(classifier_fid(reference, images, classifier), 2)})
    print(json.dumps(results), flush=True)
    if args.json:
        saved = {k: v for k, v in vars(args).items() if k != "channel_sizes"}
        with open(args.json, "w") as f:
            json.dump({"args": saved, "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
