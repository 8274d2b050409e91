"""Chapter 05 · strided convolutions (`notebooks/05_strided_convs.ipynb`, write-up 001): the write-up's five recipes
(MaxPool baseline -> strided convolution -> capacity -> 10x the rate -> StepLR(4, 0.4)) and ours, defined once.

The chapter, its solutions and `mnistkit.search` (candidates of chapter 05) all train through `train`; the chapter's
RESULTS and ANALYSIS are the markdown the report functions below return from run records (dicts as saved in
metrics.json). What the write-up claimed is read from `mnistkit/writeups/001.json`.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
from torch import nn

from .augment import RandomAffine
from .ch01 import EVAL_TRAIN_IMAGES  # chapter 01's rule: train accuracy in eval mode on the first 10,000 images
from .metrics import epoch_table, markdown_table, run_record
from .models import BaselineNet, StridedNet, set_bn_momentum
from .stats import compare, paired, summarize
from .train import FinishBy, fit, per_batch, progress_as, train_accuracy_in_eval_mode
from .writeups import claim

TARGET = 99.4  # the write-up's target: each of the last LAST epochs at or above it
LAST = 3
SWEEP = "05-seeds"  # seeds 2-5 of "final" and "ours": outputs/sweeps/05-seeds/

NETWORKS: dict[str, Callable[[float], nn.Module]] = {  # the write-up's three networks, by dropout
    "model1": BaselineNet,  # MaxPool baseline, 13,808 parameters
    "model2": partial(StridedNet, c=12),  # a stride-2 convolution instead of the pool, 7,386
    "model3": partial(StridedNet, c=13),  # 13 channels in blocks 4 and 5, 7,849
}
RECIPES = {  # the write-up's five configurations, then ours
    "model1": dict(network="model1", lr=0.01, step_size=6, gamma=0.1, dropout=0.1),
    "model2": dict(network="model2", lr=0.01, step_size=6, gamma=0.1, dropout=0.05),
    "model3": dict(network="model3", lr=0.01, step_size=6, gamma=0.1, dropout=0.1),
    "model4": dict(network="model3", lr=0.1, step_size=5, gamma=0.5, dropout=0.1),
    "final": dict(network="model3", lr=0.1, step_size=4, gamma=0.4, dropout=0.1),
    # Ours, chosen on a validation split (outputs/search/05): the same network, OneCycleLR, mild augmentation.
    "ours": dict(network="model3", lr=0.05, schedule="onecycle", dropout=0.1, rotation=7.0, translate=0.05),
}
WRITEUP_RUNS = ("model1", "model2", "model3", "model4", "final")  # the runs write-up 001 logged


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, steps_per_epoch: int, epochs: int) -> FinishBy:
    """OneCycleLR over `epochs` epochs, stepped every batch, then held where it ended (chapter 06 teaches it)."""
    return FinishBy(torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                        steps_per_epoch=steps_per_epoch), epochs * steps_per_epoch - 1)


def train(data, *, network: str | Callable[[float], nn.Module], dropout: float, lr: float, seed: int, epochs: int,
          batch_size: int = 128, momentum: float = 0.9, schedule: str = "step", step_size: int | None = None,
          gamma: float | None = None, rotation: float = 0.0, translate: float = 0.0, anneal_epochs: int | None = None,
          bn_momentum: float | None = None, precision: str = "fp32", progress: bool = True):
    """Chapter 05's recipe: seed, build `network` (a name in NETWORKS or a function of the dropout), SGD with
    momentum, StepLR(step_size, gamma) per epoch or OneCycleLR per batch (over `anneal_epochs`, default all),
    optional RandomAffine(rotation, translate), and `fit`. Returns (model, history); every epoch also records
    `train_eval_acc` (`mnistkit.train.train_accuracy_in_eval_mode`)."""
    if schedule not in ("step", "onecycle"):
        raise ValueError(f"schedule={schedule!r} is not allowed: expected 'step' or 'onecycle'")
    if isinstance(network, str) and network not in NETWORKS:
        raise ValueError(f"network={network!r} is not allowed: expected one of {', '.join(NETWORKS)}")
    if schedule == "step" and (step_size is None or gamma is None):
        raise ValueError(f"schedule 'step' needs step_size and gamma (got {step_size!r}, {gamma!r})")
    torch.manual_seed(seed)  # same seed, same initial weights and the same history on CPU
    model = (NETWORKS[network] if isinstance(network, str) else network)(dropout).to(data.train_x.device)
    if bn_momentum is not None:
        set_bn_momentum(model, bn_momentum)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if schedule == "onecycle":  # stepped every batch, annealed to nearly zero by the last epoch
        steps = math.ceil(len(data.train_x) / batch_size)
        rate = per_batch(one_cycle(optimizer, lr, steps, anneal_epochs or epochs))
    else:  # stepped after every epoch
        rate = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    augment = RandomAffine(degrees=rotation, translate=translate) if rotation or translate else None
    measure = train_accuracy_in_eval_mode(model, data, EVAL_TRAIN_IMAGES, precision)
    with progress_as(None if progress else "epoch"):
        history = fit(model, optimizer, data.augmented(augment), epochs=epochs, batch_size=batch_size, seed=seed,
                      schedule=rate, precision=precision, on_epoch_end=measure)
    return model, history


def run(name: str, data, setup, *, seed: int, epochs: int, batch_size: int = 128, momentum: float = 0.9) -> dict:
    """Train recipe `name` (a key of RECIPES) and return its run record, named `name` or `name-seedN` for the
    recipes run on five seeds, with the write-up's claim beside it."""
    if name not in RECIPES:
        raise ValueError(f"recipe {name!r} is not allowed: expected one of {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    model, history = train(data, seed=seed, epochs=epochs, batch_size=batch_size, momentum=momentum,
                           precision=setup.precision, **recipe)
    extra = {}
    if name in WRITEUP_RUNS:
        said = claim("001", name)
        extra["writeup"] = {"value": said["last3_avg"], "what": said["what"], "peak": said["peak"],
                            "test_acc_by_epoch": said["test_acc_by_epoch"]}
    return run_record(name if name not in ("final", "ours") else f"{name}-seed{seed}",
                      sum(p.numel() for p in model.parameters()), history, **dict(setup.record(), seed=seed),
                      recipe=dict({"arch": recipe["network"]}, **{k: v for k, v in recipe.items() if k != "network"},
                                  momentum=momentum, batch_size=batch_size, epochs=epochs),
                      headline=name == "ours", **extra)


