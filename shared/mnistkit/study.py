"""Recipe search on the validation split with Optuna: pruned, persistent, shared by several workers.

    python -m mnistkit.search 04 --trials 24 --workers 2           # the same: `mnistkit.search`'s first form
    python -m mnistkit.study 04 --trials 24 --workers 2            # create or resume chapter 04's study
    python -m mnistkit.study 06 --trials 24 --workers 2 --width 16  # the frontier's family at one width
    python -m mnistkit.study 04 --report                            # its trials as a table (no training)
    python -m mnistkit.study 04 --confirm 3 --seeds 2 3 --workers 2  # the 3 best again on seeds 2, 3 (validation)
    python -m mnistkit.study 04 --test 1 2 3 4 5 --workers 2        # the confirmed one on the test set

Each trial is one call of the chapter's recipe function (`mnistkit.search.train_recipe`, the function the named
candidates of `mnistkit.search` train through) on the 55,000/5,000 split, scored by the chapter's own claim on
validation: the lowest validation accuracy of its last `search.LAST[chapter]` epochs. Every epoch's validation
accuracy is reported to a median pruner, which stops a trial whose curve sits below the median of the trials
before it at the same epoch (after 5 complete trials and 5 epochs). The recipe the chapter chose is enqueued as
the first trial, then the course's earlier candidates that lie in the space (`EARLIER`), so the study starts from
them and its table shows them.

The study lives in a journal file, `outputs/search/<chapter>/study-<name>.journal` (Optuna's `JournalStorage`): a
study resumes where it stopped, and several worker processes (`--workers`) share it, each taking the next trial,
none repeated. Machines would share one study through an RDB URL Optuna supports (`--storage
postgresql://user@host/db`: every worker on every machine passes the same URL). A worker killed mid-trial leaves
its trial RUNNING; the next start marks it failed and enqueues its parameters again (`recover`).

Seeds: a trial's value is its first seed (`--seed`, 1); the study never looks at the test set (its runs record the
test accuracy but the objective reads validation only). One seed's value is noisy (a 5,000-image split moves in
steps of 0.02%), so `--confirm N` trains the N best trials again on two more seeds, still on validation, beside
the chapter's recipe (trial 0), and chooses the highest mean over the three seeds (`confirm`). Only that trial
meets the test set: `--test` trains it and the chapter's recipe on all 60,000 images for each test seed, paired.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Callable

from .paths import REPO_ROOT, write_json

STUDIES = REPO_ROOT / "outputs" / "search"
CHAPTERS = ("04", "06")  # the chapters with a search space (`space_for`)
PRUNE_AFTER = {"n_startup_trials": 5, "n_warmup_steps": 5}  # the median pruner waits for this much evidence


def _optuna():
    import optuna  # imported late: the rest of the package (and every chapter) runs without it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# --- the search spaces: a trial -> a recipe of `mnistkit.search`'s form -------------------------------------------
def space_04(trial) -> dict:
    """Chapter 04's recipe of ours (`SeparableNet(36)`, SGD, OneCycleLR done by `anneal_epochs`, milder
    augmentation) around the values the chapter chose: the rate, the annealing, BatchNorm's momentum, the
    augmentation, dropout, batch size and weight decay."""
    from .search import OURS_11

    return dict(OURS_11, model="separable", width=36, early=16,
                lr=trial.suggest_float("lr", 0.02, 0.2, log=True),
                anneal_epochs=trial.suggest_int("anneal_epochs", 9, 15),
                bn_momentum=trial.suggest_categorical("bn_momentum", [0.1, 0.03, 0.01]),
                rotation=trial.suggest_float("rotation", 0.0, 12.0),
                translate=trial.suggest_float("translate", 0.0, 0.12),
                dropout=trial.suggest_float("dropout", 0.0, 0.15),
                batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
                weight_decay=trial.suggest_categorical("weight_decay", [0.0, 5e-4]))


def space_06(width: int) -> Callable:
    """Chapter 06's frontier family at `width` (`SeparableNet(width, early=12)`, no dropout), the same knobs."""
    def space(trial) -> dict:
        recipe = space_04(trial)
        return dict(recipe, width=width, early=12)

    return space


