"""Chapter 07's model, recipe and generated sentences (`mnistkit.ch07`), fed fabricated run records."""
import pytest
import torch

from mnistkit import ch07
from mnistkit.data import TensorData


def run(name: str, seed: int, accs: list[float], params: int = 30_859, at_chance: int = 0, loss: float = 1.0,
        recipe: dict | None = None) -> dict:
    """A fabricated run record: test accuracy per epoch, the first `at_chance` epochs at chance."""
    epochs = [{"epoch": i + 1, "test_acc": acc, "train_acc": acc, "train_loss": loss, "top_digit": 1,
               "top_share": 0.95 if i < at_chance else 0.2} for i, acc in enumerate(accs)]
    return {"name": f"{name}-seed{seed}", "params": params, "seed": seed, "epochs": epochs,
            "recipe": recipe or {"optimizer": "sgd"}}


def over(name: str, finals: list[float], **kwargs) -> list[dict]:
    return [run(name, seed, [final], **kwargs) for seed, final in enumerate(finals, start=1)]


# The chapter's own seeds (full run): pe-sinusoidal, alone-heads, p3-10-epochs, p3-lr-drop on seeds 1, 2, 3.
SINUSOIDAL = [66.99, 66.23, 63.03]
ALONE_HEADS = [58.38, 63.13, 63.55]  # -8.61, +-3.10, +0.52 pp: the old larger-std rule called it "beyond"
TEN_EPOCHS = [83.69, 85.05, 79.14]
LR_DROP = [79.38, 79.89, 72.07]  # -4.31, -5.16, -7.07 pp against 10 epochs without the drop


def test_alone_heads_is_within_noise_over_three_seeds():
    text = ch07.graded_text(over("pe-sinusoidal", SINUSOIDAL), over("alone-heads", ALONE_HEADS))
    assert "within noise (3 seeds)" in text and "beyond" not in text
    assert "higher on 1 of 3 seeds, lower on 2" in text and "every" not in text


def test_the_rate_drop_is_graded_against_ten_epochs_without_it():
    assert ch07.PRIORITY3["p3-lr-drop"].control == "p3-10-epochs"
    assert dict(ch07.PRIORITY3["p3-lr-drop"].options) == {"epochs": "2x", "lr_drop_after": 3}
    text = ch07.graded_text(over("p3-10-epochs", TEN_EPOCHS), over("p3-lr-drop", LR_DROP))
    assert text.startswith("-5.51 pp") and "beyond noise" in text and "lower on every seed (3 of 3)" in text
    runs = {"pe-sinusoidal": over("pe-sinusoidal", SINUSOIDAL), "p3-10-epochs": over("p3-10-epochs", TEN_EPOCHS),
            "p3-lr-drop": over("p3-lr-drop", LR_DROP)}
    table = ch07.ablation_table(runs, {k: ch07.PRIORITY3[k] for k in ("p3-10-epochs", "p3-lr-drop")}, shown_seed=1)
    assert "| p3-10-epochs | -5.51 pp" in table and "+11." not in table


def test_cumulative_fixes_are_graded_against_the_step_before():
    controls = {name: change.control for name, change in ch07.FIXES.items()}
    assert controls == {"fix-scaled": "pe-sinusoidal", "alone-heads": "pe-sinusoidal",
                        "alone-residual-ln": "pe-sinusoidal", "alone-adamw": "pe-sinusoidal",
                        "fix-heads": "fix-scaled", "fix-residual-ln": "fix-heads", "fix-adamw": "fix-residual-ln"}


def test_one_seed_never_gets_a_verdict():
    text = ch07.graded_text([run("a", 1, [50.0])], [run("b", 1, [60.0])])
    assert text == "+10.00 pp on one seed: no verdict"
    assert ch07.grade([run("a", 1, [50.0])], [run("b", 1, [60.0])]) is None
    # two configurations on different seeds share none: no verdict either
    assert ch07.grade(over("a", [50, 51]), [run("b", 3, [60.0]), run("b", 4, [61.0])]) is None


