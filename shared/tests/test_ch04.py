"""Chapter 04's recipes and sentences: fabricated run records in, the words out (issue 30's rules)."""
import pytest
import torch

from mnistkit import ch04
from mnistkit.data import TensorData


def run(name: str, seed: int, last: list[float], train_acc: float = 98.0, params: int = 7568) -> dict:
    tests = [98.0] * (15 - len(last)) + last
    return {"name": f"{name}-seed{seed}", "seed": seed, "params": params,
            "epochs": [{"epoch": i + 1, "test_acc": t, "train_acc": train_acc, "seconds": 1.0}
                       for i, t in enumerate(tests)]}


def runs(name: str, lows: list[float], **kw) -> list[dict]:
    return [run(name, seed, [low + 0.05, low, low + 0.02, low + 0.04, low + 0.03], **kw)
            for seed, low in enumerate(lows, start=1)]


def test_four_of_five_seeds_holding_is_never_met():
    text = ch04.holds(runs("ours", [99.41, 99.52, 99.48, 99.45, 99.39]))
    assert "4 of 5 seeds" in text and "not met" in text and "± is the standard deviation over seeds" in text
    assert "every seed" not in text and "met on" not in text
    assert "met on every seed (5 of 5)" in ch04.holds(runs("ours", [99.41, 99.52, 99.48, 99.45, 99.40]))


def test_seed_place_says_where_the_shown_seed_stands():
    assert "is 4th of 5 (99.41%" in ch04.seed_place(runs("ours", [99.41, 99.52, 99.48, 99.45, 99.39]), 1)
    assert "1st (tied) of 2" in ch04.seed_place(runs("ours", [99.4, 99.4]), 2)
    markdown = ch04.seeds_markdown({"ours: x": runs("ours", [99.41, 99.5])}, 1)
    assert "| ours: x |" in markdown and "- ours: seed 1" in markdown and "Fewer than five seeds" in markdown


def test_an_interval_across_zero_is_never_called_an_effect():
    before = runs("model3", [99.50, 99.32, 99.25, 99.28, 99.38])
    after = runs("model4", [99.43, 99.44, 99.37, 99.33, 99.39], train_acc=97.0)
    text = ch04.augmentation_verdict(before, after)
    assert "+0.05 pp" in text and "within noise (5 seeds)" in text
    assert "does not reward it measurably" in text and "rewards it" not in text.replace("not reward it", "")
    assert "beyond noise" not in text.split("\n")[0]


def test_a_clear_gain_over_seeds_is_beyond_noise():
    before = runs("model3", [99.30, 99.31, 99.29, 99.30, 99.32])
    after = runs("model4", [99.45, 99.47, 99.44, 99.46, 99.48])
    assert "the test set rewards it" in ch04.augmentation_verdict(before, after)


def test_one_seed_gives_no_verdict():
    text = ch04.compared(runs("a", [99.4]), runs("b", [99.5]), ("a", "b"), "B against A")
    assert "no verdict" in text and "beyond" not in text and "within" not in text


def test_the_separable_choice_on_two_validation_seeds_is_within_noise():
    rows = [{"candidate": c, "seed": s, "worst_val": v, "mean_val": v, "spread_val": 0.02}
            for c, s, v in [("base", 1, 99.16), ("base", 2, 99.20), ("sep", 1, 99.34), ("sep", 2, 99.18)]]
    text = ch04.separable_choice(rows, "base", "sep")
    assert "seed 1: +0.18, seed 2: -0.02 pp" in text and "within noise (2 seeds)" in text
    assert "does not single it out" in text
    assert "too few" in ch04.separable_choice(rows[:3], "base", "sep")
    table = ch04.steps_table(rows, {"base": "the base", "sep": "+ separable"})
    assert "| + separable | 1, 2 |" in table and "within noise (2 seeds)" in table


