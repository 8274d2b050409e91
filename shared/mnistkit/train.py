"""A small, open training loop over in-memory tensors.

Plain torch objects go in (an nn.Module, a torch.optim optimizer, an optional
lr_scheduler stepped once per epoch or, wrapped in `per_batch`, once per batch)
and a list of per-epoch dicts comes out. `train_step` (chapter 01 shows it) is one
batch; `train_epoch` one pass; `fit` the epochs. A `Task` says what a batch is
trained and scored by (chapter 10 reads digit sequences); `on_epoch_end` measures
more or stops early.
"""
from __future__ import annotations

import math
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import TensorData
from .paths import PROGRESS_ENV
from .precision import autocast, grad_scaler

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CorrectFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for shuffling and augmentation."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def count_correct(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of samples whose arg-max class equals the label (works for (N, C) and (N, T, C))."""
    return (output.argmax(dim=-1) == y).sum()


def batches(n: int, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Index tensors that cover range(n) in mini-batches, reshuffled from `generator` each call."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)


PROGRESS_STYLES = ("text", "widget", "epoch", "none")
_STYLE_OVERRIDE: list[str] = []
_EPOCH_WATCHERS: list[Callable[[dict], None]] = []


@contextmanager
def watch_epochs(callback: Callable[[dict], None]):
    """Inside the block every `fit` calls `callback(record)` after each epoch, with the epoch's record. How a
    search (`mnistkit.study`) follows a run it starts through a chapter's recipe function, which takes no callback
    of its own: a pruner raising there stops the run. Outside such a block `fit` is unchanged."""
    _EPOCH_WATCHERS.append(callback)
    try:
        yield
    finally:
        _EPOCH_WATCHERS.remove(callback)


@contextmanager
def progress_as(style: str | None):
    """Inside the block, training shows progress as `style` whatever $MNIST_COURSE_PROGRESS says: "epoch" (a line
    per epoch, no bar: searches, tests) or "none" (silent: a chapter's inner runs). None changes nothing."""
    if style is not None and style not in PROGRESS_STYLES:
        raise ValueError(f"progress style {style!r} is not allowed: expected one of {', '.join(PROGRESS_STYLES)}")
    if style is not None:
        _STYLE_OVERRIDE.append(style)
    try:
        yield
    finally:
        if style is not None:
            _STYLE_OVERRIDE.pop()


def progress_style() -> str:
    """How training shows progress: $MNIST_COURSE_PROGRESS, "text" unless set.

    "text" is a plain tqdm bar on stdout: a normal output in JupyterLab (stderr would sit in a pink box that reads
    as a warning). "widget" is the notebook's own progress bar (ipywidgets); `make lab` sets it for the kernels of
    the JupyterLab it starts, where a person watches. "epoch" draws no bar: the one line `fit` prints per epoch is
    the progress; every papermill run (`mnistkit.course.run_notebook`) sets it, so an executed notebook carries a
    line per epoch, not the bar's redraws. "none" prints nothing. `progress_as` overrides it for a block.
    """
    style = _STYLE_OVERRIDE[-1] if _STYLE_OVERRIDE else os.environ.get(PROGRESS_ENV, "text")
    if style not in PROGRESS_STYLES:
        raise ValueError(f"{PROGRESS_ENV}={style!r} is not allowed: expected one of {', '.join(PROGRESS_STYLES)}")
    return style


def _progress(iterable, total: int, desc: str):
    if progress_style() == "widget" and "ipykernel" in sys.modules:
        try:
            from tqdm.notebook import tqdm as notebook_tqdm
            return notebook_tqdm(iterable, total=total, desc=desc, leave=True)
        except ImportError:  # ipywidgets is not installed: fall back to text
            pass
    # In a notebook or a log, redraw at most every 2 s so saved outputs stay small.
    interactive = sys.stdout.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=progress_style() in ("epoch", "none"), leave=True,
                mininterval=0.1 if interactive else 2.0, file=sys.stdout, dynamic_ncols=interactive)


