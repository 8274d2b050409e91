"""Chapter 05's recipe function and the prose it generates, fed fabricated run records."""
import pytest
import torch

from mnistkit import ch05
from mnistkit.data import TensorData


def run(name: str, tail: list[float], seed: int = 1, params: int = 7849, train_eval: float | None = None,
        train: float = 99.0, epochs: int = 15) -> dict:
    """A run record whose last epochs have test accuracies `tail` (the earlier ones at 98.0%)."""
    accs = [98.0] * (epochs - len(tail)) + list(tail)
    history = [{"epoch": i + 1, "test_acc": a, "train_acc": train, "train_loss": 0.1, "test_loss": 0.1, "lr": 0.1,
                "seconds": 1.0} for i, a in enumerate(accs)]
    if train_eval is not None:
        for e in history:
            e["train_eval_acc"] = train_eval
    return {"name": name if name.startswith("model") else f"{name}-seed{seed}", "seed": seed, "params": params,
            "epochs": history}


FOUR_OF_FIVE = [run("ours", [99.45, 99.46, 99.47], s) for s in (1, 3, 4, 5)] + [run("ours", [99.42, 99.41, 99.38], 2)]


def test_four_of_five_seeds_never_reads_met_or_every_seed():
    for text in (ch05.ours_heading(FOUR_OF_FIVE), ch05.seed_table(FOUR_OF_FIVE, 1),
                 ch05.ours_analysis([], FOUR_OF_FIVE)):
        assert "4 of 5 seeds" in text
        assert "every seed" not in text and "met on" not in text


def test_every_seed_holding_says_so():
    held = [run("ours", [99.45, 99.46, 99.47], s) for s in range(1, 6)]
    assert "met on every seed (5 of 5)" in ch05.ours_heading(held)


def test_seed_table_places_the_shown_seed():
    text = ch05.seed_table(FOUR_OF_FIVE, 2)
    assert "2 (shown above)" in text and "ranks 5 of 5" in text
    assert "_Seeds saved" not in text
    assert "Seeds saved in this profile: [1]" in ch05.seed_table(FOUR_OF_FIVE[:1], 1)


def test_paired_interval_across_zero_is_within_noise():
    final = [run("final", [99.40 + d, 99.40 + d, 99.40 + d], s) for s, d in zip(range(1, 6), (0, .02, -.02, .01, 0))]
    ours = [run("ours", [99.40 + d, 99.40 + d, 99.40 + d], s) for s, d in zip(range(1, 6), (.01, 0, 0, 0, .02))]
    text = ch05.ours_analysis(final, ours)
    assert "paired over 5 seeds" in text and "within noise (5 seeds)" in text
    assert "beyond" not in text and "better" not in text


def test_consistent_gain_is_beyond_noise():
    final = [run("final", [99.35] * 3, s) for s in range(1, 6)]
    ours = [run("ours", [99.45 + s / 1000] * 3, s) for s in range(1, 6)]
    assert "beyond noise" in ch05.ours_analysis(final, ours)


def test_one_seed_never_yields_a_verdict():
    model3, model4 = run("model3", [99.3] * 3), run("model4", [99.5] * 3)
    for text in (ch05.model4_analysis(model4, model3), ch05.insights({"model3": model3, "model4": model4}, []),
                 ch05.ours_analysis(FOUR_OF_FIVE[:1], FOUR_OF_FIVE[:1]),
                 ch05.final_analysis([run("final", [99.5] * 3)], model4)):
        assert "beyond" not in text and "within noise" not in text and "holds." not in text
    assert "no verdict" in ch05.model4_analysis(model4, model3)


def test_final_analysis_never_calls_four_of_five_consistent():
    final = [run("final", r.get("epochs") and [e["test_acc"] for e in r["epochs"][-3:]], r["seed"]) for r in FOUR_OF_FIVE]
    text = ch05.final_analysis(final)
    assert "not met: 4 of 5 seeds" in text and "does not make the recipe consistent" in text


