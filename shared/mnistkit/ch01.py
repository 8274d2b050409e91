"""Chapter 01 (write-up 000, Model 1): the skeleton's recipe, which chapters 02 and 03 train again, and the words
chapters 01-03 say about their runs.

`skeleton` is the recipe: chapter 01's `Net(dropout)` trained by SGD with momentum, and with `step_size` a StepLR
schedule (chapter 03). Chapters 01, 02 and 03 and their solutions call it with their own arguments.

The functions after it take run records (as saved in metrics.json) and return markdown: the seed table and the
verdict over seeds of a chapter's README claim (`mnistkit.report.HEADLINES`, the same statistic, the same name), a
graded change between two chapters (`mnistkit.stats`: a paired 95% interval), and chapter 01's measurement of the
write-up's train-accuracy plateau. Chapter 02's and 03's own verdicts are in `ch02.py` and `ch03.py`.
"""
from __future__ import annotations

from typing import Callable

import torch

from .chapter import plural
from .metrics import change_table, markdown_table
from .models import Net
from .report import HEADLINES, headline_value
from .stats import signed, summarize
from .train import fit, progress_as, train_accuracy_in_eval_mode

# A fixed sample of training images for the eval-mode train accuracy: the first 10,000, the same ones every epoch.
# Its standard error (~0.1 pp near 99%) is far below the gaps it measures, at a sixth of the cost of all 60,000.
EVAL_TRAIN_IMAGES = 10_000


def skeleton(data, *, seed: int, epochs: int, batch_size: int = 128, lr: float = 0.02, momentum: float = 0.9,
             dropout: float = 0.2, step_size: int | None = None, gamma: float = 0.1, precision: str = "fp32",
             everywhere: bool = False, on_logits: bool = False, eval_train_images: int | None = None,
             progress: bool = True, log: bool = True) -> tuple[torch.nn.Module, list[dict]]:
    """Chapters 01-03's recipe: `Net(dropout)` (chapter 01's probe: `everywhere`, `on_logits`), SGD with momentum,
    and with `step_size` a StepLR that multiplies the rate by `gamma` every `step_size` epochs (chapter 03).
    `eval_train_images` adds `train_eval_acc` to each epoch's record: the accuracy on the first that many training
    images in eval mode (dropout off), measured the way test accuracy is. Returns the model and its history."""
    torch.manual_seed(seed)  # the same seed gives the same initial weights and the same history on CPU
    model = Net(dropout, everywhere=everywhere, on_logits=on_logits).to(data.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    scheduler = None if step_size is None else torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)
    measure = train_accuracy_in_eval_mode(model, data, eval_train_images, precision) if eval_train_images else None
    with progress_as(None if progress and log else "epoch" if log else "none"):
        history = fit(model, optimizer, data, epochs=epochs, batch_size=batch_size, seed=seed, schedule=scheduler,
                      precision=precision, on_epoch_end=measure)
    return model, history


def over_seeds(summary, unit: str = "%", sign: bool = False, worst: bool = True) -> str:
    """A `stats.Summary` with its "±" named: '99.25 ± 0.11% (mean ± standard deviation over 5 seeds; worst
    99.14%)'; one seed: its value alone. `sign`: the mean with its sign, and no worst (a difference); `worst=False`:
    no worst (where the lowest value is not the worst, as for a spread)."""
    mean = signed(summary.mean) if sign else f"{summary.mean:.2f}"
    if summary.n == 1:
        return f"{mean}{unit} (one seed)"
    low = "" if sign or not worst else f"; worst {summary.worst:.2f}{unit}"
    return f"{mean} ± {summary.std:.2f}{unit} (mean ± standard deviation over {summary.n} seeds{low})"


# The measures a chapter's sentences name, each a function of a run record.
def final_test(run: dict) -> float:
    return run["epochs"][-1]["test_acc"]


def last5_min(run: dict) -> float:
    return min(e["test_acc"] for e in run["epochs"][-5:])


def last5_spread(run: dict) -> float:
    tail = [e["test_acc"] for e in run["epochs"][-5:]]
    return max(tail) - min(tail)


def train_minus_test(run: dict) -> float:
    """Final train accuracy as the epoch line prints it (the running accuracy: train mode, dropout on) minus final test
    accuracy."""
    return run["epochs"][-1]["train_acc"] - run["epochs"][-1]["test_acc"]


