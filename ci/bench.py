"""Training throughput, side by side in one process: the write-ups' input pipeline, the course's, and the model alone.

    python ci/bench.py [--batches 150] [--repeats 5] [--device auto]

Three ways to feed chapter 04's model (chapter 01's `mnistkit.models.Net`, dropout 0.1) the same batches:
- write-up: `torchvision.datasets.MNIST` + `DataLoader(batch_size=128, shuffle=True, num_workers=0)` with `ToTensor()` +
  `Normalize()`, and for augmentation `RandomRotation(10)` + `RandomAffine(0, translate=(0.1, 0.1))` on each PIL image;
- course: the whole dataset as one tensor on the device, shuffled index batches, `mnistkit.augment.RandomAffine` on
  the whole batch;
- model alone: the course's batches made (and augmented) in advance, so only the training step is timed: the limit
  any input pipeline can reach with this model.
The three are interleaved and repeated (machine load drifts alike over all three); min, median and max images per
second are printed. The last three lines:
- `overhead: <x>%`: what making a batch (indices, gather, augmentation, normalisation) costs the course pipeline over
  its training step, with augmentation, both timed inside the same loop (median over repeats). Timed as two separate
  loops, the course's and the model alone's, the difference drowns in this machine's drift (on a shared 2-core VM
  the two loops' medians differ by up to 20% either way, and the model alone has read slower than the course);
- `precision speedup: <x>x`: chapter 08's ViT training step in bf16 autocast against fp32, interleaved (medians;
  below 1 on a CPU that emulates bf16); the line before the last three gives the same ratio for chapter 08's ViT as
  first built (patch 4, no stem, dropout 0.05: 50 tokens a digit, the model issue 13 timed) and for chapter 10's
  encoder-decoder (64 tokens a grid), to compare;
- `speedup: <x>x`: the course pipeline over the write-ups', with augmentation.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mnistkit import ch08
from mnistkit.augment import RandomAffine
from mnistkit.ch10 import READ_SEQUENCE
from mnistkit.course import machine
from mnistkit.data import MNIST_MEAN, MNIST_STD, ensure_mnist, load_mnist
from mnistkit.exercises import chapter_defaults
from mnistkit.models import Net
from mnistkit.params import pick_device
from mnistkit.paths import REPO_ROOT, data_root, write_text
from mnistkit.search import VIT
from mnistkit.seq2seq import reader_from
from mnistkit.stacked import make_grids
from mnistkit.train import CLASSIFY, batches, train_step

BATCH = 128
TRANSFORMERS = {"08_vit": "chapter 08 ViT training step,", "08_vit_patch4": "chapter 08 ViT as first built,",
                "10_stacked_seq2seq": "chapter 10 encoder-decoder step,"}
CHAPTER04_DROPOUT = 0.1


def writeup_style(device, augment: bool):
    pipeline = [transforms.RandomRotation(10), transforms.RandomAffine(0, translate=(0.1, 0.1))] if augment else []
    pipeline += [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    dataset = datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.Compose(pipeline))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0, pin_memory=device.type == "cuda")

    def run(model, optimizer, n):
        it = iter(loader)
        for _ in range(n):
            x, y = next(it)
            train_step(model, optimizer, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
    return run


def course_style(data, augment: bool, parts: dict | None = None):
    """The course's loop. `parts`, when given, adds up the seconds spent making each batch (indices, gather,
    augmentation, normalisation) and in its training step, timed inside the same loop."""
    aug = RandomAffine(10, 0.1) if augment else None
    g = torch.Generator().manual_seed(0)

    def now():
        if parts is None:  # an untimed run pays nothing for the split
            return 0.0
        if data.device.type == "cuda":  # the split needs the GPU's queue drained, which also slows the timed run
            torch.cuda.synchronize()
        return time.perf_counter()

    def run(model, optimizer, n):
        index_batches = iter(batches(len(data.train_x), BATCH, g))
        for _ in range(n):
            start = now()
            idx = next(index_batches).to(data.device)
            x = data.train_x[idx]
            if aug is not None:
                x = aug(x, g)
            x, y = data.normalize(x), data.train_y[idx]
            made = now()
            train_step(model, optimizer, x, y)
            if parts is not None:
                parts["batch"] += made - start
                parts["step"] += now() - made
    return run


def model_alone(data, augment: bool, n_batches: int):
    """The course's batches (augmented when asked), made before the clock starts."""
    aug = RandomAffine(10, 0.1) if augment else None
    g = torch.Generator().manual_seed(0)
    made = []
    for i, idx in enumerate(batches(len(data.train_x), BATCH, g)):
        if i == n_batches + 3:  # + the warm-up's
            break
        idx = idx.to(data.device)
        x = data.train_x[idx] if aug is None else aug(data.train_x[idx], g)
        made.append((data.normalize(x), data.train_y[idx]))

    def run(model, optimizer, n):
        for x, y in made[:n]:
            train_step(model, optimizer, x, y)
    return run