def test_underfitting_is_read_in_eval_mode():
    below = run("model2", [99.3] * 3, train=99.1)  # dropout on: train below test
    assert "not measured" in ch05.train_reading(below) and "underfitting" in ch05.train_reading(below)
    fits = run("model2", [99.3] * 3, train=99.1, train_eval=99.7)
    text = ch05.train_reading(fits)
    assert "+0.40 pp over test" in text and "+0.60 pp over the dropout-on reading" in text
    assert "seed 1 alone" in text and "no verdict" in text and "either way. The write-up's reading of Model_2 (underfitting, since train was below test) compared" in text
    assert "not underfitting" not in text and "fits its training images better" not in text
    above = run("model2", [99.3] * 3, train=99.5, train_eval=99.7)
    assert "no verdict" in ch05.train_reading(above) and "write-up's reading" not in ch05.train_reading(above)
    # The write-up read train below test as underfitting for Model_2 only: no other model is credited with it.
    model1 = run("model1", [99.3] * 3, train=99.1, train_eval=99.7)
    assert "write-up's reading" not in ch05.train_reading(model1)


def test_the_writeups_average_is_set_beside_its_own_logs():
    said = {"last3_avg": 99.32, "test_acc_by_epoch": [99.0] * 17 + [99.34, 99.29, 99.31]}
    assert ch05.writeup_average(said) == "99.32 (as reported; its own log's last 3 average 99.31)"
    assert ch05.writeup_average(dict(said, last3_avg=99.31)) == "99.31"


def test_train_gap_over_seeds_is_graded_with_an_interval():
    noisy = [run("model2", [99.3] * 3, s, train_eval=99.3 + d) for s, d in zip((1, 2, 3), (0.1, -0.1, 0.05))]
    assert "paired over 3 seeds" in ch05.train_gap_over_seeds(noisy)
    assert "within noise (3 seeds)" in ch05.train_gap_over_seeds(noisy)
    steady = [run("model2", [99.3] * 3, s, train_eval=99.5 + s / 100) for s in (1, 2, 3)]
    assert "beyond noise" in ch05.train_gap_over_seeds(steady)
    assert "no verdict" in ch05.train_gap_over_seeds(steady[:1])


def test_plurals_and_the_writeups_epoch_numbering():
    one = ch05.results(run("model2", [99.29], params=7386, epochs=1))
    assert "our run: 1 epoch," in one and "epoch(s)" not in one and "1 epochs" not in one
    assert "our run: 15 epochs," in ch05.results(run("model2", [99.29, 99.29, 99.30], params=7386))
    assert "we count from 1, it counts from 0" in one
    text = ch05.model1_analysis(run("model1", [99.42, 99.42, 99.40], params=13808, train_eval=99.5))
    assert "epochs 18-20, counted from 1" in text and "labels them 17-19" in text
    record = ch05.insights({}, [])
    assert "as epoch 10 (its label 9)" in record and "at epoch 11 (its label 10)" in record


def test_every_change_from_model1_to_model2_is_listed():
    said = " ".join(ch05.changes("model1", "model2"))
    assert "MaxPool" in said and "10 s2" in said and "dropout 0.1 → 0.05" in said
    assert "16, 32, 1×1 10" in said and "12, 12, 16" in said  # the channels change too
    assert ch05.changes("model3", "model4") == ["lr 0.01, StepLR(6, 0.1) → 0.1, StepLR(5, 0.5)"]
    text = ch05.model2_analysis(run("model2", [99.29] * 3, params=7386), run("model1", [99.4] * 3, params=13808))
    assert "dropout 0.1 → 0.05" in text and "not only the stride" in text


def test_plus_minus_is_named_as_the_standard_deviation():
    final = [run("final", [99.40 + s / 100] * 3, s) for s in (1, 2, 3)]
    for text in (ch05.seed_table(final, 1), ch05.final_analysis(final), ch05.ours_analysis(final, final),
                 ch05.insights({}, final)):
        assert "±" in text and "± is the standard deviation over the 3 seeds" in text


def test_results_quote_the_writeup():
    text = ch05.results(run("model2", [99.29, 99.29, 99.30], params=7386))
    assert "write-up's claim" in text and "99.28" in text and "✗ Underfitting" in text


def test_summary_table_marks_runs_not_run():
    text = ch05.summary_table({"model1": run("model1", [99.42, 99.42, 99.40], params=13808)}, FOUR_OF_FIVE)
    assert "not run" in text and "not met: 4 of 5 seeds" in text


