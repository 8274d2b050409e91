"""Independent runs side by side: a chapter's models that do not depend on each other, one worker process each.

    from mnistkit.parallel import side_by_side
    results = side_by_side(ch05.train, [dict(data=data, seed=1, **recipe) for recipe in recipes], workers=2)

Several chapters train models that do not depend on each other (05's write-up models, 07's strategies, 01's
probes, 10's ablation). One after the other, a 2-core laptop keeps one core idle for small models that use one
core about as well as two. `side_by_side` runs each call of a recipe function in its own process (spawned, one
torch thread each), `workers` at a time, and returns the results in the order of the calls. With the same seeds and
one thread each, the histories are the ones the calls give one after the other in one process with one thread (a
test checks it); with more threads a sum runs in another order and the last digits differ, as anywhere in the course.

`workers`: the number of processes; None reads $MNIST_COURSE_WORKERS, else the machine's cores. `make course`
already runs two chapters side by side, one core each, and sets it to 1 there: a lane does not split again.
The function must be importable by name (a module-level function, such as a chapter's recipe in `mnistkit.chNN`),
and its arguments and results picklable (tensors, models, dicts); workers print nothing (`progress_as("none")`).
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

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
