"""The Optuna search (`mnistkit.study`): shared by several workers with no trial repeated, resumed after a worker is
killed mid-trial, and an enqueued recipe training exactly what the chapter's recipe function trains."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from mnistkit import study as st  # noqa: E402  (after the importorskip above)
from mnistkit.paths import REPO_ROOT  # noqa: E402

WORKER = """
import os, sys, time
from pathlib import Path
from mnistkit import study as st
name, root, trials, pause = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    trial.set_user_attr("worker", os.getpid())
    time.sleep(pause)
    return -x * x
st.work(name, st.storage("toy", name, root=root), objective, trials)
"""


def start_worker(tmp_path: Path, name: str, trials: int, pause: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "shared"))
    return subprocess.Popen([sys.executable, "-c", WORKER, name, str(tmp_path), str(trials), str(pause)], env=env)


def test_two_workers_share_one_study_and_never_repeat_a_trial(tmp_path):
    st.open_study("shared", st.storage("toy", "shared", root=tmp_path))
    workers = [start_worker(tmp_path, "shared", 12, 0.3) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    trials = st.open_study("shared", st.storage("toy", "shared", root=tmp_path)).trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len({t.number for t in trials}) == len(trials)  # every trial number once
    assert 12 <= len(done) <= 13  # the count is checked as each worker finishes: at most one trial past it
    assert {t.user_attrs["worker"] for t in done} == {w.pid for w in workers}  # both workers took trials
    assert len({t.params["x"] for t in done}) == len(done)  # and drew their own parameters: none proposed twice


def test_a_worker_killed_mid_trial_is_recovered_and_the_study_resumes(tmp_path):
    store = st.storage("toy", "resume", root=tmp_path)
    st.open_study("resume", store)
    worker = start_worker(tmp_path, "resume", 2, 120.0)  # its first trial sleeps: we kill it there
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = st.open_study("resume", store).get_trials(states=(optuna.trial.TrialState.RUNNING,))
        if running and "pid" in running[0].user_attrs:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the worker never started a trial")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    study = st.open_study("resume", store)
    assert st.recover(study) == [running[0].number]
    assert st.recover(study) == []  # already recovered: nothing twice
    resumed = start_worker(tmp_path, "resume", 2, 0.0)
    assert resumed.wait(timeout=300) == 0
    trials = st.open_study("resume", store).trials
    lost = trials[running[0].number]
    assert lost.state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials if t.user_attrs.get("origin") == f"retry of trial {lost.number}"]
    assert len(retried) == 1 and retried[0].params == lost.params
    assert retried[0].state == optuna.trial.TrialState.COMPLETE


def test_the_chosen_recipe_enqueued_trains_what_the_recipe_function_trains(tmp_path):
    from mnistkit.data import load_mnist
    from mnistkit.search import CANDIDATES, MODELS, train_recipe

    # The chapter's chosen recipe, through the study's space, is the search's candidate: same network, same knobs.
    chosen = st.space_04(optuna.trial.FixedTrial(st.CHOSEN["04"]))
    candidate = CANDIDATES["04"]["separable36-ours"]
    assert {k: v for k, v in chosen.items() if k not in ("model", "width", "early", "weight_decay")} == \
           {k: v for k, v in candidate.items() if k != "model"}
    assert str(MODELS["separable"](chosen)) == str(MODELS[candidate["model"]](candidate))
    # A trial of the study trains exactly the history of the recipe function called directly (fewer epochs here).
    data = load_mnist().subset(0.03, 0.05, seed=0).split_validation(300, seed=0)

    def short(trial):
        return dict(st.space_04(trial), epochs=2, anneal_epochs=2)

    store = st.storage("04", "enqueued", root=tmp_path)
    study = st.open_study("enqueued", store, first=st.enqueued("04"))
    study.optimize(st.objective_for("04", short, seed=1, data=data), n_trials=1)
    trial = study.trials[0]
    assert trial.params == st.CHOSEN["04"] and trial.user_attrs["origin"] == "the chapter's chosen recipe"
    _, direct = train_recipe("04", short(optuna.trial.FixedTrial(st.CHOSEN["04"])), data, seed=1)
    assert [e["val_acc"] for e in trial.user_attrs["history"]] == [e["val_acc"] for e in direct]
    assert trial.value == min(e["val_acc"] for e in direct[-2:])  # LAST["04"] = 5 reads the 2 epochs there are


def fabricated_study(values: dict[int, float]):
    """A study whose trials are given, not trained: trial number -> value, parameter x = the number."""
    study = optuna.create_study(direction="maximize")
    for number, value in values.items():
        study.add_trial(optuna.trial.create_trial(params={"x": float(number)}, value=value,
                                                  distributions={"x": optuna.distributions.FloatDistribution(0, 99)}))
    return study


def test_confirm_trains_the_best_trials_and_the_chapters_recipe_again_and_chooses_the_best_mean(monkeypatch):
    # Seed 1 (the study's) ranks trial 2 first; seeds 2 and 3 say trial 1 is steadier: the mean over 3 seeds decides.
    later = {(1.0, 2): 99.40, (1.0, 3): 99.38, (2.0, 2): 99.20, (2.0, 3): 99.22, (0.0, 2): 99.30, (0.0, 3): 99.30,
             (3.0, 2): 99.90, (3.0, 3): 99.90}
    trained = []

    def validation_run(chapter, width, params, seed):
        trained.append((params["x"], seed))
        return {"seed": seed, "value": later[(params["x"], seed)]}

    monkeypatch.setattr(st, "validation_run", validation_run)
    found = st.confirm(fabricated_study({0: 99.30, 1: 99.36, 2: 99.44, 3: 99.10}), "04", None, top=2, seeds=[2, 3],
                       workers=1)
    assert sorted(trained) == [(0.0, 2), (0.0, 3), (1.0, 2), (1.0, 3), (2.0, 2), (2.0, 3)]  # not trial 3: not top 2
    assert found["seeds"] == [1, 2, 3] and [row["trial"] for row in found["rows"]] == [2, 1, 0]
    assert found["chosen"] == 1  # mean 99.38 against 99.2867 (trial 2) and 99.30 (trial 0)
    assert found["rows"][1]["mean"] == pytest.approx((99.36 + 99.40 + 99.38) / 3)


def test_confirm_refuses_a_study_with_no_complete_trial():
    with pytest.raises(ValueError, match="no complete trial"):
        st.confirm(optuna.create_study(direction="maximize"), "04", None, top=3, seeds=[2], workers=1)


def fabricated_trial(value, reported: list[float], seconds: float, pruned: bool = False, x: float = 0.0):
    """A finished trial, not trained: its value (None when pruned), the values it reported, its seconds."""
    from datetime import datetime, timedelta

    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE,
        value=None if pruned else value, params={"x": x},
        distributions={"x": optuna.distributions.FloatDistribution(-1, 1)},
        intermediate_values=dict(enumerate(reported, start=1)))
    trial.datetime_start = datetime(2026, 12, 2, 12, 0, 0)
    trial.datetime_complete = trial.datetime_start + timedelta(seconds=seconds)
    return trial


def test_compute_text_counts_epochs_and_hours_from_the_study_and_prices_the_pruned_ones_at_their_own_pace():
    study = optuna.create_study(direction="maximize")
    study.add_trial(fabricated_trial(99.3, [98.0, 99.0, 99.3], seconds=3600))  # 3 epochs, 1 h
    study.add_trial(fabricated_trial(None, [97.0], seconds=1800, pruned=True, x=0.5))  # 1 of 3 epochs in 0.5 h
    assert st.compute_text(study, 3) == (
        "2 trials finished, 1 of them pruned: 4 epochs trained in 1.5 core-hours (one thread a trial), against 6 "
        "epochs and about 2.5 core-hours had every trial run its 3 epochs (67% of the epochs; each pruned trial's "
        "missing epochs counted at its own seconds per epoch).")
    assert st.compute_text(optuna.create_study(), 3) == "No trial has finished yet."


def test_plot_study_draws_optunas_history_and_importances():
    study = optuna.create_study(direction="maximize")
    for i, x in enumerate([-0.5, 0.0, 0.5, 0.9]):
        study.add_trial(fabricated_trial(99.0 + x, [99.0 + x], seconds=60, x=x))
    history, importances = st.plot_study(study)
    assert "each complete trial's value" in history.axes[0].get_title(loc="left")
    assert "each explains), from 4 complete trials: too few to rank them" in importances.axes[0].get_title(loc="left")
    assert "pruned trials are not drawn" in history.axes[0].get_title(loc="left")
    assert [t.get_text() for t in importances.axes[0].get_yticklabels()] == ["x"]


def test_test_text_states_the_seeds_the_target_the_two_std_rule_and_the_paired_difference():
    def runs(finals):
        return [{"seed": s, "test_acc": [99.0, f, f + 0.02], "seconds": 60.0} for s, f in zip([1, 2, 3], finals)]

    found = {"chosen": 4, "seeds": [1, 2, 3], "runs": {"0": runs([99.30, 99.36, 99.40]), "4": runs([99.42, 99.44, 99.46])}}
    text = st.test_text(found, 99.4, last=2)
    assert "trial 4's lowest accuracy of the last 2 epochs is 99.44 ± 0.02% over 3 seeds (worst 99.42%)" in text
    assert "met on every seed (3 of 3)" in text and "clears 99.4% by two standard deviations (mean − 2·std = 99.40%)" in text
    assert "Against the chapter's recipe (trial 0) on the same seeds: +0.09 pp" in text
    found["chosen"] = 0
    text = st.test_text(found, 99.4, last=2)
    assert "not met: 1 of 3 seeds hold" in text and "does not clear" in text and "the search found nothing better" in text


def test_saved_reads_a_study_from_its_journal_and_results_markdown_says_what_has_not_run_yet(tmp_path):
    assert st.saved("04", root=tmp_path) is None
    assert "No study of this chapter is saved" in st.results_markdown(None, target=99.4, last=5)
    study = st.open_study("04-seed1", st.storage("04", "04-seed1", root=tmp_path))
    study.add_trial(fabricated_trial(99.3, [98.0, 99.3], seconds=60))
    found = st.saved("04", root=tmp_path)
    assert [t.value for t in found["study"].trials] == [99.3] and found["confirm"] is None and found["test"] is None
    assert found["epochs"] == 15  # the space's recipe trains 15 epochs
    text = st.results_markdown(dict(found, epochs=2), target=99.4, last=2)
    assert text.startswith("1 trial finished, 0 of them pruned: 2 epochs trained")
    assert "| 0 | complete | 99.30 |" in text
    assert "not been confirmed on more seeds yet" in text and "has not met the test set yet" in text
    (tmp_path / "04" / "study-04-seed1-confirm.json").write_text(json.dumps(
        {"seeds": [1, 2], "chosen": 0, "rule": "the highest mean", "rows": [
            {"trial": 0, "origin": "the chapter's chosen recipe", "values": {"1": 99.3, "2": 99.2}, "mean": 99.25}]}))
    text = st.results_markdown(st.saved("04", root=tmp_path), target=99.4, last=2)
    assert "**Confirmed on more seeds** (the highest mean):" in text and "| **0 (chosen)** |" in text
    assert "`python -m mnistkit.study 04 --test 1 2 3 4 5 --workers 2`" in text
    frontier = st.open_study("06-width16-seed1", st.storage("06", "06-width16-seed1", root=tmp_path))
    frontier.add_trial(fabricated_trial(99.1, [98.0, 99.1], seconds=60))
    text = st.results_markdown(st.saved("06", width=16, root=tmp_path), target=99.4, last=2)
    assert "`python -m mnistkit.study 06 --width 16 --confirm 3 --seeds 2 3 --workers 2`" in text  # its width named


def test_trials_table_shows_finished_trials_and_names_the_unfinished_ones():
    study = optuna.create_study(direction="maximize")
    study.add_trial(fabricated_trial(99.3, [98.0, 99.3], seconds=120, x=0.25))
    study.add_trial(fabricated_trial(None, [97.0], seconds=60, pruned=True))
    study.add_trial(fabricated_trial(None, [97.0, 98.0], seconds=60, pruned=True))
    study.enqueue_trial({"x": 0.5})
    table = st.trials_table(study, epochs=2, last=5)
    assert "| trial | state | value (lowest val % of the last 5 epochs) |" in table
    assert "| 0 | complete | 99.30 | 2 | 2.0 | x=0.25 | sampled |" in table
    assert "| 1 | pruned | pruned: 97.00 after epoch 1 | 1 | 1.0 | x=0 | sampled |" in table
    assert "| 2 | pruned | pruned: 98.00 after epoch 2 (its last: an earlier version of the study pruned" in table
    assert table.endswith("Not finished: trial 3 (waiting). A trial left running is one whose worker was stopped "
                          "mid-trial: when the study resumes, it is marked failed and its parameters are tried again.")
    running = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, user_attrs={
        "host": __import__("socket").gethostname(), "pid": os.getpid()})
    study.add_trial(running)
    assert "Running now: trial 4." in st.trials_table(study)  # its worker (this process) is alive


def test_carried_text_says_which_first_trials_retrained_their_saved_runs_epoch_for_epoch(tmp_path):
    study = optuna.create_study(direction="maximize")
    for origin, curve in (("the chapter's chosen recipe", [99.0, 99.3]), ("the earlier candidate a", [99.1, 99.2]),
                          ("the earlier candidate b", [99.0, 99.1])):
        trial = fabricated_trial(min(curve), curve, seconds=60)
        trial.set_user_attr("origin", origin)
        trial.set_user_attr("history", [{"val_acc": v} for v in curve])
        study.add_trial(trial)
    (tmp_path / "04").mkdir()
    for name, curve in (("separable36-ours", [99.0, 99.4]), ("a", [99.1, 99.2]), ("b", [99.0, 99.1])):
        (tmp_path / "04" / f"{name}-seed1.json").write_text(json.dumps({"epochs": [{"val_acc": v} for v in curve]}))
    assert st.carried_text(study, "04", root=tmp_path) == (
        "Trial 1 (`a`) and trial 2 (`b`) trained, epoch for epoch, the validation curves their saved runs in the "
        "search table hold (seed 1). Trial 0 (`separable36-ours`: 99.00 here, 99.00 in its saved run) did not: the "
        "saved run and the study's trial are not the same training.")


def test_a_trial_that_ran_all_its_epochs_is_never_pruned(tmp_path):
    from mnistkit.data import load_mnist

    data = load_mnist().subset(0.02, 0.02, seed=0).split_validation(200, seed=0)

    def short(trial):
        return dict(st.space_04(trial), epochs=2, anneal_epochs=2)

    class AlwaysPrune(optuna.pruners.BasePruner):  # it would stop every trial at every epoch it may
        def prune(self, study, trial):
            return True

    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.enqueue_trial(st.CHOSEN["04"])
    study.optimize(st.objective_for("04", short, seed=1, data=data), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED and list(trial.intermediate_values) == [1]  # epoch 1 of 2
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.enqueue_trial(st.CHOSEN["04"])
    study.optimize(st.objective_for("04", lambda t: dict(short(t), epochs=1, anneal_epochs=1), seed=1, data=data),
                   n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE  # its one epoch was its last: complete


def reference_record(seed: int, **change) -> dict:
    """A chapter-04 run of ours as the chapter records it (full profile), trial 0's recipe unless `change`d."""
    recipe = {"model": "SeparableNet(width=36)", "schedule": "OneCycleLR", "batch_size": 128, "momentum": 0.9,
              "dropout": 0.1, "max_lr": 0.05, "anneal_epochs": 11, "bn_momentum": 0.01, "rotation": 7.0, "translate": 0.05}
    epochs = [{"test_acc": 99.0 + seed / 100, "seconds": 60.0}] * 15
    return dict({"name": f"ours-seed{seed}", "seed": seed, "profile": "full", "precision": "fp32", "device": "cpu",
                 "epochs": epochs, "recipe": dict(recipe, **change.pop("recipe", {}))}, **change)


