"""Independent runs side by side (`mnistkit.parallel`): the same histories as one after the other, in order."""
import pytest
import torch
from test_train import toy_data

from mnistkit import ch01
from mnistkit.parallel import WORKERS_ENV, default_workers, side_by_side


def one_after_the_other(fn, calls: dict[str, dict]) -> dict:
    """`{name: fn(**call)}` one after the other with one thread, as `make course`'s lanes train: what a run gives
    side by side must equal this."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: fn(**call) for name, call in calls.items()}
    finally:
        torch.set_num_threads(threads)


def test_side_by_side_gives_the_histories_of_one_after_the_other_in_the_calls_order():
    data = toy_data(n=256)
    calls = [dict(data=data, seed=seed, epochs=2, batch_size=32, dropout=dropout, log=False)
             for seed, dropout in ((1, 0.2), (2, 0.1), (3, 0.0))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker runs: one thread each, so every sum runs in the same order
    try:
        one_after_the_other = [history for _, history in (ch01.skeleton(**call) for call in calls)]
    finally:
        torch.set_num_threads(threads)
    together = side_by_side(ch01.skeleton, calls, workers=2)
    assert [history for _, history in together] == [
        [dict(e, seconds=h["seconds"]) for e, h in zip(history, histories)]
        for history, histories in zip(one_after_the_other, [h for _, h in together])]
    assert all(isinstance(model, torch.nn.Module) for model, _ in together)


def test_workers_come_from_the_environment_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert default_workers() == 1
    monkeypatch.setenv(WORKERS_ENV, "two")
    with pytest.raises(ValueError, match=f"{WORKERS_ENV}='two' is not allowed: expected a whole number"):
        default_workers()
    with pytest.raises(ValueError, match="workers=0 is not allowed"):
        side_by_side(ch01.skeleton, [{}, {}], workers=0)


def test_ahead_gives_each_run_the_history_of_one_after_the_other_wherever_it_trained():
    from mnistkit.parallel import Ahead

    data = toy_data(n=256)
    calls = {f"dropout {d}": dict(data=data, seed=seed, epochs=2, batch_size=32, dropout=d, log=False)
             for seed, d in ((1, 0.2), (2, 0.1), (3, 0.0), (4, 0.3))}
    threads = torch.get_num_threads()
    expected = {name: history for name, (_, history) in one_after_the_other(ch01.skeleton, calls).items()}
    with Ahead(ch01.skeleton, calls, workers=2) as ahead:
        assert torch.get_num_threads() == 1  # beside a worker, the notebook trains with one thread too
        lesson = ch01.skeleton(data, seed=5, epochs=1, batch_size=32, dropout=0.2, log=False)  # "the lesson model"
        got = {name: ahead.result(name)[1] for name in calls}
    assert torch.get_num_threads() == threads  # given back
    assert lesson[1]
    assert {name: [dict(e, seconds=0) for e in h] for name, h in got.items()} == \
           {name: [dict(e, seconds=0) for e in h] for name, h in expected.items()}
    assert set(ahead.where.values()) <= {"a worker process", "this notebook"} and "a worker process" in ahead.where.values()


def test_ahead_trains_the_first_runs_here_and_the_worker_takes_them_from_the_last():
    from mnistkit.parallel import Ahead

    data = toy_data(n=256)
    calls = {name: dict(data=data, seed=seed, epochs=1, batch_size=32, dropout=0.1, log=False)
             for seed, name in enumerate(["first", "second", "third", "last"], start=1)}
    threads = torch.get_num_threads()
    ahead = Ahead(ch01.skeleton, calls, workers=2)
    got = {name: ahead.result(name) for name in calls}  # the chapter's order, as its cells collect them
    assert ahead.where["first"] == "this notebook" and ahead.where["last"] == "a worker process"
    assert ahead.pool is None and torch.get_num_threads() == 1  # the last run collected: workers gone, one thread
    ahead.close()
    assert torch.get_num_threads() == threads  # given back
    assert all(history for _, history in got.values())


def test_a_worker_s_run_prints_its_epoch_lines_where_it_is_collected(capsys):
    from mnistkit.parallel import Ahead

    data = toy_data(n=128)
    calls = {name: dict(data=data, seed=seed, epochs=2, batch_size=32, dropout=0.1)
             for seed, name in enumerate(["first", "last"], start=1)}
    with Ahead(ch01.skeleton, calls, workers=2) as ahead:
        capsys.readouterr()
        _, first = ahead.result("first")
        said_first = capsys.readouterr().out
        _, last = ahead.result("last")
        said_last = capsys.readouterr().out
    assert said_first.startswith("first: training in this notebook")
    assert said_last.startswith("last: trained in a worker process; what it printed:\n")
    assert said_last.count("epoch 0") == len(last) == 2 and f"test loss {last[-1]['test_loss']:.4f}" in said_last


def test_ahead_with_one_worker_trains_every_run_here_with_one_thread_so_workers_never_changes_a_history(capsys):
    from mnistkit.parallel import Ahead

    data = toy_data(n=256)
    calls = {f"dropout {d}": dict(data=data, seed=seed, epochs=2, batch_size=32, dropout=d, log=False)
             for seed, d in ((1, 0.2), (2, 0.1), (3, 0.0))}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # a 2-core laptop's notebook: one worker must still train each run with one thread
    try:
        expected = {name: history for name, (_, history) in one_after_the_other(ch01.skeleton, calls).items()}
        with Ahead(ch01.skeleton, calls, workers=1) as ahead:
            assert ahead.pool is None and torch.get_num_threads() == 1
            got = {name: ahead.result(name)[1] for name in calls}
        assert torch.get_num_threads() == 2  # given back
        assert "3 runs one after the other in this notebook, one thread each" in capsys.readouterr().out
    finally:
        torch.set_num_threads(threads)
    assert set(ahead.where.values()) == {"this notebook"}
    assert {name: [dict(e, seconds=0) for e in h] for name, h in got.items()} == \
           {name: [dict(e, seconds=0) for e in h] for name, h in expected.items()}


def test_ahead_with_one_worker_trains_everything_here_and_refuses_unknown_runs():
    from mnistkit.parallel import Ahead

    data = toy_data(n=64)
    ahead = Ahead(ch01.skeleton, {"a": dict(data=data, seed=1, epochs=1, batch_size=32, dropout=0.0, log=False)},
                  workers=1)
    assert ahead.pool is None and ahead.result("a")[1] and ahead.where == {"a": "this notebook"}
    single = Ahead(ch01.skeleton, {"a": dict(data=data, seed=1, epochs=1, batch_size=32, dropout=0.0, log=False)},
                   workers=2)  # one run: nothing beside it, so no worker takes it from the notebook
    assert single.pool is None and single.result("a")[1] and single.where == {"a": "this notebook"}
    with pytest.raises(KeyError, match="run 'b' was not started ahead"):
        ahead.result("b")
    with pytest.raises(ValueError, match="workers=0 is not allowed"):
        Ahead(ch01.skeleton, {}, workers=0)