def statistic_name(metric: str) -> str:
    """The README's name of a headline metric: "final test %" or "lowest test % of the last k epochs"."""
    if metric == "final":
        return "final test %"
    return f"lowest test % of the last {metric.removeprefix('last').removesuffix('_min')} epochs"


def _rank_text(rank: int, n: int) -> str:
    if rank == 1:
        return f"the best of the {n}"
    if rank == n:
        return f"the worst of the {n}"
    return f"number {rank} of the {n} (1 = best)"


def seed_table(runs: list[dict], *, shown_seed: int) -> str:
    """One row per seed (sorted by seed): where it ran, final train % (dropout on; and in eval mode where every run
    measured it), final test %, train − test, the lowest test % of the last 5 epochs and their spread; the seed
    shown in the chapter is marked."""
    eval_mode = all("train_eval_acc" in run["epochs"][-1] for run in runs)  # chapter 01 measures it
    rows = []
    for run in sorted(runs, key=lambda r: r.get("seed", 0)):
        seed, last, tail = run.get("seed"), run["epochs"][-1], len(run["epochs"]) >= 5
        rows.append([f"{seed} (shown above)" if seed == shown_seed else str(seed), run.get("sweep", "this chapter"),
                     last["train_acc"]] + ([last["train_eval_acc"]] if eval_mode else [])
                    + [final_test(run), signed(train_minus_test(run), widen=False), last5_min(run) if tail else None,
                       last5_spread(run) if tail else None])
    return markdown_table(["seed", "ran in", "final train % (dropout on)"]
                          + (["final train % (eval mode)"] if eval_mode else [])
                          + ["final test %", "train (dropout on) − test (pp)", "lowest test % of the last 5 epochs",
                             "spread of the last 5 (pp)"], rows)


def headline_verdict(stem: str, runs: list[dict], *, shown_seed: int) -> str:
    """The chapter's README claim (`HEADLINES[stem]`) over its seeds: the statistic's mean ± std and worst, k of n
    seeds holding the target (if it has one), and where the seed shown in the chapter stands among them."""
    headline = HEADLINES[stem]
    name = statistic_name(headline.metric)
    values = {run.get("seed"): headline_value(run, headline.metric) for run in runs}
    if not values:
        return f"**{headline.claim}**: no run saved yet."
    summary = summarize(list(values.values()), headline.target)
    if summary.n == 1:  # one seed: its number, and no verdict
        (seed, value), = values.items()
        return (f"**{headline.claim}**: on seed {seed} alone, the {name} is {value:.2f}%. One seed gives no verdict "
                "over seeds: the other seeds are in this chapter's committed sweep (full profile).")
    text = f"**{headline.claim}** (the README's row): "
    text += (f"{over_seeds(summary)}." if headline.target is None else
             f"{summary.holds}; the {name} is {over_seeds(summary)}.")
    if shown_seed in values:
        shown = values[shown_seed]
        rank = 1 + sum(v > shown for v in values.values())
        text += f" Seed {shown_seed}, the run shown above, is {_rank_text(rank, summary.n)} by this statistic"
        text += f" ({shown:.2f}%, against a mean of {summary.mean:.2f}%)"
        if headline.target is not None:
            held = shown >= headline.target
            text += (": the only seed that holds the target" if held and summary.holding == 1 else
                     ": it holds the target" if held else ": it misses the target")
        text += "."
    return text


def change_verdict(before: list[dict], after: list[dict], measures: dict[str, Callable[[dict], float]], *,
                   labels: tuple[str, str], change: str) -> tuple[str, dict]:
    """One change between two chapters over their seeds (`metrics.change_table`: paired 95% intervals when both ran
    on the same seeds): a sentence per measure and the table. Returns (markdown, {measure: Difference}); the
    Differences are empty when either side has fewer than two seeds, and then no verdict is written."""
    if len(before) < 2 or len(after) < 2:
        return (f"**{change}:** {len(before)} and {plural(len(after), 'seed')} saved in this profile: a change needs at least "
                "two seeds on each side (the chapters' committed sweeps, full profile), so none is graded here."), {}
    table, graded = change_table(before, after, measures, labels=labels)
    parts = [f"{name}: {diff.text()}" for name, diff in graded.items()]
    return f"**{change}** ({labels[0]} → {labels[1]}): " + "; ".join(parts) + ".\n\n" + table, graded