def test_reference_runs_reads_trial_0_from_the_chapters_own_runs_only_when_they_are_its_recipe():
    runs = [reference_record(1), dict(reference_record(2), sweep="04-seeds"),
            reference_record(3, recipe={"max_lr": 0.1}), reference_record(4, profile="quick"),
            reference_record(5, epochs=[{"test_acc": 99.0, "seconds": 1.0}] * 14), reference_record(6, precision="bf16")]
    found = st.reference_runs("04", None, [1, 2, 3, 4, 5, 6, 7], runs=runs)
    assert sorted(found) == [1, 2]  # 3: another rate; 4: quick; 5: 14 epochs; 6: bf16; 7: none
    assert found[2] == {"seed": 2, "test_acc": [99.02] * 15, "seconds": 900.0,
                        "from": "chapter 04's run ours-seed2 (outputs/sweeps/04-seeds)"}
    assert found[1]["from"] == "chapter 04's run ours-seed1 (outputs/04_augmentation)"
    assert st.reference_runs("06", 16, [1], runs=runs) == {}  # chapter 04's runs are not the frontier's family


def frontier_record(seed: int, width: int = 16, **change) -> dict:
    """A chapter-06 run of its capstone as the frontier's sweeps record it, trial 0's recipe at `width`."""
    recipe = {"design": f"SeparableNet(width={width}, early=12)", "max_lr": 0.05, "anneal_epochs": 11,
              "bn_momentum": 0.01, "optimizer": "SGD momentum 0.9 + OneCycleLR (chapter 04's)", "batch_size": 128,
              "epochs": 15, "rotation": 7.0, "translate": 0.05}
    return dict({"name": f"capstone-seed{seed}", "seed": seed, "profile": "full", "precision": "fp32", "device": "cpu",
                 "epochs": [{"test_acc": 99.2, "seconds": 20.0}] * 15, "recipe": dict(recipe, **change.pop("recipe", {})),
                 "sweep": f"06-frontier-{width}"}, **change)