# ----------------------------------------------------------------------------------------------------- reading runs
def recipe_of(run: dict) -> str:
    """'final' for 'final-seed3', 'model2' for 'model2'."""
    return run["name"].split("-seed")[0]


def tail(run: dict) -> list[float]:
    return [e["test_acc"] for e in run["epochs"][-LAST:]]


def last3_min(run: dict) -> float:
    """The README's statistic for this chapter: the lowest test accuracy of the last 3 epochs."""
    return min(tail(run))


def last3_avg(run: dict) -> float:
    """The write-up's statistic: the mean test accuracy of the last 3 epochs."""
    return sum(tail(run)) / len(tail(run))


def holds(run: dict) -> bool:
    return len(run["epochs"]) >= LAST and last3_min(run) >= TARGET


def first_at_target(run: dict) -> int | None:
    return next((e["epoch"] for e in run["epochs"] if e["test_acc"] >= TARGET), None)


def _epoch(epoch: int | None) -> str:
    return f"epoch {epoch}" if epoch else "never"


def _plural(n: int, word: str) -> str:
    """'1 epoch', '15 epochs'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _over_seeds(s, unit: str = "%") -> str:
    """A Summary (mnistkit.stats.summarize) with its '±' named as the standard deviation over the seeds."""
    if s.n == 1:
        return s.text(unit)
    return (f"mean {s.mean:.2f}{unit} ± {s.std:.2f}{' pp' if unit == '%' else ' ' + unit} (± is the standard deviation over the {s.n} seeds; "
            f"worst {s.worst:.2f}{unit})")


def _writeup_epochs(first: int, last: int) -> str:
    """The write-up's epochs `first`-`last` counted from 1, as ours are, with its own 0-based labels beside them."""
    return f"epochs {first}-{last}, counted from 1 as ours are (the write-up counts from 0 and labels them {first - 1}-{last - 1})"