REPORTED = [("04", None), ("06", 16)]  # the studies the README reports (chapter, width), when their journals exist


CHOSEN = {  # the chapters' chosen recipes, in each space's parameters: enqueued as the first trial
    "04": {"lr": 0.05, "anneal_epochs": 11, "bn_momentum": 0.01, "rotation": 7.0, "translate": 0.05, "dropout": 0.1,
           "batch_size": 128, "weight_decay": 0.0},
    "06": {"lr": 0.05, "anneal_epochs": 11, "bn_momentum": 0.01, "rotation": 7.0, "translate": 0.05, "dropout": 0.0,
           "batch_size": 128, "weight_decay": 0.0},
}
# The course's earlier candidates that lie in a space (their saved runs, `mnistkit.search.saved_recipes`, seeds 1
# and 2): enqueued after the chosen recipe, so the study's table holds them and their seed-1 runs can be compared
# with the files they left. Name -> the parameters that differ from the chosen recipe.
CHOSEN_NAME = {"04": "separable36-ours"}  # the chosen recipe's name in the chapter's search table (06: none)
EARLIER = {
    "04": {"separable36-ours-drop0.05": {"dropout": 0.05}, "separable36-ours-wd5e-4": {"weight_decay": 5e-4}},
    "06": {},
}


def enqueued(chapter: str) -> list[tuple[str, dict]]:
    """The fixed trials a new study of `chapter` starts with, in order: (origin, parameters)."""
    return [("the chapter's chosen recipe", CHOSEN[chapter])] + [
        (f"the earlier candidate {name}", dict(CHOSEN[chapter], **change)) for name, change in EARLIER[chapter].items()]


def space_for(chapter: str, width: int | None = None) -> Callable:
    if chapter == "04":
        return space_04
    if chapter == "06":
        if width is None:
            raise ValueError("chapter 06's study needs --width: the frontier family's width it searches at")
        return space_06(width)
    raise ValueError(f"chapter {chapter!r} is not allowed: expected '04' or '06' (the CNN chapters' studies)")


def study_name(chapter: str, seed: int, width: int | None = None) -> str:
    return f"{chapter}" + (f"-width{width}" if width is not None else "") + f"-seed{seed}"


# --- storage, workers, recovery -----------------------------------------------------------------------------------
def storage(chapter: str, name: str, url: str | None = None, root: Path | None = None):
    """The study's storage: an RDB `url` when given (several machines), else a journal file under `root`."""
    if url:
        return url
    _optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = (root or STUDIES) / chapter / f"study-{name}.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def open_study(name: str, store, *, sampler_seed: int = 0, first: list[tuple[str, dict]] = ()):
    """Create the study or load it (maximising); the first time, the (origin, parameters) of `first` are enqueued
    as its first trials, in order.

    The sampler lives in this process only (the storage keeps trials, not samplers): every worker needs its own
    `sampler_seed`, or two workers draw the same parameters (`work` gives each one its own). `constant_liar`
    counts the trials other workers are running as poor ones, so TPE does not propose their neighbourhood twice."""
    optuna = _optuna()
    study = optuna.create_study(study_name=name, storage=store, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True),
                                pruner=optuna.pruners.MedianPruner(**PRUNE_AFTER))
    if not study.trials:
        for origin, params in first:
            study.enqueue_trial(params, user_attrs={"origin": origin})
    return study


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(study) -> list[int]:
    """Trials left RUNNING by a worker of this machine that no longer runs: marked failed, their parameters
    enqueued again. Returns their numbers. (A trial of another machine's worker is left alone.)"""
    optuna = _optuna()
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
        if host == socket.gethostname() and pid is not None and not _alive(pid):
            study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"origin": f"retry of trial {trial.number}"})
            lost.append(trial.number)
    return lost