def test_reference_runs_reads_the_frontiers_family_from_the_sweep_of_its_width():
    runs = [frontier_record(1), frontier_record(2, width=23), frontier_record(3, recipe={"bn_momentum": 0.1}),
            frontier_record(4, epochs=[{"test_acc": 99.2, "seconds": 20.0}] * 30)]
    found = st.reference_runs("06", 16, [1, 2, 3, 4], runs=runs)
    assert sorted(found) == [1]  # 2: another width; 3: another momentum; 4: 30 epochs
    assert found[1]["from"] == "chapter 06's run capstone-seed1 (outputs/sweeps/06-frontier-16)"
    assert sorted(st.reference_runs("06", 23, [1, 2], runs=runs)) == [2]
    assert st.recorded("06", st.recipe_of("06", 16, st.CHOSEN["06"])).items() <= frontier_record(1)["recipe"].items()


def test_the_test_step_trains_the_chosen_trial_and_only_the_seeds_of_trial_0_the_chapter_lacks(monkeypatch, tmp_path):
    import argparse

    trained = []

    def test_run(chapter, width, params, seed):
        trained.append((params["x"], seed))
        return {"seed": seed, "test_acc": [99.3, 99.4], "seconds": 10.0}

    monkeypatch.setattr(st, "test_run", test_run)
    monkeypatch.setattr(st, "reference_runs", lambda chapter, width, seeds: {
        1: {"seed": 1, "test_acc": [99.1, 99.2], "seconds": 5.0, "from": "chapter 04's run ours-seed1 (outputs/x)"}})
    base = tmp_path / "study-04-seed1"
    base.with_name(base.name + "-confirm.json").write_text(json.dumps({"chosen": 2}))
    args = argparse.Namespace(chapter="04", width=None, test=[1, 2], workers=1)
    assert st._test(args, base, fabricated_study({0: 99.3, 1: 99.2, 2: 99.4})) == 0
    assert sorted(trained) == [(0.0, 2), (2.0, 1), (2.0, 2)]  # trial 0 on seed 1 is the chapter's own run
    found = json.loads(base.with_name(base.name + "-test.json").read_text())
    assert [r["from"] for r in found["runs"]["0"]] == ["chapter 04's run ours-seed1 (outputs/x)", "--test"]
    text = st.test_text(found, 99.0, last=2)
    assert "Trial 0's run on seed 1 is the chapter's own (chapter 04's run ours-seed1 (outputs/x))" in text


