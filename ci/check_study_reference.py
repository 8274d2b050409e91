"""Do the runs `mnistkit.study --test` reads for trial 0 still train as saved? Each one's first epoch, recomputed.

    python ci/check_study_reference.py [--chapter 04] [--seeds 1 2 3 4 5]
    python ci/check_study_reference.py --chapter 06 --width 16   # the frontier's family at width 16

`study.reference_runs` takes the chapter's recipe (trial 0) on the test seeds from the chapter's own saved runs
instead of training it again. A unit test shows the study's `test_run` and the chapter's recipe function train one
history; this script checks the saved runs themselves against today's code: it trains each seed's first epoch
through `test_run`'s path (stopped after one epoch through `train.watch_epochs`) and compares it with the saved
first epoch, every field exactly but the seconds (about 1.5 min a seed on one thread). Exits 1 on any difference.
"""
from __future__ import annotations

import argparse
import sys

import torch

from mnistkit import study
from mnistkit.data import load_mnist
from mnistkit.search import train_recipe
from mnistkit.train import watch_epochs

FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "lr")


class _Stop(Exception):
    pass


def first_epoch(chapter: str, width: int | None, seed: int, data) -> dict:
    seen = []

    def stop(record: dict) -> None:
        seen.append(record)
        raise _Stop

    try:
        with watch_epochs(stop):
            train_recipe(chapter, study.recipe_of(chapter, width, study.CHOSEN[chapter]), data, seed)
    except _Stop:
        pass
    return seen[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapter", default="04", choices=sorted(study.REFERENCE))
    parser.add_argument("--width", type=int, default=None, help="chapter 06: the family's width")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args(argv)
    if (args.chapter == "06") != (args.width is not None):
        parser.error(f"--width {args.width} with chapter {args.chapter}: chapter 06 needs one, chapter 04 none")
    torch.set_num_threads(1)  # the saved runs trained with one thread
    name = study.REFERENCE[args.chapter][1]
    saved = {r["seed"]: r for r in study.chapter_recipe_runs(args.chapter, args.width)}
    data, failed = load_mnist(), 0
    for seed in args.seeds:
        if seed not in saved:
            print(f"seed {seed}: no saved run of {name}")
            failed += 1
            continue
        now, then = first_epoch(args.chapter, args.width, seed, data), saved[seed]["epochs"][0]
        differ = {k: (now[k], then[k]) for k in FIELDS if now[k] != then[k]}
        print(f"seed {seed}: " + ("first epoch equal" if not differ else f"differs {differ}"), flush=True)
        failed += bool(differ)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
