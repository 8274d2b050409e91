"""Chapter 13 (`notebooks/13_cpu_speedrun.ipynb`): how fast can a laptop CPU learn MNIST to 99%?

The target is the airbench kind (KellerJordan/cifar10-airbench): a mean test accuracy of at least 99.0% over many
seeds, then as little training wall-clock as possible, timed from the first batch to the last optimizer step with
the data already in memory as tensors. Two recipes, each one function:
- `stock_time_to_target`: pytorch/examples' `mnist/main.py` as published (its 1.2M-parameter `StockNet`, a
  `DataLoader` over PIL images, Adadelta 1.0, StepLR 0.7, batch 64), epoch after epoch until its test accuracy
  reaches the target: the baseline;
- `speedrun`: any step between that and ours (`Recipe`): the network, the optimizer and schedule, the batch, the
  fraction of an epoch, threads, `channels_last`, bf16 autocast, `torch.compile`.
The rest measures the machine's limit (`peak_gflops`, `step_flops`, `top_operations`) and turns run records into the
chapter's sentences, graded by `mnistkit.stats`.
"""
from __future__ import annotations

import copy
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .chapter import plural
from .metrics import markdown_table
from .stats import mean_interval, paired, signed, summarize

TARGET = 99.0  # mean test accuracy over the seeds, the airbench kind of target
LIMIT_S = 5.0  # seconds of training on this 2-core machine: the goal (stretch: 3 s)
STRETCH_S = 3.0
MIN_SEEDS = 10  # the target is a mean over at least this many seeds
GPU_REFERENCE = {"seconds": 0.76, "value": 99.04, "device": "a GTX 1660 Ti laptop GPU",
                 "source": "tuomaso/train_mnist_fast, README.md (one epoch, tuned and judged on the test set)",
                 "stock_seconds": 172.0, "stock_value": 99.19}


class StockNet(nn.Module):
    """pytorch/examples `mnist/main.py`'s `Net`, as published: 1,199,882 parameters, most in `fc1` (9,216 x 128)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


class SpeedNet(nn.Module):
    """Two convolutions, each pooled at once, and a small classifier: few FLOPs per image, because every
    convolution runs on a small map (the first on 28 px, the second on 12). tuomaso/train_mnist_fast's final
    network is `SpeedNet(24, 32, k2=3, hidden=256)`; `bn` adds BatchNorm after each convolution."""

    def __init__(self, c1: int = 24, c2: int = 32, k2: int = 3, hidden: int = 256, bn: bool = False):
        super().__init__()
        side = (28 - 4) // 2 - (k2 - 1)  # 28 -> 24 px (5x5), pooled to 12, then the second kernel

        def norm(c):
            return [nn.BatchNorm2d(c)] if bn else []

        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, bias=not bn), *norm(c1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(c1, c2, k2, bias=not bn), *norm(c2), nn.MaxPool2d(2), nn.ReLU(),
        )
        features = c2 * (side // 2) ** 2
        self.classifier = (nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 10)) if hidden
                           else nn.Linear(features, 10))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


@dataclass(frozen=True)
class Recipe:
    """One speedrun configuration; the chapter's ablation changes one field at a time."""

    net: str = "speed"  # "speed" (SpeedNet) or "stock" (StockNet)
    c1: int = 24  # SpeedNet's widths, its second kernel, its hidden layer (0: none), BatchNorm or not
    c2: int = 32
    k2: int = 3
    hidden: int = 256
    bn: bool = False
    batch_size: int = 256
    optimizer: str = "adam"  # "adam" (with `schedule` "onecycle") or "adadelta" (the stock one, rate 1.0)
    schedule: str = "onecycle"  # "onecycle" (stepped every batch) or "steplr" (x0.7 every epoch, the stock one)
    lr: float = 0.01  # Adam's peak rate under OneCycleLR
    beta1: float = 0.7  # Adam's (tuomaso/train_mnist_fast's betas (0.7, 0.9))
    beta2: float = 0.9
    pct_start: float = 0.3  # OneCycleLR's share of warm-up (its default)
    cycle_momentum: bool = False  # OneCycleLR cycling Adam's beta1, or not (tuomaso's: not)
    epochs: float = 1.0  # a fraction of an epoch is allowed: the run stops after epochs x 60,000 images
    threads: int = 0  # 0: every core
    channels_last: bool = False
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    compile: bool = False  # torch.compile; its compile time is measured apart, never inside the training time

    def __post_init__(self):
        from .params import check_choice

        check_choice("net", self.net, ["speed", "stock"])
        check_choice("optimizer", self.optimizer, ["adam", "adadelta"])
        check_choice("schedule", self.schedule, ["onecycle", "steplr"])

    def changed(self, **fields) -> "Recipe":
        return replace(self, **fields)


STOCK = Recipe(net="stock", batch_size=64, optimizer="adadelta", schedule="steplr", lr=1.0)
# The chapter's defaults: the candidate the probe chose on the validation split (`python -m mnistkit.ch13`, saved in
# outputs/search/13/probe.json): tuomaso's network narrowed to 16 first channels, channels_last, bf16 autocast.
FINAL = Recipe(c1=16, channels_last=True, precision="bf16")


def build(recipe: Recipe) -> nn.Module:
    return StockNet() if recipe.net == "stock" else SpeedNet(recipe.c1, recipe.c2, recipe.k2, recipe.hidden, recipe.bn)


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _optimizer(model, recipe: Recipe, steps: int):
    if recipe.optimizer == "adadelta":
        optimizer = torch.optim.Adadelta(model.parameters(), lr=recipe.lr)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=(recipe.beta1, recipe.beta2))
    if recipe.schedule == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=max(steps, 1),
                                                       pct_start=recipe.pct_start,
                                                       cycle_momentum=recipe.cycle_momentum)
    else:
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return optimizer, schedule


def _loss(model, x, y, recipe: Recipe):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
        out = model(x)
    # StockNet ends in log_softmax (nll_loss, as published); cross_entropy on log-probabilities is the same loss.
    return F.cross_entropy(out.float(), y)


