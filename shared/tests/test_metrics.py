"""metrics.json schema, statistics, atomic writes, and the generated RESULTS report."""
import json

import pytest

from mnistkit.metrics import history_stats, load_metrics, results_table, run_record, save_metrics
from mnistkit.paths import atomic_path
from mnistkit.report import build_report

ACCS = [98.0, 99.1, 99.41, 99.38, 99.45, 99.5, 99.42]
HISTORY = [{"epoch": i + 1, "train_loss": 0.1, "train_acc": 97.0 + i * 0.1, "test_loss": 0.02, "test_acc": a,
            "lr": 0.01, "seconds": 2.0} for i, a in enumerate(ACCS)]


def test_history_stats():
    s = history_stats(HISTORY)
    assert s["peak"] == 99.5 and s["peak_epoch"] == 6
    assert s["last5_min"] == 99.38 and not s["last5_all_at_target"]
    assert s["first_at_target"] == 3
    assert s["train_test_gap"] == pytest.approx(97.6 - 99.42)
    assert history_stats(HISTORY, last=3)["last3_mean"] == pytest.approx((99.45 + 99.5 + 99.42) / 3)


def test_report_prefers_the_declared_final_number(tmp_path):
    run = run_record("float", 10, HISTORY, final={"test_acc": 99.0})
    save_metrics(tmp_path / "11_x", "11_x", [run])
    assert "| 11_x | float | 10 | 99.00 | 99.50 |" in build_report(tmp_path)


def test_save_load_and_report(tmp_path):
    run = run_record("model4", 5940, HISTORY, writeup={"value": 99.47, "what": "final epoch"})
    path = save_metrics(tmp_path / "04_x", "04_x", [run])
    assert load_metrics(path)["runs"][0]["params"] == 5940
    report = build_report(tmp_path)
    assert "| 04_x | model4 | 5,940 | 99.42 | 99.50 | 99.38 | 3 | 7 | 2.00 | fp32 | 99.47% (final epoch) |" in report
    assert "model4" in results_table([run])


def test_report_shows_sequence_and_digit_accuracy(tmp_path):
    history = [dict(e, seq_acc=e["test_acc"], digit_acc=99.8) for e in HISTORY]
    save_metrics(tmp_path / "10_x", "10_x", [run_record("seq2seq", 10, history)])
    assert "| 10_x | seq2seq | 10 | 99.42 (whole sequences; 99.80 per digit) |" in build_report(tmp_path)


@pytest.mark.parametrize("bad", [
    {"notebook": "x", "runs": []},
    {"notebook": "x", "runs": [{"name": "a", "params": 1.5, "epochs": HISTORY}]},
    {"notebook": "x", "runs": [{"name": "a", "params": 1, "epochs": [{"epoch": 1}]}]},
    {"notebook": "x", "runs": [{"name": "a", "params": 1, "epochs": HISTORY}, {"name": "a", "params": 1, "epochs": HISTORY}]},
])
def test_schema_violations_are_refused_before_writing(tmp_path, bad):
    with pytest.raises(ValueError):
        save_metrics(tmp_path, bad["notebook"], bad["runs"])
    assert not (tmp_path / "metrics.json").exists()


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "m.json"
    target.write_text(json.dumps({"old": True}))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"old": True}
    assert list(tmp_path.iterdir()) == [target]


def test_readme_block_is_regenerated_between_markers(tmp_path):
    from mnistkit.report import README_END, README_START, update_readme_results
    save_metrics(tmp_path / "outputs" / "04_augmentation", "04_augmentation", [run_record("ours-seed2", 5940, HISTORY, seed=2, headline=True)])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nrest\n")
    assert update_readme_results(readme, tmp_path / "outputs")
    text = readme.read_text()
    row = ("| [04_augmentation](outputs/04_augmentation/04_augmentation.ipynb) | ours: each of the last 5 of 15 epochs "
           "≥ 99.4%, < 8,000 params | 2 | 5,940 | 99.38 | 99.38 | 0 of 1 |")
    assert "old table" not in text and row in text
    assert text.startswith("intro\n") and text.endswith("rest\n")
    assert not update_readme_results(readme, tmp_path / "outputs")  # unchanged the second time


