"""Chapter 04 (`notebooks/04_augmentation.ipynb`): rotation and translation augmentation.

Its recipes, defined once: `augmentation` is the write-up's Model 4 (chapter 01's network, chapter 02's dropout,
chapter 03's StepLR, every training batch rotated and shifted); `ours` is the chapter's recipe chosen on the
validation split (depthwise-separable blocks, OneCycleLR done by epoch `anneal_epochs`, BatchNorm momentum 0.01,
milder augmentation). Both call `train`, which chapter 06's capstone (`ours`, narrowed) and `mnistkit.search` (the
candidates of chapters 04, 05 and 06) call too. The rest turns run records into the chapter's sentences, graded by
`mnistkit.stats`.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .augment import RandomAffine
from .chapter import plural
from .metrics import change_table, markdown_table, seeds_table
from .models import Net, SeparableNet, set_bn_momentum
from .paths import atomic_path
from .stats import compare, paired, summarize
from .train import FinishBy, fit, moving_average, per_batch, progress_as

TARGET = 99.4
LAST = 5  # the write-up's claim is about each of the last 5 epochs


def train(network: Callable[[], nn.Module], data, *, seed: int, epochs: int, batch_size: int, lr: float,
          momentum: float, rotation: float, translate: float, schedule: str = "step", step_size: int | None = None,
          gamma: float | None = None, anneal_epochs: int | None = None, pct_start: float = 0.3,
          nesterov: bool = False, weight_decay: float = 0.0, bn_momentum: float | None = None,
          ema: float | None = None, precision: str = "fp32", progress: bool = True) -> tuple[nn.Module, list[dict]]:
    """SGD with momentum on randomly rotated and shifted training batches; `network()` is built on `seed`.

    schedule "step": the rate times `gamma` every `step_size` epochs (the write-up's StepLR). "onecycle": OneCycleLR
    up to `lr` and down to ~0, stepped every batch, finished by the end of epoch `anneal_epochs` (all epochs when
    None); the rate then stays there (`FinishBy`). `bn_momentum` sets every BatchNorm's (None: PyTorch's 0.1);
    `ema` scores an exponential moving average of the weights instead of the last step's.
    """
    if schedule not in ("step", "onecycle"):
        raise ValueError(f"schedule={schedule!r} is not allowed: expected 'step' or 'onecycle'")
    torch.manual_seed(seed)  # the same seed gives the same initial weights and the same history on CPU
    model = network()
    if bn_momentum is not None:
        set_bn_momentum(model, bn_momentum)
    model = model.to(data.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay)
    if schedule == "step":  # stepped after every epoch
        rate = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    else:  # stepped after every batch; the quick profile trains 1 epoch: the annealing then ends with it
        steps = math.ceil(len(data.train_x) / batch_size) * min(anneal_epochs or epochs, epochs)
        rate = per_batch(FinishBy(torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                                      pct_start=pct_start), steps - 1))
    augment = RandomAffine(degrees=rotation, translate=translate)  # batched, on the device; 0 and 0: none
    scored = model if ema is None else moving_average(model, ema)  # fit trains `model`, scores the average
    with progress_as(None if progress else "epoch"):
        history = fit(scored, optimizer, data.augmented(augment), epochs=epochs, batch_size=batch_size, seed=seed,
                      schedule=rate, precision=precision)
    return model, history


def augmentation(data, *, seed: int, epochs: int, batch_size: int, lr: float, momentum: float, dropout: float,
                 step_size: int, gamma: float, rotation: float, translate: float, precision: str = "fp32",
                 progress: bool = True) -> tuple[nn.Module, list[dict]]:
    """The write-up's Model 4: chapter 01's `Net(dropout)`, SGD with momentum, StepLR(step_size, gamma) every
    epoch, every training batch rotated by up to ±`rotation` degrees and shifted by up to ±`translate` of its side."""
    return train(lambda: Net(dropout), data, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                 momentum=momentum, rotation=rotation, translate=translate, schedule="step", step_size=step_size,
                 gamma=gamma, precision=precision, progress=progress)


def ours(data, *, seed: int, epochs: int, batch_size: int, momentum: float, dropout: float, width: int,
         max_lr: float, anneal_epochs: int, bn_momentum: float, rotation: float, translate: float, early: int = 16,
         precision: str = "fp32", progress: bool = True) -> tuple[nn.Module, list[dict]]:
    """Chapter 04's recipe of ours: `SeparableNet(dropout, width=width, early=early)` (width 0: chapter 01's Net),
    OneCycleLR up to `max_lr` stepped every batch and done annealing by the end of epoch `anneal_epochs`, every
    BatchNorm at momentum `bn_momentum`, milder augmentation. Chapter 06's capstone is this recipe, narrowed."""
    def network() -> nn.Module:
        return Net(dropout) if width == 0 else SeparableNet(dropout, width=width, early=early)

    return train(network, data, seed=seed, epochs=epochs, batch_size=batch_size, lr=max_lr, momentum=momentum,
                 rotation=rotation, translate=translate, schedule="onecycle", anneal_epochs=anneal_epochs,
                 bn_momentum=bn_momentum, precision=precision, progress=progress)


