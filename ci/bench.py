"""Training throughput: the seed's input pipeline vs the course's, same model, side by side in one process.

    python ci/bench.py [--batches 60] [--repeats 3]

Seed style: `torchvision.datasets.MNIST` + `DataLoader(batch_size=128, shuffle=True, num_workers=0)` with
`ToTensor()` + `Normalize()`, and for augmentation `RandomRotation(10)` + `RandomAffine(0, translate=(0.1, 0.1))`
on each PIL image. Course style: the whole dataset as one tensor on the device, shuffled index batches,
`mnistkit.augment.RandomAffine` on the whole batch. Both train chapter 04's model (SGD, cross-entropy)
for the same number of batches; the two are interleaved, repeated, and the median images/second compared.
The last line is `speedup: <x>x` with augmentation on.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mnistkit.augment import RandomAffine
from mnistkit.data import MNIST_MEAN, MNIST_STD, ensure_mnist, load_mnist
from mnistkit.params import pick_device
from mnistkit.paths import REPO_ROOT, data_root, write_text
from mnistkit.train import batches

BATCH = 128


def chapter04_model() -> nn.Module:
    """The model of notebooks/04_augmentation.ipynb (7,568 parameters), copied so the benchmark stands alone."""
    def block(cin, cout, p=0.0):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout), nn.Dropout(p))
    return nn.Sequential(block(1, 8), block(8, 12), nn.MaxPool2d(2, 2), block(12, 16, 0.1), block(16, 16, 0.1), block(16, 16),
                         nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 10, 1, bias=False), nn.Flatten())


def step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def seed_style(device, augment: bool):
    pipeline = [transforms.RandomRotation(10), transforms.RandomAffine(0, translate=(0.1, 0.1))] if augment else []
    pipeline += [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    dataset = datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.Compose(pipeline))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0, pin_memory=device.type == "cuda")

    def run(model, optimizer, n):
        it = iter(loader)
        for _ in range(n):
            x, y = next(it)
            step(model, optimizer, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
    return run


def course_style(device, augment: bool):
    data = load_mnist(device=device)
    aug = RandomAffine(10, 0.1) if augment else None
    g = torch.Generator().manual_seed(0)

    def run(model, optimizer, n):
        for i, idx in enumerate(batches(len(data.train_x), BATCH, g)):
            if i == n:
                break
            idx = idx.to(device)
            x = data.train_x[idx]
            if aug is not None:
                x = aug(x, g)
            step(model, optimizer, data.normalize(x), data.train_y[idx])
    return run


def images_per_second(run, device, n_batches: int) -> float:
    torch.manual_seed(0)
    model = chapter04_model().to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    run(model, optimizer, 3)  # warm-up: allocator, kernels, file cache
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(model, optimizer, n_batches)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_batches * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60, help="timed batches per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (median reported)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--save", default=str(REPO_ROOT / "outputs" / "BENCH.md"),
                        help="where to record the results (markdown); '' to skip")
    args = parser.parse_args()
    device = pick_device(args.device)
    ensure_mnist()
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    cpu = platform.processor() or platform.machine()
    say(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, batch {BATCH}, {args.batches} batches x {args.repeats} repeats")
    ratio = None
    for augment in (False, True):
        runs = {"seed (DataLoader + torchvision)": seed_style(device, augment),
                "course (tensors + batched warp)": course_style(device, augment)}
        rates = {name: [] for name in runs}
        for _ in range(args.repeats):  # interleave so drift in machine load hits both alike
            for name, run in runs.items():
                rates[name].append(images_per_second(run, device, args.batches))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        seed_rate, course_rate = medians.values()
        ratio = course_rate / seed_rate
        label = "with augmentation" if augment else "without augmentation"
        for name, r in rates.items():
            say(f"{label:22s} {name:34s} {medians[name]:8.0f} img/s  (runs: {', '.join(f'{x:.0f}' for x in r)})")
        say(f"{label:22s} ratio course / seed: {ratio:.2f}x")
    if args.save:
        write_text(args.save, "# Input-pipeline benchmark\n\nGenerated by `make bench` (`python ci/bench.py`); "
                   "training images per second, same model, both pipelines interleaved in one process.\n\n```\n"
                   + "\n".join(lines) + f"\nspeedup: {ratio:.2f}x\n```\n")
    print(f"speedup: {ratio:.2f}x")


if __name__ == "__main__":
    main()
