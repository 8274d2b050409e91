"""Chapter 01: the skeleton's recipe, `train_step` (the step it shows), and the words chapters 01-03 say about run
records, fed fabricated records: 4 of 5 seeds never read "met", one seed never gives a verdict."""
import copy
import json

import pytest
import torch
from torch import nn

from mnistkit import ch01
from mnistkit.data import TensorData
from mnistkit.metrics import chapter_runs, save_metrics, seed_runs
from mnistkit.paths import STAGE_ENV
from mnistkit.train import fit, train_step

WRITEUP = {"value": 99.2, "train_acc": 87.67, "params": 6174, "train_acc_by_epoch": [82.0, 87.0],
           "test_acc_by_epoch": [98.0, 99.2]}


def record(seed, test, train=None, *, name="model1", epochs=None, train_eval=None, sweep=None, **extra):
    """A fabricated run record: `test` is the last epochs' test accuracies (or one number: the final epoch)."""
    tests = test if isinstance(test, list) else [test]
    history = [{"epoch": i + 1, "test_acc": t, "train_acc": train if train is not None else t, "seconds": 1.0}
               for i, t in enumerate(tests)]
    if train_eval is not None:
        history[-1]["train_eval_acc"] = train_eval
    run = {"name": name, "params": 7568, "epochs": epochs or history, "seed": seed, **extra}
    if sweep:
        run["sweep"] = sweep
    return run


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.5
    y = torch.randint(0, 10, (n,), generator=g)
    x[:, :, :, :14] += (y.float() / 20).view(-1, 1, 1, 1)
    return TensorData(x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], mean=0.5, std=0.3)


# ---- train_step and the recipe

def test_train_step_is_forward_loss_zero_grad_backward_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    twin = copy.deepcopy(model)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    opt, twin_opt = (torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, twin))
    for _ in range(3):  # three steps: momentum and stale gradients would show if zero_grad were missing
        output, loss = train_step(model, opt, x, y)
        twin_opt.zero_grad()
        expected = nn.functional.cross_entropy(twin(x), y)
        expected.backward()
        twin_opt.step()
        assert torch.equal(loss.detach(), expected.detach()) and output.dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_train_step_with_a_grad_scaler_steps_like_the_plain_one():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    twin = copy.deepcopy(model)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    opt, twin_opt = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (model, twin))
    train_step(model, opt, x, y, scaler=torch.amp.GradScaler("cpu", init_scale=2.0 ** 4))
    train_step(twin, twin_opt, x, y)
    assert all(torch.allclose(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_skeleton_is_chapter_01s_recipe_and_adds_the_schedule_and_eval_mode_accuracy():
    data = toy_data()
    model, history = ch01.skeleton(data, seed=3, epochs=2, batch_size=32, step_size=1, gamma=0.5,
                                   eval_train_images=50, progress=False, log=False)
    assert [e["lr"] for e in history] == [0.02, 0.01]  # StepLR stepped after epoch 1
    assert all("train_eval_acc" in e for e in history)
    torch.manual_seed(3)  # the same run written out: the same history, bit for bit
    net = ch01.Net(0.2)
    by_hand = fit(net, torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9), data, epochs=2, batch_size=32,
                  seed=3)
    _, plain = ch01.skeleton(data, seed=3, epochs=2, batch_size=32, progress=False, log=False)
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in h] for h in (by_hand, plain)]
    assert strip[0] == strip[1] and "train_eval_acc" not in plain[0]


# ---- seeds and verdicts

FIVE = [record(1, 99.38, 99.08, train_eval=99.48), record(2, 99.19, train_eval=99.52, sweep="01-seeds"),
        record(3, 99.14, train_eval=99.48, sweep="01-seeds"), record(4, 99.17, train_eval=99.53, sweep="01-seeds"),
        record(5, 99.35, train_eval=99.57, sweep="01-seeds")]


def test_seed_table_marks_the_shown_seed_and_lists_every_seed():
    table = ch01.seed_table(FIVE, shown_seed=1)
    assert "| 1 (shown above) | this chapter |" in table and "| 5 | 01-seeds |" in table
    assert "final train % (eval mode)" in table and table.count("\n") == 6


