"""Chapter 13, the CPU speedrun: its recipes train, its FLOP count agrees with torch's, and its sentences say only
what the (fabricated) runs support."""
import pytest
import torch

from mnistkit import ch13
from mnistkit.data import TensorData
from mnistkit.params import ParameterError


def fake(seed: int, seconds: float, acc: float, **extra) -> dict:
    return {"seed": seed, "seconds": seconds, "test_acc": acc, "eval_seconds": 0.2, "compile_seconds": 0.0, **extra}


def tiny_data(n: int = 512) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorData(x, y, x[:128], y[:128])


def test_the_target_is_the_mean_and_the_text_never_calls_a_short_seed_met():
    runs = [fake(s, 4.0 + 0.1 * s, 99.1 if s != 3 else 98.9) for s in range(1, 11)]
    text = ch13.target_text(runs)
    assert "is at or above 99.0% (9 of 10 seeds reach it alone)" in text and "10 of 10 seeds within 5 s" in text
    assert "within the 5 s goal (the 3 s stretch missed)" in text and "Both halves of the target hold" in text
    # the spread is named as the spread, and the mean's interval says whether the margin is beyond noise
    assert "mean test accuracy 99.08% over 10 seeds (standard deviation across seeds 0.06 pp, worst seed 98.90%; 95% " \
           "interval of the mean 99.03 to 99.13%)" in text
    assert "The mean clears 99.0% by 0.08 pp, and the mean's interval lies above it: beyond noise." in text
    close = [fake(s, 2.0, 99.1 if s % 2 else 98.95) for s in range(1, 11)]
    assert ("clears 99.0% by 0.03 pp, within noise: the mean's interval reaches below 99.0%, so another 10 seeds "
            "could land on either side.") in ch13.target_text(close)
    assert "and the 3 s stretch" not in text  # a median of 4.55 s is not within the stretch
    short = [fake(s, 2.5, 98.95) for s in range(1, 11)]
    text = ch13.target_text(short)
    assert "is below 99.0%" in text and "the accuracy is short" in text and "and the 3 s stretch" in text
    slow = [fake(s, 6.0, 99.2) for s in range(1, 11)]
    assert "over the 5 s goal" in ch13.target_text(slow) and "the time is over" in ch13.target_text(slow)
    assert "every seed reaches it too" in ch13.target_text(slow) and "0 of 10 seeds within" in ch13.target_text(slow)
    few = ch13.target_text(runs[:5])
    assert "Fewer than the target's 10 seeds: no verdict" in few and "hold" not in few and "met" not in few


def test_the_ratio_is_of_medians_and_a_stock_seed_that_never_reached_makes_it_a_lower_bound():
    stock = [{"seed": s, "seconds": 90.0 + s, "reached": 2} for s in (1, 2, 3)]
    ours = [fake(s, 3.0, 99.1) for s in range(1, 11)]
    text = ch13.ratio_text(stock, ours)
    assert text.startswith("The stock pytorch/examples recipe ran on 3 seeds (1, 2, 3): 3 of them reached 99.0% (seed 1 "
                           "after 2 epochs, seed 2 after 2 epochs, seed 3 after 2 epochs). Its median is 92.0 s")
    assert "**31× faster**; seed by seed, on the 3 seeds both ran, 30× to 31×" in text and "lower bound" not in text
    stock[0]["reached"] = None
    text = ch13.ratio_text(stock, ours)
    assert "2 of them reached 99.0% (seed 2 after 2 epochs, seed 3 after 2 epochs); seed 1 did not within its epochs, " \
           "and its time counts as it ran." in text and "the ratio is a lower bound" in text
    stock[0]["reached"], stock[2]["reached"] = 2, None  # the slowest seed never reached: the median stays exact
    text = ch13.ratio_text(stock, ours)
    assert "lower bound" not in text and "ran longer than the median seed" in text and "**31× faster**" in text
    assert "needs both" in ch13.ratio_text([], ours)
    # with their histories, the stock recipe's mean over its seeds is given too, without a verdict (3 seeds, not 10)
    histories = [{"seed": s, "seconds": 200.0, "reached": None if s == 3 else 2,
                  "epochs": [{"test_acc": 98.5}, {"test_acc": 99.1 if s != 3 else 98.95}]} for s in (1, 2, 3)]
    assert ("On the mean over its 3 seeds (the speedrun's kind of rule, on 3 seeds, not the target's 10: no verdict), "
            "the stock recipe reached 99.0% at epoch 2 (99.05%).") in ch13.ratio_text(histories, ours)
    below = [dict(h, epochs=h["epochs"][:1]) for h in histories]
    assert "stayed below 99.0% for the 1 epoch all its seeds ran (last 98.50%)" in ch13.ratio_text(below, ours)