def split_recipe(recipe: dict) -> tuple[dict, dict]:
    """The chapter's checked parameters (`setup.recipe`) as the arguments of `augmentation` and of `ours`: the
    `ours_*` names lose their prefix; ours shares the write-up's epochs, batch size, momentum and dropout."""
    writeup = {k: v for k, v in recipe.items() if not k.startswith("ours_")}
    shared = {k: writeup[k] for k in ("epochs", "batch_size", "momentum", "dropout") if k in writeup}
    return writeup, {**shared, **{k.removeprefix("ours_"): v for k, v in recipe.items() if k.startswith("ours_")}}


def recipe_record(recipe: dict) -> dict:
    """What the run record of ours says of its recipe: `ours`' own arguments (from `split_recipe`), the network
    named, nothing of the write-up's StepLR."""
    width = recipe["width"]
    return dict(model=f"SeparableNet(width={width})" if width else "Net", schedule="OneCycleLR",
                **{k: v for k, v in recipe.items() if k not in ("width", "epochs")})


def save_model(path: str | Path, model: nn.Module, mnist, run: dict) -> Path:
    """A trained `SeparableNet` as a checkpoint the playground (chapter 12) reads: its weights, the shape that
    rebuilds it, the normalization it was trained with and which run saved it (plain tensors, numbers and strings,
    so `torch.load(..., weights_only=True)` reads it without running pickled code). Chapters 04 and 06 call it."""
    if not isinstance(model, SeparableNet):
        raise ValueError(f"model {type(model).__name__} is not allowed: expected a SeparableNet (chapters 04, 06)")
    checkpoint = {"state_dict": model.state_dict(), "shape": model.shape, "mean": mnist.mean, "std": mnist.std,
                  "run": run["name"], "seed": run["seed"], "profile": run["profile"], "params": run["params"],
                  "test_acc": run["epochs"][-1]["test_acc"]}
    with atomic_path(Path(path)) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """`save_model`'s checkpoint as a `SeparableNet` in eval mode, and the checkpoint (its normalization and run)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = SeparableNet(0.0, **checkpoint["shape"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint


JOURNEY = [("01_skeleton", "model1"), ("02_less_dropout", "model2"), ("03_step_lr", "model3")]  # each chapter's run


def journey(profile: str, runs: list[dict]) -> dict[str, list[dict]]:
    """The course so far, one run per chapter: chapters 01-03's shown runs (`JOURNEY`, from their saved metrics in
    `profile`; a chapter not yet run is left out) and then `runs`, this chapter's, by label."""
    from .metrics import chapter_runs

    histories = {}
    for stem, name in JOURNEY:
        saved = (chapter_runs(stem, profile) or {}).get(name)
        if saved:
            histories[f"{stem[:2]}: {name}, seed {saved.get('seed', '?')}"] = saved["epochs"]
    histories.update({f"04: {run['name']}": run["epochs"] for run in runs})
    return histories


# --- the chapter's sentences, from run records ---------------------------------------------------------------------

def lowest(run: dict, last: int = LAST) -> float:
    """The lowest test accuracy of a run's last `last` epochs: the number the target is about."""
    return min(e["test_acc"] for e in run["epochs"][-last:])