def test_bad_recipe_names_are_refused():
    data = TensorData(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), torch.zeros(2, 1, 28, 28),
                      torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="'model9' is not allowed"):
        ch05.run("model9", data, None, seed=1, epochs=1)
    with pytest.raises(ValueError, match="schedule='cosine' is not allowed"):
        ch05.train(data, network="model3", dropout=0.1, lr=0.1, seed=1, epochs=1, schedule="cosine")
    with pytest.raises(ValueError, match="network='model7' is not allowed"):
        ch05.train(data, network="model7", dropout=0.1, lr=0.1, seed=1, epochs=1, step_size=1, gamma=0.1)


def test_train_records_eval_mode_train_accuracy_and_onecycle_finishes():
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g),
                      torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g))
    model, history = ch05.train(data, progress=False, seed=1, epochs=2, batch_size=32,
                                **dict(ch05.RECIPES["ours"], network="model2"))
    assert len(history) == 2 and all("train_eval_acc" in e for e in history)
    _, again = ch05.train(data, progress=False, seed=1, epochs=2, batch_size=32, **dict(ch05.RECIPES["ours"], network="model2"))
    assert [e["test_acc"] for e in again] == [e["test_acc"] for e in history]  # same seed, same history


def test_layer_check_matches_the_writeup():
    from mnistkit.summary import summarize
    for arch in ("model1", "model2", "model3"):
        assert "equal the write-up's table" in ch05.layer_check(summarize(ch05.NETWORKS[arch](0.1)), arch)


def test_exercise_texts():
    m3 = [run("model3", [99.30] * 3, s) for s in (1, 2)]
    m4 = [run("model4", [99.30 + d] * 3, s) for s, d in ((1, 0.05), (2, -0.04))]
    text = ch05.schedule_gain(m3, m4)
    assert "within noise (2 seeds)" in text and "positive on 1 of 2 seeds" in text
    assert "no verdict" in ch05.schedule_gain(m3[:1], m4[:1])
    by_hand = [("Conv2d", 3, 1, 3, 1), ("Conv2d", 3, 2, 5, 2)]
    assert "agree on 1 of the 2 layers" in ch05.receptive_field_check(by_hand, [(3, 1), (5, 1)], 27)
    with_classifier = by_hand + [("Conv2d", 1, 1, 5, 2)]  # the 1×1 after the global pool: the summary says 27
    text = ch05.receptive_field_check(with_classifier, [(3, 1), (5, 2), (27, 2)], 27)
    assert "agree on 2 of the 2 layers" in text and "one 1×1 convolution left out" in text and "sees 5×5" in text


def test_ours_analysis_names_the_validation_choice():
    rows = {"final": {"mean_val": 98.98, "params": 7849}, "onecycle-0.05-mild": {"mean_val": 99.15, "params": 7849},
            "separable36-strided-ours": {"mean_val": 99.26, "params": 7356}}
    text = ch05.ours_analysis([], FOUR_OF_FIVE, rows)
    assert "not on the test set" in text and "Higher on validation: separable36-strided-ours" in text


def test_runs_side_by_side_have_the_histories_of_one_after_the_other_in_the_quick_profile():
    """The chapter's `Ahead` over `ch05.run` (workers 2) against the same runs one after the other, one thread."""
    from test_parallel import one_after_the_other

    from mnistkit.chapter import start
    from mnistkit.data import load_mnist
    from mnistkit.parallel import Ahead

    setup = start("05_strided_convs", profile="quick", seed=1, device="cpu", workers=2)
    data = load_mnist().subset(setup.data_fraction / 5, setup.test_fraction / 4, seed=1)  # 1% and 5%: seconds
    calls = {name: dict(name=name, data=data, setup=setup, seed=1, epochs=1) for name in ("model1", "ours", "final")}
    alone = one_after_the_other(ch05.run, calls)
    ahead = Ahead(ch05.run, calls, workers=setup.workers)
    together = {name: ahead.result(name) for name in calls}
    ahead.close()
    assert "a worker process" in ahead.where.values() and "this notebook" in ahead.where.values()
    def no_seconds(run):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in run["epochs"]]
    assert {n: no_seconds(r) for n, r in together.items()} == {n: no_seconds(r) for n, r in alone.items()}


def test_the_write_ups_first_epoch_at_target_names_its_printed_log_where_its_summary_disagrees():
    assert ch05._writeup_first("model1") == "epoch 10 (its summary; its printed log: epoch 11)"
    assert ch05._writeup_first("final") == "epoch 10" and ch05._writeup_first("model2") == "never"
