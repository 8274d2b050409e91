"""Independent runs side by side (`mnistkit.parallel`): the same histories as one after the other, in order."""
import pytest
import torch
from test_train import toy_data

from mnistkit import ch01
from mnistkit.parallel import WORKERS_ENV, default_workers, side_by_side


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