def test_seeds_moved_says_every_seed_only_when_all_move_the_same_way():
    assert ch07.seeds_moved(over("a", [1, 1, 1]), over("b", [2, 2, 2])) == "higher on every seed (3 of 3)"
    assert "every" not in ch07.seeds_moved(over("a", [1, 1, 1]), over("b", [2, 2, 0]))


def test_fixed_model_target_needs_every_seed_and_three_of_them():
    met = ch07.fixed_text(over("fixed", [98.43, 98.66, 98.61], params=35_000))
    assert "**met**" in met and "(3 of 3 seeds at least 97.5%)" in met and "met on every seed" not in met
    two_of_three = ch07.fixed_text(over("fixed", [98.9, 99.0, 97.4], params=35_000))  # mean 98.43, one seed below
    assert "**not met**" in two_of_three and "(2 of 3 seeds at least 97.5%)" in two_of_three and "every seed (" not in two_of_three
    one_seed = ch07.fixed_text(over("fixed", [99.0], params=35_000))
    assert "**not met**" in one_seed and "one seed run" in one_seed
    too_big = ch07.fixed_text(over("fixed", [99.0, 99.0, 99.1], params=36_001))
    assert "**not met**" in too_big


def test_reproducibility_reads_the_std_against_the_write_ups_two_points():
    assert ch07.reproducibility_text(over("pe-sinusoidal", SINUSOIDAL)).count("not met") == 1  # std 2.1 pp
    assert ": met;" in ch07.reproducibility_text(over("pe-sinusoidal", [66.0, 66.5, 65.5]))
    assert "one seed run" in ch07.reproducibility_text(over("pe-sinusoidal", [66.0]))


def test_ranking_grades_each_step_down():
    runs = {"pe-a": over("pe-a", [50, 51, 52]), "pe-b": over("pe-b", [50.5, 50, 51.8]), "pe-c": over("pe-c", [10, 11, 12])}
    text = ch07.ranking_text(runs, ["pe-a", "pe-b", "pe-c"])
    # Each verdict names the pair it grades: the gap between an item and the one above it.
    assert text.startswith("a (51.0%), then b (50.8%; the gap to a above it: within noise (3 seeds)), "
                           "then c (11.0%; the gap to b above it: beyond noise)")


def test_an_interval_that_barely_excludes_zero_says_so():
    before, after = over("pe-large", [50.0, 50.0, 50.0]), over("pe-sinusoidal", [59.0, 65.0, 71.0])  # +9, +15, +21
    text, diff = ch07.graded_text(before, after), ch07.grade(before, after)
    assert diff.beyond_noise and 0 < diff.low < diff.mean / 20
    assert "barely: the interval's near end is" in text
    assert "barely" not in ch07.graded_text(over("pe-a", [50, 51, 52]), over("pe-c", [10, 11, 12]))


def test_seed_rank_and_grouping():
    runs = ch07.by_configuration([run("pe-large", 3, [53.9]), run("pe-large", 1, [51.3]), run("pe-large", 2, [44.7]),
                                  run("pe-large", 1, [0.0])])  # a second seed-1 run (a sweep's repeat) loses
    assert [r["seed"] for r in runs["pe-large"]] == [1, 2, 3] and ch07.final_acc(runs["pe-large"][0]) == 51.3
    assert ch07.seed_rank(runs["pe-large"], 1) == "2nd of 3" and ch07.seed_rank(runs["pe-large"], 9) == "not run"
    table = ch07.seeds_table(runs, {"pe-large": "pe-large"}, shown_seed=1)
    assert "| pe-large | 30,859 | 1: 51.30, 2: 44.70, 3: 53.90 | 49.97 ± 4.74 | 44.70 | 2nd of 3 | 0, 0, 0 | 71.86 |" in table