def layers(arch: str) -> list[str]:
    """The layers of network `arch` in short: 3×3 convolutions by their output channels (s2: stride 2, p1: padded),
    1×1 convolutions, MaxPool and the global average pool (GAP)."""
    out = []
    for m in NETWORKS[arch](0.1).modules():
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0]
            out.append((f"{m.out_channels}" if k == 3 else f"{k}×{k} {m.out_channels}")
                       + (f" s{m.stride[0]}" if m.stride[0] > 1 else "") + (f" p{m.padding[0]}" if m.padding[0] else ""))
        elif isinstance(m, nn.MaxPool2d):
            out.append("MaxPool")
        elif isinstance(m, nn.AvgPool2d):
            out.append("GAP")
    return out


def _title(name: str) -> str:
    return f"Model_{name[-1]}" if name.startswith("model") else name


def changes(a: str, b: str) -> list[str]:
    """Every difference between recipes `a` and `b` (RECIPES keys): layers and channels, dropout, schedule."""
    ra, rb = RECIPES[a], RECIPES[b]
    said = []
    if layers(ra["network"]) != layers(rb["network"]):
        said.append(f"the layers and channels (3×3 convolutions by output channels, s2 = stride 2, p1 = padded): "
                    f"{', '.join(layers(ra['network']))} → {', '.join(layers(rb['network']))}")
    if ra["dropout"] != rb["dropout"]:
        said.append(f"dropout {ra['dropout']:g} → {rb['dropout']:g}")
    if lr_config(a) != lr_config(b):
        said.append(f"lr {lr_config(a)} → {lr_config(b)}")
    for key in ("rotation", "translate"):
        if ra.get(key, 0) != rb.get(key, 0):
            said.append(f"{key} {ra.get(key, 0):g} → {rb.get(key, 0):g}")
    return said


def changes_text(a: str, b: str) -> str:
    said = changes(a, b)
    return (f"{_title(a)} → {_title(b)} changes " + "; ".join(said)
            if said else f"{_title(a)} → {_title(b)} changes nothing")


def _writeup_first(name: str) -> str:
    """The write-up's first epoch at 99.4% as its summary states it, and its printed log's where the two disagree
    (Model_1's section prints Model_4's log)."""
    said = claim("001", name)
    stated = said["first_at_target_0based"]
    logged = next((i for i, acc in enumerate(said["test_acc_by_epoch"]) if acc >= TARGET), None)
    text = _epoch(None if stated is None else stated + 1)
    if logged != stated:
        text += f" (its summary; its printed log: {_epoch(None if logged is None else logged + 1)})"
    return text


def lr_config(name: str) -> str:
    recipe = RECIPES[name]
    if recipe.get("schedule") == "onecycle":
        return f"OneCycleLR, peak {recipe['lr']:g}"
    return f"{recipe['lr']:g}, StepLR({recipe['step_size']}, {recipe['gamma']:g})"


def schedule_rates(name: str, epochs: int) -> list[float]:
    """The rate of each epoch of a StepLR recipe, read from a real StepLR on a throwaway optimizer."""
    recipe = RECIPES[name]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe["step_size"], gamma=recipe["gamma"])
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def layer_check(summary, arch: str) -> str:
    """Compare a model summary (mnistkit.summary) row by row with the write-up's table; raise on any difference."""
    said = claim("001", arch)
    ours = [[row.params, row.rf, row.jump] for row in summary.rows]
    if len(ours) != len(said["layers"]):
        raise AssertionError(f"{arch}: {len(ours)} layers, the write-up's table has {len(said['layers'])}")
    diffs = [(i, o, s) for i, (o, s) in enumerate(zip(ours, said["layers"])) if o != s]
    if diffs:
        raise AssertionError(f"{arch}: rows differing from the write-up (row, ours, write-up's): {diffs}")
    if summary.total_params != said["params"]:
        raise AssertionError(f"{arch}: {summary.total_params:,} parameters, the write-up's table {said['params']:,}")
    return (f"{arch}: params, RF and jump equal the write-up's table in all {len(ours)} rows; "
            f"{summary.total_params:,} parameters, final RF {summary.final_rf}")


# ------------------------------------------------------------------------------------------------- report (markdown)
def writeup_average(said: dict) -> str:
    """The write-up's last-3 average as it reported it, and its own log's where the two differ when rounded."""
    logged = sum(said["test_acc_by_epoch"][-3:]) / 3
    if f"{logged:.2f}" == f"{said['last3_avg']:.2f}":
        return f"{said['last3_avg']:.2f}"
    return f"{said['last3_avg']:.2f} (as reported; its own log's last 3 average {logged:.2f})"