def test_trial_0_on_the_test_set_trains_what_chapter_04_trains_its_recipe_of_ours():
    # Why `--test` may read trial 0's runs from chapter 04's records: the same history, epoch for epoch (2 epochs here).
    from mnistkit import ch04
    from mnistkit.data import load_mnist

    data = load_mnist().subset(0.02, 0.05, seed=0)
    run = st.test_run("04", None, st.CHOSEN["04"], 1, data=data, epochs=2, anneal_epochs=2)
    _, chapter = ch04.ours(data, seed=1, epochs=2, batch_size=128, momentum=0.9, dropout=0.1, width=36, max_lr=0.05,
                           anneal_epochs=2, bn_momentum=0.01, rotation=7.0, translate=0.05, progress=False)
    assert run["test_acc"] == [e["test_acc"] for e in chapter]
    assert reference_record(1)["recipe"]["max_lr"] == st.CHOSEN["04"]["lr"]  # the fabricated record is trial 0's


def test_trial_0_of_the_frontiers_family_trains_what_chapter_06_trains_its_capstone():
    # Why `--test` may read the frontier's trial 0 from chapter 06's sweeps: the same history (2 epochs here).
    from mnistkit import ch06
    from mnistkit.data import load_mnist

    data = load_mnist().subset(0.02, 0.05, seed=0)
    run = st.test_run("06", 16, st.CHOSEN["06"], 1, data=data, epochs=2, anneal_epochs=2)
    _, chapter = ch06.capstone(data, seed=1, width=16, epochs=2, batch_size=128, momentum=0.9, max_lr=0.05,
                               anneal_epochs=2, bn_momentum=0.01, rotation=7.0, translate=0.05, progress=False)
    assert run["test_acc"] == [e["test_acc"] for e in chapter]


