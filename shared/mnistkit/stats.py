"""The course's one rule for comparing recipes over seeds, and for saying whether a claim holds.

A comparison is the difference `after - before` of one measure (say, the lowest test accuracy of the last five
epochs), over several seeds:
- both recipes ran on the same seeds: the **paired** difference, seed by seed (the seed fixes the initial weights
  and the order of the batches, so pairing removes what the two runs share);
- otherwise **Welch's** difference of means (unequal variances, Welch-Satterthwaite degrees of freedom).
Either way a 95% interval from the t distribution, and the verdict "beyond noise" only when that interval excludes
zero; otherwise "within noise (n seeds)". With two seeds the t quantile is 12.7: two seeds can rarely show anything,
which is the point.

A claim over seeds ("each of the last 5 epochs >= 99.4%") is "met" only when every seed holds it; otherwise it is
"k of n seeds".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from scipy.stats import t as student_t

CONFIDENCE = 0.95


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


@dataclass(frozen=True)
class Difference:
    """`after - before` over seeds: its mean, the standard deviation of the per-seed differences (paired only; None
    for Welch), the standard error of the mean, the seeds, and the 95% interval."""

    kind: str  # "paired" or "welch"
    mean: float
    std: float | None
    se: float
    n: int  # paired: seeds in both; welch: the smaller group
    low: float
    high: float
    df: float

    @property
    def beyond_noise(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        return "beyond noise" if self.beyond_noise else f"within noise ({self.n} seeds)"

    def text(self, unit: str = "pp", decimals: int = 2) -> str:
        """E.g. '+0.06 pp (95% interval -0.02 to +0.14, paired over 5 seeds): within noise (5 seeds)'. A bound that
        is not zero but would round to ±0.00 gets the decimals it needs (+0.003), so an interval printed beyond noise
        never appears to touch zero."""
        how = f"paired over {self.n} seeds" if self.kind == "paired" else "Welch, seeds differ"
        return (f"{signed(self.mean, decimals)} {unit} (95% interval {signed(self.low, decimals)} to "
                f"{signed(self.high, decimals)}, {how}): "
                f"{self.verdict}")


def signed(value: float, decimals: int = 2, *, widen: bool = True) -> str:
    """A difference or a bound with its sign, and more decimals where `decimals` would print a non-zero value as
    ±0.00 (so an interval printed beyond noise never appears to touch zero): 0.0031 -> '+0.003', -0.00004 ->
    '-0.00004', 0.25 -> '+0.25'; zero, or float noise below 1e-6 -> '0.00' (no sign). `widen=False` keeps
    `decimals` (a table column reads alike: 0.0031 -> '0.00')."""
    places = decimals
    while widen and round(abs(value), places) == 0 and places < 6:
        places += 1
    if round(abs(value), places) == 0:
        return f"{0:.{decimals}f}"
    return f"{value:+.{places}f}"


def _check(name: str, values: Sequence[float], least: int) -> list[float]:
    values = [float(v) for v in values]
    if len(values) < least:
        raise ValueError(f"{name} has {len(values)} value(s): a 95% interval needs at least {least}")
    if any(v != v for v in values):
        raise ValueError(f"{name}={values!r} contains NaN: every seed needs a measured value")
    return values


def paired(before: Sequence[float], after: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """The paired difference after[i] - before[i] (the same seed i on both sides)."""
    before, after = _check("before", before, 2), _check("after", after, 2)
    if len(before) != len(after):
        raise ValueError(f"paired: before has {len(before)} seeds, after {len(after)}: pair the same seeds")
    mean, std = _mean_std([a - b for a, b in zip(after, before)])
    n = len(before)
    half = student_t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Difference("paired", mean, std, std / math.sqrt(n), n, mean - half, mean + half, n - 1)


def welch(before: Sequence[float], after: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Welch's difference of means, mean(after) - mean(before), for groups of different seeds."""
    before, after = _check("before", before, 2), _check("after", after, 2)
    (mb, sb), (ma, sa) = _mean_std(before), _mean_std(after)
    vb, va = sb ** 2 / len(before), sa ** 2 / len(after)
    se = math.sqrt(vb + va)
    if se == 0:
        df = float(len(before) + len(after) - 2)
    else:
        df = (vb + va) ** 2 / (vb ** 2 / (len(before) - 1) + va ** 2 / (len(after) - 1))
    half = student_t.ppf(0.5 + confidence / 2, df) * se
    n = min(len(before), len(after))
    return Difference("welch", ma - mb, None, se, n, ma - mb - half, ma - mb + half, df)


def compare(before: Sequence[dict], after: Sequence[dict], measure: Callable[[dict], float]) -> Difference:
    """`measure(after run) - measure(before run)` over run records: paired when both sides ran on the same seeds
    (each run record's "seed"), Welch's otherwise."""
    seeds_b, seeds_a = [r.get("seed") for r in before], [r.get("seed") for r in after]
    if None not in seeds_b and sorted(seeds_b) == sorted(seeds_a) and len(set(seeds_b)) == len(seeds_b):
        by_seed = {r["seed"]: r for r in after}
        return paired([measure(r) for r in before], [measure(by_seed[r["seed"]]) for r in before])
    return welch([measure(r) for r in before], [measure(r) for r in after])


@dataclass(frozen=True)
class Summary:
    """One measure over seeds: mean, std, worst (lowest), and how many seeds reach `target` (None without one)."""

    values: tuple[float, ...]
    mean: float
    std: float
    worst: float
    holding: int | None
    target: float | None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def met(self) -> bool:
        """Every seed holds the target (a claim over seeds is met only then)."""
        return self.holding is not None and self.holding == self.n

    @property
    def holds(self) -> str:
        """'met on every seed (5 of 5)', 'not met: k of n seeds hold', or '' without a target; one seed is never
        "met" (a verdict needs several seeds): 'held on the one seed run (one seed: no verdict over seeds)'."""
        if self.holding is None:
            return ""
        if self.met:
            return f"met on every seed ({self.n} of {self.n})" if self.n > 1 else "held on the one seed run (one seed: no verdict over seeds)"
        if self.n == 1:
            return "not held on the one seed run (one seed: no verdict over seeds)"
        return f"not met: {self.holding} of {self.n} seeds hold"

    def text(self, unit: str = "%") -> str:
        """E.g. '99.45 ± 0.05% over 5 seeds (worst 99.39%)'."""
        if self.n == 1:
            return f"{self.mean:.2f}{unit} (one seed)"
        return f"{self.mean:.2f} ± {self.std:.2f}{unit} over {self.n} seeds (worst {self.worst:.2f}{unit})"


def summarize(values: Sequence[float], target: float | None = None) -> Summary:
    """Mean, std (0 for one value), worst, and with a target how many values reach it."""
    values = _check("values", values, 1)
    mean, std = _mean_std(values)
    holding = None if target is None else sum(v >= target for v in values)
    return Summary(tuple(values), mean, std, min(values), holding, target)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The 95% interval of the mean of `values` (t distribution, n - 1 degrees of freedom): where the mean of many
    more seeds would likely fall. Needs at least two values."""
    values = _check("values", values, 2)
    mean, std = _mean_std(values)
    half = student_t.ppf(0.5 + confidence / 2, len(values) - 1) * std / math.sqrt(len(values))
    return mean - half, mean + half