def run_against_writeup(run: dict, writeup: dict) -> str:
    """The shown run's final train (dropout on) and test accuracy beside what the write-up reported."""
    last, epochs = run["epochs"][-1], len(run["epochs"])
    return (f"**Our run** (seed {run.get('seed')}, {epochs} epoch{'s' * (epochs != 1)}, {run['params']:,} parameters): final "
            f"train {last['train_acc']:.2f}% (dropout on) vs test {last['test_acc']:.2f}%, train − test "
            f"{signed(train_minus_test(run))} pp. **The write-up reported** {writeup['params']:,} parameters, train "
            f"{writeup['train_acc']:.2f}% vs test {writeup['value']:.2f}%, train − test "
            f"{signed(writeup['train_acc'] - writeup['value'])} pp.")


# Chapter 01's probe of the write-up's plateau: where its dropout sat.
PROBES = {"model1-every": {"everywhere": True}, "model1-every-logits": {"everywhere": True, "on_logits": True}}
PLACED = {"model1": "the two middle blocks", "model1-every": "every block",
          "model1-every-logits": "every block and the logits"}
# A plateau: the running train accuracy this many pp or more below test. The write-up's sits 11.5 pp below; ours,
# with dropout off the logits, within a few tenths of test on every seed.
PLATEAU_PP = 3.0


def placement_table(runs: list[dict], writeup: dict) -> str:
    """The probe's runs beside the write-up: where dropout sat, final train % with dropout on and in eval mode,
    final test %, and train (dropout on) − test."""
    rows = [[run["name"], PLACED.get(run["name"], "?"), run["epochs"][-1]["train_acc"],
             run["epochs"][-1].get("train_eval_acc"), final_test(run), signed(train_minus_test(run), widen=False)]
            for run in runs]
    rows.append(["write-up 000, Model 1", "not published", writeup["train_acc"], None, writeup["value"],
                 f"{signed(writeup['train_acc'] - writeup['value'])}"])
    return markdown_table(["run", "dropout after", "final train % (dropout on)", "final train % (eval mode)",
                           "final test %", "train (dropout on) − test (pp)"], rows)