def test_split_recipe_gives_each_recipe_its_arguments():
    recipe = dict(epochs=15, batch_size=128, lr=0.02, momentum=0.9, dropout=0.1, step_size=10, gamma=0.1,
                  rotation=10.0, translate=0.1, ours_width=36, ours_max_lr=0.05, ours_anneal_epochs=11,
                  ours_bn_momentum=0.01, ours_rotation=7.0, ours_translate=0.05)
    writeup, ours = ch04.split_recipe(recipe)
    assert "ours_width" not in writeup and writeup["rotation"] == 10.0
    assert ours == dict(epochs=15, batch_size=128, momentum=0.9, dropout=0.1, width=36, max_lr=0.05, anneal_epochs=11,
                        bn_momentum=0.01, rotation=7.0, translate=0.05)


def tiny_data() -> TensorData:
    g = torch.Generator().manual_seed(0)
    return TensorData(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g),
                      torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g))


def test_the_recipes_train_and_repeat_on_the_same_seed():
    args = dict(seed=1, epochs=2, batch_size=32, momentum=0.9, dropout=0.1, rotation=7.0, translate=0.05,
                progress=False)
    _, a = ch04.ours(tiny_data(), width=8, max_lr=0.05, anneal_epochs=1, bn_momentum=0.01, **args)
    _, b = ch04.ours(tiny_data(), width=8, max_lr=0.05, anneal_epochs=1, bn_momentum=0.01, **args)
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in a]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in b]
    assert a[1]["lr"] < 1e-4  # annealed by the end of epoch 1, then held
    model, history = ch04.augmentation(tiny_data(), lr=0.02, step_size=1, gamma=0.1, **args)
    assert [round(e["lr"], 6) for e in history] == [0.02, 0.002]
    assert sum(p.numel() for p in model.parameters()) == 7568


def test_a_bad_schedule_is_refused():
    import pytest

    with pytest.raises(ValueError, match="schedule='cosine' is not allowed"):
        ch04.train(lambda: torch.nn.Linear(1, 1), tiny_data(), seed=1, epochs=1, batch_size=8, lr=0.1, momentum=0.9,
                   rotation=0.0, translate=0.0, schedule="cosine")


def test_test_time_augmentation_is_graded_over_the_paired_images():
    plain = torch.tensor([True] * 9900 + [False] * 100)
    tta = plain.clone()
    tta[9900:9903] = True  # fixed 3
    tta[0:2] = False  # broke 2
    text = ch04.tta_verdict(plain, tta, copies=4)
    assert "fixed 3 images and broke 2" in text and "within noise (10,000 test images)" in text
    tta[9903:9960] = True
    assert "beyond noise" in ch04.tta_verdict(plain, tta, copies=4)
    assert "agree on every image" in ch04.tta_verdict(plain, plain.clone(), copies=4)


def test_exercise_1_on_one_seed_gives_no_verdict():
    last = {"none": {"train_acc": 99.5, "test_acc": 99.3}, "double": {"train_acc": 97.0, "test_acc": 99.35}}
    text = ch04.strength_text(last, "full", 5)
    assert "drops by 2.50 pp" in text and "+0.05 pp" in text and "train accuracy moves more" in text
    assert "no verdict" in text and "beyond" not in text


def tail_runs(name: str, tails: list[list[float]]) -> list[dict]:
    return [run(name, seed, tail) for seed, tail in enumerate(tails, start=1)]


def test_a_wider_spread_beyond_noise_is_said_with_its_interval():
    without = tail_runs("model3", [[99.40, 99.42, 99.41], [99.30, 99.33, 99.31], [99.35, 99.36, 99.37]])
    with_ = tail_runs("model4", [[99.40, 99.44, 99.41], [99.30, 99.35, 99.31], [99.35, 99.38, 99.36]])
    text = ch04.spread_text(without, with_, last=3)
    # a few images: three decimals, as the table beside it shows (+0.02 rounded would hide the interval's +0.002)
    assert "+0.017 pp (95% interval +0.002 to +0.031" in text and "paired over 3 seeds): beyond noise" in text
    assert "less steady (a wider spread" in text
    same = ch04.spread_text(without, without, last=3)
    assert "within noise (3 seeds)" in same and "as steady as before" in same and "less steady" not in same
    assert "The spread of the last 5 epochs moved" in ch04.augmentation_verdict(
        runs("model3", [99.30, 99.31, 99.29]), runs("model4", [99.45, 99.47, 99.44]))