SAVED_STOCK = {"command": "python -m mnistkit.ch13 --stock --seeds 1 2 3", "date": "2026-12-04", "max_epochs": 4,
               "machine": {"cpu": "Intel(R) Xeon(R) Processor", "threads": 2},
               "runs": [{"seed": s, "seconds": 400.0 + s, "reached": 4, "epochs": [{"test_acc": 98.4}] * 3
                         + [{"test_acc": 99.02}]} for s in (1, 2, 3)]}


def test_the_headline_ratio_reads_the_saved_stock_run_only_for_a_full_run_that_trained_one_stock_epoch():
    first_only = [{"seed": s, "seconds": 90.0, "reached": None, "epochs": [{"test_acc": 98.3, "seconds": 90.0}]}
                  for s in (1, 2, 3)]
    assert ch13.stock_to_target(first_only, SAVED_STOCK, full=True) == (SAVED_STOCK["runs"], SAVED_STOCK)
    assert ch13.stock_to_target(first_only, SAVED_STOCK, full=False) == (first_only, None)  # quick: 5% of the data
    assert ch13.stock_to_target(first_only, None, full=True) == (first_only, None)  # nothing saved
    to_target = [dict(r, epochs=r["epochs"] * 2) for r in first_only]  # baseline_max_epochs > 1: this run's own
    assert ch13.stock_to_target(to_target, SAVED_STOCK, full=True) == (to_target, None)


def test_a_stock_time_measured_apart_says_where_and_mixes_no_two_machines():
    ours = [fake(s, 4.0, 99.1) for s in range(1, 11)]
    same = ch13.ratio_text(SAVED_STOCK["runs"], ours, apart=SAVED_STOCK, cpu="Intel(R) Xeon(R) Processor")
    assert same.startswith("The stock pytorch/examples recipe ran on 3 seeds (1, 2, 3), measured apart by `python -m "
                           "mnistkit.ch13 --stock --seeds 1 2 3` on 2026-12-04, 2 threads of Intel(R) Xeon(R) "
                           "Processor, up to 4 epochs a seed: 3 of them reached 99.0%")
    assert ("Its median is 402.0 s of training; the speedrun's median over 10 seeds is 4.00 s: **100× faster**; seed "
            "by seed, on the 3 seeds both ran, 100× to 101×, the stock recipe's measured apart on the same processor "
            "model, the speedrun's in this run.") in same
    other = ch13.ratio_text(SAVED_STOCK["runs"], ours, apart=SAVED_STOCK, cpu="AMD EPYC")
    assert ("Its median is 402.0 s of training on Intel(R) Xeon(R) Processor, not this run's processor (AMD EPYC): a "
            "ratio to the speedrun's 4.00 s here would mix two machines, so none is given") in other
    assert "faster" not in other and "both measured in this run" not in other
    assert "both measured in this run" in ch13.ratio_text(SAVED_STOCK["runs"], ours)


