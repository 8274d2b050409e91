"""Recipe search on the validation split with Optuna: pruned, persistent, shared by several workers.

    python -m mnistkit.study 04 --trials 24 --workers 2            # create or resume chapter 04's study
    python -m mnistkit.study 06 --trials 24 --workers 2 --width 16  # the frontier's family at one width
    python -m mnistkit.study 04 --report                            # its trials as a table (no training)

Each trial is one call of the chapter's recipe function (`mnistkit.search.train_recipe`, the function the named
candidates of `mnistkit.search` train through) on the 55,000/5,000 split, scored by the chapter's own claim on
validation: the lowest validation accuracy of its last `search.LAST[chapter]` epochs. Every epoch's validation
accuracy is reported to a median pruner, which stops a trial whose curve sits below the median of the trials
before it at the same epoch (after 5 complete trials and 5 epochs). The recipe the chapter chose is enqueued as
the first trial, so the study starts from it and its table shows it.

The study lives in a journal file, `outputs/search/<chapter>/study-<name>.journal` (Optuna's `JournalStorage`): a
study resumes where it stopped, and several worker processes (`--workers`) share it, each taking the next trial,
none repeated. Machines would share one study through an RDB URL Optuna supports (`--storage
postgresql://user@host/db`: every worker on every machine passes the same URL). A worker killed mid-trial leaves
its trial RUNNING; the next start marks it failed and enqueues its parameters again (`recover`).

Seeds: a trial's value is its first seed (`--seed`, 1); the study never looks at the test set (its runs record the
test accuracy but the objective reads validation only). The best trials are then run on more seeds on the test
set by the chapters, as every other recipe is.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Callable

from .paths import REPO_ROOT

STUDIES = REPO_ROOT / "outputs" / "search"
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


CHOSEN = {  # the chapters' chosen recipes, in each space's parameters: enqueued as the first trial
    "04": {"lr": 0.05, "anneal_epochs": 11, "bn_momentum": 0.01, "rotation": 7.0, "translate": 0.05, "dropout": 0.1,
           "batch_size": 128, "weight_decay": 0.0},
    "06": {"lr": 0.05, "anneal_epochs": 11, "bn_momentum": 0.01, "rotation": 7.0, "translate": 0.05, "dropout": 0.0,
           "batch_size": 128, "weight_decay": 0.0},
}


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


def open_study(name: str, store, *, sampler_seed: int = 0, first: dict | None = None):
    """Create the study or load it (maximising); the first time, `first` is enqueued as its first trial."""
    optuna = _optuna()
    study = optuna.create_study(study_name=name, storage=store, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                                pruner=optuna.pruners.MedianPruner(**PRUNE_AFTER))
    if first is not None and not study.trials:
        study.enqueue_trial(first, user_attrs={"origin": "the chapter's chosen recipe"})
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


def work(name: str, store, objective: Callable, trials: int) -> None:
    """One worker: take trials from the shared study until `trials` have finished (complete or pruned) in all."""
    optuna = _optuna()
    from optuna.study import MaxTrialsCallback

    study = open_study(name, store)

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
            if trial.should_prune():
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
def trials_table(study) -> str:
    """Every trial: its value (complete) or the epoch it was pruned at, its parameters, its training seconds."""
    from .metrics import markdown_table

    rows = []
    for t in study.trials:
        history = t.user_attrs.get("history") or []
        seconds = sum(e["seconds"] for e in history)
        rows.append([t.number, t.state.name.lower(), None if t.value is None else f"{t.value:.2f}",
                     max(t.intermediate_values, default=None), f"{seconds / 60:.1f}" if history else "",
                     ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()),
                     t.user_attrs.get("origin", "")])
    return markdown_table(["trial", "state", "value (lowest val % of the last epochs)", "epochs reported",
                           "training min", "parameters", "origin"], rows)


def compute_text(study, epochs: int) -> str:
    """The compute the study spent (epochs trained, from its own records) against training every trial to the
    end."""
    optuna = _optuna()
    done = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    if not done:
        return "No trial has finished yet."
    spent = sum(len(t.intermediate_values) for t in done)
    full = epochs * len(done)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in done)
    return (f"{len(done)} trials finished, {pruned} of them pruned: {spent} epochs trained, against {full} had "
            f"every trial run its {epochs} epochs ({spent / full:.0%}).")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", choices=["04", "06"])
    parser.add_argument("--trials", type=int, default=24, help="finished trials (complete or pruned) in all")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine, one thread each")
    parser.add_argument("--seed", type=int, default=1, help="the training seed of every trial")
    parser.add_argument("--width", type=int, help="chapter 06: the SeparableNet width searched at")
    parser.add_argument("--storage", help="an RDB URL shared by several machines (default: a journal file)")
    parser.add_argument("--report", action="store_true", help="print the study's trials; train nothing")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.workers < 1:
        parser.error(f"--trials {args.trials} and --workers {args.workers} are not allowed: expected at least 1 each")
    try:
        space_for(args.chapter, args.width)  # a bad chapter or a missing width stops here, with what is allowed
    except ValueError as error:
        parser.error(str(error))
    name = study_name(args.chapter, args.seed, args.width)
    store = storage(args.chapter, name, args.storage)
    study = open_study(name, store, first=CHOSEN[args.chapter])
    if args.report:
        print(trials_table(study))
        print(compute_text(study, 15))
        return 0
    lost = recover(study)
    if lost:
        print(f"trials {lost} were left running by a worker that stopped: failed, their parameters enqueued again")
    jobs = [multiprocessing.get_context("spawn").Process(target=_worker, args=(args.chapter, args.width, args.seed,
                                                                                args.trials, args.storage))
            for _ in range(args.workers)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    study = open_study(name, storage(args.chapter, name, args.storage))
    print(trials_table(study))
    print(compute_text(study, 15))
    return 0 if all(job.exitcode == 0 for job in jobs) else 1


def _worker(chapter: str, width: int | None, seed: int, trials: int, url: str | None) -> None:
    import torch

    torch.set_num_threads(1)
    name = study_name(chapter, seed, width)
    work(name, storage(chapter, name, url), objective_for(chapter, space_for(chapter, width), seed), trials)


if __name__ == "__main__":
    raise SystemExit(main())
