"""How DCGAN sample quality grows with the training budget: confident share and classifier FID per epoch.

Trains notebook 06's DCGAN recipe (``gan.DCGAN_CONFIGS``: non-saturating loss, k = 1, Adam) on the
training digits, with the generator's width and the number of epochs as options, and after chosen
epochs measures the two numbers of notebook 06: the share of samples the course's digit classifier
labels with probability above 0.9, and the classifier FID against the first half of the test set
(with the real-vs-real floor for scale). Nothing is cached; each run trains afresh.

    .venv/bin/python benchmarks/dcgan_budget.py                         # the lecture recipe, 40 epochs
    .venv/bin/python benchmarks/dcgan_budget.py --epochs 80 --eval 20,40,60,80 --threads 1

Recorded on the course's 2-core CPU with the offline digits (4,000 train / 1,000 test), 2,000 samples
for the confident share, 500 for FID (real digits: 0.93 confident, FID floor 13.6). Confident share /
FID at the epochs measured:

    defaults (width 40, two threads, 129 s of training for 40 epochs):
        epochs 10 / 20 / 30 / 40: 0.60 / 33.5, 0.65 / 40.2, 0.69 / 22.3, 0.71 / 31.1
    --threads 1 --epochs 80 --eval 20,40,60,80 (521 s of training):
        epochs 20 / 40 / 60 / 80: 0.66 / 25.9, 0.72 / 17.6, 0.74 / 15.8, 0.75 / 18.4

The share climbs slowly (about +0.03 from 40 to 80 epochs); FID on 500 samples swings by 10 or more
from one epoch, or one thread count, to the next.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_utils.data import load_mnist, make_loader
from course_utils.metrics import classifier_fid, confident_share, fid_classifier
from course_utils.models import gan
from course_utils.train import run_steps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    lecture = gan.DCGAN_CONFIGS["lecture"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=lecture["epochs"])
    parser.add_argument("--eval", default="10,20,30,40", help="epochs after which to measure, comma-separated")
    parser.add_argument("--width", type=int, default=lecture["model"]["width"],
                        help="generator width w (its 28x28 layer has w // 2 maps)")
    parser.add_argument("--train-images", type=int, default=None, help="first N training digits (default: all)")
    parser.add_argument("--samples", type=int, default=2000, help="samples for the confident share")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        args.eval_epochs = sorted({int(e) for e in args.eval.split(",") if e.strip()})
    except ValueError:
        parser.error(f"--eval must be comma-separated epoch numbers like 10,20,40, got {args.eval!r}")
    if args.epochs < 1 or args.width < 2 or args.samples < 2:
        parser.error(f"need --epochs >= 1, --width >= 2 and --samples >= 2, got {args.epochs}, {args.width}, "
                     f"{args.samples}")
    if not args.eval_epochs or not all(1 <= e <= args.epochs for e in args.eval_epochs):
        parser.error(f"--eval epochs must lie in 1..{args.epochs}, got {args.eval!r}")
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    """Train once, measure after each epoch of ``--eval``; returns one dict per measurement."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = gan.DCGAN_CONFIGS["lecture"]
    train = load_mnist("train", limit=args.train_images)
    test = load_mnist("test")
    classifier = fid_classifier()
    half = len(test) // 2
    reference = test.images[:half]
    floor = classifier_fid(reference, test.images[half:2 * half], classifier)
    print(f"real digits: confident share {confident_share(test.images, classifier):.3f}, FID floor {floor:.1f}")

    torch.manual_seed(args.seed)
    generator = gan.DCGANGenerator(z_dim=config["model"]["z_dim"], width=args.width, refine=args.width // 2)
    discriminator = gan.DCGANDiscriminator(**config["discriminator"])
    g_opt = torch.optim.Adam(generator.parameters(), lr=config["lr"], betas=config["betas"])
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=config["lr"], betas=config["betas"])
    step = gan.make_gan_step(generator, discriminator, g_opt, d_opt)
    z = torch.randn(args.samples, generator.z_dim, generator=torch.Generator().manual_seed(args.seed + 123))
    results: list[dict] = []
    started, measuring = time.perf_counter(), 0.0

    def measure(epoch: int, history) -> None:
        nonlocal measuring
        if epoch + 1 not in args.eval_epochs:
            return
        began = time.perf_counter()
        samples = generator.generate(z)
        row = {"epoch": epoch + 1, "train_seconds": round(began - started - measuring, 1),
               "confident_share": round(confident_share(samples, classifier), 4),
               "fid": round(classifier_fid(reference, samples[:half], classifier), 2), "fid_floor": round(floor, 2)}
        measuring += time.perf_counter() - began
        results.append(row)
        print(row, flush=True)

    loader = make_loader(train.images, batch_size=config["batch_size"], seed=args.seed)
    run_steps(step, loader, epochs=args.epochs, progress=False, on_epoch_end=measure)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "eval_epochs"}, "results": results},
                      f, indent=1)
    return results


if __name__ == "__main__":
    main()