def test_a_zero_gap_prints_unsigned_and_others_keep_their_sign():
    assert ch01.signed(-1e-12) == "0.00" and ch01.signed(0.004) == "+0.004" and ch01.signed(-0.004) == "-0.004"
    assert ch01.signed(0.3) == "+0.30" and ch01.signed(-0.21) == "-0.21"
    table = ch01.seed_table([record(1, 99.14, 99.14 + 1e-13), record(2, 99.17, 99.17 - 1e-13)], shown_seed=1)
    assert "| 0.00 |" in table and "+0.00" not in table and "-0.00" not in table


def test_every_plus_minus_is_named_as_the_standard_deviation_over_seeds():
    for text in (ch01.headline_verdict("01_skeleton", FIVE, shown_seed=1), ch01.underfitting_verdict(FIVE)):
        assert text.count("±") == 2 * text.count("(mean ± standard deviation over 5 seeds") == 2
    assert "progress bar" not in ch01.which_train_accuracy(87.0, 99.0, 99.2)


def test_headline_verdict_says_where_the_shown_seed_stands():
    text = ch01.headline_verdict("01_skeleton", FIVE, shown_seed=1)
    assert "final test %" in text and "over 5 seeds" in text and "the best of the 5" in text
    assert "met" not in text  # chapter 01's claim has no target


def lows(values):  # records whose lowest of the last 5 epochs is each value
    return [record(i + 1, [v + 0.05, v, v + 0.1, v + 0.05, v + 0.02], name="model3") for i, v in enumerate(values)]


def test_four_of_five_seeds_holding_is_not_met():
    text = ch01.headline_verdict("03_step_lr", lows([99.45, 99.41, 99.42, 99.39, 99.5]), shown_seed=1)
    assert "not met: 4 of 5 seeds" in text and "every seed" not in text and "met on" not in text
    assert "it holds the target" in text


def test_one_seed_holding_out_of_five_is_said_and_the_shown_one_is_the_only_one():
    text = ch01.headline_verdict("03_step_lr", lows([99.5, 99.32, 99.25, 99.28, 99.38]), shown_seed=1)
    assert "not met: 1 of 5 seeds" in text and "the only seed that holds the target" in text


def test_every_seed_holding_is_met():
    text = ch01.headline_verdict("03_step_lr", lows([99.45, 99.41, 99.42, 99.43, 99.5]), shown_seed=3)
    assert "met on every seed (5 of 5)" in text and "number 4 of the 5" in text


def test_one_seed_gives_no_verdict():
    text = ch01.headline_verdict("03_step_lr", lows([99.5]), shown_seed=1)
    assert "no verdict" in text and "met" not in text and "not met" not in text
    assert ch01.headline_verdict("01_skeleton", [], shown_seed=1).endswith("no run saved yet.")


def test_change_within_noise_never_says_beyond():
    before = [record(s, t) for s, t in zip(range(1, 6), [99.2, 99.3, 99.1, 99.25, 99.2])]
    after = [record(s, t) for s, t in zip(range(1, 6), [99.3, 99.2, 99.2, 99.2, 99.3])]  # +0.1,-0.1,+0.1,-0.05,+0.1
    text, graded = ch01.change_verdict(before, after, {"final test %": ch01.final_test}, labels=("a", "b"),
                                       change="A change")
    assert graded["final test %"].kind == "paired" and "within noise (5 seeds)" in text and "beyond" not in text


def test_change_with_one_seed_gives_no_verdict():
    text, graded = ch01.change_verdict([record(1, 99.0)], [record(1, 99.5)], {"final test %": ch01.final_test},
                                       labels=("a", "b"), change="A change")
    assert graded == {} and "none is graded" in text and "beyond" not in text and "within" not in text


# ---- chapter 01's plateau probe