def test_epoch_table_shows_sequence_accuracies_when_recorded():
    from mnistkit.metrics import epoch_table
    base = {"epoch": 1, "train_loss": 0.5, "train_acc": 80.0, "test_loss": 0.4, "test_acc": 90.0, "lr": 0.1,
            "seconds": 2.0}
    assert "sequences %" not in epoch_table([base])
    table = epoch_table([dict(base, seq_acc=90.0, digit_acc=97.25)])
    assert "| sequences % | digits % |" in table and "97.25" in table


def test_headline_row_is_the_claim_over_every_seed_that_carries_it():
    from mnistkit.report import headline_row
    low = [dict(e, test_acc=e["test_acc"] - 0.1) for e in HISTORY]
    runs = [run_record(f"ours-seed{k}", 7849, h, seed=k) for k, h in ((1, HISTORY), (2, low), (3, HISTORY))]
    runs.append(run_record("model1", 13808, HISTORY, seed=1))  # not a headline run of chapter 05
    row = headline_row("05_strided_convs", runs)
    # last-3 minimum per seed: 99.42, 99.32, 99.42
    assert row[2:5] + row[6:7] == ["1, 2, 3", "7,849", "99.39 ± 0.06", "2 of 3"] and row[5] == pytest.approx(99.32)
    marked = headline_row("05_strided_convs", [dict(runs[1], headline=True)] + runs[2:])
    assert marked[2] == "2" and marked[6] == "0 of 1"  # runs marked "headline" are the ones that count


def test_report_marks_repeats_and_reports_early_stopped_runs_at_their_best_model(tmp_path):
    five = HISTORY[:5]
    runs = [run_record("baseline", 10, five), run_record("baseline-seed1", 10, five, same_run_as="baseline"),
            run_record("again", 10, five), run_record("stopped", 10, HISTORY, early_stopping={"best_epoch": 3})]
    runs[2]["epochs"] = [dict(e) for e in five]
    save_metrics(tmp_path / "07_x", "07_x", runs)
    report = build_report(tmp_path)
    assert "| baseline-seed1 (repeats baseline) |" in report and "| again (repeats baseline) |" in report
    assert "| 07_x | baseline | 10 | 99.45 | 99.45 | – |" in report  # five epochs: no last-5 minimum
    assert "| 07_x | stopped | 10 | 99.41 |" in report  # the model restored at epoch 3, not the last epoch


def test_headline_runs_come_from_the_chapter_and_its_sweeps_once_per_seed(tmp_path):
    from mnistkit.metrics import headline_runs, sweep_runs
    from mnistkit.report import chapter_summary
    low = [dict(e, test_acc=e["test_acc"] - 0.1) for e in HISTORY]
    save_metrics(tmp_path / "05_strided_convs", "05_strided_convs",
                 [run_record("ours-seed1", 7849, HISTORY, seed=1, headline=True), run_record("model1", 13808, HISTORY)])
    for k, history in ((1, HISTORY), (2, low)):  # the sweep repeats seed 1: the chapter's own run counts once
        save_metrics(tmp_path / "sweeps" / "05-seeds" / f"seed={k}" / "05_strided_convs", "05_strided_convs",
                     [run_record(f"ours-seed{k}", 7849, history, seed=k, headline=True)])
    swept = sweep_runs("05_strided_convs", root=tmp_path)
    assert [(r["name"], r["sweep"], r["point"]) for r in swept] == [("ours-seed1", "05-seeds", "seed=1"),
                                                                   ("ours-seed2", "05-seeds", "seed=2")]
    own = load_metrics(tmp_path / "05_strided_convs" / "metrics.json")["runs"]
    chosen = headline_runs(own + swept)
    assert [(r["seed"], "sweep" in r) for r in chosen] == [(1, False), (2, True)]
    assert "| 1, 2 | 7,849 | 99.37 ± 0.07 | 99.32 | 1 of 2 |" in chapter_summary(tmp_path)
    assert sweep_runs("05_strided_convs", root=tmp_path / "nowhere") == []
    assert "(sweep 05-seeds/seed=2)" in build_report(tmp_path)