def results(run: dict, device: str = "") -> str:
    """RESULTS of one run: our numbers beside the write-up's claims, then the per-epoch log."""
    name, said = recipe_of(run), claim("001", recipe_of(run))
    log, history, last = said["test_acc_by_epoch"], run["epochs"], run["epochs"][-1]
    rows = [["peak test %", f"{max(e['test_acc'] for e in history):.2f}", said["peak"]],
            ["last-3 epochs %", ", ".join(f"{a:.2f}" for a in tail(run)), ", ".join(f"{a:.2f}" for a in log[-3:])],
            ["last-3 average %", f"{last3_avg(run):.2f}", writeup_average(said)],
            ["last-3 average at epochs 13-15 %", f"{last3_avg(run):.2f}" if len(history) == 15 else None,
             f"{sum(log[12:15]) / 3:.2f}"],
            ["first epoch ≥ 99.4%", _epoch(first_at_target(run)), _writeup_first(name)],
            ["final train % (dropout on) / test %", f"{last['train_acc']:.2f} / {last['test_acc']:.2f}",
             f"{said['final_train_acc']:.2f} / {log[-1]:.2f}"],
            ["≥ 99.4% in each of the last 3", "yes" if holds(run) else "no", said["status"]]]
    seconds = sum(e["seconds"] for e in history) / len(history)
    return (f"**RESULTS ({run['name']}, our run: {_plural(len(history), 'epoch')}, {seconds:.1f} s/epoch"
            f"{' on ' + device if device else ''}; the write-up: {_plural(len(log), 'epoch')}, its epoch numbers "
            "converted to ours: we count from 1, it counts from 0)**\n\n"
            + markdown_table(["", "ours", "write-up's claim"], rows) + "\n\n" + epoch_table(history))


def _bullets(lines: list[str]) -> str:
    return "**ANALYSIS** (generated from the numbers above)\n\n" + "\n".join(f"- {line}" for line in lines)


def _one_seed(before: dict, after: dict, what: str) -> str:
    """A difference between two runs of one seed each: its size, and no verdict."""
    return (f"{what}: {last3_avg(after) - last3_avg(before):+.2f} pp on the last-3 average, on seed "
            f"{after.get('seed')} alone: one seed per recipe gives no verdict (exercise 1 shows how to grade a change over seeds).")


def train_reading(run: dict) -> str:
    """Train accuracy read two ways at the last epoch, and what they say about underfitting."""
    last = run["epochs"][-1]
    said = (f"Train {last['train_acc']:.2f}% while training (dropout on) vs test {last['test_acc']:.2f}%")
    if "train_eval_acc" not in last:
        return said + ": train accuracy in eval mode was not measured, so this says nothing about underfitting."
    gap = last["train_eval_acc"] - last["test_acc"]
    said += (f"; measured in eval mode (dropout off, chapter 01's reading) on the first {EVAL_TRAIN_IMAGES:,} "
             f"training images: {last['train_eval_acc']:.2f}% ({gap:+.2f} pp over test, "
             f"{last['train_eval_acc'] - last['train_acc']:+.2f} pp over the dropout-on reading)")
    one_seed = (f" This is seed {run.get('seed')} alone: a gap of {gap:+.2f} pp between train (eval mode) and test "
                "has no interval on one seed, so it gives no verdict on underfitting either way")
    if last["train_acc"] < last["test_acc"] and recipe_of(run) == "model2":  # the write-up read Model_2 so
        return said + "." + one_seed + (". The write-up's reading of Model_2 (underfitting, since train was below "
                                        "test) compared a train accuracy logged while training, very likely with "
                                        "dropout on, with test accuracy.")
    return said + "." + one_seed + "."


def train_gap_over_seeds(runs: list[dict]) -> str:
    """Train accuracy in eval mode minus test accuracy at the last epoch, over seeds, graded by mnistkit.stats."""
    measured = [r for r in runs if "train_eval_acc" in r["epochs"][-1]]
    if len(measured) < 2:
        return ("Train (eval mode) minus test: fewer than two seeds measured, so no interval and no verdict "
                "on underfitting.")
    last = [r["epochs"][-1] for r in measured]
    return ("Train (eval mode) minus test accuracy at the last epoch: "
            + paired([e["test_acc"] for e in last], [e["train_eval_acc"] for e in last]).text() + ".")