def test_timings_quote_the_seed_and_the_median_over_seeds_with_the_load_caveat():
    timed = runs("ours", [99.41, 99.42, 99.43])
    for r, seconds in zip(timed, [120.0, 20.0, 30.0]):
        for e in r["epochs"]:
            e["seconds"] = seconds
    text = ch04.run_line("Ours, seed 1", timed[0], seed_runs=timed)
    # The seed's own time, then the median over its seeds: a seed's sentence never quotes another seed's number.
    assert "120 s per epoch (median over its 3 seeds 30 s), timed with other jobs running on the machine" in text
    alone = ch04.run_line("x", timed[0])
    assert "120 s per epoch, timed with other jobs running" in alone and "median" not in alone


def test_a_variant_not_kept_states_each_seed_and_the_paired_interval():
    rows = [{"candidate": c, "seed": s, "worst_val": v}
            for c, s, v in [("sep36", 1, 99.34), ("sep36", 2, 99.18), ("sep32x4", 1, 99.32), ("sep32x4", 2, 99.34)]]
    text = ch04.alternative(rows, "sep36", "sep32x4", "four blocks of 32")
    assert "seed 1 -0.02 pp (-1 images), seed 2 +0.16 pp (+8 images)" in text
    assert "within noise (2 seeds)" in text and "cannot tell the two apart" in text
    assert text.endswith("these 2 seeds cannot tell the two apart.") and "own seeds" not in text
    assert "about the same" not in text
    assert "no verdict" in ch04.alternative(rows[:3], "sep36", "sep32x4", "x")


def test_a_saved_separable_net_reads_back_as_the_same_network(tmp_path):
    from types import SimpleNamespace

    from mnistkit.models import SeparableNet
    from mnistkit.playground import SAVED

    torch.manual_seed(0)
    model = SeparableNet(0.1, width=6, early=4).eval()
    mnist = SimpleNamespace(mean=0.13, std=0.31)
    run = {"name": "ours-seed3", "seed": 3, "profile": "quick", "params": 1, "epochs": [{"test_acc": 50.0}]}
    path = ch04.save_model(tmp_path / "separable.pt", model, mnist, run)
    loaded, checkpoint = ch04.load_model(path)
    images = torch.rand(4, 1, 28, 28)
    assert torch.equal(loaded(images), model(images)) and checkpoint["run"] == "ours-seed3"
    reader = SAVED["04_augmentation"][1](path)  # what the playground shows: probabilities, and which run saved it
    expected = model((images - 0.13) / 0.31).softmax(-1)
    assert torch.allclose(reader.read(images), expected) and reader.run == "seed 3, quick profile"
    with pytest.raises(ValueError, match="expected a SeparableNet"):
        ch04.save_model(tmp_path / "x.pt", torch.nn.Linear(2, 2), mnist, run)


def test_ours_recipe_record_names_ours_and_nothing_of_the_writeups_step_schedule():
    recipe = ch04.split_recipe(dict(epochs=15, batch_size=128, lr=0.02, momentum=0.9, dropout=0.1, step_size=10,
                                    gamma=0.1, ours_width=36, ours_max_lr=0.05, ours_anneal_epochs=11,
                                    ours_bn_momentum=0.01, ours_rotation=7.0, ours_translate=0.05))[1]
    record = ch04.recipe_record(recipe)
    assert record["model"] == "SeparableNet(width=36)" and record["max_lr"] == 0.05
    assert not {"lr", "step_size", "gamma"} & set(record)