def test_claims_quote_the_write_up_and_grade_ours():
    names = {"baseline", "capacity", "lr-0.005", "pe-large", "pe-sinusoidal", "pe-zero", "pe-xavier"}
    runs = {n: over(n, [40.0 + i, 41.0 + 2 * i, 39.0 + i]) for i, n in enumerate(sorted(names))}
    table = ch07.claims_table(runs)
    assert "| more capacity (D_MODEL 16 → 64) helps | baseline → capacity | 6.69 |" in table
    assert "| sinusoidal beats large random | pe-large → pe-sinusoidal | 11.59 |" in table


def test_the_analysis_grades_every_conclusion_and_never_calls_one_seed_beyond():
    names = ["baseline", "capacity", "lr-0.001", "lr-0.003", "lr-0.005", "pe-large", "pe-sinusoidal", "pe-zero",
             "pe-xavier", *ch07.FIXES, *ch07.PRIORITY3, "fixed"]
    runs = {n: [run(n, 1, [10.0 + i, 20.0 + i], at_chance=1, loss=2.29)] for i, n in enumerate(names)}
    runs["alone-adamw"][0]["recipe"] = {"optimizer": "adamw"}
    profile = {"entropy": 3.0, "max_weight": 0.1, "token_similarity": 0.5}
    text = ch07.analysis(runs, sgd_names=names[:9], pe_names=["capacity", "pe-large", "pe-sinusoidal", "pe-zero",
                                                               "pe-xavier"],
                         label_entropy=2.30, profiles={"fix-scaled": profile, "pe-sinusoidal": profile}, seed=1)
    assert "beyond" not in text and "no verdict" in text and "**not met**" in text
    assert "**p3-lr-drop** (10 epochs, 0.01 → 0.005 after epoch 3) against p3-10-epochs" in text
    assert "of 9 plain-SGD runs, 0 never left chance" in text and "9 left it for good only after 1 or more epochs" in text
    assert "**alone-adamw** (AdamW + one-cycle alone) against pe-sinusoidal, changing AdamW + one-cycle (was plain SGD):" in text
    assert "**alone-heads** (4 heads alone) against pe-sinusoidal: " in text  # the same recorded recipe: nothing listed
    params = runs["alone-adamw"][0]["params"]
    assert f"(`alone-adamw`, {params:,} parameters)" in text and "(`fix-residual-ln`, " in text


def test_the_model_is_the_write_ups_and_refuses_an_unknown_encoding():
    assert sum(p.numel() for p in ch07.PatchAttentionNet(d_model=16, ff_dim=32).parameters()) == 3_131
    assert sum(p.numel() for p in ch07.PatchAttentionNet(**ch07.SINUSOIDAL).parameters()) == 30_859
    none = ch07.PatchAttentionNet(**dict(ch07.SINUSOIDAL, positional="none"))
    assert "pos" not in dict(none.named_parameters()) and not none.pos.any()
    with pytest.raises(ValueError, match="positional='learned' is not allowed: expected one of small"):
        ch07.PatchAttentionNet(positional="learned")