def model1_analysis(run: dict) -> str:
    return _bullets([
        f"Model_1 {'holds' if holds(run) else 'does not hold'} ≥ 99.4% in each of its last 3 epochs on seed "
        f"{run.get('seed')} (lowest {last3_min(run):.2f}%, average {last3_avg(run):.2f}%; the write-up reported "
        f"{claim('001', 'model1')['last3_avg']:.2f}% over its "
        f"{_writeup_epochs(len(claim('001', 'model1')['test_acc_by_epoch']) - 2, len(claim('001', 'model1')['test_acc_by_epoch']))};"
        " one seed of ours, so no verdict on the difference).",
        train_reading(run),
        f"It has {run['params']:,} parameters, {run['params'] / 8000 - 1:.0%} over the 8,000 budget: the next steps "
        "must cut them."])


def model2_analysis(run: dict, model1: dict | None = None) -> str:
    history, recipe = run["epochs"], RECIPES["model2"]
    lines = [f"Last-3 average {last3_avg(run):.2f}% (the write-up reported {claim('001', 'model2')['last3_avg']:.2f}%); "
             f"≥ 99.4% in each of the last 3: {'yes' if holds(run) else 'no'}."]
    drop = recipe["step_size"] + 1  # the first epoch at the lower rate
    if len(history) >= drop:
        after = [e["test_acc"] for e in history[drop - 1:]]
        lines.append(f"From epoch {drop}, when the rate first drops (to {recipe['lr'] * recipe['gamma']:g}; StepLR "
                     f"lowers it every {recipe['step_size']} epochs), test accuracy stays between {min(after):.2f} and "
                     f"{max(after):.2f}% (epoch {drop}: {after[0]:.2f}%, last: {after[-1]:.2f}%)"
                     + (": flat, the write-up's plateau" if max(after) - min(after) < 0.15 else "")
                     + (f". Model_1, under the same schedule, stays between "
                        f"{min(e['test_acc'] for e in model1['epochs'][drop - 1:]):.2f} and "
                        f"{max(e['test_acc'] for e in model1['epochs'][drop - 1:]):.2f}%: a flat tail is what this "
                        "schedule does to both models, not a sign peculiar to Model_2."
                        if model1 is not None and len(model1["epochs"]) >= drop else "."))
    lines.append(train_reading(run))
    if model1 is not None:
        lines.append(f"Against Model_1: {run['params'] / model1['params'] - 1:+.0%} parameters; "
                     + changes_text("model1", "model2") + ", not only the stride. "
                     + _one_seed(model1, run, "Accuracy, from all of these together"))
    return _bullets(lines)


def model3_analysis(run: dict, model2: dict | None = None) -> str:
    lines = [f"Last-3 average {last3_avg(run):.2f}% (the write-up reported {claim('001', 'model3')['last3_avg']:.2f}%); "
             f"≥ 99.4% in each of the last 3: {'yes' if holds(run) else 'no'}."]
    if model2 is not None:
        lines.append(_one_seed(model2, run, f"Against Model_2 ({run['params'] - model2['params']:+,} parameters; "
                                            + changes_text("model2", "model3") + ")")
                     + (" The target is still missed, as in the write-up." if not holds(run) else
                        " Here Model_3 holds 99.4% on this seed, unlike in the write-up."))
    return _bullets(lines)


def model4_analysis(run: dict, model3: dict | None = None) -> str:
    lines = [f"Last-3 average {last3_avg(run):.2f}% (the write-up reported {claim('001', 'model4')['last3_avg']:.2f}%); "
             f"≥ 99.4% in each of the last 3: {'yes' if holds(run) else 'no'}; first epoch ≥ 99.4%: "
             f"{_epoch(first_at_target(run))}."]
    if model3 is not None:
        lines.append(_one_seed(model3, run, f"Against Model_3 ({changes_text('model3', 'model4')})"))
    same = claim("001", "model4")["test_acc_by_epoch"] == claim("001", "model1")["test_acc_by_epoch"]
    lines.append("The write-up's Model_4 log is " + (
        "identical, epoch for epoch, to its Model_1 log (even Model_1's notes say 'LR→0.05' at its epoch 5, our "
        "epoch 6 as it counts from 0, which only fits Model_4's schedule): one of the two logs was copied, so the write-up's Model_4 numbers cannot be "
        "trusted. Ours come from this run." if same else "different from its Model_1 log."))
    return _bullets(lines)


