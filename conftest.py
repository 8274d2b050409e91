"""pytest hooks for the whole repository (`make test`: the helper's unit tests and nbval on every notebook).

`make test` runs on one xdist worker per core (`-n auto --dist loadfile`). A notebook's cells run in one kernel, in
order, so a file is the unit of work; notebooks that read what another notebook of the same run writes are one unit
(TOGETHER), run on one worker in the course's order; each worker's kernels get an equal share of the cores.
"""
import os
import sys
from pathlib import Path

import pytest

# Notebooks that read files another notebook writes in the same profile run on one worker, one after the other (in
# the course's order, chapters before solutions): chapters 02-04 read the runs of the chapters before them (seed
# tables, 04's journey), 06 reads 05's, 09 reads 08's ViT and 10's encoder-decoder; a solution that calls
# `chapter_file` reads its chapter's files (07's metrics, 08's checkpoint, 11's weights). Split over two workers,
# 09 would start before 10 had saved its checkpoint, and 02 would find no run of 01's on a fresh clone.
TOGETHER = (
    ("01_skeleton", "02_less_dropout", "03_step_lr", "04_augmentation"),
    ("05_strided_convs", "06_capstone_small"),
    ("07_positional_encoding", "07_positional_encoding_solutions"),
    ("08_vit", "09_vit_visualised", "10_stacked_seq2seq", "08_vit_solutions", "09_vit_visualised_solutions"),
    ("11_mlp_int8_qat", "11_mlp_int8_qat_solutions"),
)
UNIT_OF = {stem: f"notebooks {' '.join(group)}" for group in TOGETHER for stem in group}


def pytest_configure(config):
    """On an xdist worker: torch in the worker and in every kernel it starts (they inherit the environment) uses
    cores / workers threads, so two workers' kernels do not fight over two cores. A thread count set by hand stays."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 0))
    if not workers:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    # A chapter's independent runs (mnistkit.parallel) split no further than its worker's threads, as in a lane.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MNIST_COURSE_WORKERS"):
        os.environ.setdefault(name, threads)
    if "torch" in sys.modules:  # it read the variable when it was imported
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own, which returns the plain loadfile scheduler
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with the notebooks of a TOGETHER group as one unit of work."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class NotebookGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return UNIT_OF.get(Path(path).stem, path) if path.endswith(".ipynb") else path

    return NotebookGroups(config, log)


def pytest_collection_modifyitems(items):
    """nbval runs the chapters in the course's order (`mnistkit.course.course_order`): chapter 09 after chapter 10,
    whose checkpoint it reads. Other items keep their place relative to each other. On xdist workers the notebooks
    come before the unit tests: xdist hands out the units of work in this order (`--no-loadscope-reorder`), so the
    long ones start first and the short ones even out the workers' ends."""
    from mnistkit.course import course_order

    def stem(item) -> str | None:
        path = Path(str(item.fspath))
        return path.stem if path.suffix == ".ipynb" and path.parent.name == "notebooks" else None

    chapters = [s for s in dict.fromkeys(stem(item) for item in items) if s]
    rank = {s: i for i, s in enumerate(course_order(chapters))}
    slots = [i for i, item in enumerate(items) if stem(item)]  # the chapters' items move among their own places
    ordered = sorted((items[i] for i in slots), key=lambda item: rank[stem(item)])  # stable: cells keep their order
    for i, item in zip(slots, ordered):
        items[i] = item
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: Path(str(item.fspath)).suffix != ".ipynb")  # stable: notebooks first