def work(name: str, store, objective: Callable, trials: int, worker: int | None = None) -> None:
    """One worker: take trials from the shared study until `trials` have finished (complete or pruned) in all.

    Its sampler's seed is drawn from the study's size when it starts and `worker` (its index on this machine;
    None: this process's id), so two workers, or a worker and the one it resumes, never draw the same sequence."""
    optuna = _optuna()
    from optuna.study import MaxTrialsCallback

    started = len(open_study(name, store).trials)
    study = open_study(name, store, sampler_seed=1000 * started + (os.getpid() if worker is None else worker))

    def signed(trial):
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        return objective(trial)

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if sum(t.state in finished for t in study.get_trials(deepcopy=False)) < trials:
        study.optimize(signed, callbacks=[MaxTrialsCallback(trials, states=finished)], catch=(RuntimeError,))


# --- the objective: the chapter's recipe function on the validation split ---------------------------------------
def objective_for(chapter: str, space: Callable, seed: int, data=None) -> Callable:
    """trial -> the lowest validation accuracy of the last `LAST[chapter]` epochs of the recipe `space(trial)`,
    trained by `search.train_recipe`; each epoch's validation accuracy reported to the pruner."""
    from .search import LAST, VALIDATION, train_recipe
    from .train import watch_epochs

    def objective(trial) -> float:
        optuna = _optuna()
        recipe = space(trial)
        split = data if data is not None else _validation_data(VALIDATION)

        def report(record: dict) -> None:
            trial.report(record["val_acc"], record["epoch"])
            if record["epoch"] < recipe["epochs"] and trial.should_prune():  # a finished run is never pruned
                raise optuna.TrialPruned(f"epoch {record['epoch']}: validation {record['val_acc']:.2f}%")

        with watch_epochs(report):
            _, history = train_recipe(chapter, recipe, split, seed)
        trial.set_user_attr("history", [{k: e[k] for k in ("epoch", "val_acc", "test_acc", "seconds")}
                                        for e in history])
        return min(e["val_acc"] for e in history[-LAST[chapter]:])

    return objective


def _validation_data(size: int):
    from .data import load_mnist

    return load_mnist().split_validation(size, seed=0)


# --- what a study found -------------------------------------------------------------------------------------------
def trials_table(study, epochs: int | None = None, last: int | None = None) -> str:
    """Every finished trial: a complete one's value, a pruned one's last reported validation accuracy and the epoch
    it stopped at; its epochs, its minutes (from the study's record of its start and end), its parameters and where it
    came from; then the trials not finished: running now (their worker alive on this machine), or left by a worker
    that was stopped (a resumed study retries them). `epochs`: a trial's full run; `last`: the epochs its value reads."""
    from .metrics import markdown_table

    optuna = _optuna()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def value(t) -> str | None:
        if t.state == optuna.trial.TrialState.COMPLETE:
            return f"{t.value:.2f}"
        stopped = max(t.intermediate_values, default=None)
        if stopped is None:
            return "pruned before its first epoch"
        late = " (its last: an earlier version of the study pruned finished runs)" if stopped == epochs else ""
        return f"pruned: {t.intermediate_values[stopped]:.2f} after epoch {stopped}{late}"

    rows = [[t.number, t.state.name.lower(), value(t), max(t.intermediate_values, default=None),
             f"{_seconds(t) / 60:.1f}",
             ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()),
             t.user_attrs.get("origin", "sampled")] for t in study.trials if t.state in finished]
    measure = f"lowest val % of the last {last} epochs" if last else "lowest val % of the last epochs"
    table = markdown_table(["trial", "state", f"value ({measure})", "epochs reported", "minutes", "parameters",
                            "origin"], rows)
    others = [t for t in study.trials if t.state not in finished]
    here = socket.gethostname()
    running = [t for t in others if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("host") == here
               and _alive(t.user_attrs.get("pid", -1))]
    left = [t for t in others if t not in running]
    if running:
        table += "\n\nRunning now: " + ", ".join(f"trial {t.number}" for t in running) + "."
    if left:
        table += ("\n\nNot finished: " + ", ".join(f"trial {t.number} ({t.state.name.lower()})" for t in left)
                  + ". A trial left running is one whose worker was stopped mid-trial: when the study resumes, it is "
                    "marked failed and its parameters are tried again.")
    return table