def seed_table(runs: list[dict], shown_seed: int) -> str:
    """One row per seed, ranked by the lowest of its last 3 epochs, the seed shown above marked, then the summary:
    'k of n seeds' unless every seed holds."""
    if not runs:
        return "_No run of this recipe is saved in this profile._"
    ranked = sorted(runs, key=lambda r: -last3_min(r))
    rows = [[i, f"{r['seed']}" + (" (shown above)" if r["seed"] == shown_seed else ""),
             ", ".join(f"{a:.2f}" for a in tail(r)), f"{last3_min(r):.2f}", f"{last3_avg(r):.2f}",
             "yes" if holds(r) else "no"] for i, r in enumerate(ranked, 1)]
    lows = summarize([last3_min(r) for r in runs], TARGET)
    shown = next((i for i, r in enumerate(ranked, 1) if r["seed"] == shown_seed), None)
    where = (f" Seed {shown_seed}, the run shown above, ranks {shown} of {len(runs)}." if shown and len(runs) > 1
             else "")
    missing = ("" if len(runs) >= 5 else
               f"\n\n_Seeds saved in this profile: {sorted(r['seed'] for r in runs)}. The others come from the sweep: "
               f"`python -m mnistkit.sweep notebooks/05_strided_convs.ipynb --name {SWEEP} --grid seed=2,3,4,5 "
               "-p models '[\"final\", \"ours\"]' --jobs 2`._")
    return (markdown_table(["rank", "seed", "last 3 epochs %", "lowest %", "average %", "all 3 ≥ 99.4%"], rows)
            + f"\n\n**Lowest of the last 3 epochs: {_over_seeds(lows)}; each of the last 3 ≥ 99.4%: {lows.holds}.**"
            + where + missing)


def final_analysis(final_runs: list[dict], model4: dict | None = None) -> str:
    if not final_runs:
        return _bullets(["The final recipe was not run in this profile."])
    said = claim("001", "final")
    lows, avgs = summarize([last3_min(r) for r in final_runs], TARGET), summarize([last3_avg(r) for r in final_runs])
    lines = [f"Each of the last 3 epochs ≥ 99.4%: {lows.holds}. Last-3 average (the write-up's statistic): "
             f"{_over_seeds(avgs)}; the write-up reported {said['last3_avg']:.2f}% from one 20-epoch run."]
    if lows.n > 1:
        lines.append("If the write-up's single run is one draw from a distribution like ours (we cannot check: it "
                     "ran 20 epochs, its pipeline is not stated), "
                     + ("every seed here holds too." if lows.met else
                        "one run that holds does not make the recipe consistent: not every seed holds here."))
    shown = next((r for r in final_runs if model4 is not None and r.get("seed") == model4.get("seed")), None)
    if shown is not None:
        lines.append(_one_seed(model4, shown, f"Against Model_4 ({changes_text('model4', 'final')})")
                     + f" First epoch ≥ 99.4%: {_epoch(first_at_target(shown))} vs {_epoch(first_at_target(model4))}.")
    return _bullets(lines)


