"""Small-sample statistics of groups of runs (the runs of one variant with different seeds).

Pure functions of lists of numbers, no plugin state: the summary's spread of a group and
the test behind a rule with a confidence (``result:-5%@95``). The distributions come from
scipy.stats (the ``stats`` extra), imported when a function needs them.

Two tests compare the group of new runs with the baseline's group:

- **Welch's t-test** (the default): an interval of the difference of the means that does
  not assume equal variances, with Welch–Satterthwaite degrees of freedom. It is the
  textbook choice for two small independent samples whose spread may differ (a new
  training recipe often changes the spread too). A relative tolerance is read against the
  baseline group's mean, whose own uncertainty is not propagated: with a few percent of
  noise and ten runs a side it is a small fraction of the tolerance.
- **Bootstrap** (``bootstrap``): scipy's BCa interval of the change resampled from both
  groups (the relative change is resampled as a ratio, so the baseline mean's uncertainty
  is in it). No normality assumed; with under about ten runs a side its intervals are
  known to be too narrow, which is why it is not the default.

A rule naming a bad direction (``-5%``: a drop) is a one-sided question — did it get worse
by more than the tolerance with this confidence? — so its interval is one-sided: the
change is at most its upper bound (a drop rule) with that confidence. A rule without a
sign asks both ways and uses the two-sided interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: names of the tests, as a rule's verdict gives them
WELCH = "welch"
BOOTSTRAP = "bootstrap"
TESTS = (WELCH, BOOTSTRAP)
#: resamples of the bootstrap, and its fixed seed: a verdict is reproducible
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


def scipy_stats() -> Any:
    from .extras import require

    return require("scipy.stats", "stats", "a group's interval or a rule with a confidence")


@dataclass(frozen=True)
class Spread:
    """A group's mean, standard deviation and the interval of its mean (Student's t)."""

    n: int
    mean: float
    #: sample standard deviation (``n - 1``); NaN for a single value
    std: float
    #: the interval of the mean at ``confidence``; ``None`` for fewer than two values
    low: float | None
    high: float | None
    confidence: float

    def text(self) -> str:
        """``0.902 ± 0.027 (0.883…0.921)``: mean ± std (interval of the mean)."""
        if self.n < 2:
            return f"{self.mean:.4g} (1 run)"
        if self.low is None or self.high is None:
            return f"{self.mean:.4g} ± {self.std:.2g}"
        return (f"{self.mean:.4g} ± {self.std:.2g} "
                f"({self.low:.4g}…{self.high:.4g})")


def spread(values: Sequence[float], confidence: float = 0.95, interval: bool = True
           ) -> Spread:
    """The mean of ``values`` and the two-sided ``confidence`` interval of it (t with
    ``n - 1`` degrees of freedom; left out unless ``interval``, which needs scipy).
    Raises ``ValueError`` for no values."""
    n = len(values)
    if n == 0:
        raise ValueError("spread of no values")
    mean = math.fsum(values) / n
    if n < 2:
        return Spread(n, mean, math.nan, None, None, confidence)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    if std == 0:
        return Spread(n, mean, 0.0, mean, mean, confidence)
    if not interval:
        return Spread(n, mean, std, None, None, confidence)
    half = float(scipy_stats().t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Spread(n, mean, std, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class GroupTest:
    """The comparison of two groups under one rule: the change of the mean, its interval at
    the rule's confidence, and whether it is worse than the tolerance with that
    confidence. Changes are in the rule's unit: percent of the baseline mean when the
    tolerance is relative, else absolute."""

    test: str
    n_old: int
    n_new: int
    mean_old: float
    mean_new: float
    change: float
    #: the interval of the change; an open side (one-sided test) is ``None``
    low: float | None
    high: float | None
    confidence: float
    worse: bool
    #: whether changes are percent of the baseline mean
    relative: bool = False

    def describe(self) -> str:
        """The test, the interval and both sizes, for messages."""
        name = {WELCH: "Welch's t-test", BOOTSTRAP: "bootstrap (BCa)"}.get(self.test, self.test)
        return (f"{name}: change of the mean {self.change_text(self.change)} "
                f"({self.confidence * 100:g} % interval {self.interval_text()}), "
                f"n = {self.n_old} baseline runs vs {self.n_new} runs")

    def change_text(self, value: float) -> str:
        """A change (or a bound) in the rule's unit: ``-6.465 %``, ``-0.012``."""
        return f"{value:+.4g}{' %' if self.relative else ''}"

    def interval_text(self) -> str:
        low = "-∞" if self.low is None else self.change_text(self.low)
        high = "+∞" if self.high is None else self.change_text(self.high)
        return f"{low} … {high}"