def mean_last(run: dict, last: int = LAST) -> float:
    return statistics.mean(e["test_acc"] for e in run["epochs"][-last:])


def spread(run: dict, last: int = LAST) -> float:
    tail = [e["test_acc"] for e in run["epochs"][-last:]]
    return max(tail) - min(tail)


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def seed_place(runs: list[dict], seed: int, *, last: int = LAST) -> str:
    """Where `seed` (the run a chapter shows) stands among `runs` by the lowest of the last `last` epochs, e.g.
    'seed 1 (the run shown above) is 3rd of 5 (99.41%; best 99.52%, worst 99.39%)'."""
    by_seed = {r["seed"]: lowest(r, last) for r in runs}
    if seed not in by_seed:
        return f"seed {seed} (the run shown above) is not among the saved seeds"
    values = sorted(by_seed.values(), reverse=True)
    rank = 1 + sum(v > by_seed[seed] for v in values)
    tied = " (tied)" if values.count(by_seed[seed]) > 1 else ""
    return (f"seed {seed} (the run shown above) is {_ordinal(rank)}{tied} of {len(values)} ({by_seed[seed]:.2f}%; "
            f"best {values[0]:.2f}%, worst {values[-1]:.2f}%)")


def holds(runs: list[dict], *, last: int = LAST, target: float = TARGET) -> str:
    """'met on every seed (5 of 5)' only when every seed's last `last` epochs reach `target`, else 'not met: k of n
    seeds', with the mean and the worst seed."""
    if not runs:
        return "not run"
    summary = summarize([lowest(r, last) for r in runs], target)
    sd = "; ± is the standard deviation over seeds" if summary.n > 1 else ""
    return f"{summary.holds}; lowest of the last {last} epochs {summary.text()}{sd}"


def seeds_markdown(groups: dict[str, list[dict]], seed: int, *, last: int = LAST, target: float = TARGET) -> str:
    """The seed table (one row per recipe) and, for each recipe, where the shown seed stands in it."""
    lines = [seeds_table(groups, last=last, target=target), ""]
    lines += [f"- {label.split(':')[0]}: {seed_place(runs, seed, last=last)}; {holds(runs, last=last, target=target)}."
              for label, runs in groups.items() if runs]
    if any(len(runs) < 5 for runs in groups.values()):
        lines.append("\n_Fewer than five seeds are saved in this profile: run the sweep named above for the others._")
    return "\n".join(lines)


MEASURES = {f"test, lowest of the last {LAST} epochs (%)": lowest, f"test, mean of the last {LAST} epochs (%)": mean_last,
            f"spread of the last {LAST} epochs (pp)": spread}


def compared(before: list[dict], after: list[dict], labels: tuple[str, str], what: str) -> str:
    """A one-change comparison over seeds, graded by `mnistkit.stats` (paired on the same seeds): a sentence on the
    lowest of the last 5 epochs and the table of all three measures; one seed on either side gives no verdict."""
    if len(before) < 2 or len(after) < 2:
        return (f"**{what}:** {plural(min(len(before), len(after)), 'seed')} saved on one side in this profile: one seed "
                "cannot tell an effect from noise, so no verdict.")
    table, graded = change_table(before, after, MEASURES, labels=labels)
    low = graded[next(iter(MEASURES))]
    return f"**{what}:** the lowest of the last {LAST} epochs moved {low.text()}.\n\n{table}"


def augmentation_verdict(without: list[dict], with_: list[dict]) -> str:
    """Augmentation alone: chapter 03's recipe (no augmentation) against the write-up's Model 4 (the same recipe,
    augmented), paired over the seeds both ran. The closing sentence follows the verdict."""
    text = compared(without, with_, ("chapter 03, no augmentation", "the write-up's Model 4, augmented"),
                    "Augmentation alone (chapter 03's recipe, the same network, schedule and seeds, without it)")
    if len(without) < 2 or len(with_) < 2:
        return text
    low = compare(without, with_, lowest)
    train = compare(without, with_, lambda r: r["epochs"][-1]["train_acc"])
    if low.beyond_noise and low.mean > 0:
        close = "Over these seeds the test set rewards it: the lowest of the last epochs rose beyond noise."
    elif low.beyond_noise:
        close = "Over these seeds it cost test accuracy, beyond noise: the augmentation is too strong for this network."
    else:
        close = (f"Over these {low.n} seeds the test set does not reward it measurably: the change is within noise. "
                 f"Final train accuracy (read while training, dropout on in both: on plain images without "
                 f"augmentation, on augmented ones with it) moved {train.text()}"
                 + (": training got harder; whether that buys test accuracy, these seeds cannot say."
                    if train.beyond_noise and train.mean < 0 else "."))
    return f"{text}\n\n{close} {spread_text(without, with_)}"