def ours_analysis(final_runs: list[dict], ours_runs: list[dict], searched05: dict[str, dict] | None = None,
                  searched04: dict[str, dict] | None = None) -> str:
    """Ours against the write-up's final recipe, on the chapter's statistic (lowest of the last 3 epochs), paired
    over the seeds both ran; then what the validation searches said (`searched*`: candidate -> search row)."""
    if not ours_runs:
        return _bullets(["Our recipe was not run in this profile."])
    ours = summarize([last3_min(r) for r in ours_runs], TARGET)
    lines = [f"**Ours: each of the last 3 epochs ≥ 99.4%: {ours.holds}**; lowest of the last 3: {_over_seeds(ours)}."]
    if final_runs:
        final = summarize([last3_min(r) for r in final_runs], TARGET)
        lines.append(f"The write-up's final recipe: {final.holds}; {_over_seeds(final)}.")
    if min(len(final_runs), len(ours_runs)) >= 2:
        lines.append("Ours minus the final recipe, lowest of the last 3 epochs: "
                     + compare(final_runs, ours_runs, last3_min).text() + ".")
    elif final_runs:
        lines.append("With one seed of each recipe here, the difference has no verdict.")
    searched05 = searched05 or {}
    if {"final", "onecycle-0.05-mild"} <= set(searched05):
        lines.append(f"On the validation split (one seed, mean of the last 3 epochs): the write-up's final recipe "
                     f"{searched05['final']['mean_val']:.2f}%, ours {searched05['onecycle-0.05-mild']['mean_val']:.2f}%"
                     " (one validation image is 0.02 pp): ours was chosen there, not on the test set.")
        ours_val = searched05["onecycle-0.05-mild"]["mean_val"]
        above = [k for k, row in searched05.items() if row["mean_val"] > ours_val and row["params"] != ours_runs[0]["params"]]
        if above:
            lines.append(f"Higher on validation: {', '.join(above)}, with another network (not Model_3's "
                         f"{ours_runs[0]['params']:,} parameters); this chapter keeps the write-up's network.")
    steps = {"step-mild": "milder augmentation alone", "onecycle-0.05": "OneCycleLR alone", "onecycle-0.05-mild": "both"}
    searched04 = searched04 or {}
    if "writeup" in searched04 and set(steps) <= set(searched04):
        base = searched04["writeup"]["mean_val"]
        lines.append("Which change does the work was measured one change at a time on chapter 04's network only "
                     "(its validation search, one seed, mean of the last 5 epochs against its write-up recipe): "
                     + "; ".join(f"{what} {searched04[k]['mean_val'] - base:+.2f} pp" for k, what in steps.items())
                     + ". Here both changes come together; their separate effect on this network was not measured.")
    return _bullets(lines)


def ours_heading(ours_runs: list[dict]) -> str:
    """The result line under the heading of ours: how many seeds hold, never 'every seed' unless all do."""
    if not ours_runs:
        return "_Our recipe was not run in this profile._"
    held = summarize([last3_min(r) for r in ours_runs], TARGET)
    return f"**Ours, the same {ours_runs[0]['params']:,} parameters: each of the last 3 epochs ≥ 99.4%, {held.holds}.**"


def summary_table(runs: dict[str, dict], final_runs: list[dict]) -> str:
    """The write-up's summary table rebuilt from our runs (`runs`: recipe -> the run shown), with a row over seeds."""
    rows = []
    for name in WRITEUP_RUNS:
        said, run = claim("001", name), runs.get(name)
        ours = ([None] * 4 + ["not run"]) if run is None else [
            run["params"], f"{max(e['test_acc'] for e in run['epochs']):.2f}", f"{last3_avg(run):.2f}",
            _epoch(first_at_target(run)), "✓ holds 99.4%" if holds(run) else "✗"]
        rows.append([name if run is None else run["name"], ours[0], lr_config(name), ours[1], said["peak"], ours[2],
                     said["last3_avg"], ours[3], _writeup_first(name), ours[4], said["status"]])
    if len(final_runs) > 1:
        avgs = summarize([last3_avg(r) for r in final_runs])
        held = summarize([last3_min(r) for r in final_runs], TARGET)
        peaks = summarize([max(e["test_acc"] for e in r["epochs"]) for r in final_runs])
        rows.append([f"final, mean of {avgs.n} seeds", final_runs[0]["params"], lr_config("final"), f"{peaks.mean:.2f}",
                     None, f"{avgs.mean:.2f}", None, None, None, held.holds, None])
    return markdown_table(["run", "params", "LR config", "peak % (ours)", "peak % (write-up)", "last-3 avg % (ours)",
                           "last-3 avg % (write-up)", "first ≥ 99.4% (ours)", "first ≥ 99.4% (write-up)",
                           "status (ours)", "status (write-up)"], rows)


