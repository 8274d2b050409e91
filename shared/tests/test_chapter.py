"""What chapters share: `mnistkit.chapter` (setup and showing results), `mnistkit.models`, the 08/10 optimizer recipe."""
import inspect

import pytest
import torch

from mnistkit.chapter import show_run, show_source, start
from mnistkit.metrics import history_stats, run_record
from mnistkit.models import Net
from mnistkit.params import ParameterError
from mnistkit.paths import OUTPUTS_ENV
from mnistkit.plots import show_test_errors
from mnistkit.summary import summarize
from mnistkit.train import warmup_cosine
from mnistkit.transformer import VisionTransformer, param_groups

HISTORY = [{"epoch": e, "train_loss": 1 / e, "train_acc": 98 + e / 10, "test_loss": 1 / e, "test_acc": 99 + e / 10,
            "lr": 0.01, "seconds": 1.0} for e in range(1, 6)]


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path))
    return tmp_path


def test_start_applies_the_quick_profile_and_records_what_ran(outputs, capsys):
    setup = start("99_test", profile="quick", seed=3, device="cpu", precision="fp32", epochs=15,
                  data_fraction=1.0, test_fraction=0.5)
    assert (setup.epochs, setup.data_fraction, setup.test_fraction) == (1, 0.05, 0.2)
    assert setup.out == outputs / "99_test" and setup.out.is_dir()
    from mnistkit.course import machine

    assert setup.record() == {"seed": 3, "profile": "quick", "device": "cpu", "precision": "fp32",
                              "threads": torch.get_num_threads(), "cpu": machine()["cpu"]}
    assert "profile quick: 1 epoch on 5% of the training images, seed 3, device cpu (fp32" in capsys.readouterr().out


def test_start_leaves_the_full_profile_alone_and_epochs_optional(outputs, capsys):
    setup = start("99_test", profile="full", seed=0, device="cpu", epochs=12, data_fraction=0.5)
    assert (setup.epochs, setup.data_fraction, setup.test_fraction) == (12, 0.5, 1.0)
    no_training = start("99_test", profile="full", seed=0, device="cpu")
    assert no_training.epochs is None and "epoch" not in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.parametrize("values,message", [
    ({"profile": "slow"}, "parameter profile='slow' is not allowed"),
    ({"seed": -1}, "parameter seed=-1 is not allowed"),
    ({"epochs": 16, "max_epochs": 15}, "parameter epochs=16 is not allowed: expected an integer in [1, 15]"),
    ({"data_fraction": 0}, "parameter data_fraction=0 is not allowed"),
    ({"precision": "fp8"}, "parameter precision='fp8' is not allowed"),
    ({"device": "tpu"}, "parameter device='tpu' is not allowed"),
])
def test_start_names_a_bad_value_and_what_is_allowed(outputs, values, message):
    arguments = {"profile": "full", "seed": 1, "device": "cpu", "epochs": 5, **values}
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace("[", r"\[")):
        start("99_test", **arguments)