def test_seeds_table_reports_mean_std_worst_and_how_many_hold():
    from mnistkit.metrics import seeds_summary, seeds_table
    assert seeds_summary([99.5, 99.3], target=99.4) == pytest.approx(
        {"n": 2, "mean": 99.4, "std": 0.1414, "worst": 99.3, "holding": 1}, abs=1e-4)
    assert seeds_summary([99.5])["std"] == 0.0 and seeds_summary([99.5])["holding"] is None
    low = [dict(e, test_acc=e["test_acc"] - 0.1) for e in HISTORY]
    table = seeds_table({"ours": [run_record("b", 10, low, seed=2), run_record("a", 10, HISTORY, seed=1)],
                         "theirs": []}, last=3, target=99.4)
    assert "| ours | 10 | 1: 99.42, 2: 99.32 | 99.37 ± 0.07 | 99.32 | 1 of 2 | 7 |" in table
    assert "| theirs | – | not run |" in table


def test_seed_runs_gathers_one_run_per_seed_from_the_chapter_and_its_sweep(tmp_path, monkeypatch):
    from mnistkit.metrics import seed_runs
    monkeypatch.setenv("MNIST_COURSE_OUTPUTS", str(tmp_path))
    save_metrics(tmp_path / "02_x", "02_x", [run_record("model2", 10, HISTORY, seed=1)])
    for k in (1, 3, 2):
        save_metrics(tmp_path / "sweeps" / "02-seeds" / f"seed={k}" / "02_x", "02_x",
                     [run_record("model2", 10, HISTORY, seed=k, point=k), run_record("other", 10, HISTORY, seed=k)])
    runs = seed_runs("02_x", "model2", "02-seeds")
    assert [(r["seed"], "sweep" in r) for r in runs] == [(1, False), (2, True), (3, True)]


def test_change_table_grades_each_measure_by_its_paired_interval():
    from mnistkit.metrics import change_table
    before = [{"seed": k, "acc": v} for k, v in zip((1, 2, 3), (99.30, 99.32, 99.28))]
    after = [{"seed": k, "acc": v} for k, v in zip((1, 2, 3), (99.50, 99.53, 99.48))]
    noisy = [{"seed": k, "acc": v} for k, v in zip((1, 2, 3), (99.20, 99.45, 99.31))]
    table, graded = change_table(before, after, {"final test %": lambda r: r["acc"]}, labels=("01", "02"))
    assert graded["final test %"].verdict == "beyond noise" and graded["final test %"].kind == "paired"
    assert "| final test % | 99.30 ± 0.02 (3) | 99.50 ± 0.03 (3) | +0.20 | +0.19 to +0.22 | paired | beyond noise |" in table
    _, graded = change_table(before, noisy, {"final test %": lambda r: r["acc"]})
    assert graded["final test %"].verdict == "within noise (3 seeds)"


def test_a_hyperparameter_sweep_is_not_counted_as_more_seeds_of_a_claim(tmp_path):
    from mnistkit.report import chapter_summary
    save_metrics(tmp_path / "08_vit", "08_vit", [run_record("vit", 139018, HISTORY, seed=1)])
    short = [dict(e, test_acc=50.0) for e in HISTORY[:2]]
    for point in ("depth=2_lr=0.001", "depth=4_lr=0.003"):  # other recipes, seed 1: not repeats of the claim
        save_metrics(tmp_path / "sweeps" / "vit-small" / point / "08_vit", "08_vit", [run_record("vit", 72074, short, seed=1)])
    save_metrics(tmp_path / "sweeps" / "vit-seeds" / "seed=2" / "08_vit", "08_vit", [run_record("vit", 139018, HISTORY, seed=2)])
    row = next(line for line in chapter_summary(tmp_path).splitlines() if "08_vit" in line)
    assert "| 1, 2 | 139,018 |" in row and "72,074" not in row


def test_headline_row_leaves_out_sweep_runs_in_another_precision():
    from mnistkit.report import headline_row
    low = [dict(e, test_acc=e["test_acc"] - 0.5) for e in HISTORY]
    own = run_record("vit", 186218, HISTORY, seed=1, precision="bf16", headline=True)
    seeds = [dict(run_record("vit", 186218, HISTORY, seed=k, precision="bf16", headline=True),
                  sweep="08-seeds", point=f"seed={k}") for k in (2, 3)]
    fp32 = [dict(run_record("vit", 186218, low, seed=k, precision="fp32", headline=True),
                 sweep="08-fp32", point=f"seed={k}") for k in (1, 2, 3)]
    row = headline_row("08_vit", [own] + fp32 + seeds)  # the fp32 sweep sorts first: it must not stand for seeds 2, 3
    assert row[2] == "1, 2, 3" and row[6] == "3 of 3" and row[5] == pytest.approx(HISTORY[-1]["test_acc"])