def insights(runs: dict[str, dict], final_runs: list[dict]) -> str:
    """Which of the write-up's insights our runs support (`runs`: recipe -> the run shown)."""
    lines = []
    if "model1" in runs and "model2" in runs:
        m1, m2 = runs["model1"], runs["model2"]
        lines.append(f"**Strided convolution:** Model_2 has {1 - m2['params'] / m1['params']:.0%} fewer parameters "
                     f"than Model_1, but {changes_text('model1', 'model2')}, so what follows is not the stride's "
                     f"alone; {_one_seed(m1, m2, 'its accuracy against Model_1')}")
    if "model3" in runs and "model4" in runs:
        lines.append(f"**Hyperparameters vs architecture** (the same network; {changes_text('model3', 'model4')}): "
                     f"{_one_seed(runs['model3'], runs['model4'], 'the schedule alone')}")
    if len(final_runs) > 1:
        held = summarize([last3_min(r) for r in final_runs], TARGET)
        lines.append(f"**Consistency of the final recipe:** each of the last 3 epochs ≥ 99.4%: {held.holds} "
                     f"(lowest of the last 3: {_over_seeds(held)}); the write-up's 'optimal' and 'consistent' rest on one run.")
    logs_same = claim("001", "model1")["test_acc_by_epoch"] == claim("001", "model4")["test_acc_by_epoch"]
    log1 = claim("001", "model1")["test_acc_by_epoch"]
    first1 = next((i for i, a in enumerate(log1) if a >= TARGET), None)
    said_first = claim("001", "model1")["first_at_target_0based"]
    lines.append(f"**The write-up's record:** its logs run {_plural(len(log1), 'epoch')} under a 15-epoch rule; its "
                 f"Model_1 and Model_4 logs are {'identical' if logs_same else 'different'}; counting epochs from 1 as "
                 f"we do (the write-up counts from 0), its summary gives Model_1's first 99.4% as "
                 f"{_epoch(None if said_first is None else said_first + 1)} (its label {said_first}), while its own log "
                 + ("never reaches 99.4%." if first1 is None else
                    f"first reaches {log1[first1]:.2f}% at epoch {first1 + 1} (its label {first1})."))
    return "\n".join(f"- {line}" for line in lines)


# ------------------------------------------------------------------------------------------------------- exercises
def schedule_gain(model3_runs: list[dict], model4_runs: list[dict]) -> str:
    """Exercise 1: model4 (lr 0.1, StepLR(5, 0.5)) minus model3 (lr 0.01, StepLR(6, 0.1)), the same network, on the
    last-3 average, paired over the seeds both ran."""
    by_seed = {r["seed"]: r for r in model3_runs}
    gains = [last3_avg(r) - last3_avg(by_seed[r["seed"]]) for r in model4_runs if r["seed"] in by_seed]
    per_seed = ", ".join(f"{g:+.2f}" for g in gains)
    if len(gains) < 2:
        return (f"model4 minus model3, last-3 average: {per_seed or 'not run'} pp on one seed: one seed gives no "
                "verdict; run at least two (the full profile runs three).")
    return ("model4 minus model3, last-3 average: " + compare(model3_runs, model4_runs, last3_avg).text()
            + f"; per seed {per_seed} pp, positive on {sum(g > 0 for g in gains)} of {len(gains)} seeds.")


def receptive_field_check(by_hand: list[tuple], measured: list[tuple], final_rf: int) -> str:
    """Exercise 2: (name, kernel, stride, RF, jump) computed by hand against (RF, jump) from `summarize`."""
    pairs = [(h, m) for h, m in zip(by_hand, measured) if h[1] > 1]  # a 1×1 layer reaches nothing new
    agree = sum(tuple(h[3:]) == tuple(m) for h, m in pairs)
    last = pairs[-1][0][3]
    left = len(by_hand) - len(pairs)
    return (f"By hand and by `summarize` agree on {agree} of the {len(pairs)} layers with a kernel over 1×1"
            + (f" ({'one 1×1 convolution' if left == 1 else f'{left} 1×1 convolutions'} left out: by hand it adds nothing to the RF, and the summary "
               "gives the one after the global pool that pool's reach)" if left else "") + ": the last "
            f"3×3 convolution sees {last}×{last} pixels of the 28×28 input, and the global average pool after it "
            f"widens that to {final_rf}×{final_rf} (the summary's final RF). The stride-2 convolution doubles the jump, so "
            "every 3×3 convolution after it adds 4 pixels of receptive field instead of 2: that is how it replaces "
            "MaxPool's reach at a fraction of the parameters.")
