"""Independent runs side by side: a chapter's models that do not depend on each other, one worker process each.

    from mnistkit.parallel import side_by_side
    results = side_by_side(ch05.train, [dict(data=data, seed=1, **recipe) for recipe in recipes], workers=2)

Several chapters train models that do not depend on each other (05's write-up models, 07's strategies, 01's
probes, 10's ablation). One after the other, a 2-core laptop keeps one core idle for small models that use one
core about as well as two. `side_by_side` runs each call of a recipe function in its own process (spawned, one
torch thread each), `workers` at a time, and returns the results in the order of the calls. With the same seeds and
one thread each, the histories are the ones the calls give one after the other in one process with one thread (a
test checks it); with more threads a sum runs in another order and the last digits differ, as anywhere in the course.

`Ahead` is the chapters' form: the notebook trains the chapter's first runs where the student sees them, while
`workers - 1` processes take its runs from the last one backwards; when the chapter reaches a run, it collects it
from its worker, or trains it in the notebook if no worker has started it yet. So a 2-core laptop runs two at a
time, and the cells still read in the chapter's order.

`workers`: the number of processes; None reads $MNIST_COURSE_WORKERS, else the machine's cores. `make course`
already runs two chapters side by side, one core each, and sets it to 1 there: a lane does not split again.
The function must be importable by name (a module-level function, such as a chapter's recipe in `mnistkit.chNN`),
and its arguments and results picklable (tensors, models, dicts); workers print nothing (`progress_as("none")`).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any, Callable

from .chapter import plural

WORKERS_ENV = "MNIST_COURSE_WORKERS"


def default_workers() -> int:
    """$MNIST_COURSE_WORKERS when set (1 inside `make course`'s lanes), else the machine's cores."""
    value = os.environ.get(WORKERS_ENV)
    if value is None:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WORKERS_ENV}={value!r} is not allowed: expected a whole number of workers, at least 1")
    return int(value)


def _one(fn: Callable, kwargs: dict) -> Any:
    import torch

    from .train import progress_as

    torch.set_num_threads(1)
    with progress_as("none"):
        return fn(**kwargs)


def _one_printed(fn: Callable, kwargs: dict) -> tuple[Any, str]:
    """`_one`, with what the run prints (a line per epoch) kept and returned beside its result."""
    import contextlib
    import io

    import torch

    from .train import progress_as

    torch.set_num_threads(1)
    printed = io.StringIO()
    with progress_as("epoch"), contextlib.redirect_stdout(printed):
        result = fn(**kwargs)
    return result, printed.getvalue()


def side_by_side(fn: Callable, calls: list[dict], workers: int | None = None) -> list:
    """`[fn(**call) for call in calls]`, `workers` processes at a time, results in the order of `calls`. One worker
    (or one call) runs them here, one after the other, with this process's threads and progress."""
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed: expected a whole number, at least 1")
    if workers == 1 or len(calls) <= 1:
        return [fn(**call) for call in calls]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads or open kernels
    with ProcessPoolExecutor(max_workers=min(workers, len(calls)), mp_context=context) as pool:
        futures = [pool.submit(_one, fn, call) for call in calls]
        return [future.result() for future in futures]


class Ahead:
    """The runs `calls` (name -> keyword arguments of `fn`, in the chapter's order) shared between this process and
    `workers - 1` worker processes; `result(name)` gives a run's result: from its worker when one has started it
    (waiting for it to end), else trained here, now, with this process's progress.

    The chapter collects its runs in order, from the first; the workers take them from the last, one at a time, each
    when it is free, starting at once. So this process trains the first runs where the student sees them, the
    workers the last ones, and the two meet in the middle: at most one run's wait, and never a worker holding runs
    it has not started. A worker's run prints its line per epoch into a buffer; `result` prints those lines when
    it collects the run, so the cell that collects it shows what the run showed, whichever process trained it.

    Every run trains with one thread, wherever it trains and however many `workers` there are: from the start this
    process trains with one thread, as the workers do, so `workers` changes how long a chapter takes, never its
    numbers (each run has the history it has one after the other with one thread, as in `make course`'s lanes), and
    a record made after collecting a run says the threads it trained with. When the last run is collected the
    workers end; this process keeps one thread until `close()` (or the end of a `with` block). One worker: nothing
    starts, every `result` trains here, one after the other, still with one thread. A single run has nothing to
    run beside it and nothing to agree with: it trains here with this process's threads."""

    def __init__(self, fn: Callable, calls: dict[str, dict], workers: int | None = None):
        workers = default_workers() if workers is None else workers
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers={workers!r} is not allowed: expected a whole number, at least 1")
        self.fn, self.calls, self.where = fn, dict(calls), {}
        self.pending = list(self.calls)  # not started yet, in the chapter's order: this process takes from the front
        self.futures: dict[str, Future] = {}  # started by a worker, not collected yet
        self.lock = threading.Lock()
        self.pool, self.threads, self.feeders = None, None, []
        if len(self.calls) < 2:  # one run: nothing beside it, nothing to agree with: it trains here, threads as they are
            return
        import torch

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread a run, so the histories do not depend on `workers`
        if workers == 1:
            if self.threads > 1:
                print(f"{plural(len(self.calls), 'run')} one after the other in this notebook, one thread each (as "
                      f"side by side, so the histories do not depend on `workers`; more workers take less time)")
            return
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads or kernels
        count = min(workers - 1, len(self.calls))
        self.pool = ProcessPoolExecutor(max_workers=count, mp_context=context)
        self.feeders = [threading.Thread(target=self._feed, daemon=True) for _ in range(count)]
        for feeder in self.feeders:
            feeder.start()
        last = list(self.calls)[-1]
        print(f"{plural(count, 'worker process')} started: from the last run ({last}) back, while this process "
              f"trains from the first; {plural(count + 1, 'run')} at a time, one thread each")

    def _feed(self) -> None:
        """One worker's loop: take the last run nobody has started, wait for it to end, again."""
        while True:
            with self.lock:
                if not self.pending or self.pool is None:
                    return
                name = self.pending.pop()
                try:
                    future = self.pool.submit(_one_printed, self.fn, self.calls[name])
                except Exception as error:  # a broken pool: the run fails where the chapter collects it
                    future = Future()
                    future.set_exception(error)
                self.futures[name] = future
            wait([future])

    def result(self, name: str, **here) -> Any:
        """Run `name`'s result. `here`: keyword arguments added only when this process trains it, such as a display
        callback, which cannot travel to a worker (a worker's run gets the call's arguments alone)."""
        if name not in self.calls:
            raise KeyError(f"run {name!r} was not started ahead: expected one of {sorted(self.calls)}")
        with self.lock:
            future = self.futures.pop(name, None)
            if name in self.pending:
                self.pending.remove(name)
        if future is not None:  # a worker has it (or had it): wait for its result
            self.where[name] = "a worker process"
            try:
                result, printed = future.result()
            finally:
                self._close_when_done()
            print(f"{name}: trained in a worker process; what it printed:\n{printed}", end="")
            return result
        self.where[name] = "this notebook"
        if self.feeders:  # beside workers, say where each run trains
            print(f"{name}: training in this notebook")
        try:
            return self.fn(**self.calls[name], **here)
        finally:
            self._close_when_done()

    def _close_when_done(self) -> None:
        with self.lock:
            done = not self.pending and not self.futures
        if done:
            self._stop()

    def _stop(self) -> None:
        with self.lock:
            self.pending.clear()
            pool, self.pool = self.pool, None
        if pool is not None:
            for feeder in self.feeders:
                feeder.join()
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (runs nobody collected are dropped: a running one is waited for) and give this process
        its threads back."""
        self._stop()
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
            self.threads = None

    def __enter__(self) -> "Ahead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