def test_parity_compares_bf16_and_fp32_on_the_seeds_run_in_both_with_the_same_recipe():
    from mnistkit.report import parity_row
    recipe = {"lr": 0.002}

    def runs(precision, seeds, shift=0.0, sweep=None, **changes):
        history = [dict(e, test_acc=e["test_acc"] + shift) for e in HISTORY]
        made = [run_record("vit", 186218, history, seed=k, precision=precision, headline=True,
                           recipe=dict(recipe, **changes)) for k in seeds]
        return [dict(r, sweep=sweep, point=f"seed={r['seed']}") for r in made] if sweep else made

    bf16 = runs("bf16", [1]) + runs("bf16", [2], shift=0.2, sweep="08-seeds") + runs("bf16", [3], shift=-0.2, sweep="08-seeds")
    fp32 = runs("fp32", [1, 2], shift=-1.0, sweep="08-fp32") + runs("fp32", [3], sweep="08-fp32", lr=0.01)
    row = parity_row("08_vit", bf16 + fp32)
    assert row[1] == "1, 2" and row[4] == "+1.10"  # seed 3's fp32 run is another recipe: left out
    # Two seeds: the paired differences 1.0 and 1.2 pp give a 95% interval of 1.10 ± 1.27 (t with 1 degree of
    # freedom is 12.7), across zero: two seeds cannot show this effect, however steady it looks.
    assert row[5] == "-0.17 to +2.37" and row[6] == "within noise (2 seeds)" and row[7] == "08-fp32, 08-seeds, the chapter"
    assert parity_row("08_vit", bf16 + fp32[:1]) is None  # one seed in both is no spread
    assert parity_row("00_data_tour", bf16) is None


def test_course_run_summary_reports_the_recorded_run(tmp_path):
    from mnistkit.report import course_run_summary
    assert "No whole `make course`" in course_run_summary(tmp_path)
    (tmp_path / "course_run.json").write_text(json.dumps({
        "commit": "0123456789abcdef", "started": "2026-12-01T09:00:00+00:00", "finished": "2026-12-01T10:30:00+00:00",
        "status": "ok", "profile": "full", "jobs": 2,
        "machine": {"cpu": "AMD EPYC", "cores": 2, "threads": 2, "gpu": None, "torch": "2.14.1"},
        "notebooks": [{"stem": "01_skeleton", "seconds": 1200.0, "status": "ok", "threads": 1},
                      {"stem": "02_less_dropout", "seconds": None, "status": "running", "threads": 1}]}))
    text = course_run_summary(tmp_path)
    assert "`0123456789ab`" in text and "**90.0 min** wall-clock" in text and "2 chapter(s) at a time" in text
    assert "| 01_skeleton | 1,200 | 20.0 | 1 | ok |" in text and "| 02_less_dropout | – | – | 1 | running |" in text


def test_change_table_gives_a_row_a_third_decimal_only_where_rounding_would_disagree():
    from mnistkit.metrics import change_table

    before = [{"seed": k, "v": v} for k, v in enumerate([0.054, 0.050, 0.058], 1)]
    after = [{"seed": k, "v": v} for k, v in enumerate([0.068, 0.066, 0.070], 1)]
    table, graded = change_table(before, after, {"spread (pp)": lambda r: r["v"]})
    row = table.splitlines()[-1]
    assert "0.054 ± " in row and "0.068 ± " in row and f"{graded['spread (pp)'].mean:+.3f}" in row
    plain = [{"seed": k, "v": v} for k, v in enumerate([99.20, 99.30, 99.25], 1)]
    moved = [{"seed": k, "v": v + 0.1} for k, v in enumerate([99.20, 99.30, 99.25], 1)]
    row = change_table(plain, moved, {"test %": lambda r: r["v"]})[0].splitlines()[-1]
    assert "99.25 ± 0.05 (3)" in row and "| +0.10 |" in row