@dataclass(frozen=True)
class Task:
    """What `fit` trains a batch by and scores it by. `CLASSIFY` (the default): cross-entropy, arg-max accuracy.
    Chapter 10's sequence reading (`mnistkit.ch10.READ_SEQUENCE`): a loss over the four digits, whole sequences
    right as the accuracy, the per-digit score among `metrics`, and `teacher_forcing`: in training the model is
    called as `model(x, y)` and reads the true previous digits (it is evaluated as `model(x)`)."""
    loss: LossFn = F.cross_entropy
    correct: CorrectFn = count_correct
    metrics: dict[str, CorrectFn] = field(default_factory=dict)  # name -> count, each recorded every epoch (%)
    teacher_forcing: bool = False


CLASSIFY = Task()


class PerBatch:
    """A schedule `fit` steps after every batch (OneCycleLR, warm-up + cosine); a bare scheduler is stepped after
    every epoch (StepLR). `fit(..., schedule=per_batch(OneCycleLR(...)))`."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def step(self) -> None:
        self.scheduler.step()


def per_batch(scheduler) -> PerBatch:
    return PerBatch(scheduler)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
               loss_fn: LossFn = F.cross_entropy, precision: str = "fp32", scaler=None,
               teacher_forcing: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on one batch, as pytorch/examples' mnist `train()` takes it (which clears the gradients first):
    forward, loss, zero_grad, backward, step.
    `x` is the normalized batch; returns the output (fp32) and the loss, for the running metrics of `train_epoch`."""
    with autocast(precision, x.device):  # fp32: as written; bf16/fp16: the forward's matrix products in low precision
        output = model(x, y) if teacher_forcing else model(x)  # teacher forcing: a sequence model reads y's past
    output = output.float()  # the loss in fp32, whatever precision the forward pass ran in
    loss = loss_fn(output, y)
    optimizer.zero_grad(set_to_none=True)  # gradients accumulate across backward() calls: clear last step's
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:  # fp16 (`precision.grad_scaler`): scale the loss so small gradients do not underflow, unscale to step
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return output, loss


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: TensorData, *,
                batch_size: int, generator: torch.Generator, task: Task = CLASSIFY, desc: str = "train",
                batch_scheduler=None, precision: str = "fp32", average=None) -> dict:
    """One pass over the training split (each batch through `data.transform`, then `train_step`); returns mean
    train loss and accuracy (%).

    `batch_scheduler` (e.g. OneCycleLR, or a warm-up) is stepped after every optimizer step.
    `task` (`Task`) gives the loss, the count of right answers and whether the model reads the targets (teacher
    forcing). `precision` ("fp32", "bf16" or "fp16", see `mnistkit.precision`) is the forward pass's; the loss is fp32.
    `average` (a `torch.optim.swa_utils.AveragedModel` of `model`) is updated after every optimizer step.
    """
    model.train()
    device = data.device
    scaler = grad_scaler(precision, device)
    n = len(data.train_x)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = _progress(batches(n, batch_size, generator), (n + batch_size - 1) // batch_size, desc)
    showing = progress_style() in ("text", "widget")
    for step, idx in enumerate(bar):
        idx = idx.to(device)
        x, y = data.train_x[idx], data.train_y[idx]
        if data.transform is not None:
            x = data.transform(x, generator)
        output, loss = train_step(model, optimizer, data.normalize(x), y, loss_fn=task.loss, precision=precision,
                                  scaler=scaler if scaler.is_enabled() else None, teacher_forcing=task.teacher_forcing)
        if batch_scheduler is not None:
            batch_scheduler.step()
        if average is not None:
            average.update_parameters(model)
        # Accumulate on the device; one sync per progress update, not per batch.
        total_loss += loss.detach() * len(idx)
        correct += task.correct(output.detach(), y)
        seen += len(idx)
        if showing and (step % 50 == 0 or step == len(bar) - 1):
            bar.set_description(f"{desc} loss={loss.item():.4f} accuracy={100 * correct.item() / seen:.2f}%")
    return {"train_loss": total_loss.item() / seen, "train_acc": 100 * correct.item() / seen}


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, normalize: Callable, *,
             batch_size: int = 1000, loss_fn: LossFn = F.cross_entropy,
             correct_fn: CorrectFn = count_correct, metrics: dict[str, CorrectFn] | None = None,
             precision: str = "fp32") -> dict:
    """Mean loss and accuracy (%) of `model` on (x, y), in eval mode, in large batches (forward pass in
    `precision`, loss and counts in fp32).

    `metrics` adds named accuracies (%) from the same outputs: each function returns a per-batch count
    (e.g. whole sequences right, or right digits as a fraction of each sequence) that is summed and divided by
    the number of samples.
    """
    model.eval()
    metrics = metrics or {}
    total_loss, correct = 0.0, 0
    counts = {name: 0.0 for name in metrics}
    for idx in batches(len(x), batch_size, shuffle=False):
        idx = idx.to(x.device)
        with autocast(precision, x.device):
            output = model(normalize(x[idx]))
        output = output.float()
        total_loss += loss_fn(output, y[idx]).item() * len(idx)
        correct += int(correct_fn(output, y[idx]))
        for name, fn in metrics.items():
            counts[name] += float(fn(output, y[idx]))
    return {"loss": total_loss / len(x), "acc": 100 * correct / len(x),
            **{name: 100 * count / len(x) for name, count in counts.items()}}


