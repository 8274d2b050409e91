"""mnistkit.stats against scipy.stats: the one rule every comparison in the course uses."""
import pytest
from scipy import stats as scipy_stats

from mnistkit.stats import Difference, compare, paired, signed, summarize, welch

BEFORE = [99.30, 99.41, 99.35, 99.28, 99.38]
AFTER = [99.36, 99.40, 99.45, 99.31, 99.44]


def test_paired_interval_is_scipys():
    ours = paired(BEFORE, AFTER)
    ref = scipy_stats.ttest_rel(AFTER, BEFORE).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert ours.mean == pytest.approx(sum(AFTER) / 5 - sum(BEFORE) / 5)
    assert ours.n == 5 and ours.df == 4 and ours.kind == "paired"


def test_welch_interval_is_scipys():
    after = AFTER[:3] + [99.50]
    ours = welch(BEFORE, after)
    ref = scipy_stats.ttest_ind(after, BEFORE, equal_var=False).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert ours.df == pytest.approx(scipy_stats.ttest_ind(after, BEFORE, equal_var=False).df)
    assert ours.std is None and ours.n == 4


def test_an_interval_across_zero_is_never_beyond_noise():
    # Chapter 07's alone-heads: per seed -8.6, -3.1, +0.5 pp. A "larger std" rule called it beyond the spread.
    diff = paired([90.0, 90.0, 90.0], [81.4, 86.9, 90.5])
    assert diff.low < 0 < diff.high
    assert not diff.beyond_noise and diff.verdict == "within noise (3 seeds)"
    assert "beyond" not in diff.text()


def test_a_bound_that_would_round_to_zero_gets_the_decimals_it_needs():
    # Chapter 07's sinusoidal vs large random printed "95% interval +0.00 to +30.85 ... beyond noise".
    diff = Difference("paired", 15.43, 6.2, 3.58, 3, 0.0031, 30.85, 2)
    assert diff.beyond_noise
    assert "95% interval +0.003 to +30.85" in diff.text()
    assert "-0.00004 to" in Difference("paired", 1.0, 1.0, 0.5, 3, -0.00004, 2.0, 2).text()
    assert "0.00 pp (95% interval 0.00 to 0.00," in Difference("paired", 0.0, 0.0, 0.0, 3, 0.0, 0.0, 2).text()
    assert signed(-1e-12) == "0.00" and signed(0.0) == "0.00"
    assert signed(-1.234) == "-1.23" and signed(0.0049) == "+0.005"
    assert signed(0.0031, widen=False) == "0.00" and signed(-0.25, widen=False) == "-0.25"  # a column keeps 2


def test_a_steady_shift_is_beyond_noise_paired_though_the_seeds_spread_widely():
    before = [98.0, 99.0, 97.0, 99.5]
    diff = paired(before, [b + 0.3 + 0.01 * i for i, b in enumerate(before)])
    assert diff.beyond_noise and diff.verdict == "beyond noise" and diff.low > 0
    assert not welch(before, [b + 0.3 for b in before]).beyond_noise  # unpaired, the spread swamps it


def test_compare_pairs_by_seed_and_falls_back_to_welch():
    runs = lambda values, seeds: [{"seed": s, "v": v} for s, v in zip(seeds, values)]  # noqa: E731
    measure = lambda r: r["v"]  # noqa: E731
    by_seed = compare(runs(BEFORE, [1, 2, 3, 4, 5]), runs(AFTER[::-1], [5, 4, 3, 2, 1]), measure)
    assert by_seed.kind == "paired" and by_seed.low == pytest.approx(paired(BEFORE, AFTER).low)
    assert compare(runs(BEFORE, [1, 2, 3, 4, 5]), runs(AFTER[:3], [6, 7, 8]), measure).kind == "welch"


def test_too_few_or_unmeasured_values_are_refused_by_name():
    with pytest.raises(ValueError, match="before has 1 value"):
        paired([99.3], [99.4])
    with pytest.raises(ValueError, match="pair the same seeds"):
        paired([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        welch([1, float("nan")], [1, 2])


def test_met_only_when_every_seed_holds():
    four_of_five = summarize([99.45, 99.41, 99.39, 99.50, 99.47], target=99.4)
    assert four_of_five.holding == 4 and not four_of_five.met
    assert four_of_five.holds == "not met: 4 of 5 seeds hold" and "every" not in four_of_five.holds
    assert summarize([99.45, 99.41], target=99.4).holds == "met on every seed (2 of 2)"
    assert summarize([99.45], target=99.4).holds == "held on the one seed run (one seed: no verdict over seeds)"
    assert summarize([99.35], target=99.4).holds == "not held on the one seed run (one seed: no verdict over seeds)"
    s = summarize([99.45, 99.41, 99.39, 99.50, 99.47])
    assert s.worst == 99.39 and s.holds == "" and s.std == pytest.approx(scipy_stats.tstd(s.values))
    assert s.text() == "99.44 ± 0.04% over 5 seeds (worst 99.39%)"


def test_the_interval_of_a_mean_is_the_t_interval_and_needs_two_values():
    from mnistkit.stats import mean_interval

    low, high = mean_interval([1.0, 2.0, 3.0])  # mean 2, std 1, t(0.975, 2) = 4.303
    assert low == pytest.approx(2 - 4.3027 / 3 ** 0.5, abs=1e-3) and high == pytest.approx(2 + 4.3027 / 3 ** 0.5, abs=1e-3)
    with pytest.raises(ValueError, match="needs at least 2"):
        mean_interval([1.0])