def test_the_first_epoch_ratio_is_this_run_s_like_for_like_comparison():
    stock = [{"seed": s, "seconds": 300.0, "reached": None, "first_epoch_seconds": 90.0 + s,
              "first_epoch_acc": 98.3 + 0.8 * (s == 3)} for s in (1, 2, 3)]
    ours = [fake(s, 3.0, 99.1) for s in range(1, 11)]
    assert ch13.first_epoch_text(stock, ours) == (
        "In this run, one after the other on this machine, the stock recipe's first epoch took a median 92.0 s of "
        "training on its 3 seeds (mean test accuracy 98.57%, 1 of 3 at 99.0%): that one epoch alone is **31×** the "
        "speedrun's median training of 3.00 s (seed by seed, on the 3 seeds both ran, 30× to 31×).")
    assert ch13.first_epoch_text([], ours) == ""
    slow = [fake(s, 3.6 if s <= 3 else 3.0, 99.1) for s in range(1, 11)]  # the seeds the stock recipe ran are slow
    assert ("(seed by seed, on the 3 seeds both ran, 25× to 26×: the median lies outside that range because the "
            "speedrun's 3 seeds the stock recipe also ran took a median 3.60 s, against 3.00 s over all 10)"
            ) in ch13.first_epoch_text(stock, slow)


def test_the_session_speed_is_measured_by_the_stock_first_epoch_run_in_both_sessions():
    here = [{"seed": s, "seconds": 40.0, "reached": None, "first_epoch_seconds": 40.0, "first_epoch_acc": 98.3}
            for s in (1, 2, 3)]
    apart = {"runs": [{"seed": s, "seconds": 200.0, "reached": 4, "first_epoch_seconds": 48.0,
                       "first_epoch_acc": 98.3} for s in (1, 2, 3)]}
    ours = [fake(s, 1.6, 99.1) for s in range(1, 11)]
    text = ch13.session_text(here, ours, apart)
    assert text == ("The stock recipe's first epoch ran in both sessions, on 3 seeds (1, 2, 3), with the same test "
                    "accuracy on 3 of 3: a median 48.0 s measured apart, 40.0 s in this run. The machine ran 20% faster "
                    "in this run, so the ratio above overstates the speedup by about that much: at this run's speed, the "
                    "stock recipe's median to 99.0% would be about 167 s, about **104×** the speedrun's median (an "
                    "estimate: it assumes every epoch ran that much faster).")
    level = [dict(r, first_epoch_seconds=48.5) for r in here]
    assert "same speed in both sessions, within 2%" in ch13.session_text(level, ours, apart)
    assert "slower in this run, so the ratio above understates" in ch13.session_text(
        [dict(r, first_epoch_seconds=60.0) for r in here], ours, apart)
    assert ch13.session_text(here, ours, None) == "" and ch13.session_text([], ours, apart) == ""
    apart["machine"] = {"cpu": "Intel(R) Xeon(R) Processor"}  # another processor: no ratio above to speak of
    assert ch13.session_text(here, ours, apart, cpu="AMD EPYC") == "" and ch13.session_text(
        here, ours, apart, cpu="Intel(R) Xeon(R) Processor") == text


