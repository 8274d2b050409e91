"""Chapter 02 (write-up 000, Model 2): dropout 0.2 -> 0.1, chapter 01's recipe otherwise (`ch01.skeleton`). What the
chapter says about that change, generated from run records: the change over seeds against chapter 01 (its proper
control: the same recipe, the same seeds, dropout 0.2) and the answers to its exercises."""
from __future__ import annotations

from .ch01 import change_verdict, final_test, last5_spread, over_seeds, train_minus_test
from .chapter import plural
from .stats import compare, signed, summarize

MEASURES = {"final test %": final_test, "train (dropout on) − test, final epoch (pp)": train_minus_test,
            "spread of the last 5 epochs (pp)": last5_spread}


def _direction(diff, up: str, down: str, none: str) -> str:
    """The words for a graded change: `up` or `down` only when its 95% interval excludes zero."""
    if not diff.beyond_noise:
        return none
    return up if diff.mean > 0 else down


def writeup_change(model1: dict, model2: dict) -> str:
    """What the write-up reported for the same change (one run each)."""
    return (f"**The write-up reported** (one run each) train − test {signed(model1['train_acc'] - model1['value'])} → "
            f"{signed(model2['train_acc'] - model2['value'])} pp and final test {model1['value']:.2f} → "
            f"{model2['value']:.2f}%, and wrote that the gap \"shrunk significantly\".")


def gap_target(before: list[dict], after: list[dict]) -> str:
    """The chapter's own target, "close the gap between train and test accuracy", judged on the seeds both chapters
    saved: the size of the gap |train (dropout on) − test| after against before, paired over seeds
    (`mnistkit.stats.compare`); "met" only if it shrank on every seed, otherwise "k of n seeds"; and whether the gap
    changed sign (train below test before, above after, or the reverse)."""
    seeds = {run.get("seed") for run in before} & {run.get("seed") for run in after}
    before = sorted((r for r in before if r.get("seed") in seeds), key=lambda r: r["seed"])
    after = sorted((r for r in after if r.get("seed") in seeds), key=lambda r: r["seed"])
    if len(before) < 2:
        return (f"**The chapter's target** (close the train − test gap): {plural(len(before), 'seed')} saved on both sides in "
                "this profile: no verdict.")
    size = compare(before, after, lambda run: abs(train_minus_test(run)))
    shrank = sum(abs(train_minus_test(a)) < abs(train_minus_test(b)) for b, a in zip(before, after))
    gaps = [summarize([train_minus_test(run) for run in runs]) for runs in (before, after)]
    n = len(before)
    flipped = gaps[0].mean * gaps[1].mean < 0 and min(abs(gaps[0].mean), abs(gaps[1].mean)) >= 0.005
    text = (f"**The chapter's target** (close the train − test gap): train (dropout on) − test went from "
            f"{over_seeds(gaps[0], ' pp', sign=True)} to {over_seeds(gaps[1], ' pp', sign=True)}")
    if flipped:
        side = ("train below test before, above it after" if gaps[0].mean < 0 else
                "train above test before, below it after")
        text += f": the gap changed sign ({side})"
    text += f". Its size |train − test| changed by {size.text()}. The target: "
    if shrank == n:
        return text + f"met: the gap shrank on every seed ({n} of {n})."
    return (text + f"not met: {shrank} of {n} seeds hold (the gap shrank on them)"
            + ("; on average the gap crossed zero rather than closed." if flipped else "."))


def dropout_verdict(before: list[dict], after: list[dict]) -> str:
    """Dropout 0.2 (chapter 01's runs) -> 0.1 (chapter 02's), over the seeds both saved: each measure's paired 95%
    interval, then what it means in words (a direction only where the interval excludes zero)."""
    text, graded = change_verdict(before, after, MEASURES, labels=("01: dropout 0.2", "02: dropout 0.1"),
                                  change="Dropout 0.2 → 0.1")
    if not graded:
        return text
    test, gap, _ = graded.values()
    words = [
        _direction(test, "Less dropout raised the final test % beyond noise.",
                   "Less dropout lowered the final test % beyond noise.",
                   "Less dropout did not move the final test % beyond noise: no change in test accuracy that these "
                   "seeds can tell."),
        _direction(gap, "The running train accuracy (dropout on) rose against test beyond noise: with fewer units "
                        "dropped while it trains, the running accuracy each epoch's line prints sits higher.",
                   "The running train accuracy (dropout on) fell against test beyond noise.",
                   "Train (dropout on) − test did not change beyond noise."),
    ]
    spreads = summarize([last5_spread(run) for run in after])
    words.append(f"At a constant learning rate the last five epochs of dropout 0.1 still spread over "
                 f"{over_seeds(spreads, ' pp', worst=False)}: each epoch's weights are a snapshot "
                 "of an optimizer that keeps taking full-size steps. Chapter 03 shrinks those steps.")
    return text + "\n\n" + " ".join(words) + "\n\n" + gap_target(before, after)


def batch_size_text(rows: list[list]) -> str:
    """Exercise 2: rows of [batch size, seconds per epoch, final test %], the chapter's batch first; one seed."""
    (big, big_s, big_acc), (small, small_s, small_acc) = rows[0], rows[-1]
    return (f"Batch {small} takes {small_s / big_s:.2f}× the time per epoch of batch {big} ({small_s:.1f} s vs "
            f"{big_s:.1f} s): {big / small:g}× as many optimizer steps, each on fewer images, so the fixed cost of a "
            f"step counts more often. Final test accuracy: {small_acc:.2f}% vs {big_acc:.2f}% "
            f"({signed(small_acc - big_acc)} pp on one seed each: no verdict; a change needs a paired interval over "
            "seeds, as in exercise 1).")
