"""Chapter 02's words about dropout 0.2 -> 0.1, from fabricated run records: a direction only beyond noise."""
from mnistkit import ch02


def run(seed, test, train, name):
    history = [{"epoch": i + 1, "test_acc": test - 0.1 * (i % 2), "train_acc": train, "seconds": 1.0}
               for i in range(5)]
    return {"name": name, "params": 7568, "epochs": history, "seed": seed}


def test_within_noise_never_says_raised_or_lowered():
    before = [run(s, t, 99.1, "model1") for s, t in zip(range(1, 6), [99.2, 99.3, 99.1, 99.25, 99.2])]
    after = [run(s, t, 99.1, "model2") for s, t in zip(range(1, 6), [99.3, 99.2, 99.2, 99.2, 99.3])]
    text = ch02.dropout_verdict(before, after)
    assert "did not move the final test % beyond noise" in text and "raised" not in text and "lowered" not in text


def test_a_gap_beyond_noise_gets_its_direction():
    before = [run(s, 99.2 + s / 100, 99.0 + s / 100, "model1") for s in range(1, 6)]
    after = [run(s, 99.2 + s / 100, 99.3 + s / 100 + (s % 2) / 100, "model2") for s in range(1, 6)]
    text = ch02.dropout_verdict(before, after)
    assert "rose against test beyond noise" in text and "(5 seeds)" in text


def test_the_target_of_closing_the_gap_is_judged_over_seeds_and_a_sign_change_is_named():
    # gaps before -0.3, -0.05, -0.2, -0.1, -0.15; after +0.1, +0.2, +0.1, +0.05, +0.12: shrank on seeds 1, 3, 4, 5
    before = [run(s, 99.3, 99.3 + g, "model1") for s, g in zip(range(1, 6), [-0.3, -0.05, -0.2, -0.1, -0.15])]
    after = [run(s, 99.3, 99.3 + g, "model2") for s, g in zip(range(1, 6), [0.1, 0.2, 0.1, 0.05, 0.12])]
    text = ch02.dropout_verdict(before, after)
    assert "the gap changed sign (train below test before, above it after)" in text
    assert "not met: 4 of 5 seeds hold" in text and "paired over 5 seeds" in text and "met: the gap" not in text
    assert "progress bar" not in text and "(mean ± standard deviation over 5 seeds)" in text
    closed = [run(s, 99.3, 99.3 + g, "model2") for s, g in zip(range(1, 6), [-0.1, -0.02, -0.1, -0.05, -0.1])]
    text = ch02.gap_target(before, closed)
    assert "met: the gap shrank on every seed (5 of 5)" in text and "changed sign" not in text
    assert "no verdict" in ch02.gap_target(before[:1], closed[:1])


def test_one_seed_gives_no_verdict():
    text = ch02.dropout_verdict([run(1, 99.2, 99.0, "model1")], [run(1, 99.4, 99.3, "model2")])
    assert "none is graded" in text and "beyond" not in text and "raised" not in text


def test_writeup_change_and_batch_size_text():
    text = ch02.writeup_change({"value": 99.2, "train_acc": 87.67}, {"value": 99.17, "train_acc": 95.47})
    assert "-11.53 → -3.70 pp" in text and "one run each" in text
    assert "no verdict" in ch02.batch_size_text([[128, 10.0, 99.0], [32, 25.0, 99.1]])
