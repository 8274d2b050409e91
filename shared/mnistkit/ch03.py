"""Chapter 03 (write-up 000, Model 3): chapter 02's recipe plus a StepLR schedule (`ch01.skeleton(...,
step_size=10, gamma=0.1)`). What the chapter says about the schedule, generated from run records: the change over
seeds against chapter 02 (its proper control: the same recipe and seeds at a constant rate), the write-up's own
last five epochs against the target, and the answers to its exercises."""
from __future__ import annotations

from .ch01 import change_verdict, final_test, last5_min, last5_spread, over_seeds
from .chapter import plural
from .stats import summarize

MEASURES = {"lowest test % of the last 5 epochs": last5_min, "spread of the last 5 epochs (pp)": last5_spread,
            "final test %": final_test}


def schedule_name(run: dict) -> str:
    recipe = run.get("recipe", {})
    return f"StepLR({recipe.get('step_size', '?')}, {recipe.get('gamma', '?')})"


def step_lr_verdict(before: list[dict], after: list[dict]) -> str:
    """A constant rate (chapter 02's runs) -> StepLR (chapter 03's), over the seeds both saved: each measure's paired
    95% interval, then the words, which say "raised" or "steadier" only where the interval excludes zero."""
    schedule = schedule_name(after[0]) if after else "StepLR"
    text, graded = change_verdict(before, after, MEASURES, labels=("02: constant rate", f"03: {schedule}"),
                                  change=f"Adding {schedule}")
    if not graded:
        return text
    low, spread, _ = graded.values()
    if low.beyond_noise:
        words = [f"The schedule {'raised' if low.mean > 0 else 'lowered'} the lowest test % of the last 5 epochs "
                 "beyond noise"]
    else:
        words = ["The schedule did not move the lowest test % of the last 5 epochs beyond noise"]
    if spread.beyond_noise and spread.mean < 0:
        recipe = after[0].get("recipe", {})
        spreads = [summarize([last5_spread(run) for run in runs]) for runs in (before, after)]
        words.append(f"and made the last five epochs steadier: after epoch {recipe.get('step_size', '?')} the "
                     f"learning rate is {recipe.get('gamma', '?')} times what it was, and the test accuracy of the "
                     f"last five epochs spreads over {over_seeds(spreads[1], ' pp', worst=False)}, against "
                     f"{over_seeds(spreads[0], ' pp', worst=False)} at a constant rate. What steadied is the score "
                     "from one epoch to the next; the weights themselves were not compared.")
    elif spread.beyond_noise:
        words.append("and made the last five epochs less steady, beyond noise.")
    else:
        words.append("and did not change the spread of the last five epochs beyond noise.")
    return text + "\n\n" + ", ".join(words)


def writeup_last_epochs(writeup: dict, target: float = 99.4) -> str:
    """The write-up's own last five epochs against the target (one run)."""
    tail = writeup["test_acc_by_epoch"][-5:]
    first = len(writeup["test_acc_by_epoch"]) - 4
    lowest = min(tail)
    at = first + tail.index(lowest)
    verdict = (f"its lowest, {lowest:.2f}% at epoch {at}, misses {target:g}%" if lowest < target else
               f"all of them reach {target:g}%")
    return (f"**The write-up reported** (one run) epochs {first}–{first + 4} at {', '.join(f'{a:.2f}' for a in tail)}%: "
            f"{verdict}.")


def step_size_text(rows: list[list], epochs: int) -> str:
    """Exercise 1: rows of [schedule, step size, peak %, lowest of the last 5 %, spread of the last 5 (pp)], the
    chapter's first; one seed each."""
    first_drop = min(row[1] for row in rows)
    if epochs <= first_drop:
        return (f"With {plural(epochs, 'epoch')} no schedule has stepped yet (the first drop comes after epoch {first_drop}): "
                "the runs differ only by what the schedules did not do. Run the full profile for the answer.")
    (name_a, _, peak_a, low_a, spread_a, *_), (name_b, _, peak_b, low_b, spread_b, *_) = rows[0], rows[-1]
    return (f"{name_b} against {name_a}: peak {peak_b:.2f}% vs {peak_a:.2f}%, lowest of the last 5 epochs "
            f"{low_b:.2f}% vs {low_a:.2f}%, their spread {spread_b:.2f} vs {spread_a:.2f} pp. An earlier drop "
            "steadies the last epochs sooner (smaller steps move the weights less), but the rate spends fewer epochs "
            "high, where the big moves happen. One seed each, so no verdict: how much another seed alone moves these "
            "numbers is in chapter 03's seed table.")


def schedule_text(planned: list[float], used: list[float], step_size: int) -> str:
    """Exercise 2: the planned StepLR rates against those a run recorded."""
    same = len(used) > 0 and all(abs(a - b) < 1e-12 for a, b in zip(used, planned))
    return (f"The schedule is {planned[0]:g} for epochs 1–{step_size} and {planned[step_size]:g} after. The run "
            f"recorded {plural(len(used), 'epoch')} of `lr`: {', '.join(f'{r:g}' for r in used) or 'none'} — "
            + ("the same as planned." if same else "NOT the same as planned." if used else "nothing to compare."))