def carried_text(study, chapter: str, seed: int = 1, root: Path | None = None) -> str:
    """Whether the study's first trials (the chapter's recipe, the earlier candidates) trained the validation curves
    their candidates' saved runs hold (`outputs/search/<chapter>/<candidate>-seed<seed>.json`), epoch for epoch."""
    import json

    names = {0: CHOSEN_NAME.get(chapter)} | {t.number: t.user_attrs["origin"].removeprefix("the earlier candidate ")
                                            for t in study.trials
                                            if t.user_attrs.get("origin", "").startswith("the earlier candidate ")}
    same, differ = [], []
    for number, name in sorted(names.items()):
        path = (root or STUDIES) / chapter / f"{name}-seed{seed}.json"
        trial = study.trials[number] if number < len(study.trials) else None
        if name is None or not path.exists() or trial is None or "history" not in trial.user_attrs:
            continue
        saved_curve = [e["val_acc"] for e in json.loads(path.read_text())["epochs"]]
        if [e["val_acc"] for e in trial.user_attrs["history"]] == saved_curve:
            same.append(f"trial {number} (`{name}`)")
        else:
            differ.append(f"trial {number} (`{name}`: {trial.value:.2f} here, {_lowest(saved_curve, chapter):.2f} "
                          f"in its saved run)")
    def listed(items: list[str]) -> str:
        joined = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return joined[0].upper() + joined[1:]

    text = []
    if same:
        many = len(same) > 1
        text.append(f"{listed(same)} trained, epoch for epoch, the validation curve{'s' if many else ''} "
                    f"{'their' if many else 'its'} saved run{'s' if many else ''} in the search table "
                    f"hold{'' if many else 's'} (seed {seed}).")
    if differ:
        text.append(f"{listed(differ)} did not: the saved run and the study's trial are not the same training.")
    return " ".join(text)


def _lowest(curve: list[float], chapter: str) -> float:
    from .search import LAST

    return min(curve[-LAST[chapter]:])


def _seconds(trial) -> float:
    """A finished trial's wall-clock seconds, from the study's own record of its start and end."""
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def compute_text(study, epochs: int) -> str:
    """The compute the study spent, from its own records (epochs reported, trials' start and end times), against
    training every trial to the end: each pruned trial's missing epochs at its own seconds per epoch."""
    optuna = _optuna()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = [t for t in study.trials if t.state in finished and t.intermediate_values]
    if not done:
        return "No trial has finished yet."
    spent = sum(len(t.intermediate_values) for t in done)
    full = epochs * len(done)
    pruned = [t for t in done if t.state == optuna.trial.TrialState.PRUNED]
    hours = sum(_seconds(t) for t in done) / 3600
    unpruned = hours + sum(_seconds(t) / len(t.intermediate_values) * (epochs - len(t.intermediate_values))
                           for t in pruned) / 3600
    from .chapter import plural

    return (f"{plural(len(done), 'trial')} finished, {len(pruned)} of them pruned: {spent} epochs trained in {hours:.1f} "
            f"core-hours (one thread a trial), against {full} epochs and about {unpruned:.1f} core-hours had every "
            f"trial run its {epochs} epochs ({spent / full:.0%} of the epochs; each pruned trial's missing epochs "
            f"counted at its own seconds per epoch).")


