"""Chapter 13's speedrun as a benchmark: the final recipe's training seconds (median of seeds) and its mean test
accuracy, so a change that slows the speedrun shows. Run it alone on the machine (`make bench`).

    python ci/bench_speedrun.py [--seeds 5]

Last line: `speedrun: <median> s median training, <mean>% mean test accuracy over <n> seeds (<threads> threads)`.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from mnistkit import ch13
from mnistkit.course import machine
from mnistkit.data import load_mnist


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds} is not allowed: expected at least 1")
    data = load_mnist()
    runs = [ch13.speedrun(data, seed=s, recipe=ch13.FINAL) for s in range(1, args.seeds + 1)]
    for r in runs:
        print(f"seed {r['seed']}: {r['test_acc']:.2f}% in {r['seconds']:.2f} s")
    print(f"on {machine()['cpu']}, recipe {ch13.FINAL}")
    print(f"speedrun: {ch13.median_seconds(runs):.2f} s median training, "
          f"{statistics.mean(r['test_acc'] for r in runs):.2f}% mean test accuracy over {len(runs)} seeds "
          f"({torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