def spread_text(without: list[dict], with_: list[dict], *, last: int = LAST) -> str:
    """What augmentation did to the spread (max - min) of the last `last` test accuracies, paired over the seeds,
    graded by `mnistkit.stats`; one test image is 0.01 pp on the 10,000-image test set."""
    diff = compare(without, with_, lambda r: spread(r, last))
    moved = diff.text(decimals=2 if abs(diff.mean) >= 0.05 else 3)  # a few images: the decimals the table shows
    if not diff.beyond_noise:
        return f"The spread of the last {last} epochs moved {moved}: augmentation left it as steady as before."
    return (f"The spread of the last {last} epochs moved {moved}: augmentation made the last epochs "
            + ("less steady (a wider spread" if diff.mean > 0 else "steadier (a narrower spread")
            + f", about {abs(diff.mean) / 0.01:.0f} test image(s) on average: small, but not noise).")


def separable_choice(search_rows: list[dict], base: str, chosen: str) -> str:
    """Where the switch to the separable network stands on the validation split: `chosen` against `base` (the same
    recipe on chapter 01's network), paired over the seeds both candidates ran."""
    worst = {name: {r["seed"]: r["worst_val"] for r in search_rows if r["candidate"] == name} for name in (base, chosen)}
    seeds = sorted(set(worst[base]) & set(worst[chosen]))
    if len(seeds) < 2:
        return (f"**The separable network on the validation split:** `{chosen}` and `{base}` share "
                f"{plural(len(seeds), 'seed')} in `outputs/search/04`: too few for a verdict.")
    diff = paired([worst[base][s] for s in seeds], [worst[chosen][s] for s in seeds])
    per_seed = ", ".join(f"seed {s}: {worst[chosen][s] - worst[base][s]:+.2f}" for s in seeds)
    return (f"**The separable network on the validation split** (`outputs/search/04`, worst validation accuracy of the "
            f"last {LAST} epochs, `{chosen}` against `{base}`, the same recipe on chapter 01's network; {per_seed} pp): "
            f"{diff.text()}. "
            + ("The validation split supports the switch." if diff.beyond_noise and diff.mean > 0 else
               "The validation split does not single it out: it was kept on these seeds' numbers, not on a verdict."))


def steps_table(search_rows: list[dict], steps: dict[str, str]) -> str:
    """The search's steps from the write-up's recipe to ours (candidate -> what it changes), each row the mean over
    the seeds that candidate ran, and against the row before it the paired difference where both ran 2+ seeds."""
    by = {}
    for r in search_rows:
        by.setdefault(r["candidate"], {})[r["seed"]] = r
    rows, previous = [], None
    for name, what in steps.items():
        if name not in by:
            continue
        runs = by[name]
        verdict = "–"
        if previous is not None and what.startswith("+"):
            seeds = sorted(set(runs) & set(by[previous]))
            verdict = (paired([by[previous][s]["worst_val"] for s in seeds], [runs[s]["worst_val"] for s in seeds]).text()
                       if len(seeds) >= 2 else f"{plural(len(seeds), 'seed')} in common: no verdict")
        rows.append([what, ", ".join(map(str, sorted(runs))), runs[1]["worst_val"] if 1 in runs else None,
                     statistics.mean(r["worst_val"] for r in runs.values()),
                     statistics.mean(r["mean_val"] for r in runs.values()),
                     statistics.mean(r["spread_val"] for r in runs.values()), verdict])
        if what.startswith("+") or previous is None:
            previous = name
    # Rows average over the seeds each ran, and those differ: the seed-1 column sets every row on the same seed.
    return markdown_table(["recipe (validation split)", "seeds", f"seed 1: worst of the last {LAST} %",
                           f"worst of the last {LAST} % (mean over its seeds)", f"mean of the last {LAST} %",
                           "spread (pp)", "against the row it adds to (paired)"], rows)