def train_accuracy_in_eval_mode(model: torch.nn.Module, data: TensorData, images: int,
                                precision: str = "fp32") -> Callable[[dict], None]:
    """An `on_epoch_end` hook for `fit` (chapter 01's measurement): adds `train_eval_acc` to each epoch's record,
    the accuracy on the first `images` training images in eval mode (no dropout, no augmentation), measured the way
    test accuracy is, on the same images every epoch. The running train accuracy of the log is measured while the
    network trains (dropout on, augmented images, weights changing): not the number to judge underfitting by."""
    def measure(record: dict) -> None:
        x, y = data.train_x[:images], data.train_y[:images]
        record["train_eval_acc"] = evaluate(model, x, y, data.normalize, precision=precision)["acc"]
    return measure


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, normalize: Callable, batch_size: int = 1000) -> torch.Tensor:
    """Model outputs for all of `x` (eval mode, no gradients), concatenated."""
    model.eval()
    return torch.cat([model(normalize(x[idx.to(x.device)])) for idx in batches(len(x), batch_size, shuffle=False)])


class EarlyStopping:
    """`on_epoch_end` callback: stop when `monitor` has not improved for `patience` epochs.

    Keeps a copy of the best weights; `restore()` loads them back into the model.
    `monitor` is a key of the epoch record: val_loss when `fit` gets `data.validation_split(...)` (chapter 11)
    or `data.split_validation(...)`, test_loss otherwise.
    """

    def __init__(self, model: torch.nn.Module, patience: int = 5, monitor: str = "test_loss",
                 mode: str = "min", min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode={mode!r}: expected 'min' or 'max'")
        self.model, self.patience, self.monitor, self.mode, self.min_delta = model, patience, monitor, mode, min_delta
        self.best, self.best_epoch, self.best_state, self.stopped_epoch = None, None, None, None
        self.diverged = False

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def __call__(self, record: dict) -> bool:
        value = record[self.monitor]
        if value != value or value in (float("inf"), float("-inf")):  # NaN or inf: training diverged
            self.diverged, self.stopped_epoch = True, record["epoch"]
            return True
        if self._better(value):
            self.best, self.best_epoch = value, record["epoch"]
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        elif record["epoch"] - self.best_epoch >= self.patience:
            self.stopped_epoch = record["epoch"]
            return True
        return False

    def restore(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Chapter 08's per-batch schedule (chapter 10 uses it too): the rate climbs linearly for `warmup_steps`
    batches, then falls along a half cosine to zero at `total_steps`. Call `.step()` after every batch."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class MovingAverage(torch.optim.swa_utils.AveragedModel):
    """An exponential moving average of `trained`'s weights and BatchNorm statistics (`moving_average`). It keeps a
    reference to the network it follows, so `fit(average, optimizer, ...)` trains that network and scores the
    average; the reference is not a submodule (the average's state_dict holds the average only)."""

    def __init__(self, trained: torch.nn.Module, decay: float):
        from torch.optim.swa_utils import get_ema_multi_avg_fn
        super().__init__(trained, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        object.__setattr__(self, "trained", trained)  # bypasses nn.Module's registration on purpose


def moving_average(model: torch.nn.Module, decay: float) -> MovingAverage:
    """Chapter 04's exponential moving average of `model`'s weights and BatchNorm statistics: after every step,
    average <- decay * average + (1 - decay) * model. With decay 0.999 it spans about the last 1,000 steps (two
    epochs at batch 128), so the model it scores is steadier from epoch to epoch than the last step's weights."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay={decay!r} is not allowed: expected a number in (0, 1)")
    return MovingAverage(model, decay)


class FinishBy:
    """A per-batch schedule that ends early: steps `scheduler` (built for `steps` batches, e.g. a OneCycleLR over
    the first 11 of 15 epochs) `steps` times, then leaves the rate where it ended. Chapter 04: a target on each of
    the last 5 epochs asks for a model that has finished annealing when those epochs begin."""

    def __init__(self, scheduler, steps: int):
        self.scheduler, self.steps, self.count = scheduler, steps, 0

    def step(self) -> None:
        if self.count < self.steps:
            self.scheduler.step()
            self.count += 1


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: TensorData, *, epochs: int,
        batch_size: int = 128, seed: int = 1, schedule=None, task: Task = CLASSIFY, precision: str = "fp32",
        on_epoch_end: Callable[[dict], bool | None] | None = None) -> list[dict]:
    """Train for `epochs` and return the history: one dict per epoch with
    epoch, train_loss, train_acc, test_loss, test_acc, lr (the rate the epoch started with), seconds.

    `data.transform` (`TensorData.augmented`) is applied to every training batch. `schedule` is stepped after every
    epoch (StepLR), or after every batch when wrapped in `per_batch` (OneCycleLR, warm-up + cosine). `task` says
    what a batch is trained and scored by (`Task`). `precision` is a resolved `mnistkit.precision` name ("fp32",
    "bf16", "fp16") for training and evaluation. `model` may be a `MovingAverage` of the network the optimizer
    trains (chapter 04's `moving_average`): then that network is trained, the average updated after every step,
    and the average is what each epoch scores. `on_epoch_end(record)` returning True stops training early; it may
    also add fields to the record. Data with a validation split (`TensorData.split_validation`) is evaluated on it
    too, every epoch (val_loss, val_acc beside test_*); `data.eval_name` names the evaluation split ("val" after
    `TensorData.validation_split`). Progress: a bar and a line per epoch, as `progress_style()` says.
    """
    averaged = isinstance(model, MovingAverage)
    trained, scored = (model.trained, model) if averaged else (model, model)
    per_epoch = None if isinstance(schedule, PerBatch) else schedule
    generator = seed_everything(seed)
    history = []
    for epoch in range(1, epochs + 1):
        lr = current_lr(optimizer)
        start = time.perf_counter()
        train = train_epoch(trained, optimizer, data, batch_size=batch_size, generator=generator, task=task,
                            desc=f"epoch={epoch:02d}", batch_scheduler=schedule if per_epoch is None else None,
                            precision=precision, average=model if averaged else None)
        if data.device.type == "cuda":  # the time of the work, not of queueing it
            torch.cuda.synchronize()
        elif data.device.type == "mps":
            torch.mps.synchronize()
        seconds = time.perf_counter() - start
        val = None if getattr(data, "val_x", None) is None else evaluate(
            scored, data.val_x, data.val_y, data.normalize, loss_fn=task.loss, correct_fn=task.correct,
            precision=precision)
        test = evaluate(scored, data.test_x, data.test_y, data.normalize, loss_fn=task.loss, correct_fn=task.correct,
                        metrics=task.metrics, precision=precision)
        if per_epoch is not None:
            per_epoch.step()
        name = data.eval_name
        record = {"epoch": epoch, **train, **({} if val is None else {"val_loss": val["loss"], "val_acc": val["acc"]}),
                  f"{name}_loss": test["loss"], f"{name}_acc": test["acc"],
                  **{metric: test[metric] for metric in task.metrics}, "lr": lr, "seconds": seconds}
        history.append(record)
        if progress_style() != "none":
            splits = ([] if val is None else [("val", val, len(data.val_x))]) + [(name, test, len(data.test_x))]
            scores = " | ".join(f"{split} loss {r['loss']:.4f} acc {round(r['acc'] * n / 100)}/{n} ({r['acc']:.2f}%)"
                                for split, r, n in splits)
            print(f"epoch {epoch:02d}: train loss {train['train_loss']:.4f} acc {train['train_acc']:.2f}% | "
                  f"{scores} | lr {lr:.4g} | {seconds:.1f}s", flush=True)
        for watcher in list(_EPOCH_WATCHERS):  # a search watching runs it starts through a recipe function
            watcher(record)
        if on_epoch_end is not None and on_epoch_end(record):
            break
    return history