def plot_study(study) -> list:
    """Optuna's own plots of the study, one figure each: the value of every complete trial with the best so far, and
    the parameters' importances (fANOVA over the complete trials; it needs at least two, and says little with few)."""
    import warnings

    from optuna.visualization import matplotlib as optuna_plots

    optuna = _optuna()
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    drawn = []
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore")
        drawn.append((optuna_plots.plot_optimization_history(study),
                      f"study {study.study_name}: each complete trial's value, and the best so far (pruned "
                      f"trials are not drawn)"))
        if complete >= 2:
            drawn.append((optuna_plots.plot_param_importances(study),
                          f"study {study.study_name}: the parameters' importance (fANOVA: the share of the "
                          f"value's variance each explains), from {complete} complete trials"
                          + (": too few to rank them, a first look" if complete < 10 else "")))
    for ax, title in drawn:
        ax.set_title("")  # Optuna's own titles (centre or left): ours replaces them
        ax.set_title(title, loc="left", fontsize=10)
        ax.figure.set_size_inches(10, 4.5)
        ax.figure.tight_layout()
    drawn[0][0].set_ylabel("value: lowest validation % of the last epochs")
    return [ax.figure for ax, _ in drawn]


def confirm_table(found: dict) -> str:
    """The confirmed trials, one row each: validation value on every seed, their mean; the chosen one marked."""
    from .metrics import markdown_table

    seeds = [str(s) for s in found["seeds"]]
    rows = [[row["trial"] if row["trial"] != found["chosen"] else f"**{row['trial']} (chosen)**", row["origin"],
             *[row["values"][s] for s in seeds], row["mean"]] for row in found["rows"]]
    return markdown_table(["trial", "origin", *[f"seed {s} (val %)" for s in seeds], "mean"], rows)


def test_text(found: dict, target: float, last: int) -> str:
    """The confirmed trial on the test seeds: the lowest test accuracy of its last `last` epochs, mean, std, worst,
    how many seeds hold `target`, whether the mean clears it by two standard deviations; then the paired difference
    with the chapter's recipe (trial 0) on the same seeds."""
    from .stats import paired, summarize

    def lowest(run: dict) -> float:
        return min(run["test_acc"][-last:])

    chosen = str(found["chosen"])
    runs = found["runs"][chosen]
    summary = summarize([lowest(r) for r in runs], target)
    clears = summary.mean - 2 * summary.std >= target
    text = (f"**On the test set** (trained on all 60,000, seeds {', '.join(str(r['seed']) for r in runs)}), trial "
            f"{chosen}'s lowest accuracy of the last {last} epochs is {summary.text()}; {target}% on each of them is "
            f"{summary.holds}. Its mean {'clears' if clears else 'does not clear'} {target}% by two standard "
            f"deviations (mean − 2·std = {summary.mean - 2 * summary.std:.2f}%).")
    if chosen != "0":
        reference = {r["seed"]: lowest(r) for r in found["runs"]["0"]}
        difference = paired([reference[r["seed"]] for r in runs], [lowest(r) for r in runs])
        text += (f" Against the chapter's recipe (trial 0) on the same seeds: {difference.text()}.")
        read = [r for r in found["runs"]["0"] if r.get("from", "--test") != "--test"]
        if read:
            text += (f" Trial 0's {'runs' if len(read) > 1 else 'run'} on seed{'s' if len(read) > 1 else ''} "
                     f"{', '.join(str(r['seed']) for r in read)} {'are' if len(read) > 1 else 'is'} the chapter's own "
                     f"({'; '.join(r['from'] for r in read)}), the same recipe function on the same data, read from "
                     "their records rather than trained again.")
    else:
        text += " It is the chapter's own recipe (trial 0): the search found nothing better on validation."
    return text


def saved(chapter: str, width: int | None = None, seed: int = 1, root: Path | None = None) -> dict | None:
    """A chapter's study as its files hold it, for the chapter to show (nothing trains, nothing is enqueued): the
    study, and its confirm and test records when they exist (else None); None when no study has run."""
    import json

    name = study_name(chapter, seed, width)
    base = (root or STUDIES) / chapter / f"study-{name}"
    if not base.with_suffix(".journal").exists():
        return None
    study = _optuna().load_study(study_name=name, storage=storage(chapter, name, root=root))

    def record(kind: str) -> dict | None:
        path = base.with_name(f"{base.name}-{kind}.json")
        return json.loads(path.read_text()) if path.exists() else None

    return {"chapter": chapter, "study": study, "confirm": record("confirm"), "test": record("test"),
            "epochs": recipe_of(chapter, width, CHOSEN[chapter])["epochs"], "root": root, "width": width}


