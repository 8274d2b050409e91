"""What every chapter does before its lesson, in one call, and how it shows code it imports.

`start` checks the parameters every chapter has (profile, seed, device, precision, epochs, data fractions),
applies the profile's caps, resolves the device and the precision once, names the outputs folder and prints
one line that says all of it. A chapter then checks only its own hyperparameters.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .params import PROFILES, apply_profile, check_choice, check_float, check_int, check_parameter, pick_device
from .paths import chapter_dir, shown
from .precision import resolve_precision


@dataclass(frozen=True)
class Setup:
    """A chapter's checked common parameters, after the profile's caps (quick: 1 epoch on 5% of the data)."""

    chapter: str
    profile: str
    seed: int
    device: torch.device
    precision: str  # resolved: "fp32", "bf16" or "fp16"
    epochs: int | None
    data_fraction: float
    test_fraction: float
    out: Path  # outputs/<chapter>/ (quick profile: build/quick/<chapter>/)
    recipe: dict = field(default_factory=dict)  # the chapter's own hyperparameters, checked by name (RANGES)
    workers: int = 1  # processes training the chapter's independent runs side by side (`mnistkit.parallel.Ahead`)

    def record(self) -> dict:
        """The fields every run record carries: what a rerun needs to reproduce it, and the processor it ran on (the
        last digits of a sum, and every time, depend on it: seeds of one claim may come from two machines)."""
        from .course import cpu_name

        where = {"gpu": torch.cuda.get_device_name(self.device)} if self.device.type == "cuda" else {"cpu": cpu_name()}
        return {"seed": self.seed, "profile": self.profile, "device": str(self.device), "precision": self.precision,
                "threads": torch.get_num_threads(), **({"workers": self.workers} if self.workers > 1 else {}), **where}


def start(chapter: str, *, profile: str, seed: int, device: str = "auto", precision: str = "fp32",
          epochs: int | None = None, max_epochs: int = 200, data_fraction: float = 1.0,
          test_fraction: float = 1.0, own: dict | None = None, workers: int | None = None, **recipe) -> Setup:
    """Check a chapter's common parameters and return them as a `Setup` (see the module docstring).

    `recipe`: the chapter's hyperparameters by name (lr=lr, batch_size=batch_size, ...), each checked against the
    one table of ranges (`mnistkit.params.RANGES`); `own`: those only this chapter has, which it checks itself.
    Both come back in `setup.recipe`, in that order. `workers` (chapters whose runs are independent): the processes
    that train them side by side, at least 1; on a GPU (CUDA or MPS) the runs take turns on it, so 1.
    """
    check_choice("profile", profile, list(PROFILES))
    checked = {name: check_parameter(name, value) for name, value in recipe.items()}
    check_int("seed", seed, low=0)
    if epochs is not None:
        check_int("epochs", epochs, low=1, high=max_epochs)
    check_float("data_fraction", data_fraction, low=0, high=1, low_open=True)
    check_float("test_fraction", test_fraction, low=0, high=1, low_open=True)
    if workers is not None:
        check_int("workers", workers, low=1)
    device = pick_device(device)
    precision = resolve_precision(precision, device)
    workers = (workers or 1) if device.type == "cpu" else 1
    capped = apply_profile(profile, epochs=epochs or 0, data_fraction=data_fraction, test_fraction=test_fraction)
    setup = Setup(chapter, profile, seed, device, precision, capped["epochs"] if epochs else None,
                  capped["data_fraction"], capped["test_fraction"], chapter_dir(chapter, profile),
                  {**checked, **(own or {})}, workers)
    trained = f"{plural(setup.epochs, 'epoch')} on {setup.data_fraction:.0%} of the training images, " if epochs else ""
    # Beside workers every run trains with one thread: the line says so, not only the threads this process has now.
    threads = (f"{plural(torch.get_num_threads(), 'thread')}" if workers == 1 else
               f"one thread per run, {workers} runs at a time")
    print(f"profile {profile}: {trained}seed {seed}, device {device} ({precision}, {threads}), "
          f"outputs in {shown(setup.out)}/")
    if workers > 1:
        print(f"independent runs {workers} at a time: this notebook and {plural(workers - 1, 'worker process')}, "
              f"one thread each once the workers start (workers = {workers})")
    if profile == "full":
        from .course import cpu_name

        expected = expected_time(chapter, torch.get_num_threads(), cpu=cpu_name(), workers=workers)
    else:
        expected = ""
    if expected:
        print(expected)
    return setup


def expected_time(chapter: str, threads: int, record: Path | None = None, cpu: str | None = None,
                  workers: int = 1) -> str:
    """How long Run All of `chapter` took in its last full run: the course's last recorded one
    (`outputs/course_run.json`), or the chapter's own notebook in `outputs/` where it ran in full again since
    (papermill's duration; the course's record would time the chapter as it was), and that time scaled to `threads`
    (more threads than the run had are assumed to help in proportion, which is at best an upper bound on the gain),
    so nobody starts a long chapter unawares; "" when no run is recorded. `cpu`: this machine's CPU; another model
    than the record's is said, since per core they can differ severalfold.
    `workers`: independent runs trained side by side, one thread each, count as that many threads."""
    import json

    from .course import ALONE
    from .paths import PREVIOUS_RECORD, outputs_root

    path = record or outputs_root("full") / "course_run.json"
    # While a course run rewrites the record, this chapter is "running" in it: the finished run before it speaks.
    course, run = {}, None
    for candidate in (path, path.with_name(PREVIOUS_RECORD)):
        try:
            course = json.loads(candidate.read_text())
            run = next(n for n in course["notebooks"] if n["stem"] == chapter and n.get("status") == "ok")
            break
        except (OSError, ValueError, KeyError, StopIteration):
            course, run = {}, None
    own = _own_last_run(path.parent / chapter, chapter)
    if own and (run is None or _utc(own["end"]) > _utc(course.get("finished"))):
        # The chapter ran in full again since that course run (its notebook in outputs/ is that run): its time is
        # the one of the chapter as it is now.
        minutes, ran_with, machine = own["seconds"] / 60, own["threads"], {"cpu": own["cpu"]} if own["cpu"] else {}
        text = (f"expected time: Run All took {minutes:.0f} min in this chapter's last full run ({own['end'][:10]}, "
                f"{own['cpu'] or 'its machine'}, {plural(ran_with, 'thread')})")
    elif run is not None:
        minutes, ran_with = run["seconds"] / 60, run.get("threads", 1)
        machine = course.get("machine", {})
        where = f"{machine.get('cpu', 'a')} CPU, {plural(machine.get('cores', 0), 'core')}" if machine else "its machine"
        beside = "alone" if chapter in ALONE else f"{course.get('jobs', 1)} chapters at a time"  # ALONE never share
        text = (f"expected time: Run All took {minutes:.0f} min in the course's last full run ({where}, "
                f"{plural(ran_with, 'thread')}, {beside})")
    else:
        return ""
    cores = max(threads, workers)
    if cores != ran_with:
        scaled = minutes * ran_with / max(cores, 1)
        how = (f"{workers} runs side by side" if workers > 1 else plural(threads, "thread"))
        text += (f"; with {how} on such a machine, about {scaled:.0f} min "
                 + ("at best (not every run can share the work, and threads rarely help in proportion)"
                    if cores > ran_with else "or more"))
    if cpu and machine.get("cpu") and cpu != machine["cpu"]:
        text += f"; this machine's CPU is another ({cpu}): its time per core can differ severalfold"
    return text


def _own_last_run(folder: Path, chapter: str) -> dict | None:
    """The chapter's executed notebook in `folder` (papermill's duration and end time), the cores its runs used
    (threads x runs side by side) and the processor they name; None without it or without run records."""
    import nbformat

    from .metrics import load_metrics, run_cores

    try:
        meta = nbformat.read(folder / f"{chapter}.ipynb", as_version=4).metadata.get("papermill", {})
        runs = [r for r in load_metrics(folder / "metrics.json")["runs"] if "same_run_as" not in r]
    except (OSError, ValueError, KeyError):
        return None
    if not meta.get("duration") or not meta.get("end_time") or not runs:
        return None
    return {"seconds": float(meta["duration"]), "end": str(meta["end_time"]),
            "threads": run_cores(runs),
            "cpu": next((r["cpu"] for r in runs if r.get("cpu")), None)}


def _utc(stamp: str | None):
    """An ISO time as UTC (papermill writes naive UTC, the course record an offset); the earliest time for None."""
    from datetime import datetime, timezone

    if not stamp:
        return datetime.min.replace(tzinfo=timezone.utc)
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def plural(n: int, word: str) -> str:
    """'1 epoch', '15 epochs'."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def show_source(*objects) -> None:
    """Show the source of classes and functions a chapter imports from the helper, where it teaches them."""
    from IPython.display import Code, display

    for obj in objects:
        display(Code(inspect.getsource(obj), language="python"))


def show_run(run: dict, out: Path, *, title: str, writeup_log: list[float] | None = None,
             target: float = 99.4) -> None:
    """A run's results, generated from its record: the results table, the per-epoch table and the curves (saved
    as `curves.png` in `out`), with the write-up's logged test accuracy per epoch beside ours when given."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from .metrics import epoch_table, results_table
    from .plots import plot_history, save_figure

    display(Markdown(results_table([run], target=target)))
    display(Markdown(epoch_table(run["epochs"])))
    curves = {run["name"]: run["epochs"]}
    if writeup_log:
        curves["write-up's log"] = [{"epoch": i + 1, "test_acc": acc, "test_loss": float("nan"), "lr": float("nan")}
                                    for i, acc in enumerate(writeup_log)]
    save_figure(plot_history(curves, title=title, target=target), Path(out) / "curves.png")
    plt.show()