def test_the_stock_measurement_is_saved_with_its_machine_and_command(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(ch13, "stock_time_to_target", lambda seed, max_epochs: {
        "seed": seed, "seconds": 1.0, "reached": None, "epochs": [{"epoch": 1, "test_acc": 50.0, "seconds": 1.0}]})
    assert ch13.save_stock([2, 3], path=tmp_path / "stock.json") == 0
    saved = json.loads((tmp_path / "stock.json").read_text())
    assert saved["command"] == "python -m mnistkit.ch13 --stock --seeds 2 3" and saved["max_epochs"] == 4
    assert [r["seed"] for r in saved["runs"]] == [2, 3] and {"cpu", "threads"} <= set(saved["machine"])


def test_one_recipe_run_twice_measures_the_machine_s_drift():
    recipe = {"precision": "fp32", "channels_last": True}
    row = [fake(s, 2.7, 99.0 + s / 100, recipe=recipe) for s in (1, 2, 3)]
    again = [fake(s, 2.9, 99.0 + s / 100, recipe=recipe) for s in (1, 2, 3)]
    other = [fake(s, 1.8, 99.0, recipe={"precision": "bf16", "channels_last": True}) for s in (1, 2, 3)]
    text = ch13.drift_text([("SpeedNet", other), ("channels_last memory format", row)],
                           [("1 thread instead of every core", other), ("bf16 autocast off", again)])
    assert text.startswith("One recipe ran twice in this run, minutes apart: the ablation's row \"channels_last memory "
                           "format\" and the variation \"bf16 autocast off\". Its test accuracies are the same on 3 of 3 "
                           "seeds, and its median training time was 2.70 s the first time, 2.90 s the second (+7%), and seed "
                           "by seed it moved from +7% to +7%")
    assert ch13.drift_text([("a", row)], [("final", row)]) == ""  # the same runs are not a second run
    assert ch13.drift_text([("SpeedNet", other)], [("bf16 autocast off", again)]) == ""


def test_the_ablation_grades_each_step_against_the_one_above_over_the_seeds_both_ran():
    stock = [fake(s, 45.0, 98.0 + 0.1 * s) for s in (1, 2, 3)]
    tensors = [fake(s, 20.0 + 0.1 * s, 98.0 + 0.1 * s) for s in (1, 2, 3)]
    small = [fake(s, 8.0, 98.5 + (0.3 if s % 2 else -0.3)) for s in range(1, 11)]
    rows = ch13.ablation_rows([("stock", stock), ("tensors", tensors), ("small", small)])
    assert rows[0]["time"] is None
    assert rows[1]["time"].verdict.startswith("beyond noise") and rows[1]["time"].mean == pytest.approx(-24.8)
    assert rows[1]["acc"].mean == pytest.approx(0.0)  # the same accuracy: no effect claimed
    assert rows[2]["time"].n == 3  # only seeds 1-3 ran both
    table = ch13.ablation_table([("stock", stock), ("tensors", tensors), ("small", small)])
    assert "| tensors | 3 | 20.20 |" in table and "within noise" in table
    assert table.count("(paired over the 3 seeds both ran)") == 2  # the 10-seed row, time and accuracy
    one = ch13.ablation_table([("stock", stock[:1]), ("tensors", tensors[:1])])
    assert "fewer than 2 seeds in common: no verdict" in one


def test_a_variation_is_paired_with_the_final_recipe_and_its_compile_time_stays_apart():
    final = [fake(s, 4.0 + 0.01 * s, 99.05) for s in range(1, 6)]
    compiled = [fake(s, 3.0 + 0.01 * s, 99.05, compile_seconds=40.0) for s in range(1, 6)]
    table = ch13.variations_table(final, [("torch.compile on", compiled)])
    assert "-1.00 s" in table and "beyond noise" in table and "1.33× the speed" in table
    near = ch13.interval_cell(ch13.paired([5.0] * 4, [4.8, 4.8, 4.8, 4.991]), "s")
    assert near == "-0.15 s (-0.30 to -0.0003): beyond noise"  # the bound beside "beyond noise" never reads as zero
    assert "compiling, apart: a median 40.00 s a run, from the cache the untimed warm-up run filled" in table
    assert "| torch.compile on | 5 | 3.03 | 99.05 ± 0.00 | 99.05 | 5 of 5 |" in table
    assert "too few seeds in common" in ch13.variations_table(final, [("other seeds", [fake(9, 3.0, 99.0)])])


def test_the_limit_paragraph_states_the_peak_the_step_and_the_share_reached():
    text = ch13.limit_text(peak_fp32=100.0, peak_bf16=250.0, flops_per_step=int(2e9), counted_flops=int(2e9), steps=100,
                           seconds=10.0, top=[{"name": "aten::convolution_backward", "share": 30.0, "calls": 10,
                                               "ms_per_step": 5.0}])
    assert "100 GFLOP/s in fp32, 250 in bf16" in text and "20 GFLOP/s, 20% of the fp32 peak" in text
    assert "agreeing" in text and "convolutions (forward and backward) take 30%" in text
    assert "and no matrix product is among the top 1 operations" in text  # not "matrix products 0%"
    with_mm = ch13.limit_text(peak_fp32=100.0, peak_bf16=250.0, flops_per_step=int(2e9), counted_flops=int(2e9),
                              steps=100, seconds=10.0, top=[{"name": "aten::addmm", "share": 12.0, "calls": 10,
                                                             "ms_per_step": 1.0}])
    assert "matrix products 12%" in with_mm
    bf16 = ch13.limit_text(peak_fp32=100.0, peak_bf16=250.0, flops_per_step=int(2e9), counted_flops=int(2e9),
                           steps=100, seconds=10.0, top=[], precision="bf16")
    assert "8% of the bf16 peak" in bf16
    apart = ch13.limit_text(peak_fp32=100.0, peak_bf16=250.0, flops_per_step=int(2e9), counted_flops=int(1e9),
                            steps=100, seconds=10.0, top=[])
    assert "100% apart" in apart


@pytest.mark.parametrize("model", [ch13.StockNet(), ch13.SpeedNet(), ch13.SpeedNet(16, 32, k2=5, hidden=0, bn=True)],
                         ids=["stock", "speed", "speed-bn"])
def test_the_step_flops_counted_from_the_layers_agree_with_torch_s_flop_counter(model):
    assert ch13.step_flops(model, 4) == ch13.counted_step_flops(model, 4)


def test_the_networks_have_their_published_sizes():
    assert ch13.params(ch13.StockNet()) == 1_199_882  # pytorch/examples mnist/main.py's Net
    assert ch13.params(ch13.SpeedNet()) == 215_194  # tuomaso/train_mnist_fast's final Net (24, 32, 3x3, 256)


def test_a_speedrun_is_reproducible_and_times_only_its_loop():
    data = tiny_data()
    recipe = ch13.Recipe(epochs=0.5, batch_size=64)
    a, b = ch13.speedrun(data, seed=3, recipe=recipe), ch13.speedrun(data, seed=3, recipe=recipe)
    assert a["test_acc"] == b["test_acc"] and a["steps"] == 4 and a["images"] == 256
    partial = ch13.speedrun(data, seed=3, recipe=ch13.Recipe(batch_size=100))  # 512 images: 6 batches, the last of 12
    assert partial["steps"] == 6 and partial["images"] == 512
    assert a["seconds"] > 0 and a["eval_seconds"] > 0 and a["compile_seconds"] == 0
    record = ch13.speedrun_record("speedrun-seed3", a, headline=True, threads=99, seed=1)  # the run's own win
    assert record["seed"] == 3 and record["threads"] == a["threads"]
    assert record["epochs"][0]["test_acc"] == a["test_acc"] and record["epochs_trained"] == 0.5
    assert ch13.as_result(record)["seconds"] == a["seconds"]


@pytest.mark.parametrize("change", [dict(net="stock", optimizer="adadelta", schedule="steplr", lr=1.0, epochs=1.2),
                                    dict(channels_last=True), dict(precision="bf16"), dict(threads=1)])
def test_every_step_of_the_ablation_trains(change):
    result = ch13.speedrun(tiny_data(), seed=1, recipe=ch13.Recipe(batch_size=128, **change))
    assert 0 <= result["test_acc"] <= 100 and result["params"] > 0


def test_the_ablation_goes_from_the_stock_recipe_to_the_final_one_change_at_a_time():
    final = ch13.Recipe(epochs=0.8, precision="bf16")
    steps = ch13.ablation_recipes(final)
    assert steps[0][1] == ch13.STOCK and steps[-1][1] == final
    names = [name for name, _ in steps]
    assert "0.8 of an epoch instead of 1" in names and "bf16 autocast" in names and "torch.compile" not in names
    tricks = [name for name, _ in ch13.variation_recipes(ch13.Recipe(), compile_too=False)]
    assert tricks[0] == "0.8 of an epoch instead of 1" and "torch.compile on" not in tricks
    for (_, before), (_, after) in zip(steps[1:], steps[2:]):  # after the network swap, one field at a time
        changed = {k for k in before.__dataclass_fields__ if getattr(before, k) != getattr(after, k)}
        assert changed and (len(changed) == 1 or changed <= {"optimizer", "schedule", "lr"}), changed


def test_recipe_parameters_are_checked_by_name():
    assert ch13.check_recipe(lr=0.02, precision="bf16") == ch13.Recipe(lr=0.02, precision="bf16")
    with pytest.raises(ParameterError, match=r"parameter precision='fp16' is not allowed: expected one of 'fp32', 'bf16'"):
        ch13.check_recipe(precision="fp16")
    with pytest.raises(ParameterError, match=r"parameter epochs=0 is not allowed"):
        ch13.check_recipe(epochs=0)
    with pytest.raises(TypeError, match="unknown field"):
        ch13.check_recipe(width=3)
    with pytest.raises(ParameterError, match=r"parameter optimizer='sgd' is not allowed"):
        ch13.Recipe(optimizer="sgd")


def test_the_stock_recipe_stops_at_its_first_epoch_at_the_target():
    result = ch13.stock_time_to_target(1, max_epochs=2, target=0.0, train_fraction=0.005, test_fraction=0.02)
    assert result["reached"] == 1 and len(result["epochs"]) == 1 and result["params"] == 1_199_882
    never = ch13.stock_time_to_target(1, max_epochs=1, target=101.0, train_fraction=0.005, test_fraction=0.02)
    assert never["reached"] is None and ch13.stock_record("stock-seed1", never)["reached"] is None


def test_the_profile_names_operations_and_their_shares():
    top = ch13.top_operations(tiny_data(), ch13.Recipe(batch_size=32), steps=2, rows=5)
    assert len(top) == 5 and all(t["name"].startswith("aten::") or t["name"] for t in top)
    assert 0 < sum(t["share"] for t in top) <= 100.0 + 1e-6


def test_the_probe_table_summarises_each_candidate():
    rows = [{"candidate": "a", "seed": s, "val_acc": 98.7 + 0.1 * s, "seconds": 4.0, "threads": 2} for s in (1, 2, 3)]
    assert "| a | 3 | 98.90 ± 0.10 | 4.00 | 2 |" in ch13.probe_table(rows)


def test_the_chapter_s_defaults_are_the_final_recipe():
    import nbformat

    from mnistkit.paths import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "notebooks" / "13_cpu_speedrun.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names: dict = {"default_profile": lambda: "quick"}
    exec(cell.source, names)
    fields = {f: names["use_compile" if f == "compile" else f] for f in ch13.Recipe.__dataclass_fields__
              if f not in ("net", "optimizer", "schedule")}
    assert ch13.Recipe(**fields) == ch13.FINAL


def test_the_probe_keeps_the_fastest_candidate_not_worse_beyond_noise():
    def rows(name, accs, seconds):
        return [{"candidate": name, "seed": s, "val_acc": a, "seconds": seconds, "threads": 2}
                for s, a in enumerate(accs, start=1)]

    probe = (rows("tuomaso", [98.70, 98.75, 98.72], 6.0) + rows("fast-worse", [98.40, 98.46, 98.41], 3.0)
             + rows("fast-same", [98.74, 98.69, 98.73], 4.0) + rows("slow-better", [98.9, 98.95, 98.9], 9.0))
    chosen, text = ch13.choose(probe)
    assert chosen == "fast-same" and "left out as worse beyond noise: fast-worse" in text
    assert ch13.choose(rows("tuomaso", [98.7, 98.8], 5.0))[0] == "tuomaso"
    with pytest.raises(ValueError, match="reference 'tuomaso' is not among"):
        ch13.choose(rows("other", [98.7, 98.8], 5.0))


def test_the_final_recipe_is_the_one_the_saved_probe_chose():
    import json

    from mnistkit.paths import REPO_ROOT

    path = REPO_ROOT / "outputs" / "search" / "13" / "probe.json"
    if not path.exists():
        pytest.skip("no probe saved yet (python -m mnistkit.ch13)")
    rows = json.loads(path.read_text())["rows"]
    chosen = ch13.choose(rows)[0]
    assert ch13.Recipe(**next(r["recipe"] for r in rows if r["candidate"] == chosen)) == ch13.FINAL


def test_a_compiled_speedrun_trains_the_same_model_from_its_fresh_weights():
    data = tiny_data(256)
    recipe = ch13.Recipe(batch_size=64, epochs=0.5)
    eager = ch13.speedrun(data, seed=2, recipe=recipe)
    compiled = ch13.speedrun(data, seed=2, recipe=recipe.changed(compile=True))
    assert compiled["compile_seconds"] > 0 and compiled["steps"] == eager["steps"]
    assert abs(compiled["test_acc"] - eager["test_acc"]) <= 2.0  # same start, same batches; kernels may round apart