def results_markdown(found: dict | None, *, target: float, last: int) -> str:
    """What a chapter shows of its study: the compute, the trials, the confirmation on more seeds and the test
    seeds, each step said to be missing until it has run (with the command that runs it)."""
    if found is None:
        return "_No study of this chapter is saved: `python -m mnistkit.search <chapter> --trials 24 --workers 2`._"
    study = found["study"]
    command = f"python -m mnistkit.study {found['chapter']}" + (f" --width {found['width']}" if found.get("width") else "")
    parts = [compute_text(study, found["epochs"]), trials_table(study, found["epochs"], last)]
    carried = carried_text(study, found["chapter"], root=found.get("root"))
    if carried:
        parts.append(carried)
    if found["confirm"] is None:
        parts.append(f"_The best trials have not been confirmed on more seeds yet: `{command} --confirm 3 --seeds 2 3 "
                     f"--workers 2`._")
    else:
        parts += [f"**Confirmed on more seeds** ({found['confirm']['rule']}):", confirm_table(found["confirm"])]
    if found["test"] is None:
        parts.append(f"_The confirmed trial has not met the test set yet: `{command} --test 1 2 3 4 5 --workers 2`._")
    else:
        parts.append(test_text(found["test"], target, last))
    return "\n\n".join(parts)


# --- after the search: the best trials on more seeds, then the chosen one on the test set ---------------------------
def ranked(study, top: int) -> list:
    """The `top` complete trials, best value first (an equal value: the earlier trial first)."""
    optuna = _optuna()
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: (-t.value, t.number))[:top]


def recipe_of(chapter: str, width: int | None, params: dict) -> dict:
    """The recipe a trial's parameters stand for, through the study's own space."""
    return space_for(chapter, width)(_optuna().trial.FixedTrial(params))


def validation_run(chapter: str, width: int | None, params: dict, seed: int) -> dict:
    """The recipe of `params` trained on the 55,000 with `seed`, scored as a trial is (validation only)."""
    from .search import LAST, VALIDATION, train_recipe

    _, history = train_recipe(chapter, recipe_of(chapter, width, params), _validation_data(VALIDATION), seed)
    return {"seed": seed, "value": min(e["val_acc"] for e in history[-LAST[chapter]:]),
            "val_acc": [e["val_acc"] for e in history]}


# The chapter's recipe (trial 0) on the test seeds as the chapter itself trained it: (its notebook's stem, its run's
# name before "-seed<seed>", its seed sweeps, `{width}` filled with the study's width). `--test` reads these runs
# instead of training trial 0 again: the same recipe function on the same data and seeds (`test_run` of trial 0
# trains the history of `ch04.ours`, chapter 04's recipe, and of `ch06.capstone`, the frontier's, tested).
REFERENCE = {"04": ("04_augmentation", "ours", ("04-seeds",)),
             "06": ("06_capstone_small", "capstone", ("06-frontier-{width}",))}


def chapter_recipe_runs(chapter: str, width: int | None = None, runs: list[dict] | None = None) -> list[dict]:
    """The full-profile runs the chapter saved of its recipe, trial 0 (`REFERENCE`: its own and its seed sweeps',
    or `runs`), whole; only a run whose record is trial 0's recipe: network, rate, annealing, BatchNorm momentum,
    augmentation, dropout, batch size, no weight decay, every epoch, fp32 on the CPU."""
    from .metrics import chapter_runs, sweep_runs

    stem, name, sweeps = REFERENCE[chapter]
    if runs is None:
        runs = list((chapter_runs(stem, "full") or {}).values())
        for sweep in sweeps:
            runs += sweep_runs(stem, sweep.format(width=width), "full")
    recipe = recipe_of(chapter, width, CHOSEN[chapter])
    if chapter == "06" and recipe["dropout"]:
        return []  # the chapter's capstone trains without dropout
    expected = recorded(chapter, recipe)
    return [run for run in runs
            if run["name"] == f"{name}-seed{run.get('seed')}" and run.get("profile") == "full"
            and run.get("precision") == "fp32" and run.get("device") == "cpu"
            and len(run["epochs"]) == recipe["epochs"] and not (run.get("recipe") or {}).get("weight_decay")
            and all((run.get("recipe") or {}).get(k) == v for k, v in expected.items())]


