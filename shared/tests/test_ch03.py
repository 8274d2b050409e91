"""Chapter 03's words about StepLR, from fabricated run records: "steadier" and "raised" only beyond noise."""
from mnistkit import ch03


def run(seed, tail, name="model3"):
    history = [{"epoch": i + 1, "test_acc": t, "train_acc": 99.0, "lr": 0.02, "seconds": 1.0}
               for i, t in enumerate(tail)]
    return {"name": name, "params": 7568, "epochs": history, "seed": seed,
            "recipe": {"step_size": 10, "gamma": 0.1}}


def test_steadier_and_higher_only_beyond_noise():
    before = [run(s, [99.1, 99.3, 99.15, 99.25, 99.2 + s / 100], "model2") for s in range(1, 6)]
    after = [run(s, [99.4, 99.42, 99.41, 99.43, 99.4 + s / 100]) for s in range(1, 6)]
    text = ch03.step_lr_verdict(before, after)
    assert "raised the lowest test % of the last 5 epochs beyond noise" in text and "steadier" in text
    assert "the weights themselves were not compared" in text and "same weights" not in text
    assert "spreads over 0.04 ± 0.01 pp (mean ± standard deviation over 5 seeds), against 0.20 ± 0.00 pp" in text
    assert "StepLR(10, 0.1)" in text


def test_within_noise_is_neither_steadier_nor_higher():
    before = [run(s, [99.2, 99.3, 99.2, 99.3, 99.2 + d], "model2") for s, d in zip(range(1, 6), [0, .05, -.05, .02, 0])]
    after = [run(s, [99.2, 99.3, 99.2, 99.3, 99.2 + d]) for s, d in zip(range(1, 6), [.03, 0, 0, 0, -.04])]
    text = ch03.step_lr_verdict(before, after)
    assert "did not move" in text and "steadier" not in text and "raised" not in text
    assert "did not change the spread" in text


def test_one_seed_gives_no_verdict():
    text = ch03.step_lr_verdict([run(1, [99.2] * 5, "model2")], [run(1, [99.5] * 5)])
    assert "none is graded" in text and "raised" not in text and "steadier" not in text


def test_writeup_last_epochs_against_the_target():
    missing = {"test_acc_by_epoch": [99.0] * 10 + [99.42, 99.42, 99.41, 99.42, 99.39]}
    assert "99.39% at epoch 15, misses 99.4%" in ch03.writeup_last_epochs(missing)
    holding = {"test_acc_by_epoch": [99.0] * 10 + [99.42, 99.48, 99.47, 99.44, 99.47]}
    assert "all of them reach 99.4%" in ch03.writeup_last_epochs(holding)


def test_exercise_texts():
    rows = [["StepLR(10, 0.1)", 10, 99.5, 99.4, 0.05, 0.002], ["StepLR(5, 0.1)", 5, 99.45, 99.38, 0.03, 0.0002]]
    assert "no schedule has stepped yet" in ch03.step_size_text(rows, epochs=1)
    assert "One seed each, so no verdict" in ch03.step_size_text(rows, epochs=15)
    planned = [0.02] * 10 + [0.002] * 5
    assert "the same as planned" in ch03.schedule_text(planned, planned, step_size=10)
    assert "NOT the same" in ch03.schedule_text(planned, [0.02] * 15, step_size=10)