def test_the_readme_states_chapter_06s_frontier_from_its_runs(tmp_path):

    from mnistkit.report import frontier_text

    assert frontier_text(tmp_path) == ""  # chapter 06 never ran: nothing said
    runs = [{"name": f"capstone-seed{s}", "params": 3874, "seed": s, "recipe": {"design": "SeparableNet(width=23)"},
             "epochs": [{"epoch": e + 1, "test_acc": 99.45, "seconds": 1.0} for e in range(15)]} for s in range(1, 6)]
    (tmp_path / "06_capstone_small").mkdir()
    save_metrics(tmp_path / "06_capstone_small", "06_capstone_small", runs)
    text = frontier_text(tmp_path)
    assert "**Chapter 06's frontier**" in text and "the smallest where every seed holds is 3,874 parameters" in text
    assert "![Chapter 06's frontier, from its last run](outputs/06_capstone_small/frontier.png)" in text
    from mnistkit.report import chapter_summary

    row = next(line for line in chapter_summary(tmp_path).splitlines() if line.startswith("| [06_capstone_small]"))
    assert ("(the capstone); frontier over 5 seeds: smallest with mean ≥ 99.4%: 3,874 params; smallest with every "
            "seed ≥ 99.4%: 3,874 params") in row


def test_the_chapter_table_shows_each_chapter_s_run_all_time_from_the_course_record(tmp_path):
    from mnistkit.report import chapter_summary, run_all_minutes
    save_metrics(tmp_path / "05_strided_convs", "05_strided_convs",
                 [run_record("ours-seed1", 7849, HISTORY, seed=1, headline=True)])
    (tmp_path / "course_run.json").write_text(json.dumps({"notebooks": [
        {"stem": "05_strided_convs", "seconds": 3165.1, "status": "ok", "threads": 1},
        {"stem": "00_data_tour", "seconds": 25.0, "status": "ok", "threads": 1},
        {"stem": "07_positional_encoding", "seconds": None, "status": "running", "threads": 1}]}))
    assert run_all_minutes(tmp_path) == {"05_strided_convs": "53 (1)", "00_data_tour": "0.4 (1)"}
    table = chapter_summary(tmp_path)
    assert "Run All, min (threads)" in table and table.splitlines()[-1].endswith("| 53 (1) | – |")
    assert run_all_minutes(tmp_path / "nowhere") == {}


def test_the_chapter_table_shows_the_run_all_of_the_notebook_its_numbers_come_from(tmp_path):
    """A chapter rerun since the course run: its executed notebook's duration, the cores its runs used (threads ×
    runs side by side) and the processor they name; a record without a processor shows the cores alone."""
    import nbformat

    from mnistkit.report import chapter_summary, notebook_minutes
    save_metrics(tmp_path / "05_strided_convs", "05_strided_convs",
                 [run_record("ours-seed1", 7849, HISTORY, seed=1, headline=True, threads=1, workers=2,
                             cpu="Intel(R) Xeon(R) Processor")])
    save_metrics(tmp_path / "02_less_dropout", "02_less_dropout", [run_record("a", 10, HISTORY, seed=1, threads=1)])
    for stem, seconds in (("05_strided_convs", 1453.5), ("02_less_dropout", 226.0), ("00_data_tour", 17.0)):
        (tmp_path / stem).mkdir(exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(metadata={"papermill": {"duration": seconds}}),
                       tmp_path / stem / f"{stem}.ipynb")
    assert notebook_minutes(tmp_path) == {"05_strided_convs": "24 (2, Intel Xeon)", "02_less_dropout": "3.8 (1)",
                                          "00_data_tour": "0.3"}
    assert "its notebook's Run All, min (threads, CPU)" in chapter_summary(tmp_path)