def test_the_readme_states_each_study_from_its_journal_confirm_and_test_records(tmp_path):
    from mnistkit.report import study_texts

    assert study_texts(tmp_path) == []  # no study ran: nothing said
    search = tmp_path / "search"
    study = st.open_study("04-seed1", st.storage("04", "04-seed1", root=search))
    study.add_trial(fabricated_trial(99.3, [98.0, 99.3], seconds=60))
    [text] = study_texts(tmp_path)
    assert text.startswith("**Chapter 04's Optuna study** (`outputs/search/04/study-04-seed1.journal`, shown in "
                           "chapter 04): 1 trial finished, 0 of them pruned")
    assert text.endswith("Its best trials have not been confirmed on more seeds yet.")
    (search / "04" / "study-04-seed1-confirm.json").write_text(json.dumps(
        {"seeds": [1, 2, 3], "chosen": 3, "rule": "the highest mean", "rows": [
            {"trial": 3, "origin": "sampled", "values": {"1": 99.4, "2": 99.3, "3": 99.35}, "mean": 99.35},
            {"trial": 0, "origin": "the chapter's chosen recipe", "values": {"1": 99.3, "2": 99.2, "3": 99.2},
             "mean": 99.2333}]}))
    [text] = study_texts(tmp_path)
    assert ("Confirmed on seeds 1, 2, 3 (validation), 2 trials: trial 3 (sampled) has the highest mean, 99.35%; the "
            "chapter's recipe (trial 0) 99.23%.") in text
    assert text.endswith("It has not met the test set yet.")
    runs = [{"seed": s, "test_acc": [99.3, 99.42 + s / 100], "seconds": 9.0} for s in (1, 2)]
    (search / "04" / "study-04-seed1-test.json").write_text(json.dumps(
        {"chosen": 3, "seeds": [1, 2], "runs": {"0": runs, "3": runs}}))
    [text] = study_texts(tmp_path)
    assert "**On the test set** (trained on all 60,000, seeds 1, 2), trial 3's lowest accuracy of the last 5 epochs" in text
