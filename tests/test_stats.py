"""The statistics of groups of runs (pytest_sacred.stats), checked against scipy's own
two-sample t-test and against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

scipy_stats = pytest.importorskip("scipy.stats")

from pytest_sacred.stats import (  # noqa: E402
    BOOTSTRAP,
    WELCH,
    bootstrap,
    group_test,
    spread,
    welch,
)

OLD = [0.91, 0.89, 0.93, 0.90, 0.92, 0.88, 0.94, 0.90]
NEW = [0.85, 0.83, 0.88, 0.84, 0.86, 0.82, 0.87]


def test_spread_of_a_group() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    found = spread(values)
    assert found.n == 5 and found.mean == 3.0
    assert found.std == pytest.approx(math.sqrt(2.5))
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4)
    assert (found.low, found.high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert found.text() == "3 ± 1.6 (1.037…4.963)"


def test_spread_of_one_value_and_of_equal_values() -> None:
    one = spread([0.5])
    assert math.isnan(one.std) and one.low is None and one.text() == "0.5 (1 run)"
    same = spread([0.5, 0.5, 0.5])
    assert (same.std, same.low, same.high) == (0.0, 0.5, 0.5)
    with pytest.raises(ValueError):
        spread([])


@pytest.mark.parametrize("direction, alternative", [(-1, "less"), (1, "greater"),
                                                    (0, "two-sided")])
def test_welch_interval_is_scipys(direction, alternative) -> None:
    found = welch(OLD, NEW, direction=direction, tolerance=0.01, relative=False,
                  confidence=0.95)
    oracle = scipy_stats.ttest_ind(NEW, OLD, equal_var=False, alternative=alternative)
    interval = oracle.confidence_interval(0.95)
    assert found.change == pytest.approx(sum(NEW) / len(NEW) - sum(OLD) / len(OLD))
    assert found.low == (None if direction < 0 else pytest.approx(interval.low))
    assert found.high == (None if direction > 0 else pytest.approx(interval.high))
    assert (found.n_old, found.n_new, found.test) == (8, 7, WELCH)


def test_welch_relative_is_percent_of_the_baseline_mean() -> None:
    absolute = welch(OLD, NEW, direction=-1, tolerance=0.0, relative=False, confidence=0.95)
    relative = welch(OLD, NEW, direction=-1, tolerance=5.0, relative=True, confidence=0.95)
    base = sum(OLD) / len(OLD)
    assert relative.change == pytest.approx(absolute.change / base * 100)
    assert relative.high == pytest.approx(absolute.high / base * 100)
    assert relative.change == pytest.approx(-6.465, abs=0.001)


@pytest.mark.parametrize("tolerance, worse", [(2.0, True), (4.3, True), (4.4, False),
                                              (8.0, False)])
def test_welch_worse_only_when_the_whole_interval_is_beyond(tolerance, worse) -> None:
    """A drop of 6.465 %: its one-sided 95 % upper bound is -4.339 %."""
    found = welch(OLD, NEW, direction=-1, tolerance=tolerance, relative=True, confidence=0.95)
    assert found.high == pytest.approx(-4.339, abs=0.001)
    assert found.worse is worse


def test_a_rise_is_not_worse_for_a_drop_rule_but_is_for_a_rise_rule() -> None:
    assert not welch(NEW, OLD, direction=-1, tolerance=1, relative=True,
                     confidence=0.95).worse
    assert welch(NEW, OLD, direction=1, tolerance=1, relative=True, confidence=0.95).worse
    assert welch(NEW, OLD, direction=0, tolerance=1, relative=True, confidence=0.95).worse


def test_higher_confidence_is_wider() -> None:
    at95 = welch(OLD, NEW, direction=0, tolerance=1, relative=True, confidence=0.95)
    at99 = welch(OLD, NEW, direction=0, tolerance=1, relative=True, confidence=0.99)
    assert at99.low < at95.low < at95.high < at99.high


def test_constant_groups_know_the_change_exactly() -> None:
    found = welch([1.0, 1.0], [0.9, 0.9, 0.9], direction=-1, tolerance=5, relative=True,
                  confidence=0.95)
    assert found.change == pytest.approx(-10) and found.high == pytest.approx(-10)
    assert found.worse
    same = bootstrap([1.0, 1.0], [1.0, 1.0], direction=0, tolerance=0, relative=True,
                     confidence=0.95)
    assert (same.low, same.high, same.worse) == (0.0, 0.0, False)


def test_from_a_zero_mean_any_change_is_infinite() -> None:
    found = welch([0.0, 0.0], [-0.1, -0.1], direction=-1, tolerance=5, relative=True,
                  confidence=0.95)
    assert found.change == -math.inf and found.worse
    # with spread, the interval of the drop reaches above zero: not worse with confidence
    spread_out = welch([0.0, 0.0], [-0.1, -0.2], direction=-1, tolerance=5, relative=True,
                       confidence=0.95)
    assert spread_out.high == math.inf and not spread_out.worse


def test_bootstrap_finds_a_real_drop_and_is_reproducible() -> None:
    rng = random.Random(1)
    old = [1 + rng.gauss(0, 0.03) for _ in range(10)]
    new = [0.9 * (1 + rng.gauss(0, 0.03)) for _ in range(10)]
    found = bootstrap(old, new, direction=-1, tolerance=5, relative=True, confidence=0.95)
    assert found.test == BOOTSTRAP and found.low is None
    assert found.high < -5 and found.worse
    assert found.change == pytest.approx((sum(new) / 10 - sum(old) / 10) / (sum(old) / 10) * 100)
    assert bootstrap(old, new, direction=-1, tolerance=5, relative=True,
                     confidence=0.95) == found
    unchanged = bootstrap(old, old[::-1], direction=-1, tolerance=5, relative=True,
                          confidence=0.95)
    assert not unchanged.worse and unchanged.high > 0


def test_bootstrap_and_welch_agree_roughly() -> None:
    w = welch(OLD, NEW, direction=0, tolerance=1, relative=True, confidence=0.9)
    b = bootstrap(OLD, NEW, direction=0, tolerance=1, relative=True, confidence=0.9)
    assert b.low == pytest.approx(w.low, abs=1.0) and b.high == pytest.approx(w.high, abs=1.0)


def test_describe_names_the_test_the_interval_and_both_sizes() -> None:
    text = welch(OLD, NEW, direction=-1, tolerance=5, relative=True,
                 confidence=0.95).describe()
    assert text == ("Welch's t-test: change of the mean -6.465 % (95 % interval -∞ … "
                    "-4.339 %), n = 8 baseline runs vs 7 runs")


def test_too_few_values_and_unknown_tests_are_refused() -> None:
    with pytest.raises(ValueError, match="two or more values a side, got 1 and 3"):
        welch([1.0], [1.0, 2.0, 3.0], direction=-1, tolerance=5, relative=True,
              confidence=0.95)
    with pytest.raises(ValueError, match="between 0 and 1"):
        welch(OLD, NEW, direction=-1, tolerance=5, relative=True, confidence=95)
    with pytest.raises(ValueError, match="expected one of welch, bootstrap"):
        group_test("mann-whitney", OLD, NEW, direction=-1, tolerance=5, relative=True,
                   confidence=0.95)