def plot_train_accuracy(runs: list[dict], writeup: dict, title: str):
    """Train accuracy per epoch with dropout on (solid) and in eval mode (dashed) for each run, beside the
    write-up's logged train and test accuracy: the whole range, and beside it the top few points, where the curves
    that end near the test accuracy lie on each other. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    logged = range(1, len(writeup["train_acc_by_epoch"]) + 1)
    for ax in axes:
        for i, run in enumerate(runs):
            at = [e["epoch"] for e in run["epochs"]]
            ax.plot(at, [e["train_acc"] for e in run["epochs"]], marker="o", ms=3, color=f"C{i}",
                    label=f"{run['name']}: train, dropout on")
            ax.plot(at, [e["train_eval_acc"] for e in run["epochs"]], ls="--", color=f"C{i}",
                    label=f"{run['name']}: train, eval mode")
        ax.plot(logged, writeup["train_acc_by_epoch"], color="black", marker="s", ms=3, label="write-up 000: logged train")
        ax.plot(logged, writeup["test_acc_by_epoch"], color="black", ls=":", label="write-up 000: test")
        ax.set(xlabel="epoch", ylabel="accuracy %")
        ax.grid(alpha=0.3)
    axes[0].set(ylim=(70, 100.5), title=title)
    axes[1].set(ylim=(96, 100), title="the same, 96-100% (lower points off the panel)")
    axes[0].legend(fontsize=8, loc="lower right", ncol=2)
    fig.tight_layout()
    return fig


def plateau_verdict(runs: list[dict], writeup: dict) -> str:
    """What chapter 01's probe shows (one seed): does dropout on the logits reproduce the write-up's plateau, and
    does eval-mode train accuracy show it is no lack of capacity?"""
    by_name = {run["name"]: run["epochs"][-1] for run in runs}
    if "model1-every-logits" not in by_name or "model1-every" not in by_name:
        return "The probe did not run (`probe=False`): run the chapter with `probe=True` to test the hypothesis."
    every, logits = by_name["model1-every"], by_name["model1-every-logits"]
    gap = logits["train_acc"] - logits["test_acc"]
    lines = [f"**Dropout after every block, not on the logits:** train {every['train_acc']:.2f}% (eval mode "
             f"{every['train_eval_acc']:.2f}%) vs test {every['test_acc']:.2f}%: "
             f"{signed(every['train_acc'] - every['test_acc'])} pp.",
             f"**After every block and on the logits:** train {logits['train_acc']:.2f}% vs test "
             f"{logits['test_acc']:.2f}%: {signed(gap)} pp (the write-up: "
             f"{signed(writeup['train_acc'] - writeup['value'])} pp). In eval mode the same network scores "
             f"{logits['train_eval_acc']:.2f}% on its training images."]
    if gap > -PLATEAU_PP:
        lines.append(f"No plateau (train at least {PLATEAU_PP:g} pp below test) on this seed: the hypothesis does not "
                     "explain the write-up's gap here; the table above shows what each placement did.")
    elif logits["train_eval_acc"] < logits["test_acc"] - 0.5:
        lines.append("The plateau is reproduced, but in eval mode the network also scores below test on its "
                     "training images: on this run dropout on the logits did cost capacity.")
    else:
        lines.append(
            f"The write-up's plateau, reproduced on one seed (seed {runs[0].get('seed')}; the probe is a demonstration "
            "of a mechanism, not a comparison over seeds). It is mostly not lost capacity: in eval mode the network "
            f"classifies {logits['train_eval_acc'] - logits['train_acc']:.1f} pp more of its training images right "
            "than its running train accuracy showed, because the running accuracy counts images whose right score "
            "dropout zeroed during that very step. Dropout elsewhere costs the running accuracy little, since the layers "
            "after it learn to cope; on the logits nothing comes after it. Judge under- and overfitting by train "
            "accuracy measured like test accuracy (eval mode), not by the running train accuracy of the epoch lines.")
    return "\n\n".join(lines)


def underfitting_verdict(runs: list[dict]) -> str:
    """Chapter 01's question over its seeds: does the skeleton underfit? Train accuracy in eval mode (the fixed
    training images) minus final test accuracy, and on how many seeds train is at least test."""
    gaps = [r["epochs"][-1]["train_eval_acc"] - r["epochs"][-1]["test_acc"] for r in runs
            if "train_eval_acc" in r["epochs"][-1]]
    if not gaps:
        return "No run recorded its eval-mode train accuracy."
    summary = summarize(gaps, target=0.0)
    seeds = "seed" if summary.n == 1 else "seeds"
    text = (f"**Does it underfit?** Train accuracy measured like test accuracy (eval mode, a fixed sample of training "
            f"images) minus final test accuracy: {over_seeds(summary, ' pp', sign=True)}; train is at least test on "
            f"{summary.holding} of {summary.n} {seeds}.")
    if summary.n == 1:
        return text + " One seed gives no verdict: the other seeds are in the chapter's committed sweep (full profile)."
    if summary.met:
        return text + (" A network that underfits scores lower on the images it learns from than on new ones; on "
                       "every seed this one scores at least as well on them: no sign of underfitting.")
    return text + (f" On the other {summary.n - summary.holding} the network scores lower on its own training images "
                   "than on the test images: not a verdict of no underfitting.")


def which_train_accuracy(running: float, train_eval: float, test: float) -> str:
    """Chapter 01's exercise 2: the running train accuracy (the epoch line's) against the same images in eval mode."""
    text = (f"The running train accuracy (the one each epoch's line prints) is **{running:.2f}%**; the same training "
            f"images in eval mode score **{train_eval:.2f}%**; the test images {test:.2f}%. Train − test is {signed(running - test)} pp with the "
            f"running number and {signed(train_eval - test)} pp in eval mode. The eval-mode number is the one to set "
            "beside the test accuracy: both are the whole network with its final weights. ")
    if running < train_eval:
        return text + ("Here the running number sits below it: dropout's noise and the weights of earlier batches "
                       "hold it down, which is no lack of capacity.")
    return text + ("Here the running number sits above it: after this little training, BatchNorm's running "
                   "statistics (what eval mode uses) are still far from the batches' own, which holds eval mode back.")


def dropout_gaps_text(gaps: dict[float, float]) -> str:
    """Chapter 01's exercise 1: train − test per dropout rate, one seed each, so no verdict."""
    rates = sorted(gaps)
    text = ("Train − test goes " + " → ".join(f"{signed(gaps[p])} pp" for p in rates) + " as dropout goes "
            + " → ".join(f"{p:g}" for p in rates) + ".")
    falls = all(gaps[a] > gaps[b] for a, b in zip(rates, rates[1:]))
    order = ("It falls with every step up in dropout, as expected: the more units are dropped while training, the "
             "lower the running train accuracy sits against what the whole network does on test."
             if falls else "It does not fall at every step up in dropout.")
    return (text + " " + order + " One seed per rate, so no verdict: how much another seed alone moves train − test "
            "is in chapter 01's seed table, and chapter 02's exercise 1 grades a change over seeds.")