def timing(run: dict, runs: list[dict] | None = None) -> str:
    """Seconds per epoch of `run` and, with `runs` (its seeds), the median over them of each run's mean, with the
    caveat that the runs were timed with other jobs running on the same machine (the seeds ran side by side), so
    they overstate an idle machine's."""
    def per_epoch(r: dict) -> float:
        return statistics.mean(e["seconds"] for e in r["epochs"])

    text = f"{per_epoch(run):.0f} s per epoch"
    if runs and len(runs) > 1:
        text += f" (median over its {len(runs)} seeds {statistics.median(per_epoch(r) for r in runs):.0f} s)"
    return text + ", timed with other jobs running on the machine, so likely slower than on an idle one"


def run_line(label: str, run: dict, *, last: int = LAST, seed_runs: list[dict] | None = None) -> str:
    """One run in a line: its last epochs, final train accuracy (read while training: augmented images, dropout
    on), size, and its time per epoch beside the median of `seed_runs`."""
    tail = ", ".join(f"{e['test_acc']:.2f}" for e in run["epochs"][-last:])
    return (f"**{label}** ({len(run['epochs'])} epochs, {run['params']:,} parameters, {timing(run, seed_runs)}): "
            f"last {last} epochs {tail}%; final train accuracy {run['epochs'][-1]['train_acc']:.2f}% "
            "(read while it trained: on augmented images, with dropout on)")


STEPS = {"writeup": "the write-up's recipe", "step-mild": "milder augmentation alone",
         "onecycle-0.05": "OneCycleLR alone", "onecycle-0.05-mild": "+ both together (OneCycleLR and milder augmentation)",
         "onecycle11-0.05-mild": "+ annealing done by epoch 11", "onecycle11-0.05-mild-bn0.01": "+ BatchNorm momentum 0.01",
         "separable36-ours": "+ depthwise-separable network (ours)",
         "padded-onecycle11-0.05-mild": "the annealing row's recipe on chapter 01's network padded before the pool (not kept)",
         "wide-late-ours": "the BatchNorm row's recipe on a network with 20 channels in its last block (not kept)",
         "separable32x4-ours": "four separable blocks of 32 instead of three of 36 (not kept)"}


NOT_KEPT = {"padded-onecycle11-0.05-mild": ("onecycle11-0.05-mild", "padding before the pool"),
            "wide-late-ours": ("onecycle11-0.05-mild-bn0.01", "channels moved from before the pool to the last block"),
            "separable32x4-ours": ("separable36-ours", "four separable blocks of 32 instead of three of 36")}


def alternative(search_rows: list[dict], base: str, other: str, what: str) -> str:
    """A variant tried and not kept (`other`) against the candidate it would replace (`base`), on the validation
    split: the per-seed differences of the worst validation accuracy of the last `LAST` epochs, in pp and in images
    (5,000 validation images: one is 0.02 pp) and the paired interval."""
    worst = {name: {r["seed"]: r["worst_val"] for r in search_rows if r["candidate"] == name} for name in (base, other)}
    seeds = sorted(set(worst[base]) & set(worst[other]))
    head = f"**Not kept: {what}** (`{other}` against `{base}`, worst validation accuracy of the last {LAST} epochs"
    if len(seeds) < 2:
        return f"{head}): {plural(len(seeds), 'seed')} in common, no verdict."
    diffs = {s: worst[other][s] - worst[base][s] for s in seeds}
    per_seed = ", ".join(f"seed {s} {d:+.2f} pp ({round(d / 0.02):+d} images)" for s, d in diffs.items())
    diff = paired([worst[base][s] for s in seeds], [worst[other][s] for s in seeds])
    close = (f"the validation split prefers `{other if diff.mean > 0 else base}`" if diff.beyond_noise else
             f"these {diff.n} seeds cannot tell the two apart")
    return f"{head}): {per_seed}; paired {diff.text()}: {close}."