def probe_runs(logits_train, logits_eval, logits_test=99.1):
    return [record(1, 99.38, 99.08, train_eval=99.48),
            record(1, 99.19, 98.56, name="model1-every", train_eval=99.13),
            record(1, logits_test, logits_train, name="model1-every-logits", train_eval=logits_eval)]


def test_plateau_reproduced_and_explained_on_one_seed():
    text = ch01.plateau_verdict(probe_runs(87.5, 99.0), WRITEUP)
    assert "reproduced on one seed" in text and "not a comparison over seeds" in text and "11.5 pp" in text


def test_no_plateau_says_the_hypothesis_does_not_explain_it():
    text = ch01.plateau_verdict(probe_runs(98.9, 99.0), WRITEUP)
    assert "No plateau" in text and "reproduced" not in text
    assert "did not run" in ch01.plateau_verdict(probe_runs(87.5, 99.0)[:1], WRITEUP)


def test_plateau_with_lost_capacity_says_so():
    text = ch01.plateau_verdict(probe_runs(87.5, 95.0), WRITEUP)
    assert "did cost capacity" in text and "mostly not lost capacity" not in text


def test_placement_table_has_the_write_up_row():
    table = ch01.placement_table(probe_runs(87.5, 99.0), WRITEUP)
    assert "| write-up 000, Model 1 | not published | 87.67 | – | 99.20 | -11.53 |" in table
    assert "| model1-every-logits | every block and the logits |" in table


def test_underfitting_verdict_counts_seeds():
    assert "5 of 5 seeds" in ch01.underfitting_verdict(FIVE)
    mixed = FIVE[:4] + [record(5, 99.6, train_eval=99.4)]
    text = ch01.underfitting_verdict(mixed)
    assert "4 of 5 seeds" in text and "no sign" not in text
    one = ch01.underfitting_verdict(FIVE[:1])
    assert "(one seed)" in one and "no verdict" in one and "no sign" not in one
    assert "no sign of underfitting" in ch01.underfitting_verdict(FIVE)


def test_exercise_texts():
    assert "One seed per rate, so no verdict" in ch01.dropout_gaps_text({0.0: 0.5, 0.2: -0.3, 0.3: -1.0})
    assert "It falls with every step" in ch01.dropout_gaps_text({0.0: 0.5, 0.2: -0.3, 0.3: -1.0})
    assert "does not fall" in ch01.dropout_gaps_text({0.0: 0.5, 0.2: 0.6})
    assert "sits below it" in ch01.which_train_accuracy(87.0, 99.0, 99.2)
    assert "sits above it" in ch01.which_train_accuracy(30.0, 14.0, 13.0)


# ---- the chapter reads its own runs while the course stages them

def test_chapter_runs_reads_the_staging_folder_of_the_chapter_being_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_OUTPUTS", str(tmp_path))
    save_metrics(tmp_path / "01_skeleton", "01_skeleton", [record(1, 98.0)])  # the last run
    staging = tmp_path / ".01_skeleton.staging"
    save_metrics(staging, "01_skeleton", [record(1, 99.0)])  # this run, not yet moved into place
    assert chapter_runs("01_skeleton")["model1"]["epochs"][-1]["test_acc"] == 98.0
    monkeypatch.setenv(STAGE_ENV, json.dumps({"stem": "01_skeleton", "staging": str(staging),
                                              "final": str(tmp_path / "01_skeleton")}))
    assert chapter_runs("01_skeleton")["model1"]["epochs"][-1]["test_acc"] == 99.0
    assert [r["seed"] for r in seed_runs("01_skeleton", "model1", "01-seeds")] == [1]
    monkeypatch.setenv(STAGE_ENV, json.dumps({"stem": "02_less_dropout", "staging": str(staging), "final": "x"}))
    assert chapter_runs("01_skeleton")["model1"]["epochs"][-1]["test_acc"] == 98.0


@pytest.mark.parametrize("metric,name", [("final", "final test %"), ("last5_min", "lowest test % of the last 5 epochs")])
def test_statistic_names_follow_the_readme(metric, name):
    assert ch01.statistic_name(metric) == name