def test_a_chapter_run_side_by_side_states_its_run_all_beside_its_runs_added_up(tmp_path):
    import nbformat

    from mnistkit.report import chapter_summary, side_by_side_text

    epoch = dict(HISTORY[0], seconds=60.0)
    runs = [run_record(name, 7849, [epoch] * 10, seed=1, workers=2) for name in ("model1", "model2", "ours-seed1")]
    save_metrics(tmp_path / "05_strided_convs", "05_strided_convs", runs)
    assert side_by_side_text(tmp_path) == ""  # no executed notebook: no Run All to state
    book = nbformat.v4.new_notebook(metadata={"papermill": {"duration": 1260.0}})
    nbformat.write(book, tmp_path / "05_strided_convs" / "05_strided_convs.ipynb")
    text = side_by_side_text(tmp_path)
    assert ("05_strided_convs with `workers = 2`: Run All took 21 min, while its 3 runs' training adds up to 30 min "
            "(one thread each)") in text
    assert "course run" not in text  # no course record: nothing said of it
    (tmp_path / "course_run.json").write_text(json.dumps({"machine": {"cpu": "AMD EPYC"}, "notebooks": [
        {"stem": "05_strided_convs", "seconds": 2850.0, "status": "ok", "threads": 1}]}))
    assert ("in the last course run (`course_run.json`: AMD EPYC) its Run All, one run after the other with 1 thread, "
            "took 48 min.") in side_by_side_text(tmp_path)
    assert "**Independent runs side by side**" in chapter_summary(tmp_path)
    save_metrics(tmp_path / "05_strided_convs", "05_strided_convs", [dict(r, workers=1) for r in runs])
    assert side_by_side_text(tmp_path) == ""  # one after the other: nothing to say
    # measured both ways alone by ci/time_workers.py: said whatever the last full run did
    (tmp_path / "workers.json").write_text(json.dumps({"05_strided_convs": {
        "workers": 2, "seconds_side_by_side": 1453.5, "seconds_one_after_the_other": 2921.5, "runs": 6,
        "same_final_accuracies": 6, "machine": {"cpu": "Intel(R) Xeon(R) Processor"}}}))
    assert side_by_side_text(tmp_path) == (
        "**`workers` measured both ways**, each chapter's Run All alone (`python ci/time_workers.py`, "
        "[`outputs/WORKERS.md`](outputs/WORKERS.md); `make course` runs every chapter with `workers = 1` in its lane): "
        "05_strided_convs 24 min side by side (`workers = 2`) against 49 min one after the other (6 of 6 runs at the "
        "same final test accuracy; Intel Xeon).")


def test_the_readme_states_chapter_13s_speedrun_from_its_runs(tmp_path):
    from mnistkit import ch13
    from mnistkit.report import chapter_summary, speedrun_text

    assert speedrun_text(tmp_path) == ""  # chapter 13 never ran: nothing said
    result = {"params": 215194, "prepare_seconds": 0.1, "compile_seconds": 0.0, "eval_seconds": 0.3, "threads": 2,
              "steps": 235, "images": 60160, "recipe": {"precision": "fp32", "epochs": 1.0}}
    ours = [ch13.speedrun_record(f"speedrun-seed{s}", {**result, "seed": s, "seconds": 4.0, "test_acc": 99.1},
                                 headline=True, machine="a test CPU") for s in (1, 2, 3)]
    stock = [{"name": f"stock-seed{s}", "params": 1199882, "seed": s, "reached": 2, "precision": "fp32",
              "epochs": [{"epoch": 1, "test_acc": 98.8, "seconds": 45.0}, {"epoch": 2, "test_acc": 99.05, "seconds": 90.0}]}
             for s in (1, 2)]
    save_metrics(tmp_path / "13_cpu_speedrun", "13_cpu_speedrun", ours + stock)
    text = speedrun_text(tmp_path)
    assert "**Chapter 13's speedrun**" in text and "median 4.00 s" in text and "on a test CPU" in text
    assert "Its median is 90.0 s of training" in text and "**22× faster**" in text
    # a full run that trained the stock recipe's first epoch only reads its time to 99% from the saved measurement
    first_only = [dict(r, reached=None, epochs=r["epochs"][:1], cpu="a test CPU") for r in stock]
    save_metrics(tmp_path / "13_cpu_speedrun", "13_cpu_speedrun", ours + first_only)
    (tmp_path / "search" / "13").mkdir(parents=True)
    (tmp_path / "search" / "13" / "stock.json").write_text(json.dumps({
        "command": "python -m mnistkit.ch13 --stock --seeds 1 2", "date": "2026-12-04", "max_epochs": 4,
        "machine": {"cpu": "a test CPU", "threads": 2},
        "runs": [dict(r, seconds=400.0, reached=4) for r in stock]}))
    text = speedrun_text(tmp_path)
    assert ("measured apart by `python -m mnistkit.ch13 --stock --seeds 1 2` on 2026-12-04, 2 threads of a test CPU"
            in text and "Its median is 400.0 s of training" in text and "**100× faster**" in text)
    assert "the stock recipe's first epoch took a median 45.0 s of training on its 2 seeds" in text
    assert "a median 45.0 s measured apart, 45.0 s in this run. The machine ran at the same speed" in text
    row = next(line for line in chapter_summary(tmp_path).splitlines() if line.startswith("| [13_cpu_speedrun]"))
    assert "| 1, 2, 3 | 215,194 | 99.10 ± 0.00 |" in row and "3 of 3" in row