def images_per_second(run, device, n_batches: int, parts: dict | None = None) -> float:
    """Images per second of `run` over `n_batches` after a warm-up; `parts` (a course run's) is zeroed after it."""
    torch.manual_seed(0)
    model = Net(CHAPTER04_DROPOUT).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    run(model, optimizer, 3)  # warm-up: allocator, kernels, file cache
    if parts is not None:
        parts.update(batch=0.0, step=0.0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(model, optimizer, n_batches)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_batches * BATCH / (time.perf_counter() - start)


def transformer(stem: str, data, device):
    """Chapter 08's ViT (its default configuration, read from its parameters cell, or as first built: the search's
    reference, patch 4, no stem, 50 tokens a digit, the model issue 13 timed) or chapter 10's encoder-decoder, and one
    batch of its inputs: MNIST digits, or 2x2 grids of them."""
    torch.manual_seed(0)
    if stem == "10_stacked_seq2seq":
        model = reader_from(chapter_defaults(stem))
        x, y, _ = make_grids(data.train_x, data.train_y, BATCH, seed=0)
    else:
        model = ch08.build(VIT if stem == "08_vit_patch4" else chapter_defaults(stem))
        x, y = data.train_x[:BATCH], data.train_y[:BATCH]
    return model.to(device).train(), data.normalize(x), y


def transformer_step_seconds(stem: str, data, device, precision: str, steps: int) -> float:
    """Seconds per training step (AdamW) of a transformer chapter's model on one batch."""
    model, x, y = transformer(stem, data, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    task = READ_SEQUENCE if stem == "10_stacked_seq2seq" else CLASSIFY  # the chapter's loss, teacher forcing
    for _ in range(2):  # warm-up
        train_step(model, optimizer, x, y, loss_fn=task.loss, precision=precision, teacher_forcing=task.teacher_forcing)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, x, y, loss_fn=task.loss, precision=precision, teacher_forcing=task.teacher_forcing)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    values = [v * scale for v in values]
    return (f"{statistics.median(values):8.0f} {unit}  (min {min(values):.0f}, max {max(values):.0f}, "
            f"{len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=150, help="timed batches per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (median reported)")
    parser.add_argument("--vit-steps", type=int, default=20, help="timed steps of each transformer per measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--save", default=str(REPO_ROOT / "outputs" / "BENCH.md"),
                        help="where to record the results (markdown); '' to skip")
    args = parser.parse_args()
    for name in ("batches", "repeats", "vit_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)} is not allowed: expected an integer >= 1")
    device = pick_device(args.device)
    ensure_mnist()
    data = load_mnist(device=device)
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    info = machine()
    say(f"device {device} ({info['gpu'] or info['cpu']}, {info['cores']} cores), torch {info['torch']}, "
        f"{torch.get_num_threads()} threads, batch {BATCH}, {args.batches} batches x {args.repeats} repeats")
    medians = {}
    parts = {"batch": 0.0, "step": 0.0}
    batch_ms, step_ms = [], []  # per batch, the course's loop with augmentation, one value a repeat
    for augment in (False, True):
        label = "with augmentation" if augment else "without augmentation"
        runs = {"write-up (DataLoader + torchvision)": writeup_style(device, augment),
                "course (tensors + batched warp)": course_style(data, augment, parts if augment else None),
                "model alone (batches made before)": model_alone(data, augment, args.batches)}
        rates = {name: [] for name in runs}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all three alike
            for name, run in runs.items():
                timed = augment and name.startswith("course")
                rates[name].append(images_per_second(run, device, args.batches, parts if timed else None))
                if timed:
                    batch_ms.append(1000 * parts["batch"] / args.batches)
                    step_ms.append(1000 * parts["step"] / args.batches)
        for name, r in rates.items():
            medians[augment, name.split()[0]] = statistics.median(r)
            say(f"{label:22s} {name:35s} {spread(r, 'img/s')}")
    say(f"course with augmentation, inside its loop: making a batch {statistics.median(batch_ms):.2f} ms "
        f"(min {min(batch_ms):.2f}, max {max(batch_ms):.2f}), its training step {statistics.median(step_ms):.1f} ms "
        f"(min {min(step_ms):.1f}, max {max(step_ms):.1f})")
    steps = {(stem, precision): [] for stem in TRANSFORMERS for precision in ("fp32", "bf16")}
    for _ in range(args.repeats):
        for stem, precision in steps:
            steps[stem, precision].append(transformer_step_seconds(stem, data, device, precision, args.vit_steps))
    for (stem, precision), seconds in steps.items():
        say(f"{TRANSFORMERS[stem]:34s} {precision:4s} {'autocast' if precision != 'fp32' else '':8s} "
            f"{spread(seconds, 'ms/step', 1000)}")
    ratio = {stem: statistics.median(steps[stem, "fp32"]) / statistics.median(steps[stem, "bf16"]) for stem in TRANSFORMERS}
    say(f"bf16 autocast against fp32: chapter 08's ViT (17 tokens a digit) {ratio['08_vit']:.2f}x, "
        f"as first built (patch 4, 50 tokens) {ratio['08_vit_patch4']:.2f}x, chapter 10's (64 tokens a grid) "
        f"{ratio['10_stacked_seq2seq']:.2f}x")
    overhead = statistics.median(b / t for b, t in zip(batch_ms, step_ms))  # the same repeat's two parts
    precision_speedup = ratio["08_vit"]
    speedup = medians[True, "course"] / medians[True, "write-up"]
    say(f"overhead: {100 * overhead:.1f}%")
    say(f"precision speedup: {precision_speedup:.2f}x")
    say(f"speedup: {speedup:.2f}x")
    if args.save:
        write_text(args.save, "# Input-pipeline and precision benchmark\n\nGenerated by `make bench` "
                   "(`python ci/bench.py`): training images per second of chapter 04's model fed three ways, the "
                   "course loop's time making a batch against its training step, and the training steps of chapter "
                   "08's ViT (as chosen, and as first built) and chapter 10's encoder-decoder in fp32 and bf16, "
                   "interleaved in one process on one machine.\n\n```\n"
                   + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