def test_show_source_shows_the_helpers_code(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    show_source(Net, warmup_cosine)
    assert [obj.data for obj in shown] == [inspect.getsource(Net), inspect.getsource(warmup_cosine)]


def test_show_run_draws_and_saves_the_curves_beside_the_writeups_log(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    run = run_record("model1", 6000, HISTORY, seed=1)
    show_run(run, tmp_path, title="test", writeup_log=[97.0, 98.0, 99.0])
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert "| model1 |" in shown[0].data and "| 5 |" in shown[1].data


def test_show_test_errors_saves_both_figures(tmp_path):
    class Data:
        test_x = torch.rand(40, 1, 28, 28)
        test_y = torch.arange(40) % 10

        @staticmethod
        def normalize(x):
            return x

    torch.manual_seed(0)
    predicted = show_test_errors(Net(0.1).eval(), Data, tmp_path, "test")
    assert predicted.shape == (40,)
    assert (tmp_path / "misclassified.png").exists() and (tmp_path / "confusion.png").exists()


def test_chapter_01_model_is_under_budget_and_names_its_chapter():
    summary = summarize(Net(0.2))
    assert summary.total_params == sum(p.numel() for p in Net(0.2).parameters()) < 8000
    assert "Chapter 01" in Net.__doc__


def test_chapter_01_probe_moves_dropout_without_changing_the_weights():
    import torch
    from torch import nn
    rates = {kw: [m.p for m in Net(0.2, **dict(kw)).modules() if isinstance(m, nn.Dropout)]
             for kw in ((), (("everywhere", True),), (("everywhere", True), ("on_logits", True)))}
    assert rates[()] == [0.0, 0.0, 0.2, 0.2, 0.0]  # the chapter's model: the two middle blocks only
    assert rates[(("everywhere", True),)] == [0.2] * 5
    assert rates[(("everywhere", True), ("on_logits", True))] == [0.2] * 6
    logits = Net(0.5, everywhere=True, on_logits=True).train()
    assert sum(p.numel() for p in logits.parameters()) == sum(p.numel() for p in Net(0.2).parameters())
    torch.manual_seed(0)
    out = logits(torch.randn(64, 1, 28, 28))
    assert (out == 0).float().mean() > 0.3  # in training, dropout zeroes logits themselves; in eval it does not
    assert (logits.eval()(torch.randn(64, 1, 28, 28)) == 0).float().mean() == 0


def test_history_stats_lists_the_last_epochs():
    stats = history_stats(HISTORY, last=3)
    assert stats["last3"] == [99.3, 99.4, 99.5] and stats["last3_min"] == 99.3


def test_param_groups_decay_matrices_only_and_cover_every_parameter_once():
    model = VisionTransformer(patch=7, d_model=16, depth=1, heads=2, ff_dim=32)
    decay, keep = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and keep["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in keep["params"]}
    assert not decayed & kept and decayed | kept == set(names.values())
    assert {"cls_token", "pos_embed"} <= kept and not any(n.endswith("bias") for n in decayed)
    assert all(p.ndim >= 2 for p in decay["params"]) and any("w_q" in n for n in decayed)


def test_warmup_cosine_climbs_then_falls_to_zero():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = warmup_cosine(optimizer, warmup_steps=4, total_steps=12)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4] == pytest.approx(1.0) and rates[8] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(rates[3:], rates[4:])) and optimizer.param_groups[0]["lr"] == pytest.approx(0.0)



def test_the_expected_time_comes_from_the_last_recorded_course_run(tmp_path):
    import json

    from mnistkit.chapter import expected_time

    record = tmp_path / "course_run.json"
    record.write_text(json.dumps({"jobs": 2, "machine": {"cpu": "AMD EPYC", "cores": 2},
                                  "notebooks": [{"stem": "05_strided_convs", "seconds": 3165.1, "status": "ok",
                                                 "threads": 1}]}))
    text = expected_time("05_strided_convs", 2, record)
    assert "Run All took 53 min in the course's last full run (AMD EPYC CPU, 2 cores, 1 thread, 2 chapters at a time)" \
           in text and "with 2 threads on such a machine, about 26 min at best" in text
    assert expected_time("05_strided_convs", 1, record).endswith("2 chapters at a time)")  # as it ran: no scaling
    assert expected_time("06_capstone_small", 1, record) == ""  # not in the record: nothing claimed
    cpu = json.loads(record.read_text())["machine"]["cpu"]
    assert "another" not in expected_time("05_strided_convs", 1, record, cpu=cpu)
    assert expected_time("05_strided_convs", 1, record, cpu="Other CPU").endswith(
        "; this machine's CPU is another (Other CPU): its time per core can differ severalfold")
    assert expected_time("05_strided_convs", 1, tmp_path / "missing.json") == ""
    # A chapter the course runs by itself (course.ALONE) says so, not the lanes the other chapters ran in.
    alone = json.loads(record.read_text())
    alone["notebooks"].append({"stem": "10_stacked_seq2seq", "seconds": 1992.0, "status": "ok", "threads": 2})
    record.write_text(json.dumps(alone))
    assert expected_time("10_stacked_seq2seq", 2, record).endswith("(AMD EPYC CPU, 2 cores, 2 threads, alone)")
    # Two runs side by side, one thread each, count as two threads, said as runs.
    assert "with 2 runs side by side on such a machine, about 26 min at best" in expected_time(
        "05_strided_convs", 1, record, workers=2)


def test_workers_are_checked_and_a_gpu_trains_the_runs_one_at_a_time(monkeypatch, capsys):
    import pytest

    from mnistkit import chapter
    from mnistkit.params import ParameterError

    setup = chapter.start("05_strided_convs", profile="quick", seed=1, device="cpu", workers=2)
    assert setup.workers == 2
    said = capsys.readouterr().out
    assert "independent runs 2 at a time: this notebook and 1 worker process, one thread each once" in said
    assert "device cpu (fp32, one thread per run, 2 runs at a time)" in said  # not the threads it has before they start
    assert chapter.start("05_strided_convs", profile="quick", seed=1, device="cpu").workers == 1
    with pytest.raises(ParameterError, match="workers"):
        chapter.start("05_strided_convs", profile="quick", seed=1, device="cpu", workers=0)
    monkeypatch.setattr(chapter, "pick_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(chapter, "resolve_precision", lambda precision, device: "fp32")
    assert chapter.start("05_strided_convs", profile="quick", seed=1, device="cuda", workers=2).workers == 1


def test_during_a_course_run_the_expected_time_comes_from_the_finished_run_before_it(tmp_path):
    import json

    from mnistkit.chapter import expected_time

    (tmp_path / "course_run.previous.json").write_text(json.dumps({"jobs": 2, "machine": {"cpu": "AMD EPYC", "cores": 2},
        "notebooks": [{"stem": "05_strided_convs", "seconds": 600.0, "status": "ok", "threads": 1}]}))
    running = tmp_path / "course_run.json"
    running.write_text(json.dumps({"jobs": 2, "status": "running", "notebooks": [
        {"stem": "05_strided_convs", "seconds": None, "status": "running", "threads": 1}]}))
    assert "Run All took 10 min" in expected_time("05_strided_convs", 1, running)


def test_a_chapter_run_again_since_the_course_run_expects_its_own_last_time(tmp_path):
    """The chapter's notebook in outputs/ ended after the course run finished: its own Run All (the chapter as it is
    now), with the cores its runs used and the processor they name; an older notebook leaves the course's."""
    import json

    import nbformat

    from mnistkit.chapter import expected_time
    from mnistkit.metrics import run_record, save_metrics

    record = tmp_path / "course_run.json"
    record.write_text(json.dumps({"jobs": 2, "finished": "2026-12-02T13:13:48+00:00",
                                  "machine": {"cpu": "AMD EPYC", "cores": 2},
                                  "notebooks": [{"stem": "10_stacked_seq2seq", "seconds": 2913.1, "status": "ok",
                                                 "threads": 2}]}))
    folder = tmp_path / "10_stacked_seq2seq"
    save_metrics(folder, "10_stacked_seq2seq", [run_record("seq2seq", 10, [{"epoch": 1, "test_acc": 1.0, "seconds": 60.0}], seed=1,
                                                           threads=2, cpu="Intel(R) Xeon(R) Processor")])

    def executed(end: str) -> None:
        book = nbformat.v4.new_notebook(metadata={"papermill": {"duration": 1171.3, "end_time": end}})
        nbformat.write(book, folder / "10_stacked_seq2seq.ipynb")

    executed("2026-12-04T16:12:10.5")
    text = expected_time("10_stacked_seq2seq", 2, record)
    assert text == ("expected time: Run All took 20 min in this chapter's last full run (2026-12-04, Intel(R) Xeon(R) "
                    "Processor, 2 threads)")
    assert "another (AMD EPYC)" in expected_time("10_stacked_seq2seq", 2, record, cpu="AMD EPYC")
    executed("2026-12-01T10:00:00")  # before the course run: the course's time
    assert "49 min in the course's last full run" in expected_time("10_stacked_seq2seq", 2, record)