@torch.no_grad()
def evaluate(model, x, y, recipe: Recipe | None = None, batch_size: int = 2000) -> float:
    """Test accuracy %, in batches, in eval mode (the time it takes is the chapter's "evaluation cost")."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if recipe is not None and recipe.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe is not None and recipe.precision == "bf16"):
            correct += (model(xb).argmax(1) == y[i:i + batch_size]).sum().item()
    model.train()
    return 100.0 * correct / len(x)


class threads_set:
    """`torch.set_num_threads(n)` inside the block (0: leave it), restored after."""

    def __init__(self, n: int):
        self.n, self.saved = n, torch.get_num_threads()

    def __enter__(self):
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def speedrun(data, *, seed: int, recipe: Recipe = Recipe()) -> dict:
    """Train `recipe` on `data` (a `TensorData`, in memory) for `recipe.epochs` epochs and test it once.

    Timed: from the first batch to the last optimizer step (`seconds`); apart: normalising the images once
    (`prepare_seconds`), compiling (`compile_seconds`: warm-up steps of the compiled model, two full batches and
    the epoch's last, partial one, after which its weights and optimizer start afresh) and the test pass (`eval_seconds`, always of the eager model, which holds the
    same weights). An epoch is every batch of the training images, the last one partial (235 at batch 256)."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    x, y = data.normalize(data.train_x), data.train_y
    test_x = data.normalize(data.test_x)
    if recipe.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    prepare_seconds = time.perf_counter() - start
    model = build(recipe)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    per_epoch = -(-len(x) // recipe.batch_size)
    steps = max(1, int(recipe.epochs * per_epoch))
    generator = torch.Generator().manual_seed(seed)
    with threads_set(recipe.threads):
        compile_seconds, trained = 0.0, model
        if recipe.compile:
            start = time.perf_counter()
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "no CUDA runtime": a CPU run
            trained = torch.compile(model)
            fresh = copy.deepcopy(model.state_dict())
            warm, _ = _optimizer(trained, recipe, steps)
            last = len(x) % recipe.batch_size  # the epoch's last, partial batch is another shape to compile
            for size in [recipe.batch_size] * 2 + ([last] if last else []):  # forward and backward of each shape
                _loss(trained, x[:size], y[:size], recipe).backward()
                warm.step()
            model.load_state_dict(fresh)
            model.zero_grad(set_to_none=True)
            compile_seconds = time.perf_counter() - start
        optimizer, schedule = _optimizer(trained, recipe, steps)
        order = torch.randperm(len(x), generator=generator)
        images = 0
        start = time.perf_counter()
        for step in range(steps):
            if step and step % per_epoch == 0:  # a new epoch: a new order, and StepLR's step
                order = torch.randperm(len(x), generator=generator)
                if recipe.schedule == "steplr":
                    schedule.step()
            idx = order[(step % per_epoch) * recipe.batch_size:(step % per_epoch + 1) * recipe.batch_size]
            optimizer.zero_grad(set_to_none=True)
            _loss(trained, x[idx], y[idx], recipe).backward()
            optimizer.step()
            if recipe.schedule == "onecycle":
                schedule.step()
            images += len(idx)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        test_acc = evaluate(model, test_x, data.test_y, recipe)
        eval_seconds = time.perf_counter() - start
    return {"seed": seed, "seconds": seconds, "test_acc": test_acc, "steps": steps, "images": images,
            "params": params(model), "prepare_seconds": prepare_seconds, "compile_seconds": compile_seconds,
            "eval_seconds": eval_seconds, "threads": recipe.threads or torch.get_num_threads(),
            "recipe": asdict(recipe)}


def warm_up(data, recipe: Recipe) -> None:
    """One short untimed run of `recipe` (a twentieth of an epoch), discarded: the first run of a shape pays the
    math library's one-time set-up, which belongs to no seed."""
    speedrun(data, seed=0, recipe=recipe.changed(epochs=min(recipe.epochs, 0.05)))


def runs_of(data, recipe: Recipe, seeds: list[int]) -> list[dict]:
    """`recipe` on each seed, after one warm-up run."""
    warm_up(data, recipe)
    return [speedrun(data, seed=s, recipe=recipe) for s in seeds]


def stock_time_to_target(seed: int, *, max_epochs: int = 4, target: float = TARGET, train_fraction: float = 1.0,
                         test_fraction: float = 1.0, root=None) -> dict:
    """pytorch/examples `mnist/main.py` as published on a CPU (its loader does not shuffle there; its logging every
    10 batches is left out), epoch after epoch until its test accuracy reaches `target`
    (at most `max_epochs`): training seconds summed over its epochs (batches from its `DataLoader` included: they are
    its pipeline), each epoch's test accuracy, and the epoch that reached the target (None: not within max_epochs)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from .paths import data_root

    torch.manual_seed(seed)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    root = str(root or data_root())
    train = datasets.MNIST(root, train=True, download=False, transform=pipeline)
    test = datasets.MNIST(root, train=False, download=False, transform=pipeline)
    if train_fraction < 1 or test_fraction < 1:
        g = torch.Generator().manual_seed(seed)
        train = Subset(train, torch.randperm(len(train), generator=g)[:max(1, round(len(train) * train_fraction))].tolist())
        test = Subset(test, torch.randperm(len(test), generator=g)[:max(1, round(len(test) * test_fraction))].tolist())
    train_loader = DataLoader(train, batch_size=64)  # as published: `shuffle=True` only in its accelerator kwargs
    test_loader = DataLoader(test, batch_size=1000)
    model = StockNet()
    optimizer, schedule = _optimizer(model, STOCK, 0)
    seconds, history, reached = 0.0, [], None
    for epoch in range(1, max_epochs + 1):
        model.train()
        start = time.perf_counter()
        for xb, yb in train_loader:
            optimizer.zero_grad()
            F.nll_loss(model(xb), yb).backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        schedule.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in test_loader)
        history.append({"epoch": epoch, "test_acc": 100.0 * correct / len(test), "seconds": seconds})
        if history[-1]["test_acc"] >= target:
            reached = epoch
            break
    return {"seed": seed, "seconds": seconds, "epochs": history, "reached": reached, "params": params(model),
            "first_epoch_seconds": history[0]["seconds"], "first_epoch_acc": history[0]["test_acc"]}


# --- the machine's limit -------------------------------------------------------------------------------------------
def peak_gflops(dtype=torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """The best of `repeats` timings of one n x n matmul, in GFLOP/s (2 n^3 floating-point operations)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def layer_flops(model: nn.Module, batch_size: int) -> dict[str, int]:
    """Forward FLOPs of each convolution and linear layer for one batch, counted from the layer's shapes
    (2 per multiply-add): a k x k convolution costs 2 * k^2 * C_in * C_out per output pixel."""
    shapes: dict[str, int] = {}

    def hook(name):
        def count(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                shapes[name] = 2 * k * module.in_channels // module.groups * output.numel()
            else:
                shapes[name] = 2 * module.in_features * output.numel()
        return count

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(batch_size, 1, 28, 28))
    for h in handles:
        h.remove()
    return shapes


def step_flops(model: nn.Module, batch_size: int) -> int:
    """One training step's FLOPs, counted from the layers: the forward pass F, the weight gradients F again and the
    input gradients F for every layer but the first (no gradient flows into the images): 3F - F_first."""
    layers = layer_flops(model, batch_size)
    return 3 * sum(layers.values()) - next(iter(layers.values()))


def counted_step_flops(model: nn.Module, batch_size: int) -> int:
    """The same, counted by `torch.utils.flop_counter.FlopCounterMode` over one real training step."""
    from torch.utils.flop_counter import FlopCounterMode

    x, y = torch.randn(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def top_operations(data, recipe: Recipe, steps: int = 20, rows: int = 8) -> list[dict]:
    """Profile `steps` training steps of `recipe` (eager: `compile` is not profiled) with `torch.profiler`, after
    five unprofiled ones: the operations with the most self CPU time, each with its share and its calls."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = build(recipe)
    x, y = data.normalize(data.train_x[:recipe.batch_size]), data.train_y[:recipe.batch_size]
    if recipe.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer, _ = _optimizer(model, recipe, steps)

    def step():
        optimizer.zero_grad(set_to_none=True)
        _loss(model, x, y, recipe).backward()
        optimizer.step()

    with threads_set(recipe.threads):
        for _ in range(5):  # warm-up, unprofiled: the math library's one-time set-up
            step()
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"name": e.key, "share": 100.0 * e.self_cpu_time_total / total, "calls": e.count,
             "ms_per_step": e.self_cpu_time_total / 1000 / steps} for e in events[:rows]]


class _quiet_stderr:
    """The profiler's C++ side writes start/stop lines (and a failed GPU probe) straight to file descriptor 2: send
    them to /dev/null for the block, so the notebook shows the table, not the noise."""

    def __enter__(self):
        import os
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 2)

    def __exit__(self, *exc):
        import os

        os.dup2(self.saved, 2)
        os.close(self.saved)
        os.close(self.null)


# --- the chapter's sentences, from run records ---------------------------------------------------------------------
def median_seconds(runs: list[dict]) -> float:
    return statistics.median(r["seconds"] for r in runs)


def target_text(runs: list[dict], *, target: float = TARGET, limit_s: float = LIMIT_S,
                stretch_s: float = STRETCH_S, machine: str = "this machine", min_seeds: int = MIN_SEEDS) -> str:
    """The headline: mean test accuracy over the seeds against `target` (the airbench kind: on the mean), with the
    spread across seeds, the worst seed, how many seeds reach it alone and the mean's 95% interval (does the margin
    stand beyond noise?); then the training seconds (median, slowest, how many seeds within `limit_s`). A verdict
    only on at least `min_seeds` seeds: the target is a mean over that many."""
    if not runs:
        return "No speedrun was run."
    acc = summarize([r["test_acc"] for r in runs], target)
    secs = [r["seconds"] for r in runs]
    median, slowest = statistics.median(secs), max(secs)
    n, within = len(runs), sum(t <= limit_s for t in secs)
    seeds_ok = "every seed reaches it too" if acc.met else f"{acc.holding} of {n} seeds reach it alone"
    mean_ok = acc.mean >= target
    accuracy, low = f"mean test accuracy {acc.mean:.2f}% over {plural(n, 'seed')}", None
    if n > 1:
        low, high = mean_interval(acc.values)
        accuracy += (f" (standard deviation across seeds {acc.std:.2f} pp, worst seed {acc.worst:.2f}%; 95% interval "
                     f"of the mean {low:.2f} to {high:.2f}%)")
    accuracy += (f" is at or above {target}% ({seeds_ok})" if mean_ok else f" is below {target}% ({seeds_ok})")
    time_ok = median <= limit_s
    timing = (f"training took a median {median:.2f} s (slowest seed {slowest:.2f} s; {within} of {n} seeds within "
              f"{limit_s:g} s) on {machine}")
    if n < min_seeds:
        return (f"The speedrun on {plural(n, 'seed')}: {accuracy}; {timing}. Fewer than the target's {min_seeds} seeds: "
                f"no verdict.")
    timing += (f", within the {limit_s:g} s goal" if time_ok else f", over the {limit_s:g} s goal") + (
        f" and the {stretch_s:g} s stretch" if median <= stretch_s else f" (the {stretch_s:g} s stretch missed)")
    verdict = ("Both halves of the target hold as it is defined (the accuracy on the mean, the time on the median)."
               if mean_ok and time_ok else
               "The target is not met: " + ("the time is over." if mean_ok else "the accuracy is short."))
    if mean_ok and low is not None:
        margin = f"The mean clears {target}% by {acc.mean - target:.2f} pp"
        verdict += (f" {margin}, and the mean's interval lies above it: beyond noise." if low > target else
                    f" {margin}, within noise: the mean's interval reaches below {target}%, so another "
                    f"{plural(n, 'seed')} could land on either side.")
    return f"The speedrun: {accuracy}; {timing}. {verdict}"


STOCK_EPOCHS = 4  # the stock recipe's epochs at most, to its first epoch at the target (`python -m mnistkit.ch13 --stock`)


def stock_to_target(in_run: list[dict], saved: dict | None, *, full: bool) -> tuple[list[dict], dict | None]:
    """The stock recipe's runs for the headline ratio, and the saved measurement they come from (None: this run's).
    This run's, when it trained past its first epoch (`baseline_max_epochs` over 1) or reached the target; else the
    saved one (`python -m mnistkit.ch13 --stock`: up to `STOCK_EPOCHS` epochs a seed, about seven minutes each on a
    2-core CPU, which would put the chapter's Run All over 30 minutes), in the full profile only: it trained on all
    the data."""
    if saved is None or not full or any(len(r["epochs"]) > 1 or r["reached"] for r in in_run):
        return in_run, None
    return saved["runs"], saved


def measured_apart(saved: dict) -> str:
    """Where and when a saved stock measurement ran: 'measured apart by `...` on 2026-12-04, 2 threads of <cpu>'."""
    where = saved["machine"]
    return (f"measured apart by `{saved['command']}` on {saved['date']}, {plural(where['threads'], 'thread')} of "
            f"{where['cpu']}")


def first_epoch_text(stock: list[dict], ours: list[dict], target: float = TARGET) -> str:
    """The like-for-like ratio of this run: the stock recipe's first epoch (every stock run of this run trains one)
    against the speedrun's whole training, both measured here, one after the other, with the per-seed range."""
    if not stock or not ours:
        return ""
    firsts = [first_epoch(r) for r in stock]
    first, mine = median_seconds(firsts), median_seconds(ours)
    held = sum(r["test_acc"] >= target for r in firsts)
    ratios = [r["seconds"] / o["seconds"] for r in firsts for o in ours if o["seed"] == r["seed"]]
    spread = (f" (seed by seed, on the {plural(len(ratios), 'seed')} both ran, {min(ratios):.0f}× to "
              f"{max(ratios):.0f}×)" if len(ratios) > 1 else "")
    paired = [o for o in ours if o["seed"] in {r["seed"] for r in firsts}]
    if len(ratios) > 1 and not round(min(ratios)) <= round(first / mine) <= round(max(ratios)):
        spread = (f"{spread[:-1]}: the median lies outside that range because the speedrun's "
                  f"{plural(len(paired), 'seed')} the stock recipe also ran took a median {median_seconds(paired):.2f} s, "
                  f"against {mine:.2f} s over all {len(ours)})")
    return (f"In this run, one after the other on this machine, the stock recipe's first epoch took a median "
            f"{first:.1f} s of training on its {plural(len(firsts), 'seed')} (mean test accuracy "
            f"{statistics.mean(r['test_acc'] for r in firsts):.2f}%, {held} of {len(firsts)} at {target}%): that one "
            f"epoch alone is **{first / mine:.0f}×** the speedrun's median training of {mine:.2f} s{spread}.")


def session_text(in_run: list[dict], ours: list[dict], apart: dict | None, target: float = TARGET, *,
                 cpu: str | None = None) -> str:
    """How fast the machine ran when the stock recipe was measured apart against in this run, from the one thing
    both measured: the stock recipe's first epoch on the same seeds. A machine that reports the same processor name
    has run at other speeds from one session to the next, so the headline ratio (stock apart over speedrun here)
    carries that difference; the sentence gives its size and the ratio at this run's speed. "" without a
    measurement apart or a common seed, and when the measurement apart ran on another processor than this run's
    (`cpu`): `ratio_text` gives no ratio then."""
    if not apart or not ours or (cpu is not None and apart.get("machine", {}).get("cpu") != cpu):
        return ""
    here = {r["seed"]: first_epoch(r) for r in in_run}
    there = {r["seed"]: first_epoch(r) for r in apart["runs"] if r["seed"] in here}
    seeds = sorted(there)
    if not seeds:
        return ""
    same = sum(here[s]["test_acc"] == there[s]["test_acc"] for s in seeds)
    before, now = median_seconds([there[s] for s in seeds]), median_seconds([here[s] for s in seeds])
    speed = before / now  # over 1: this run's machine was faster
    text = (f"The stock recipe's first epoch ran in both sessions, on {plural(len(seeds), 'seed')} "
            f"({', '.join(map(str, seeds))}), with the same test accuracy on {same} of {len(seeds)}: a median "
            f"{before:.1f} s measured apart, {now:.1f} s in this run. ")
    if abs(speed - 1) < 0.02:
        return text + "The machine ran at the same speed in both sessions, within 2%: the ratio above stands as measured."
    scaled = median_seconds(apart["runs"]) / speed
    return text + (f"The machine ran {abs(speed - 1):.0%} {'faster' if speed > 1 else 'slower'} in this run, so the "
                   f"ratio above {'overstates' if speed > 1 else 'understates'} the speedup by about that much: at this "
                   f"run's speed, the stock recipe's median to {target}% would be about {scaled:.0f} s, about "
                   f"**{scaled / median_seconds(ours):.0f}×** the speedrun's median (an estimate: it assumes every "
                   f"epoch ran that much faster).")


def ratio_text(baseline: list[dict], ours: list[dict], target: float = TARGET, *, apart: dict | None = None,
               cpu: str | None = None) -> str:
    """The chapter's headline ratio: the stock recipe's median seconds to its first epoch at `target` over our
    median seconds, with the per-seed ratios on the seeds both ran. Both measured in this run, or (`apart`: the saved
    measurement of `stock_to_target`) the stock recipe's measured apart, which the sentence says, with its processor
    and date; when that processor is not this run's (`cpu`), no ratio: it would mix two machines. A stock seed that
    never reached the target counts with the time it ran: the ratio is then a lower bound, unless that time already lies
    above the median, which a longer time could not move (said which)."""
    if not baseline or not ours:
        return "The ratio needs both the stock recipe and the speedrun measured in the same run."
    reached = [r for r in baseline if r["reached"]]
    unreached = [r for r in baseline if r["reached"] is None]
    stock, mine = median_seconds(baseline), median_seconds(ours)
    seeds = ", ".join(str(r["seed"]) for r in baseline)
    other_machine = apart is not None and cpu is not None and apart["machine"]["cpu"] != cpu
    text = (f"The stock pytorch/examples recipe ran on {plural(len(baseline), 'seed')} ({seeds})"
            + (f", {measured_apart(apart)}, up to {plural(apart['max_epochs'], 'epoch')} a seed" if apart else "")
            + ": ")
    if reached:
        text += (f"{len(reached)} of them reached {target}% (" + ", ".join(
            f"seed {r['seed']} after {plural(r['reached'], 'epoch')}" for r in reached) + ")")
    else:
        text += f"none reached {target}%"
    if unreached:
        text += ("; " + ", ".join(f"seed {r['seed']}" for r in unreached) + f" did not within "
                 f"{'its' if len(unreached) == 1 else 'their'} epochs, and {'its' if len(unreached) == 1 else 'their'} "
                 f"time counts as it ran")
    ratios = [r["seconds"] / o["seconds"] for r in baseline for o in ours if o["seed"] == r["seed"]]
    spread = (f"; seed by seed, on the {plural(len(ratios), 'seed')} both ran, {min(ratios):.0f}× to "
              f"{max(ratios):.0f}×" if len(ratios) > 1 else "")
    if other_machine:
        text += (f". Its median is {stock:.1f} s of training on {apart['machine']['cpu']}, not this run's processor "
                 f"({cpu}): a ratio to the speedrun's {mine:.2f} s here would mix two machines, so none is given; the "
                 f"first epochs, measured in this run, compare the two like for like.")
    else:
        how = ("both measured in this run, one after the other on the same machine" if apart is None else
               "the stock recipe's measured apart on the same processor model, the speedrun's in this run" if cpu
               else "the stock recipe's measured apart, the speedrun's in this run")
        text += (f". Its median is {stock:.1f} s of training; the speedrun's median over {plural(len(ours), 'seed')} "
                 f"is {mine:.2f} s: **{stock / mine:.0f}× faster**{spread}, {how}.")
    if unreached and not other_machine:
        longer = [{"seconds": math.inf} if r["reached"] is None else r for r in baseline]
        text += (f" Since a stock seed never reached {target}%, the ratio is a lower bound." if
                 median_seconds(longer) != stock else
                 f" A stock seed that never reached {target}% ran longer than the median seed: however long it would "
                 f"have needed, the median and the ratio stay as they are.")
    if all("epochs" in r for r in baseline) and len(baseline) > 1:  # the speedrun's kind of rule: the mean over seeds
        ran = min(len(r["epochs"]) for r in baseline)
        means = [statistics.mean(r["epochs"][e]["test_acc"] for r in baseline) for e in range(ran)]
        first = next((e + 1 for e, m in enumerate(means) if m >= target), None)
        rule = (f"On the mean over its {plural(len(baseline), 'seed')} (the speedrun's kind of rule, on "
                f"{len(baseline)} seeds, not the target's {MIN_SEEDS}: no verdict)")
        text += (f" {rule}, the stock recipe reached {target}% at epoch {first} ({means[first - 1]:.2f}%)." if first
                 else f" {rule}, the stock recipe stayed below {target}% for the {plural(ran, 'epoch')} all its "
                      f"seeds ran (last {means[-1]:.2f}%).")
    return text


def ablation_rows(steps: list[tuple[str, list[dict]]]) -> list[dict]:
    """Each step of the ablation against the one before it, over the seeds both ran: time and accuracy, each the
    paired difference with its 95% interval (`mnistkit.stats.paired`); one common seed gives no interval."""
    rows = []
    for i, (name, runs) in enumerate(steps):
        row = {"step": name, "runs": runs, "time": None, "acc": None}
        if i:
            before = {r["seed"]: r for r in steps[i - 1][1]}
            common = [r for r in runs if r["seed"] in before]
            if len(common) >= 2:
                row["time"] = paired([before[r["seed"]]["seconds"] for r in common], [r["seconds"] for r in common])
                row["acc"] = paired([before[r["seed"]]["test_acc"] for r in common], [r["test_acc"] for r in common])
        rows.append(row)
    return rows


def interval_cell(diff, unit: str) -> str:
    """A paired difference in a table cell: '-0.39 s (-0.77 to -0.004): beyond noise', its bounds with the decimals
    they need (`mnistkit.stats.signed`), so a bound printed beside "beyond noise" never reads as zero."""
    return f"{signed(diff.mean)} {unit} ({signed(diff.low)} to {signed(diff.high)}): {diff.verdict}"


def ablation_table(steps: list[tuple[str, list[dict]]], target: float = TARGET) -> str:
    """The ablation as a table: per step, its seeds, the median training seconds, the accuracy (mean ± std, worst,
    how many seeds reach the target), and against the step before it the change in time (as a ratio of medians and
    a paired difference in seconds) and in accuracy, each graded beyond or within noise."""
    body = []
    for row in ablation_rows(steps):
        runs = row["runs"]
        acc = summarize([r["test_acc"] for r in runs], target)
        mean = f"{acc.mean:.2f} ± {acc.std:.2f}" if acc.n > 1 else f"{acc.mean:.2f}"
        if row["time"] is None:
            vs_time = vs_acc = "–" if not body else "fewer than 2 seeds in common: no verdict"
        else:
            vs_time, vs_acc = interval_cell(row["time"], "s"), interval_cell(row["acc"], "pp")
            if row["time"].n < len(runs):  # more seeds than the row above: paired on those both ran
                vs_time, vs_acc = (f"{cell} (paired over the {row['time'].n} seeds both ran)" for cell in (vs_time, vs_acc))
        body.append([row["step"], f"{len(runs)}", f"{median_seconds(runs):.2f}", mean, f"{acc.worst:.2f}",
                     f"{acc.holding} of {acc.n}", vs_time, vs_acc])
    return markdown_table(["step (what changes from the row above)", "seeds", "training s (median)", "test % mean ± std",
                           "worst %", f"seeds ≥ {target}%", "time vs the row above (95% interval)",
                           "accuracy vs the row above (95% interval)"], body)


def variations_table(final: list[dict], variations: list[tuple[str, list[dict]]], target: float = TARGET) -> str:
    """Each variation of the final recipe against the final recipe itself, paired over the seeds both ran: time
    (a paired difference and the ratio of medians) and accuracy (mean ± std, worst, seeds at `target`, the paired
    difference). A compiled variation's compile time stays apart, and says that the warm-up run filled the cache."""
    before = {r["seed"]: r for r in final}
    rows = []
    for name, runs in variations:
        common = [r for r in runs if r["seed"] in before]
        acc = summarize([r["test_acc"] for r in runs], target)
        compiled = ""
        if any(r.get("compile_seconds") for r in runs):
            compiled = (f"; compiling, apart: a median {statistics.median(r['compile_seconds'] for r in runs):.2f} s "
                        f"a run, from the cache the untimed warm-up run filled")
        if len(common) < 2:
            vs_time = vs_acc = "too few seeds in common: no verdict"
        else:
            time_diff = paired([before[r["seed"]]["seconds"] for r in common], [r["seconds"] for r in common])
            acc_diff = paired([before[r["seed"]]["test_acc"] for r in common], [r["test_acc"] for r in common])
            ratio = median_seconds(final) / median_seconds(runs)
            vs_time = f"{interval_cell(time_diff, 's')}; {ratio:.2f}× the speed{compiled}"
            vs_acc = interval_cell(acc_diff, "pp")
        rows.append([name, f"{len(runs)}", f"{median_seconds(runs):.2f}",
                     f"{acc.mean:.2f} ± {acc.std:.2f}" if acc.n > 1 else f"{acc.mean:.2f}", f"{acc.worst:.2f}",
                     f"{acc.holding} of {acc.n}", vs_time, vs_acc])
    return markdown_table(["variation of the final recipe", "seeds", "training s (median)", "test % mean ± std",
                           "worst %", f"seeds ≥ {target}%", "time vs the final recipe (95% interval)",
                           "accuracy vs the final recipe (95% interval)"], rows)


def limit_text(*, peak_fp32: float, peak_bf16: float, flops_per_step: int, counted_flops: int, steps: int,
               seconds: float, top: list[dict], precision: str = "fp32") -> str:
    """How far the speedrun stands from this machine's FLOP limit: the measured matmul peaks, the step's FLOPs
    counted from its layers (and by `torch.utils.flop_counter`), the FLOP rate the speedrun reached against the peak
    of its own precision, and where the profile says the time goes (convolutions against the rest)."""
    achieved = flops_per_step * steps / seconds / 1e9
    peak = peak_bf16 if precision == "bf16" else peak_fp32
    agree = abs(flops_per_step - counted_flops) / counted_flops
    text = (f"This CPU's peak, measured as the best of five 2048 × 2048 matmuls: **{peak_fp32:.0f} GFLOP/s in fp32, "
            f"{peak_bf16:.0f} in bf16**. One training step of the final network is {flops_per_step / 1e9:.3f} GFLOP "
            f"counted from its layers ({counted_flops / 1e9:.3f} by `torch.utils.flop_counter`, "
            f"{'agreeing' if agree < 0.02 else f'{agree:.0%} apart'}), so {steps} steps in {seconds:.2f} s run at "
            f"**{achieved:.0f} GFLOP/s, {achieved / peak:.0%} of the {precision} peak**.")
    if top:
        conv = sum(t["share"] for t in top if "conv" in t["name"].lower())
        matmul = sum(t["share"] for t in top if t["name"] in ("aten::mm", "aten::addmm", "aten::bmm"))
        other = [t for t in top if "conv" not in t["name"].lower() and t["name"] not in ("aten::mm", "aten::addmm")]
        products = (f"matrix products {matmul:.0f}%" if matmul else
                    f"no matrix product is among the top {len(top)} operations")
        text += (f" In the profile, convolutions (forward and backward) take {conv:.0f}% of the CPU time and "
                 f"{products}; among the top {len(top)} operations the rest, "
                 + ", ".join(f"`{t['name']}` {t['share']:.0f}%" for t in other)
                 + ", compute few FLOPs per byte they move: time a matmul peak does not count. The convolutions "
                 "themselves run on small maps with few channels, far from a large matmul's reuse of each number.")
    return text


# --- parameters, records and the experiment the chapter runs -------------------------------------------------------
def check_recipe(**fields) -> Recipe:
    """The chapter's recipe parameters checked by name (one error type, naming the value and what is allowed)."""
    from .params import check_choice, check_float, check_int

    checks = {"c1": lambda n, v: check_int(n, v, low=1, high=256), "c2": lambda n, v: check_int(n, v, low=1, high=256),
              "k2": lambda n, v: check_choice(n, v, [3, 5]), "hidden": lambda n, v: check_int(n, v, low=0, high=4096),
              "bn": lambda n, v: check_choice(n, v, [True, False]),
              "batch_size": lambda n, v: check_int(n, v, low=1, high=60000),
              "lr": lambda n, v: check_float(n, v, low=0, high=10, low_open=True),
              "beta1": lambda n, v: check_float(n, v, low=0, high=1), "beta2": lambda n, v: check_float(n, v, low=0, high=1),
              "pct_start": lambda n, v: check_float(n, v, low=0, high=1, low_open=True),
              "cycle_momentum": lambda n, v: check_choice(n, v, [True, False]),
              "epochs": lambda n, v: check_float(n, v, low=0, high=20, low_open=True),
              "threads": lambda n, v: check_int(n, v, low=0, high=1024),
              "channels_last": lambda n, v: check_choice(n, v, [True, False]),
              "precision": lambda n, v: check_choice(n, v, ["fp32", "bf16"]),
              "compile": lambda n, v: check_choice(n, v, [True, False])}
    unknown = sorted(set(fields) - set(checks))
    if unknown:
        raise TypeError(f"check_recipe got unknown field(s) {unknown}: expected some of {sorted(checks)}")
    return Recipe(**{name: checks[name](name, value) for name, value in fields.items()})


def speedrun_record(name: str, result: dict, **extra) -> dict:
    """A speedrun as a run record of the course's schema: one "epoch" entry holding the test accuracy and the
    training seconds (`epochs_trained` says how much of an epoch that was)."""
    entry = {"epoch": 1, "test_acc": result["test_acc"], "seconds": result["seconds"],
             **{k: result[k] for k in ("steps", "images", "prepare_seconds", "compile_seconds", "eval_seconds",
                                       "threads")}}
    return {**extra, "name": name, "params": result["params"], "epochs": [entry], "seed": result["seed"],
            "precision": result["recipe"]["precision"], "threads": result["threads"], "recipe": result["recipe"],
            "epochs_trained": result["recipe"]["epochs"]}


def stock_record(name: str, result: dict, **extra) -> dict:
    return {**extra, "name": name, "params": result["params"], "epochs": result["epochs"], "seed": result["seed"],
            "precision": "fp32", "reached": result["reached"],
            "recipe": {"network": "pytorch/examples Net", "pipeline": "DataLoader over PIL images, not shuffled",
                       "optimizer": "Adadelta 1.0", "schedule": "StepLR(1, 0.7)", "batch_size": 64}}


def as_result(record: dict) -> dict:
    """A run record back as a result (`seed`, `seconds`, `test_acc`): the tables read either."""
    if "reached" in record:  # the stock recipe: its time to the target, or all it ran
        return {"seed": record["seed"], "seconds": record["epochs"][-1]["seconds"], "test_acc": record["epochs"][-1]["test_acc"],
                "reached": record["reached"]}
    e = record["epochs"][0]
    return {"seed": record["seed"], "seconds": e["seconds"], "test_acc": e["test_acc"],
            "compile_seconds": e.get("compile_seconds", 0.0), "eval_seconds": e.get("eval_seconds", 0.0)}


def first_epoch(stock: dict) -> dict:
    """The stock recipe's first epoch as a result: the ablation's first row (one epoch, like the rows after it)."""
    if "first_epoch_seconds" not in stock:  # a record with its epochs (a saved run): the first of them
        return {"seed": stock["seed"], "seconds": stock["epochs"][0]["seconds"], "test_acc": stock["epochs"][0]["test_acc"]}
    return {"seed": stock["seed"], "seconds": stock["first_epoch_seconds"], "test_acc": stock["first_epoch_acc"]}


def ablation_recipes(final: Recipe) -> list[tuple[str, Recipe]]:
    """From the stock recipe on tensors to `final`, one change at a time (the rows after the DataLoader row)."""
    speed = final.changed(optimizer="adadelta", schedule="steplr", lr=1.0, batch_size=64, epochs=1.0, threads=0,
                          channels_last=False, precision="fp32", compile=False)
    steps = [("tensors in memory (shuffled) instead of a DataLoader (not shuffled on a CPU, as published)", STOCK),
             (f"SpeedNet({final.c1}, {final.c2}, k2={final.k2}, hidden={final.hidden}) instead of StockNet", speed),
             (f"batch {final.batch_size} instead of 64", speed.changed(batch_size=final.batch_size)),
             (f"Adam {final.lr:g}, betas ({final.beta1:g}, {final.beta2:g}) + OneCycleLR instead of Adadelta + StepLR",
              speed.changed(batch_size=final.batch_size, optimizer=final.optimizer, schedule=final.schedule, lr=final.lr))]
    last = steps[-1][1]
    for field, text in (("epochs", f"{final.epochs:g} of an epoch instead of 1"),
                        ("channels_last", "channels_last memory format"), ("precision", "bf16 autocast"),
                        ("compile", "torch.compile")):
        if getattr(final, field) != getattr(last, field):
            last = last.changed(**{field: getattr(final, field)})
            steps.append((text, last))
    assert last == final.changed(threads=0), (last, final)
    return steps


def variation_recipes(final: Recipe, *, compile_too: bool = True) -> list[tuple[str, Recipe]]:
    """What the final recipe does with a fifth less of an epoch, and without (or with) each CPU trick, one at a
    time: threads, memory format, precision, compilation."""
    shorter = round(final.epochs * 0.8, 2)
    chosen = [(f"{shorter:g} of an epoch instead of {final.epochs:g}", final.changed(epochs=shorter)),
              ("1 thread instead of every core", final.changed(threads=1)),
              ("channels_last " + ("off" if final.channels_last else "on"), final.changed(channels_last=not final.channels_last)),
              ("bf16 autocast " + ("off" if final.precision == "bf16" else "on"),
               final.changed(precision="fp32" if final.precision == "bf16" else "bf16"))]
    if compile_too:
        chosen.append(("torch.compile " + ("off" if final.compile else "on"), final.changed(compile=not final.compile)))
    return chosen


def plot_speedrun(steps: list[tuple[str, list[dict]]], stock: list[dict] | None = None, target: float = TARGET,
                  reference: dict = GPU_REFERENCE, apart: dict | None = None):
    """Every seed of every step of the ablation: training seconds (log) against test accuracy; the stock recipe's
    time to the target (its last epoch run) beside its first epoch (`apart`: the saved measurement those times come
    from, named in the legend); the target line; and the GPU figure as published, hollow: another machine, tuned on
    the test set, not comparable one to one."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    for i, (name, runs) in enumerate(steps):
        ax.scatter([r["seconds"] for r in runs], [r["test_acc"] for r in runs], s=18, alpha=0.7, color=f"C{i % 10}",
                   label=f"{i}. {name} (median {median_seconds(runs):.1f} s)")
    if stock:
        label = (f"the stock recipe in separate runs, to its first epoch at {target}% or its last (median "
                 f"{median_seconds(stock):.0f} s; {measured_apart(apart).replace('`', '')})" if apart else
                 f"0. the same, to its first epoch at {target}% or its last (median {median_seconds(stock):.0f} s)")
        ax.scatter([r["seconds"] for r in stock], [r["epochs"][-1]["test_acc"] for r in stock], marker="s", s=40,
                   facecolors="none", edgecolors="k" if apart else "C0", label=label)
    ax.scatter([reference["seconds"]], [reference["value"]], marker="*", s=150, facecolors="none", edgecolors="k",
               label=f"published, not comparable (another machine, tuned on test): {reference['value']:.2f}% mean in "
                     f"{reference['seconds']} s on {reference['device']}")
    ax.axhline(target, color="grey", ls=":", lw=1, label=f"{target}%")
    ax.set_xscale("log")
    ax.set(xlabel="training seconds (log scale), first batch to last optimizer step", ylabel="test accuracy %",
           title="Each step of the speedrun, every seed: time against accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    fig.tight_layout()
    return fig


PROBE = {  # candidates for the final recipe, scored on the validation split (55,000 / 5,000): `python -m mnistkit.ch13`
    "tuomaso": Recipe(),
    "tuomaso-bf16": Recipe(precision="bf16"),
    "tuomaso-cl": Recipe(channels_last=True),
    "tuomaso-cl-bf16": Recipe(channels_last=True, precision="bf16"),
    "tuomaso-0.8": Recipe(epochs=0.8),
    "c16-cl-bf16": Recipe(c1=16, channels_last=True, precision="bf16"),
    "b512-cl-bf16": Recipe(batch_size=512, lr=0.02, channels_last=True, precision="bf16"),
    "bn16": Recipe(c1=16, c2=32, k2=5, hidden=0, bn=True),
}


def probe(data, names: list[str], seeds: list[int]) -> list[dict]:
    """Each candidate of `PROBE` on each seed (after one warm-up run), on `data` (the validation split): validation
    accuracy and training seconds."""
    rows = []
    for name in names:
        warm_up(data, PROBE[name])
        for seed in seeds:
            result = speedrun(data, seed=seed, recipe=PROBE[name])
            rows.append({"candidate": name, "seed": seed, "val_acc": result["test_acc"], "seconds": result["seconds"],
                         "threads": result["threads"], "recipe": result["recipe"]})
            print(f"{name} seed {seed}: {result['test_acc']:.2f}% validation in {result['seconds']:.2f} s", flush=True)
    return rows


def probe_table(rows: list[dict], target: float = TARGET) -> str:
    """The probe per candidate: validation accuracy over its seeds and the median seconds."""
    body = []
    for name in dict.fromkeys(r["candidate"] for r in rows):
        mine = [r for r in rows if r["candidate"] == name]
        acc = summarize([r["val_acc"] for r in mine])
        body.append([name, len(mine), f"{acc.mean:.2f} ± {acc.std:.2f}" if acc.n > 1 else f"{acc.mean:.2f}",
                     f"{statistics.median(r['seconds'] for r in mine):.2f}", mine[0]["threads"]])
    return markdown_table(["candidate", "seeds", "validation % mean ± std", "training s (median)", "threads"], body)


def main(argv=None) -> int:
    """`python -m mnistkit.ch13 [--candidates ...] [--seeds 1 2 3]`: the probe on the validation split, saved to
    `outputs/search/13/probe.json` (atomically) and printed as a table. With `--stock`: `save_stock` instead."""
    import argparse

    from .data import load_mnist
    from .paths import outputs_root, write_json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--candidates", nargs="+", default=list(PROBE), choices=list(PROBE))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--stock", action="store_true", help="instead: time the stock recipe to the target on the "
                        f"seeds (up to {STOCK_EPOCHS} epochs each) and save it to outputs/search/13/stock.json")
    args = parser.parse_args(argv)
    if args.stock:
        return save_stock(args.seeds)
    data = load_mnist().validation_split(5000, seed=0)
    rows = probe(data, args.candidates, args.seeds)
    path = write_json(outputs_root("full") / "search" / "13" / "probe.json",
                      {"split": "validation: 5,000 of the 60,000 training images held out (seed 0)", "rows": rows})
    print(probe_table(rows))
    print(choose(rows)[1])
    print("saved", path)
    return 0


def save_stock(seeds: list[int], path=None) -> int:
    """`python -m mnistkit.ch13 --stock --seeds 1 2 3`: the stock recipe to the target on each seed (up to
    `STOCK_EPOCHS` epochs, all the data), one after the other, saved with the machine and the date (atomically) for
    the chapter's headline ratio. Run it alone: its times are its result."""
    import datetime

    from .course import machine
    from .paths import outputs_root, write_json

    runs = []
    for seed in seeds:
        runs.append(stock_time_to_target(seed, max_epochs=STOCK_EPOCHS))
        print(f"stock seed {seed}: " + ", ".join(f"epoch {e['epoch']} {e['test_acc']:.2f}% at {e['seconds']:.1f} s"
                                                 for e in runs[-1]["epochs"]), flush=True)
    command = "python -m mnistkit.ch13 --stock --seeds " + " ".join(str(s) for s in seeds)
    path = write_json(path or outputs_root("full") / "search" / "13" / "stock.json",
                      {"command": command, "date": datetime.date.today().isoformat(), "machine": machine(),
                       "max_epochs": STOCK_EPOCHS, "runs": runs})
    print("saved", path)
    return 0


def run_ablation(data, final: Recipe, stock: list[dict], ours: list[dict], seeds: list[int],
                 baseline_seeds: list[int]) -> list[tuple[str, list[dict]]]:
    """The ablation's rows as (name, results): the stock recipe's first epoch (from `stock`), then each step of
    `ablation_recipes` on `seeds` (the stock network's steps on `baseline_seeds`, which it is slow enough to need);
    the last step is the final recipe, whose runs are `ours`, not trained twice."""
    steps = [("pytorch/examples as published: DataLoader, StockNet, Adadelta, batch 64 (its first epoch)",
              [first_epoch(r) for r in stock])]
    for name, recipe in ablation_recipes(final):
        if recipe == final:
            steps.append((name, ours))
            continue
        steps.append((name, runs_of(data, recipe, baseline_seeds if recipe.net == "stock" else seeds)))
        print(f"{len(steps) - 1}. {name}: median {median_seconds(steps[-1][1]):.2f} s, "
              f"mean {statistics.mean(r['test_acc'] for r in steps[-1][1]):.2f}%", flush=True)
    return steps


def drift_text(steps: list[tuple[str, list[dict]]], variations: list[tuple[str, list[dict]]]) -> str:
    """Where one recipe ran twice in the run, minutes apart (a row of the ablation and a variation of the final
    recipe, such as channels_last in fp32 and "bf16 autocast off"): its accuracies on the seeds both ran and its two
    median times, whose gap is the machine's drift, the size below which a time difference between rows may not be
    the change's. "" when no recipe ran twice."""
    for name, runs in steps:
        for other, again in variations:
            if not runs or not again or runs is again or runs[0].get("recipe") != again[0].get("recipe"):
                continue
            before, after = {r["seed"]: r for r in runs}, {r["seed"]: r for r in again}
            seeds = sorted(set(before) & set(after))
            same = sum(before[s]["test_acc"] == after[s]["test_acc"] for s in seeds)
            first, second = median_seconds([before[s] for s in seeds]), median_seconds([after[s] for s in seeds])
            moves = [after[s]["seconds"] / before[s]["seconds"] - 1 for s in seeds]
            return (f"One recipe ran twice in this run, minutes apart: the ablation's row \"{name}\" and the variation "
                    f"\"{other}\". Its test accuracies are the same on {same} of {plural(len(seeds), 'seed')}, and its "
                    f"median training time was {first:.2f} s the first time, {second:.2f} s the second "
                    f"({(second - first) / first:+.0%}), and seed by seed it moved from {min(moves):+.0%} to "
                    f"{max(moves):+.0%}: the machine's speed moved that much between them, so a time difference of "
                    f"that size between two rows measured apart may be the machine's, not the change's.")
    return ""


def eval_cost_text(ours: list[dict], load_seconds: float | None = None) -> str:
    """What is measured apart from the training time: loading the files (once), normalising the images (each run)
    and one pass over the test images (each run), as medians."""
    evaluation = statistics.median(r["eval_seconds"] for r in ours)
    prepare = statistics.median(r["prepare_seconds"] for r in ours)
    training = median_seconds(ours)
    loaded = f"Loading and verifying the files took {load_seconds:.2f} s, once; " if load_seconds is not None else ""
    return (f"{loaded}normalising the images in memory takes a median {prepare:.2f} s a run. "
            f"Evaluation is not in the training time either: one pass over the test images takes a median {evaluation:.2f} s "
            f"here, {evaluation / training:.0%} of the training time. The stock recipe tests after every epoch (its "
            f"loop as published); those passes are left out of its time too, so the two times compare training "
            f"with training.")


def threads_text(one: list[dict], many: list[dict], threads: int) -> str:
    """Exercise 2's answer: what `threads` threads buy over one, as a ratio of medians against the ideal, and the
    paired difference in seconds over the same seeds."""
    ratio = median_seconds(one) / median_seconds(many)
    pair = ablation_rows([("1 thread", one), (f"{threads} threads", many)])[1]["time"]
    graded = f"; the paired difference is {pair.text('s')}" if pair else ""
    return (f"1 thread: a median {median_seconds(one):.2f} s; {threads} threads: {median_seconds(many):.2f} s, a "
            f"speedup of {ratio:.2f}× against the ideal {threads}× ({ratio / threads:.0%} of it){graded}.")


def choose(rows: list[dict], reference: str = "tuomaso") -> tuple[str, str]:
    """The probe's rule, stated once: among the candidates whose validation accuracy is not below the reference
    recipe's beyond noise (the paired difference over the same seeds, `mnistkit.stats.paired`: its 95% interval
    does not lie wholly below zero), the one with the least median training time. Returns (name, the sentence)."""
    by = {name: {r["seed"]: r for r in rows if r["candidate"] == name} for name in dict.fromkeys(r["candidate"] for r in rows)}
    if reference not in by:
        raise ValueError(f"reference {reference!r} is not among the probe's candidates {sorted(by)}")
    kept, dropped = [], []
    for name, runs in by.items():
        seeds = sorted(set(runs) & set(by[reference]))
        if name == reference:
            kept.append(name)
            continue
        if len(seeds) < 2:
            dropped.append(f"{name} (fewer than 2 seeds in common)")
            continue
        diff = paired([by[reference][s]["val_acc"] for s in seeds], [runs[s]["val_acc"] for s in seeds])
        (dropped.append(f"{name} ({diff.text()})") if diff.high < 0 else kept.append(name))
    median = {name: statistics.median(r["seconds"] for r in by[name].values()) for name in kept}
    chosen = min(kept, key=lambda n: median[n])
    text = (f"Chosen: **{chosen}**, the fastest ({median[chosen]:.2f} s median) of the candidates whose validation "
            f"accuracy is not below {reference}'s beyond noise ({', '.join(kept)})"
            + (f"; left out as worse beyond noise: {'; '.join(dropped)}." if dropped else "."))
    return chosen, text


if __name__ == "__main__":
    raise SystemExit(main())