def analysis(writeup_runs: list[dict], ours_runs: list[dict], chapter03: list[dict], search_rows: list[dict],
             claim: dict, seed: int) -> str:
    """Chapter 04's analysis, generated: the shown seed of both recipes and what holds over the saved seeds, the
    write-up's claim, ours against the write-up's recipe, augmentation against its control (chapter 03), where the
    separable network came from, and the search's steps on the validation split."""
    shown = {r["seed"]: r for r in writeup_runs}.get(seed), {r["seed"]: r for r in ours_runs}.get(seed)
    lines = [run_line(f"The write-up's recipe, seed {seed}", shown[0], seed_runs=writeup_runs)
             + f". Over the saved seeds: {holds(writeup_runs)}." if shown[0] else "",
             run_line(f"Ours, seed {seed}", shown[1], seed_runs=ours_runs)
             + f". Over the saved seeds: {holds(ours_runs)}." if shown[1] else "",
             f"**The write-up reported** (one run): last {LAST} epochs "
             f"{', '.join(f'{a:.2f}' for a in claim['test_acc_by_epoch'][-LAST:])}%, train {claim['train_acc']}%, "
             f"{claim['params']:,} parameters.",
             compared(writeup_runs, ours_runs, ("the write-up's recipe", "ours"), "Ours against the write-up's recipe"),
             augmentation_verdict(chapter03, writeup_runs),
             separable_choice(search_rows, "onecycle11-0.05-mild-bn0.01", "separable36-ours")]
    if any(r["candidate"] in STEPS for r in search_rows):
        lines += ["**Each step on the validation split** (from the write-up's recipe down; the first '+' row puts "
                  "the two changes above it together on the write-up's recipe, each later '+' row adds one change to "
                  "the '+' row before it; one validation image is 0.02 pp):", steps_table(search_rows, STEPS)]
    lines += [alternative(search_rows, base, other, what) for other, (base, what) in NOT_KEPT.items()
              if any(r["candidate"] == other for r in search_rows)]
    return "\n\n".join(line for line in lines if line)


def tta_verdict(right_plain: torch.Tensor, right_tta: torch.Tensor, copies: int) -> str:
    """Exercise 2: test-time augmentation against the plain prediction, paired over the same test images (each
    image right or wrong under both), graded by `mnistkit.stats.paired`."""
    plain, tta = (100.0 * right_plain.float()).tolist(), (100.0 * right_tta.float()).tolist()
    fixed, broken = int((right_tta & ~right_plain).sum()), int((right_plain & ~right_tta).sum())
    acc_plain, acc_tta = statistics.mean(plain), statistics.mean(tta)
    head = (f"plain {acc_plain:.2f}%, averaged over the image and {copies} augmented copies {acc_tta:.2f}%; "
            f"test-time augmentation fixed {fixed} images and broke {broken}")
    if fixed + broken == 0:
        return f"{head}: the two predictions agree on every image, so there is no difference to grade."
    diff = paired(plain, tta)
    verdict = "beyond noise" if diff.beyond_noise else f"within noise ({len(plain):,} test images)"
    return (f"{head}: {diff.mean:+.2f} pp (95% interval {diff.low:+.2f} to {diff.high:+.2f}, paired over the "
            f"{len(plain):,} test images): {verdict}. It costs {copies + 1}× the inference.")


def strength_text(last: dict[str, dict], profile: str, epochs: int) -> str:
    """Exercise 1: the final train and test accuracy with no, the chapter's and double augmentation, one seed."""
    train_drop = last["none"]["train_acc"] - last["double"]["train_acc"]
    test_change = last["double"]["test_acc"] - last["none"]["test_acc"]
    return (f"Measured ({profile} profile, {plural(epochs, 'epoch')}, seed 1): from no augmentation to double, train accuracy (measured on the augmented training images) drops by "
            f"{train_drop:.2f} pp and test accuracy changes by {test_change:+.2f} pp, on one seed: "
            + ("train accuracy moves more. " if abs(train_drop) > abs(test_change) else "test accuracy moves more. ")
            + "One seed gives no verdict on the test change (the chapter's five seeds show how much one seed varies). "
            "Augmentation makes the training images harder (each is seen tilted and shifted, differently every "
            "epoch); the test images are not augmented, and gain only as far as features learnt on shifted digits "
            "generalise.")