def recorded(chapter: str, recipe: dict) -> dict:
    """What the chapter's run record says of a recipe of its study's space (the keys `chapter_recipe_runs` matches)."""
    if chapter == "06":  # `ch06.recipe_record` of a separable design: no dropout at these sizes, none recorded
        own = {"design": f"SeparableNet(width={recipe['width']}, early={recipe['early']})"}
    else:
        own = {"model": f"SeparableNet(width={recipe['width']})", "dropout": recipe["dropout"]}
    return dict(own, max_lr=recipe["lr"], **{k: recipe[k] for k in ("anneal_epochs", "bn_momentum", "rotation",
                                                                     "translate", "batch_size")})


def reference_runs(chapter: str, width: int | None, seeds: list[int], runs: list[dict] | None = None
                   ) -> dict[int, dict]:
    """Trial 0 on `seeds` as the chapter trained it (`chapter_recipe_runs`), in `test_run`'s form with where each
    came from. A seed with no such run is absent: `--test` trains it."""
    if chapter not in REFERENCE:
        return {}
    stem, name, _ = REFERENCE[chapter]
    found = {}
    for run in chapter_recipe_runs(chapter, width, runs):
        if run["seed"] in seeds:
            where = f"outputs/sweeps/{run['sweep']}" if run.get("sweep") else f"outputs/{stem}"
            found.setdefault(run["seed"], {"seed": run["seed"], "test_acc": [e["test_acc"] for e in run["epochs"]],
                                           "seconds": sum(e["seconds"] for e in run["epochs"]),
                                           "from": f"chapter {chapter}'s run {run['name']} ({where})"})
    return found


def test_run(chapter: str, width: int | None, params: dict, seed: int, data=None, **change) -> dict:
    """The recipe of `params` trained on all 60,000 training images (or `data`) with `seed` and scored on the test
    set, as a chapter trains it: its test accuracy after every epoch and its training seconds. `change`: recipe
    values replaced (a test's shorter run)."""
    from .data import load_mnist
    from .search import train_recipe

    recipe = dict(recipe_of(chapter, width, params), **change)
    _, history = train_recipe(chapter, recipe, load_mnist() if data is None else data, seed)
    return {"seed": seed, "test_acc": [e["test_acc"] for e in history], "seconds": sum(e["seconds"] for e in history)}


