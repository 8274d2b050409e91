"""The training loop: same seed, same history; it learns; early stopping works."""
import pytest
import torch
from torch import nn

from mnistkit.augment import RandomAffine
from mnistkit.data import TensorData
from mnistkit.train import CLASSIFY, Task, fit, per_batch, progress_as


def toy_data(n=512, seed=0):
    """Two classes separable by brightness of the left half, with noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.5
    y = torch.randint(0, 2, (n,), generator=g)
    x[y == 1, :, :, :14] += 0.5
    return TensorData(x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], mean=0.5, std=0.3)


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(4), nn.Dropout(0.2),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64, 2))


def run(seed, epochs=3):
    torch.manual_seed(seed)  # model initialisation
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return fit(model, opt, toy_data().augmented(RandomAffine(10, 0.1)), epochs=epochs, batch_size=32, schedule=sched,
               seed=seed)


def without_time(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


def test_same_seed_gives_the_same_history_on_cpu():
    a, b = run(seed=7), run(seed=7)
    assert without_time(a) == without_time(b)
    assert without_time(run(seed=8)) != without_time(a)


def test_history_fields_and_learning():
    history = run(seed=1, epochs=4)
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert [e["lr"] for e in history] == [0.05, 0.05, 0.025, 0.025]  # the rate used in each epoch
    assert set(history[0]) >= {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert history[-1]["test_acc"] > 90


def test_on_epoch_end_can_stop_training():
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    history = fit(model, opt, toy_data(), epochs=10, on_epoch_end=lambda rec: rec["epoch"] == 2)
    assert len(history) == 2


def test_early_stopping_stops_after_patience_and_restores_best():
    from mnistkit.train import EarlyStopping
    model = nn.Linear(2, 2)
    stopper = EarlyStopping(model, patience=2)
    losses = [1.0, 0.5, 0.6, 0.4, 0.45, 0.41]
    decisions = []
    for epoch, loss in enumerate(losses, start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        decisions.append(stopper({"epoch": epoch, "test_loss": loss}))
    assert decisions == [False, False, False, False, False, True]
    assert stopper.best_epoch == 4 and stopper.stopped_epoch == 6
    stopper.restore()
    assert torch.all(model.weight == 4)


def test_validation_split_holds_out_training_images_only():
    data = toy_data(n=512)
    split = data.validation_split(56, seed=1)
    assert len(split.train_x) == 200 and len(split.test_x) == 56
    assert torch.equal(split.test_x, data.train_x[torch.randperm(256, generator=torch.Generator().manual_seed(1))[:56]])


def test_early_stopping_stops_at_once_on_divergence():
    from mnistkit.train import EarlyStopping
    stopper = EarlyStopping(nn.Linear(2, 2), patience=5)
    assert not stopper({"epoch": 1, "test_loss": 0.9})
    assert stopper({"epoch": 2, "test_loss": float("nan")})
    assert stopper.diverged and stopper.stopped_epoch == 2 and stopper.best_epoch == 1


def test_batch_scheduler_steps_once_per_batch():
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # 256 training images in batches of 32: 8 steps an epoch, 16 in all.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=16)
    history = fit(model, opt, toy_data(), epochs=2, batch_size=32, schedule=per_batch(sched))
    assert sched.last_epoch == 16
    assert history[0]["lr"] < history[1]["lr"]  # warm-up: epoch 2 starts at a higher rate than epoch 1


def test_progress_is_text_on_stdout_unless_asked_for_widgets(monkeypatch, capsys):
    from mnistkit.train import PROGRESS_ENV, progress_style

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress_style() == "text"
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), toy_data(), epochs=1, batch_size=32)
    captured = capsys.readouterr()
    assert "epoch=01" in captured.out and "epoch=01" not in captured.err  # stderr reads as a warning in JupyterLab
    monkeypatch.setenv(PROGRESS_ENV, "bars")
    with pytest.raises(ValueError, match="MNIST_COURSE_PROGRESS='bars' is not allowed: expected one of text, widget"):
        progress_style()


def test_a_validation_split_is_its_own_field_and_fit_evaluates_it_beside_the_test_set(capsys):
    data = toy_data().split_validation(64, seed=3)
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == (192, 64, 256)
    assert "validation (64, 1, 28, 28)" in repr(data)
    torch.manual_seed(0)
    model = small_cnn()
    history = fit(model, torch.optim.SGD(model.parameters(), lr=0.05), data, epochs=2, batch_size=32)
    assert list(history[0])[:7] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]
    assert "| val loss" in capsys.readouterr().out
    held_out = {tuple(x.flatten().tolist()[:20]) for x in data.val_x}
    assert not held_out & {tuple(x.flatten().tolist()[:20]) for x in data.train_x}
    with pytest.raises(ValueError, match="validation size 256 is not allowed: expected 1 to 255"):
        toy_data().split_validation(256)


def test_without_a_validation_split_the_record_is_as_before():
    assert list(run(seed=1, epochs=1)[0]) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"]


def test_finish_by_anneals_in_its_steps_then_holds_the_last_rate():
    from mnistkit.train import FinishBy
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # OneCycleLR over the first 2 epochs (8 steps each), then the rate stays where it ended for epochs 3 and 4.
    sched = FinishBy(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=16), steps=15)
    history = fit(model, opt, toy_data(), epochs=4, batch_size=32, schedule=per_batch(sched))
    assert sched.count == 15 and sched.scheduler.last_epoch == 15
    assert history[2]["lr"] == history[3]["lr"] == pytest.approx(0.1 / 25 / 1e4)


def test_fit_scores_the_moving_average_when_given_one():
    from mnistkit.train import evaluate, moving_average
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    average = moving_average(model, 0.9)
    data = toy_data()
    history = fit(average, opt, data, epochs=2, batch_size=32)  # trains `model`, scores the average
    assert average.n_averaged.item() == 16  # updated after every one of the 16 steps
    scored = evaluate(average, data.test_x, data.test_y, data.normalize)
    assert history[-1]["test_acc"] == scored["acc"]
    assert any((a != b).any() for a, b in zip(average.module.parameters(), model.parameters()))
    with pytest.raises(ValueError, match="decay=1.5 is not allowed"):
        moving_average(model, 1.5)


def test_set_bn_momentum_and_early_padding_keep_the_parameter_count():
    from mnistkit.models import Net, set_bn_momentum
    net, padded = Net(0.1), set_bn_momentum(Net(0.1, early_padding=1), 0.01)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in padded.parameters()) == 7568
    assert {m.momentum for m in padded.modules() if isinstance(m, nn.BatchNorm2d)} == {0.01}
    assert padded.features[:3](torch.zeros(1, 1, 28, 28)).shape[-1] == 14  # 28 px until the pool
    with pytest.raises(ValueError, match="momentum=0 is not allowed"):
        set_bn_momentum(net, 0)


def test_separable_net_fits_the_budgets_and_rejects_bad_widths():
    from mnistkit.models import SeparableNet, separable_block
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(SeparableNet(0.1)) == 7356 < 8000  # chapter 04's budget
    assert count(SeparableNet(0.0, width=23, early=12)) < 4000  # chapter 06's
    depthwise, pointwise = separable_block(36, 0.0)[:2]
    assert count(depthwise) == 9 * 36 and count(pointwise) == 36 * 36  # 9c + c^2, not 9c^2
    for kw in (dict(), dict(strided=True), dict(width=23, early=12), dict(width=32, blocks=4)):
        assert SeparableNet(0.1, **kw).eval()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="width=0 is not allowed"):
        SeparableNet(0.1, width=0)


def test_fit_has_at_most_ten_parameters():
    import inspect
    assert len(inspect.signature(fit).parameters) <= 10, list(inspect.signature(fit).parameters)


def test_a_task_sets_the_loss_the_count_and_extra_metrics():
    def half_right(output, y):  # a metric that counts every sample as half right
        return torch.tensor(len(y) / 2)

    torch.manual_seed(0)
    model = small_cnn()
    task = Task(metrics={"half": half_right})
    history = fit(model, torch.optim.SGD(model.parameters(), lr=0.05), toy_data(), epochs=1, batch_size=32, task=task)
    assert history[0]["half"] == 50.0 and CLASSIFY.metrics == {} and not CLASSIFY.teacher_forcing


def test_teacher_forcing_calls_the_model_with_the_targets():
    calls = []

    class Reader(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(28 * 28, 2)

        def forward(self, x, y=None):
            calls.append(y is not None)
            return self.linear(x.flatten(1))

    fit(Reader(), torch.optim.SGD(Reader().parameters(), lr=0.1), toy_data(), epochs=1, batch_size=128,
        task=Task(teacher_forcing=True))
    assert calls == [True, True, False]  # two training batches read y; evaluation (one batch of 256) does not


def test_progress_as_none_is_silent_and_a_bad_style_is_named(capsys):
    torch.manual_seed(0)
    model = small_cnn()
    with progress_as("none"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.05), toy_data(), epochs=1, batch_size=32)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="progress style 'loud' is not allowed: expected one of text, widget, epoch"):
        with progress_as("loud"):
            pass


def test_a_validation_split_in_place_of_the_test_set_is_recorded_as_val(capsys):
    data = toy_data().validation_split(64, seed=3)
    torch.manual_seed(0)
    model = small_cnn()
    history = fit(model, torch.optim.SGD(model.parameters(), lr=0.05), data, epochs=1, batch_size=32)
    assert "val_acc" in history[0] and "test_acc" not in history[0] and "| val loss" in capsys.readouterr().out


def test_both_validation_splits_hold_out_the_same_images():
    data = toy_data()
    beside, instead = data.split_validation(40, seed=2), data.validation_split(40, seed=2)
    assert torch.equal(beside.val_x, instead.test_x) and torch.equal(beside.train_x, instead.train_x)
    assert instead.eval_name == "val" and beside.eval_name == "test" and torch.equal(beside.test_x, data.test_x)
    with pytest.raises(ValueError, match="validation size 256 is not allowed: expected 1 to 255"):
        data.validation_split(256)


def test_watch_epochs_sees_every_epoch_and_can_stop_a_run_it_did_not_start():
    from mnistkit.train import watch_epochs

    data = toy_data()
    seen = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with watch_epochs(lambda record: seen.append(record["epoch"])):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, epochs=3, batch_size=32)
    assert seen == [1, 2, 3]

    class Stop(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop), watch_epochs(stop_after_two):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, epochs=5, batch_size=32)
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, epochs=1, batch_size=32)  # outside: no watcher
