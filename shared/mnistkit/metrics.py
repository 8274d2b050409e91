"""Run records, `metrics.json`, and the numbers RESULTS tables are made of.

Schema (read by the course report and the release checks):
    {"notebook": "<stem>", "runs": [{"name": str, "params": int,
      "epochs": [{"epoch": int, "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}],
      ...extra fields}]}
Accuracies are in percent.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .paths import outputs_root, staged, write_json

EPOCH_KEYS = ("epoch", "test_acc", "seconds")


def run_record(name: str, params: int, history: list[dict], **extra) -> dict:
    """One entry of `runs`: the history plus any extra fields (recipe, seed, the seed's claim...)."""
    return {"name": name, "params": int(params), "epochs": history, **extra}


def validate_metrics(obj: dict) -> None:
    """Raise ValueError if `obj` does not follow the metrics schema."""
    if not isinstance(obj.get("notebook"), str):
        raise ValueError("metrics: 'notebook' must be a string")
    runs = obj.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ValueError("metrics: 'runs' must be a non-empty list")
    names = set()
    for run in runs:
        if not isinstance(run.get("name"), str) or not isinstance(run.get("params"), int):
            raise ValueError(f"metrics: a run needs a string 'name' and an int 'params': {str(run)[:80]}")
        if run["name"] in names:
            raise ValueError(f"metrics: run name {run['name']!r} appears twice")
        names.add(run["name"])
        if not run.get("epochs"):
            raise ValueError(f"metrics: run {run['name']!r} has no epochs")
        for e in run["epochs"]:
            missing = [k for k in EPOCH_KEYS if k not in e]
            if missing:
                raise ValueError(f"metrics: run {run['name']!r} epoch record lacks {missing}")


def save_metrics(folder: str | Path, stem: str, runs: list[dict]) -> Path:
    """Validate and write `<folder>/metrics.json` atomically; returns its path."""
    obj = {"notebook": stem, "runs": runs}
    validate_metrics(obj)
    return write_json(Path(folder) / "metrics.json", obj)


def run_cores(runs: list[dict]) -> int | None:
    """The cores a chapter's training runs used at most: each run's threads times the runs trained side by side
    (`workers`); None without runs."""
    return max((r.get("threads", 1) * r.get("workers", 1) for r in runs), default=None)


def load_metrics(path: str | Path) -> dict:
    obj = json.loads(Path(path).read_text())
    validate_metrics(obj)
    return obj


def chapter_runs(stem: str, profile: str = "full") -> dict[str, dict] | None:
    """Runs saved by a chapter in the same profile, by name; None if it has not been run yet. While `mnistkit.course`
    runs chapter `stem` itself, its runs are read from the staging folder it is saving them to, not its last run's."""
    stage = staged()
    folder = Path(stage["staging"]) if stage and stage["stem"] == stem else outputs_root(profile) / stem
    path = folder / "metrics.json"
    if not path.exists():
        return None
    return {run["name"]: run for run in load_metrics(path)["runs"]}


def sweep_runs(stem: str, sweep: str = "*", profile: str = "full", root: Path | None = None) -> list[dict]:
    """Runs of chapter `stem` saved by committed sweeps of its notebook (`outputs/sweeps/<sweep>/<point>/<stem>/
    metrics.json`; `sweep="*"`: every sweep), each with `sweep` and `point` added; [] when none has run in this
    profile (or under `root`). Chapters keep seeds beyond their own in such sweeps: `make course` does not rerun them."""
    runs = []
    for path in sorted(((root or outputs_root(profile)) / "sweeps").glob(f"{sweep}/*/{stem}/metrics.json")):
        runs += [{**run, "sweep": path.parents[2].name, "point": path.parents[1].name}
                 for run in load_metrics(path)["runs"]]
    return runs


def seed_runs(stem: str, name: str, sweep: str, profile: str = "full") -> list[dict]:
    """Run `name` of chapter `stem` on every saved seed, one run per seed: the chapter's own run first, then those of
    its committed sweep over seeds (`outputs/sweeps/<sweep>/`); sorted by seed."""
    own = [run for run in (chapter_runs(stem, profile) or {}).values() if run["name"] == name]
    by_seed = {}
    for run in own + [run for run in sweep_runs(stem, sweep, profile) if run["name"] == name]:
        by_seed.setdefault(run.get("seed"), run)
    return [by_seed[k] for k in sorted(by_seed, key=str)]


def change_table(before: list[dict], after: list[dict], measures: dict[str, Callable[[dict], float]],
                 labels: tuple[str, str] = ("before", "after")) -> tuple[str, dict]:
    """A one-change comparison over seeds: for each measure (name -> function of a run record), the mean ± std of
    `before`'s and `after`'s runs and the difference after − before with its 95% interval (`mnistkit.stats.compare`:
    paired when both ran on the same seeds). Returns the markdown table and the `stats.Difference` of each measure."""
    from .stats import compare, summarize

    graded, rows = {}, []
    for name, measure in measures.items():
        b, a = summarize([measure(r) for r in before]), summarize([measure(r) for r in after])
        graded[name] = diff = compare(before, after, measure)
        # A row whose rounded means disagree with its rounded difference gets a third decimal throughout (0.054 and
        # 0.068 print as 0.05 and 0.07, but differ by +0.014, which prints as +0.01).
        d = 2 if abs(round(a.mean, 2) - round(b.mean, 2) - round(diff.mean, 2)) < 0.005 else 3
        rows.append([name, f"{b.mean:.{d}f} ± {b.std:.{d}f} ({b.n})", f"{a.mean:.{d}f} ± {a.std:.{d}f} ({a.n})",
                     f"{diff.mean:+.{d}f}", f"{diff.low:+.{d}f} to {diff.high:+.{d}f}", diff.kind, diff.verdict])
    return markdown_table(["measure", f"{labels[0]}: mean ± std (seeds)", f"{labels[1]}: mean ± std (seeds)",
                           "difference (pp)", "95% interval", "pairing", "verdict"], rows), graded


def headline_runs(runs: list[dict]) -> list[dict]:
    """The runs marked `"headline": true`, one per (name, seed): a chapter's own run of a seed wins over a sweep's."""
    return one_per_seed([run for run in runs if run.get("headline")])


def one_per_seed(runs: list[dict]) -> list[dict]:
    """The first run of each (name, seed), in order: a chapter's own run before a sweep's repeat of it."""
    chosen = {}
    for run in runs:
        chosen.setdefault((run["name"], run.get("seed")), run)
    return list(chosen.values())


def seeds_summary(values: list[float], target: float | None = None) -> dict:
    """Mean, std (0 for one value), worst and, with a target, how many values reach it: a verdict's numbers."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "worst": min(values),
            "holding": None if target is None else sum(v >= target for v in values)}


def seeds_table(groups: dict[str, list[dict]], *, last: int, target: float = 99.4) -> str:
    """One row per recipe: its runs' seeds, the lowest test accuracy of each run's last `last` epochs, and over
    the seeds the mean ± std, the worst and how many seeds hold `target` in every one of those epochs."""
    rows = []
    for label, runs in groups.items():
        runs = sorted(runs, key=lambda r: r.get("seed", 0))
        lows = [min(e["test_acc"] for e in r["epochs"][-last:]) for r in runs]
        if not lows:
            rows.append([label, "–", "not run", "–", "–", "–", "–"])
            continue
        summary = seeds_summary(lows, target)
        rows.append([label, ", ".join(f"{p:,}" for p in sorted({r["params"] for r in runs})),
                     ", ".join(f"{r.get('seed')}: {low:.2f}" for r, low in zip(runs, lows)),
                     f"{summary['mean']:.2f} ± {summary['std']:.2f}", f"{summary['worst']:.2f}",
                     f"{summary['holding']} of {summary['n']}", len(runs[0]["epochs"])])
    return markdown_table(["recipe", "params", f"seed: lowest of the last {last} epochs %", "mean ± std %", "worst %",
                           f"seeds holding ≥ {target:g}%", "epochs"], rows)


def history_stats(history: list[dict], *, target: float = 99.4, last: int = 5) -> dict:
    """Peak, the last k test accuracies (`last5` for k=5) with their minimum and mean, first epoch at >= target,
    train-test gap, seconds per epoch."""
    test = [e["test_acc"] for e in history]
    tail = test[-last:]
    first = next((e["epoch"] for e in history if e["test_acc"] >= target), None)
    peak_i = max(range(len(test)), key=test.__getitem__)
    final = history[-1]
    return {
        "epochs": len(history),
        "peak": test[peak_i],
        "peak_epoch": history[peak_i]["epoch"],
        f"last{last}": tail,
        f"last{last}_min": min(tail),
        f"last{last}_mean": sum(tail) / len(tail),
        f"last{last}_all_at_target": len(tail) == last and min(tail) >= target,
        "first_at_target": first,
        "final_train_acc": final.get("train_acc", math.nan),
        "final_test_acc": final["test_acc"],
        "train_test_gap": final.get("train_acc", math.nan) - final["test_acc"],
        "seconds_per_epoch": sum(e["seconds"] for e in history) / len(history),
    }


def confusion_matrix(y, predicted, classes: int = 10) -> np.ndarray:
    """counts[true, predicted] over label tensors (or arrays) of the same length."""
    idx = torch.as_tensor(y).cpu().long() * classes + torch.as_tensor(predicted).cpu().long()
    return torch.bincount(idx, minlength=classes * classes).reshape(classes, classes).numpy()


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-style markdown table; floats get two decimals, None shows as a dash."""
    def cell(v):
        if v is None:
            return "–"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(runs: list[dict], *, target: float = 99.4, last: int = 5) -> str:
    """The RESULTS table of a chapter, generated from run records."""
    header = ["run", "params", "peak test %", f"last-{last} min %", f"last-{last} mean %",
              f"first epoch ≥ {target}%", "final train %", "train − test", "s / epoch"]
    rows = []
    for run in runs:
        s = history_stats(run["epochs"], target=target, last=last)
        rows.append([run["name"], run["params"], s["peak"], s[f"last{last}_min"], s[f"last{last}_mean"],
                     s["first_at_target"], s["final_train_acc"], s["train_test_gap"], s["seconds_per_epoch"]])
    return markdown_table(header, rows)


def epoch_table(history: list[dict]) -> str:
    """Per-epoch markdown table (the seed's training-log tables, from our history). Sequence chapters' records
    also carry `seq_acc` and `digit_acc`, which get their own columns."""
    extra = [key for key in ("seq_acc", "digit_acc") if history and key in history[0]]
    names = {"seq_acc": "sequences %", "digit_acc": "digits %"}
    # lr: the rate the epoch started with (a schedule stepped every batch moves it within the epoch); s: the
    # training pass, evaluation not counted.
    header = (["epoch", "train loss", "train %", "test loss", "test %"] + [names[k] for k in extra]
              + ["lr at the epoch's start", "training s"])
    rows = [[e["epoch"], f"{e['train_loss']:.4f}", e["train_acc"], f"{e['test_loss']:.4f}", e["test_acc"]]
            + [e[k] for k in extra] + [f"{e['lr']:.4g}", e["seconds"]] for e in history]
    return markdown_table(header, rows)