def _bounds(direction: int, confidence: float, center: float, scale: float,
            quantile: Any) -> tuple[float | None, float | None]:
    """The interval of a change ``center`` whose standardised error is ``quantile`` of a
    distribution times ``scale``: one-sided towards the bad ``direction``, else two-sided."""
    if direction == 0:
        half = quantile((1 + confidence) / 2) * scale
        return center - half, center + half
    bound = quantile(confidence) * scale
    return (None, center + bound) if direction < 0 else (center - bound, None)


def _worse(direction: int, tolerance: float, low: float | None, high: float | None) -> bool:
    """Whether the whole interval lies beyond the tolerance in the bad direction."""
    too_low = high is not None and high < -tolerance
    too_high = low is not None and low > tolerance
    if direction < 0:
        return too_low
    if direction > 0:
        return too_high
    return too_low or too_high


def _relative(value: float | None, base: float) -> float | None:
    """``value`` in percent of ``|base|`` (from a zero base, any change is infinite)."""
    if value is None:
        return None
    if base != 0:
        return value / abs(base) * 100
    return math.copysign(math.inf, value) if value else 0.0


def _checked(old: Sequence[float], new: Sequence[float], confidence: float) -> None:
    if len(old) < 2 or len(new) < 2:
        raise ValueError(f"a test over groups needs two or more values a side, got "
                         f"{len(old)} and {len(new)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def welch(old: Sequence[float], new: Sequence[float], *, direction: int, tolerance: float,
          relative: bool, confidence: float) -> GroupTest:
    """Welch's t-interval of ``mean(new) - mean(old)``; see the module's docstring."""
    _checked(old, new, confidence)
    a, b = spread(old), spread(new)
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    diff = b.mean - a.mean
    if se == 0:  # both groups constant: the difference is known exactly
        low, high = _bounds(direction, confidence, diff, 0.0, lambda q: 0.0)
    else:
        df = (va + vb) ** 2 / ((va ** 2 / (a.n - 1) if va else 0.0)
                               + (vb ** 2 / (b.n - 1) if vb else 0.0))
        t = scipy_stats().t
        low, high = _bounds(direction, confidence, diff, se, lambda q: float(t.ppf(q, df)))
    if relative:
        diff_shown = _relative(diff, a.mean)
        assert diff_shown is not None
        low, high = _relative(low, a.mean), _relative(high, a.mean)
    else:
        diff_shown = diff
    return GroupTest(WELCH, a.n, b.n, a.mean, b.mean, diff_shown, low, high, confidence,
                     _worse(direction, tolerance, low, high), relative)


def bootstrap(old: Sequence[float], new: Sequence[float], *, direction: int, tolerance: float,
              relative: bool, confidence: float, resamples: int = BOOTSTRAP_RESAMPLES,
              seed: int = BOOTSTRAP_SEED) -> GroupTest:
    """scipy's BCa bootstrap interval of the change (of the relative change, resampled as a
    ratio, for a relative tolerance); see the module's docstring."""
    _checked(old, new, confidence)
    import numpy

    stats = scipy_stats()
    a, b = spread(old), spread(new)

    def change(x: Any, y: Any, axis: int = -1) -> Any:
        diff = numpy.mean(y, axis=axis) - numpy.mean(x, axis=axis)
        if not relative:
            return diff
        base = numpy.abs(numpy.mean(x, axis=axis))
        with numpy.errstate(divide="ignore", invalid="ignore"):
            return numpy.where(base != 0, diff / base * 100,
                               numpy.sign(diff) * numpy.inf)

    point = float(change(numpy.asarray(old, float), numpy.asarray(new, float)))
    if a.std == 0 and b.std == 0:  # nothing to resample: the change is known exactly
        low: float | None = point
        high: float | None = point
        if direction < 0:
            low = None
        elif direction > 0:
            high = None
    else:
        alternative = {-1: "less", 1: "greater", 0: "two-sided"}[direction]
        result = stats.bootstrap(
            (numpy.asarray(old, float), numpy.asarray(new, float)), change,
            n_resamples=resamples, confidence_level=confidence, method="BCa",
            alternative=alternative, vectorized=True, paired=False,
            rng=numpy.random.default_rng(seed))
        interval = result.confidence_interval
        low = None if direction < 0 else float(interval.low)
        high = None if direction > 0 else float(interval.high)
    return GroupTest(BOOTSTRAP, a.n, b.n, a.mean, b.mean, point, low, high, confidence,
                     _worse(direction, tolerance, low, high), relative)


def group_test(method: str, old: Sequence[float], new: Sequence[float], *, direction: int,
               tolerance: float, relative: bool, confidence: float) -> GroupTest:
    """The test named ``method`` (:data:`WELCH` or :data:`BOOTSTRAP`)."""
    if method == WELCH:
        return welch(old, new, direction=direction, tolerance=tolerance, relative=relative,
                     confidence=confidence)
    if method == BOOTSTRAP:
        return bootstrap(old, new, direction=direction, tolerance=tolerance,
                         relative=relative, confidence=confidence)
    raise ValueError(f"unknown test {method!r}; expected one of {', '.join(TESTS)}")