def test_the_recipe_trains_reproducibly_and_watches_the_plateau():
    generator = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(64, 1, 28, 28, generator=generator), torch.randint(0, 10, (64,), generator=generator),
                      torch.rand(32, 1, 28, 28, generator=generator), torch.randint(0, 10, (32,), generator=generator))
    first = ch07.train_patch_attention(data, ch07.BASE, seed=3, epochs=1, batch_size=16, progress=False)[1]
    state = torch.random.get_rng_state()
    before = ch07.initial_positions(ch07.BASE, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # rebuilding the start leaves the global RNG alone
    model, again = ch07.train_patch_attention(data, ch07.BASE, seed=3, epochs=1, batch_size=16, progress=False)
    assert [dict(e, seconds=0) for e in first] == [dict(e, seconds=0) for e in again]
    assert {"top_digit", "top_share"} <= set(first[0]) and not torch.equal(before, model.pos.detach())
    _, adamw = ch07.train_patch_attention(data, ch07.BASE, seed=3, optimizer="adamw", lr=0.003, epochs=1,
                                          batch_size=16, watch=False, progress=False)
    assert "top_share" not in adamw[0]
    with pytest.raises(ValueError, match="optimizer='adam' is not allowed"):
        ch07.train_patch_attention(data, ch07.BASE, seed=3, optimizer="adam")


def test_scaling_is_said_to_hurt_only_when_graded_below_zero_beyond_noise():
    flat = {"entropy": 3.8, "max_weight": 0.05, "token_similarity": 0.9}
    sharp = {"entropy": 2.0, "max_weight": 0.4, "token_similarity": 0.3}
    profiles = {"fix-scaled": flat, "pe-sinusoidal": sharp}
    hurt = ch07.grade(over("pe-sinusoidal", SINUSOIDAL), over("fix-scaled", [30.58, 29.4, 30.27]))
    assert ch07.scaling_text(profiles, 1, hurt).startswith("**Why scaling hurt**")
    assert "On this seed, scaled, the attention is closer to uniform" in ch07.scaling_text(profiles, 1, hurt)
    noise = ch07.grade(over("pe-sinusoidal", SINUSOIDAL), over("fix-scaled", ALONE_HEADS))
    assert ch07.scaling_text(profiles, 1, noise).startswith("**What scaling did**")
    assert ch07.scaling_text(profiles, 1, None).startswith("**What scaling did**")


SGD_RECIPE = dict(ch07.SINUSOIDAL, lr=0.01, optimizer="sgd", batch_size=32, epochs=5, lr_drop_after=None)
FIXED_RECIPE = dict(ch07.FIXED_SHAPE, d_model=36, ff_dim=72, blocks=3, lr=0.003, optimizer="adamw", batch_size=32,
                    epochs=5, lr_drop_after=None)


def test_which_lever_was_larger_needs_the_per_seed_gap_beyond_noise():
    runs = {"capacity": over("capacity", [44.70, 31.37, 36.32]),
            "pe-sinusoidal": over("pe-sinusoidal", SINUSOIDAL, recipe=SGD_RECIPE),
            "fixed": over("fixed", [98.43, 98.66, 98.61], params=33_383, recipe=FIXED_RECIPE)}
    text = ch07.levers_text(runs)
    assert "within noise (3 seeds), so neither lever is shown the larger" in text and "was the larger" not in text
    # every change `fixed` makes is listed, not only the named fixes: the optimizer, its rate and the new shape too
    assert ("every change it makes: scaled scores, residual + LayerNorm, 4 heads (was 1), a new shape: 3 block(s) of "
            "width 36, feed-forward 72 (was 1 of width 64, feed-forward 128), AdamW + one-cycle (was plain SGD), peak "
            "rate 0.003 (was 0.01); 33,383 parameters against 30,859)") in text
    assert "same size" not in text
    runs["capacity"] = over("capacity", [60.0, 59.0, 57.0])
    assert "more of the gain came from those changes together than from the positional encoding" in ch07.levers_text(runs)
    one = {n: r[:1] for n, r in runs.items()}
    assert "one seed run: no verdict" in ch07.levers_text(one)


def test_recipe_changes_name_everything_that_differs():
    assert ch07.recipe_changes(SGD_RECIPE, SGD_RECIPE) == []
    assert ch07.recipe_changes(SGD_RECIPE, dict(SGD_RECIPE, heads=4)) == ["4 heads (was 1)"]
    assert ch07.recipe_changes(SGD_RECIPE, dict(SGD_RECIPE, batch_size=16, epochs=10)) == [
        "batch size 16 (was 32)", "epochs 10 (was 5)"]
    assert ch07.recipe_changes(SGD_RECIPE, dict(SGD_RECIPE, lr=0.003, optimizer="adamw"))[-1] == "peak rate 0.003 (was 0.01)"


def test_size_says_larger_than_the_write_ups_model_though_within_the_limit():
    runs = {"capacity": over("capacity", [40.0], params=33_995), "alone-heads": over("alone-heads", [60.0], params=35_019),
            "fix-scaled": over("fix-scaled", [30.0], params=30_859), "big": over("big", [90.0], params=36_001)}
    text = ch07.size_text(runs, ["alone-heads", "fix-scaled", "big"])
    assert "the write-up's model (`capacity`) has 33,995 parameters and the limit is 36,000" in text
    assert "larger than the write-up's model, within the limit: alone-heads (35,019);" in text
    assert "no larger than the write-up's model: fix-scaled (30,859)" in text and "over the limit: big (36,001)" in text
    assert "within the write-up's size" not in text


def test_the_write_ups_repeat_is_its_own_pair_of_runs_beside_our_measured_spread():
    text = ch07.repeat_text({"capacity": over("capacity", [44.70, 31.37, 36.32])})
    assert "44.42% (as `capacity`) and 44.89% (as `lr-0.01`)" in text and "0.47 pp apart" in text
    assert "not a measured spread" in text and "run-to-run noise" not in text
    assert "a standard deviation over seeds of 6.74 pp, larger than that gap" in text
    steady = ch07.repeat_text({"capacity": over("capacity", [44.0, 44.1, 44.2])})
    assert "no larger than that gap" in steady and "understates" not in steady
    assert "our spread is not measured" in ch07.repeat_text({"capacity": over("capacity", [44.0])})


def test_residual_plateau_is_read_only_against_a_control_that_had_one():
    runs = {"fix-heads": [run("fix-heads", s, [30.0] * 5, at_chance=k) for s, k in ((1, 2), (2, 3), (3, 2))],
            "fix-residual-ln": over("fix-residual-ln", [94.0, 93.0, 93.5]),
            "pe-sinusoidal": over("pe-sinusoidal", SINUSOIDAL), "alone-residual-ln": over("alone-residual-ln", [90, 91, 89])}
    text = ch07.residual_plateau_text(runs)
    assert "`fix-heads` 2, 3, 2 → `fix-residual-ln` 0, 0, 0: -2.33 epochs (95% interval -3.77 to -0.90" in text
    assert "beyond noise; lower on every seed (3 of 3)" in text
    assert ("`pe-sinusoidal` 0, 0, 0 → `alone-residual-ln` 0, 0, 0: the control never sat at chance, so this pair "
            "cannot show a plateau removed") in text
    del runs["fix-heads"]
    assert "beyond" not in ch07.residual_plateau_text(runs)


def test_the_plateau_counts_a_run_that_fell_back_apart_from_one_that_never_left():
    fell_back = run("lr-0.001", 3, [11.35, 20.0, 11.35, 11.35, 11.35], at_chance=0)
    for i in (0, 2, 3, 4):
        fell_back["epochs"][i]["top_share"] = 1.0
    runs = {"lr-0.001": [run("lr-0.001", 1, [11.35] * 5, at_chance=5), fell_back],
            "lr-0.005": [run("lr-0.005", 1, [11.35, 20.0, 24.0], at_chance=1),
                         run("lr-0.005", 2, [11.35, 11.35, 15.0], at_chance=2),
                         run("lr-0.005", 3, [11.35, 30.0, 35.0], at_chance=1)],
            "fix-heads": [], "fix-residual-ln": [], "pe-sinusoidal": [], "alone-residual-ln": []}
    text = ch07.plateau_text(runs, ["lr-0.001", "lr-0.005"], 2.301)
    assert "of 5 plain-SGD runs, 1 never left chance (lr-0.001-seed1)" in text
    assert "1 left it and fell back onto it by the last epoch (lr-0.001-seed3)" in text
    assert "and 3 left it for good only after 1 or more epochs" in text
    # lr-0.001: 5 epochs at chance against 4, both end at 11.35 (a tie is not "higher"); lr-0.005: seed 2 (2 epochs)
    # against seeds 1 and 3 (1 epoch): both of those ended higher; seeds 1 and 3 tie on epochs.
    assert "of the 3 pairs of seeds that spent different numbers of epochs at chance, the seed that left sooner " \
           "ended with the higher accuracy in 2" in text
    assert "depends on when" not in text


def test_the_writeup_first_epochs_stand_beside_ours_and_say_what_the_plateau_is_not():
    at_chance = run("lr-0.001", 1, [11.35, 11.35], at_chance=2)
    text = ch07.writeup_first_epoch_text([at_chance], {"a": {"acc": 19.83, "loss": 2.283}, "b": {"acc": 30.18, "loss": 2.209}})
    assert "first epoch for 2 runs (one each): 19.83–30.18% accuracy (on which images, it does not say), training loss 2.209–2.283" in text
    assert "ours at chance stood at 11.35–11.35% test accuracy" in text and "difference between our rebuild and its runs" in text
    assert "accuracy (on which images, it does not say)" in text
    # a write-up run as low as ours: no claim that its runs never sat there
    low = ch07.writeup_first_epoch_text([at_chance], {"a": {"acc": 11.0, "loss": 2.30}})
    assert "difference between" not in low
    assert ch07.writeup_first_epoch_text([], {"a": {"acc": 19.83, "loss": 2.283}}) == ""
    assert "19.83–30.18%" in ch07.writeup_first_epoch_text([at_chance])  # the write-up's own log, from 002.json


def test_the_plan_trained_side_by_side_gives_the_histories_of_one_after_the_other(tmp_path):
    """`Investigation` with a plan and two workers (the chapter's form) against the same plan with one worker, in a
    notebook with two threads, in the quick profile, on a sliver of the images: the same histories (every planned run
    trains with one thread either way); a run asked for off the plan trains here."""
    from dataclasses import replace

    from mnistkit.chapter import start
    from mnistkit.data import load_mnist

    setup = replace(start("07_positional_encoding", profile="quick", seed=1, device="cpu", workers=2), out=tmp_path)
    data = replace(load_mnist().subset(0.01, 0.05, seed=1), mean=0.0, std=1.0)
    plan = dict(list(ch07.chapter_runs([0.003], 0.003, d_model=8, ff_dim=16, blocks=1, epochs=1).items())[:3])
    assert list(plan) == ["baseline", "capacity", "lr-0.003"]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # a 2-core laptop's notebook: one worker must still train each planned run with one thread
    try:
        alone = ch07.Investigation(data, replace(setup, workers=1), epochs=1, batch_size=32, plan=plan)
        for name, (config, options) in plan.items():
            alone.train(name, config, **options)
        assert set(alone.ahead.where.values()) == {"this notebook"} and alone.ahead.pool is None
        alone.ahead.close()
    finally:
        torch.set_num_threads(threads)
    lab = ch07.Investigation(data, setup, epochs=1, batch_size=32, plan=plan)
    for name, (config, options) in plan.items():
        lab.train(name, config, **options)
    assert set(lab.ahead.where) == set(plan) and "a worker process" in lab.ahead.where.values()
    lab.train("off-plan", ch07.BASE, lr=0.02)  # not planned: trained here
    assert "off-plan" not in lab.ahead.where
    lab.ahead.close()
    assert torch.get_num_threads() == threads

    def no_seconds(run):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in run["epochs"]]
    assert {n: no_seconds(lab.records[n]) for n in plan} == {n: no_seconds(alone.records[n]) for n in plan}


def test_a_run_s_header_names_its_rate_drop(tmp_path, capsys):
    """p3-lr-drop and p3-10-epochs differ only in the drop: the line above each run's epochs says so."""
    from dataclasses import replace

    from mnistkit.chapter import start
    from mnistkit.data import load_mnist

    setup = replace(start("07_positional_encoding", profile="quick", seed=1, device="cpu", workers=1), out=tmp_path)
    data = replace(load_mnist().subset(0.002, 0.01, seed=1), mean=0.0, std=1.0)
    lab = ch07.Investigation(data, setup, epochs=1, batch_size=32)
    capsys.readouterr()
    lab.train("p3-lr-drop", ch07.BASE, epochs=2, lr_drop_after=1)
    lab.train("p3-10-epochs", ch07.BASE, epochs=2)
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("---")]
    assert "sgd lr 0.01, halved after epoch 1, batch 32, 2 epochs" in headers[0]
    assert "sgd lr 0.01, batch 32, 2 epochs" in headers[1]