def confirm(study, chapter: str, width: int | None, top: int, seeds: list[int], workers: int,
            study_seed: int = 1) -> dict:
    """The `top` trials and the chapter's chosen recipe (trial 0), each trained again on `seeds` (validation).
    The chosen trial: the highest mean value over the study's seed and these (an equal mean: the earlier trial)."""
    from .parallel import side_by_side

    trials = ranked(study, top)
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no complete trial to confirm")
    if all(t.number != 0 for t in trials) and study.trials[0].value is not None:
        trials.append(study.trials[0])
    calls = [dict(chapter=chapter, width=width, params=t.params, seed=seed) for t in trials for seed in seeds]
    runs = iter(side_by_side(validation_run, calls, workers=workers))
    rows = [{"trial": t.number, "params": t.params, "origin": t.user_attrs.get("origin", "sampled"),
             "values": {str(study_seed): t.value} | {str(seed): next(runs)["value"]
                                                                         for seed in seeds}} for t in trials]
    for row in rows:
        row["mean"] = sum(row["values"].values()) / len(row["values"])
    chosen = min(rows, key=lambda row: (-row["mean"], row["trial"]))
    return {"study": study.study_name, "seeds": sorted({int(s) for s in rows[0]["values"]}), "rows": rows,
            "chosen": chosen["trial"], "rule": "the highest mean validation value over the seeds; trial 0 is the "
                                               "chapter's chosen recipe, confirmed as the reference"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", choices=CHAPTERS)
    parser.add_argument("--trials", type=int, default=24, help="finished trials (complete or pruned) in all")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine, one thread each")
    parser.add_argument("--seed", type=int, default=1, help="the training seed of every trial")
    parser.add_argument("--width", type=int, help="chapter 06: the SeparableNet width searched at")
    parser.add_argument("--storage", help="an RDB URL shared by several machines (default: a journal file)")
    parser.add_argument("--report", action="store_true", help="print the study's trials; train nothing")
    parser.add_argument("--confirm", type=int, metavar="N",
                        help="train the N best trials and the chapter's recipe again on --seeds (validation)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3], help="the seeds --confirm trains")
    parser.add_argument("--test", type=int, nargs="+", metavar="SEED",
                        help="train the confirmed trial and the chapter's recipe on all 60,000, scored on the test set")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.workers < 1:
        parser.error(f"--trials {args.trials} and --workers {args.workers} are not allowed: expected at least 1 each")
    try:
        space_for(args.chapter, args.width)  # a bad chapter or a missing width stops here, with what is allowed
    except ValueError as error:
        parser.error(str(error))
    name = study_name(args.chapter, args.seed, args.width)
    store = storage(args.chapter, name, args.storage)
    study = open_study(name, store, first=enqueued(args.chapter))
    base = STUDIES / args.chapter / f"study-{name}"
    if args.report:
        print(trials_table(study, 15))
        print(compute_text(study, 15))
        return 0
    if args.confirm is not None:
        found = confirm(study, args.chapter, args.width, args.confirm, args.seeds, args.workers, args.seed)
        print("saved", write_json(base.with_name(base.name + "-confirm.json"), found))
        return 0
    if args.test is not None:
        return _test(args, base, study)
    lost = recover(study)
    if lost:
        print(f"trials {lost} were left running by a worker that stopped: failed, their parameters enqueued again")
    jobs = [multiprocessing.get_context("spawn").Process(target=_worker, args=(args.chapter, args.width, args.seed,
                                                                                args.trials, args.storage, index))
            for index in range(args.workers)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    study = open_study(name, storage(args.chapter, name, args.storage))
    print(trials_table(study, 15))
    print(compute_text(study, 15))
    return 0 if all(job.exitcode == 0 for job in jobs) else 1


def _test(args, base: Path, study) -> int:
    """--test: the confirmed trial and the chapter's recipe (trial 0) on the test seeds, paired by seed."""
    import json

    from .parallel import side_by_side

    path = base.with_name(base.name + "-confirm.json")
    if not path.exists():
        raise SystemExit(f"{path} is missing: run --confirm first; the test set only sees the confirmed trial")
    chosen = json.loads(path.read_text())["chosen"]
    trials = sorted({chosen, 0})
    reused = reference_runs(args.chapter, args.width, args.test)  # trial 0's seeds the chapter already trained
    calls = [dict(chapter=args.chapter, width=args.width, params=study.trials[n].params, seed=seed)
             for n in trials for seed in args.test if not (n == 0 and seed in reused)]
    runs = iter(side_by_side(test_run, calls, workers=args.workers))
    found = {"study": study.study_name, "chosen": chosen, "seeds": args.test,
             "runs": {str(n): [reused[seed] if n == 0 and seed in reused else dict(next(runs), **{"from": "--test"})
                               for seed in args.test] for n in trials}}
    print("saved", write_json(base.with_name(base.name + "-test.json"), found))
    return 0


def _worker(chapter: str, width: int | None, seed: int, trials: int, url: str | None, index: int) -> None:
    import torch

    torch.set_num_threads(1)
    name = study_name(chapter, seed, width)
    work(name, storage(chapter, name, url), objective_for(chapter, space_for(chapter, width), seed), trials, index)


if __name__ == "__main__":
    raise SystemExit(main())
