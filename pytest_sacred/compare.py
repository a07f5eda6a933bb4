"""Regression checks (DESIGN §6): each run against an earlier run of the same variant.

The baseline of a variant is an earlier COMPLETED run of the same experiment whose config
equals the variant's, ``seed`` aside, in the first store of the session that can be read
(or ``--sacred-compare-store``). Baselines are looked up once per session, before any run
is stored, with one ``list_runs`` per experiment name; a run can therefore never be its own
baseline, nor that of a sibling run of the same session.

Rules (``--sacred-compare-fail``) name a quantity and a tolerance whose sign is the bad
direction. A rule that cannot be judged (no baseline, a metric one side lacks, a value that
is not a number) is a :class:`BaselineWarning`, never a silent pass; ``-W
error::pytest_sacred.compare.BaselineWarning`` makes those failures too.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .options import Options
    from .readers.base import Reader, StoredRun
    from .stats import GroupTest

GRAMMAR = (
    "result:TOL or metric:NAME:TOL, TOL being [+|-]NUMBER[%]; the sign is the bad direction "
    "(result:-5% fails on a drop of the result of more than 5 %, metric:loss:+2% on a rise "
    "of the final loss of more than 2 %, result:-0.01 on a drop of more than 0.01), no sign "
    "means either way (result:0: must reproduce exactly); over groups of seeds a rule may "
    "end in @CONFIDENCE (result:-5%@95: a drop of more than 5 % with 95 % confidence)")
MODES = "last, best or a run id"


class BaselineWarning(UserWarning):
    """A regression check that could not be made: no baseline, or nothing to compare."""


class RuleError(ValueError):
    """A ``--sacred-compare-fail`` expression that does not parse."""


# -- options -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareOptions:
    """The regression-check options of one session (read by :func:`read_options`)."""

    #: ``"last"``, ``"best"``, a run id, or ``None`` (no comparison asked for)
    mode: str | int | None
    rules: tuple[Rule, ...]
    store: str | None
    save_baseline: str | None
    baseline_artifacts: bool
    #: ``--sacred-name``: the experiment name the runs are stored under
    experiment_name: str | None
    #: the test of rules with a confidence (``--sacred-compare-test``)
    test: str = "welch"


def parse_mode(value: str) -> str | int:
    """``last``, ``best`` or a positive run id; raises :class:`pytest.UsageError`."""
    if value in ("last", "best"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise pytest.UsageError(f"--sacred-compare={value}: give {MODES} (e.g. --sacred-compare=last)")


def read_options(options: Options) -> CompareOptions:
    """The regression-check options, checked; usage errors name the option and the fix.

    Rules or a compare store without ``--sacred-compare`` compare with the ``last`` run.
    """
    try:
        rules = tuple(parse_rule(text) for text in options.compare_fail)
    except RuleError as exc:
        raise pytest.UsageError(str(exc)) from None
    mode: str | int | None = None
    if options.compare is not None:
        mode = parse_mode(options.compare)
    elif rules or options.compare_store:
        mode = "last"
    if options.baseline_artifacts and not options.save_baseline:
        raise pytest.UsageError("--sacred-baseline-artifacts applies to --sacred-save-baseline "
                                "DIR, which is not given")
    if any(r.confidence is not None for r in rules):
        from .extras import MissingExtra
        from .stats import scipy_stats

        try:
            scipy_stats()
        except MissingExtra as exc:
            raise pytest.UsageError(f"--sacred-compare-fail "
                                    f"{next(r.text for r in rules if r.confidence)}: "
                                    f"{exc}") from None
    return CompareOptions(mode, rules, options.compare_store, options.save_baseline,
                          options.baseline_artifacts, options.name, options.compare_test)


# -- rules ------------------------------------------------------------------------------------

_TOLERANCE = re.compile(r"([+-]?)((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(%?)")


@dataclass(frozen=True)
class Rule:
    """One ``--sacred-compare-fail`` expression."""

    text: str
    #: the metric whose final value is checked; ``None``: the run's result
    metric: str | None
    #: -1: a drop is bad, +1: a rise is bad, 0: either
    direction: int
    tolerance: float
    relative: bool
    #: ``@95`` as 0.95: judged over groups of seeds by a statistical test; ``None``: the
    #: values (of one run, or the means of groups) are compared as they are
    confidence: float | None = None

    @property
    def subject(self) -> str:
        return "result" if self.metric is None else self.metric

    def describe(self) -> str:
        """The rule in words, for failure messages."""
        what = "the result" if self.metric is None else f"the final {self.metric!r}"
        if self.tolerance == 0 and self.direction == 0:
            return f"{what} must be reproduced exactly"
        amount = f"{self.tolerance:g}{' %' if self.relative else ''}"
        way = {-1: "a drop", 1: "a rise", 0: "a change"}[self.direction]
        sure = ("" if self.confidence is None
                else f" with {self.confidence * 100:g} % confidence")
        return f"{way} of {what} of more than {amount}{sure} fails"

    def violated(self, change: Change) -> bool | None:
        """Whether ``change`` breaks the rule; ``None`` when it cannot be judged."""
        if not change.numeric:
            if self.tolerance == 0 and self.direction == 0:
                differs: bool = change.new != change.old
                return differs
            return None
        old, new = float(change.old), float(change.new)
        if math.isnan(old):
            return None
        if math.isnan(new):
            return True
        amount = new - old
        if self.relative:
            if old != 0:
                amount = amount / abs(old) * 100
            elif amount:
                amount = math.copysign(math.inf, amount)
        if self.direction < 0:
            return amount < -self.tolerance
        if self.direction > 0:
            return amount > self.tolerance
        return abs(amount) > self.tolerance


def parse_rule(text: str) -> Rule:
    """A rule from its command-line form; raises :class:`RuleError` naming the grammar."""
    if text.startswith("result:"):
        metric, tolerance = None, text[len("result:"):]
    elif text.startswith("metric:"):
        metric, _, tolerance = text[len("metric:"):].rpartition(":")
        if not metric:
            raise RuleError(f"--sacred-compare-fail {text!r}: no metric name; expected {GRAMMAR}")
    else:
        raise RuleError(f"--sacred-compare-fail {text!r}: expected {GRAMMAR}")
    tolerance, at, level = tolerance.partition("@")
    confidence = None
    if at:
        try:
            confidence = float(level) / 100
        except ValueError:
            confidence = math.nan
        if not 0 < confidence < 1:
            raise RuleError(f"--sacred-compare-fail {text!r}: {level!r} is not a confidence; "
                            "give a percentage between 0 and 100 after @ (e.g. result:-5%@95)")
    match = _TOLERANCE.fullmatch(tolerance)
    if match is None:
        raise RuleError(f"--sacred-compare-fail {text!r}: {tolerance!r} is not a tolerance; "
                        f"expected {GRAMMAR}")
    sign, number, percent = match.groups()
    return Rule(text, metric, {"-": -1, "+": 1, "": 0}[sign], float(number), bool(percent),
                confidence)


def judge_group(rule: Rule, old: Sequence[float], new: Sequence[float], test: str = "welch"
                ) -> tuple[bool | None, GroupTest | None]:
    """Whether the group of values ``new`` breaks ``rule`` against the baseline group
    ``old``: by the statistical ``test`` for a rule with a confidence (each side needs two
    or more values: ``ValueError`` otherwise), else by comparing the two means as
    :meth:`Rule.violated` compares two runs. ``None``: cannot be judged (a NaN baseline).
    Also returns the test's findings (``None`` without a confidence)."""
    if rule.confidence is None:
        mean_old, mean_new = (math.fsum(v) / len(v) for v in (old, new))
        return rule.violated(Change(rule.metric, mean_old, mean_new)), None
    from .stats import group_test

    found = group_test(test, old, new, direction=rule.direction, tolerance=rule.tolerance,
                       relative=rule.relative, confidence=rule.confidence)
    return found.worse, found


# -- changes ----------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: float) -> str:
    if value == 0:
        return "±0"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):+d}"
    return f"{value:+.4g}"


@dataclass(frozen=True)
class Change:
    """One quantity (the result or a metric's final value) of a run and of its baseline."""

    #: the metric; ``None``: the result
    name: str | None
    old: Any
    new: Any

    @property
    def numeric(self) -> bool:
        return _is_number(self.old) and _is_number(self.new)

    @property
    def delta(self) -> float | None:
        delta: float | None = self.new - self.old if self.numeric else None
        return delta

    @property
    def percent(self) -> float | None:
        if not self.numeric or self.old == 0:
            return None
        percent: float = (self.new - self.old) / abs(self.old) * 100
        return percent

    def text(self) -> str:
        """``-0.012 (-1.3 %)``; ``same``/``changed`` for values that are not numbers."""
        if not self.numeric:
            return "same" if self.new == self.old else "changed"
        delta = self.delta
        assert delta is not None  # numeric
        if math.isnan(delta):
            return "nan"
        percent = self.percent
        return (_number(delta) if percent is None or not delta
                else f"{_number(delta)} ({percent:+.1f} %)")


def change_record(change: Change) -> dict[str, Any]:
    """A change as stored in a verdict: the quantity, both values, and the difference."""
    numeric = change.numeric and not (isinstance(change.delta, float)
                                      and math.isnan(change.delta))

    def plain(value: Any) -> Any:  # what every store keeps as it is: finite numbers
        return value if _is_number(value) and math.isfinite(value) else repr(value)

    return {"name": "result" if change.name is None else f"metric:{change.name}",
            "old": plain(change.old), "new": plain(change.new),
            "delta": change.delta if numeric else None,
            "percent": change.percent if numeric else None,
            "text": change.text()}


def changes(old_result: Any, new_result: Any, old_finals: dict[str, Any],
            new_finals: dict[str, Any]) -> list[Change]:
    """The result's change (when both runs have one), then each shared metric's, by name."""
    found = []
    if old_result is not None and new_result is not None:
        found.append(Change(None, old_result, new_result))
    found += [Change(name, old_finals[name], new_finals[name])
              for name in sorted(old_finals.keys() & new_finals.keys())]
    return found


# -- the baseline of a variant ----------------------------------------------------------------


def config_key(config: dict[str, Any]) -> str:
    """A config as canonical text, ``seed`` aside: equal for equal stored configs."""
    from .serialize import flatten

    return json.dumps(flatten({k: v for k, v in config.items() if k != "seed"}),
                      sort_keys=True, default=repr)


def timestamp(time: datetime | None) -> float:
    """Seconds since the epoch of a stored time (naive times are UTC, as Sacred's are)."""
    if time is None:
        return -math.inf
    if time.tzinfo is None:
        time = time.replace(tzinfo=timezone.utc)
    return time.timestamp()


def _when(run: StoredRun) -> tuple[float, int]:
    return (timestamp(run.start_time or run.stop_time), run.id)


def failed_check(info: Any) -> bool:
    """Whether a run's info holds a regression verdict that failed (``info.regression``):
    such a run is nobody's baseline unless named by its id."""
    verdict = info.get("regression") if isinstance(info, dict) else None
    return isinstance(verdict, dict) and verdict.get("passed") is False


def _stored_info(run: StoredRun) -> dict[str, Any]:
    return run.info


def choose(candidates: list[StoredRun], mode: str, higher_is_better: bool = True,
           info: Callable[[StoredRun], dict[str, Any]] = _stored_info) -> StoredRun | None:
    """The baseline among runs of the variant: the latest (``last``) or the one with the
    best numeric result (``best``; ties go to the latest). Runs that failed their own
    check are passed over: otherwise worse code, run twice, would pass the second time.
    ``info`` gives a run's info (readers whose listing leaves it out read it on demand:
    only the runs looked at, best first)."""
    if mode == "best":
        candidates = [r for r in candidates if _is_number(r.result) and not math.isnan(r.result)]
        sign = 1 if higher_is_better else -1
        ranked = sorted(candidates, key=lambda r: (sign * r.result, _when(r)), reverse=True)
    else:
        ranked = sorted(candidates, key=_when, reverse=True)
    return next((r for r in ranked if not failed_check(info(r))), None)


def split_groups(runs: list[StoredRun]) -> list[list[StoredRun]]:
    """Runs of one variant split into their groups of seeds, by ascending id; a run
    stored without a group is a group of its own."""
    from .readers.table import group_token

    groups: dict[str, list[StoredRun]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        groups.setdefault(group_token(run.meta) or f"run {run.id}", []).append(run)
    return list(groups.values())


def _mean_result(group: list[StoredRun]) -> float | None:
    values = [r.result for r in group if _is_number(r.result) and not math.isnan(r.result)]
    return math.fsum(values) / len(values) if values else None


def choose_group(groups: list[list[StoredRun]], mode: str, higher_is_better: bool = True,
                 info: Callable[[StoredRun], dict[str, Any]] = _stored_info
                 ) -> list[StoredRun] | None:
    """The baseline group among a variant's groups: the latest one (``last``; by its latest
    run) or the one with the best mean result (``best``), passing over a group any of
    whose runs failed its check (the verdict of a group is stored with each of its runs)."""
    def when(group: list[StoredRun]) -> tuple[float, int]:
        return max(_when(r) for r in group)

    if mode == "best":
        means = {id(g): _mean_result(g) for g in groups}
        sign = 1 if higher_is_better else -1
        ranked = sorted((g for g in groups if means[id(g)] is not None),
                        key=lambda g: (sign * means[id(g)], when(g)),  # type: ignore[operator]
                        reverse=True)
    else:
        ranked = sorted(groups, key=when, reverse=True)
    return next((g for g in ranked if not any(failed_check(info(r)) for r in g)), None)


def _ids_text(ids: Sequence[int | None]) -> str:
    from .readers.table import ids_text

    return ids_text(ids)


def _values(rule: Rule, sides: Iterable[tuple[Any, dict[str, Any]]]) -> list[float]:
    """The numbers a rule compares, one per run: its result or a metric's final value."""
    found: list[Any] = [result if rule.metric is None else finals.get(rule.metric)
                        for result, finals in sides]
    return [float(v) for v in found if _is_number(v) and not math.isnan(v)]


@dataclass
class GroupOutcome:
    """What the check of one group found: for its runs' verdict and the summary."""

    label: str
    run_ids: list[int | None]
    baseline_ids: list[int]
    #: the change of each mean (result first, then each shared metric)
    changes: list[Change] = field(default_factory=list)
    #: rule text -> what its statistical test found
    tests: dict[str, GroupTest] = field(default_factory=dict)
    failed: list[Rule] = field(default_factory=list)
    #: why the group could not be judged (too few runs completed), if so
    errors: list[str] = field(default_factory=list)

    def verdict(self, rules: Iterable[Rule], mode: str | int, store: str | None,
                test: str, size: int, run_failed: bool) -> dict[str, Any]:
        """``info.regression`` of every run of the group (plain JSON); ``size``: how many
        runs of the group the session ran (``runs``: those that completed)."""
        return {
            "rules": [r.text for r in rules],
            "mode": mode,
            "group": {"label": self.label, "size": size, "runs": self.run_ids},
            "baseline": ({"ids": self.baseline_ids, "store": store} if self.baseline_ids
                         else None),
            "changes": [{**change_record(c), "of": "mean"} for c in self.changes],
            "tests": {text: _test_record(found) for text, found in self.tests.items()},
            "test": test,
            "failed": [r.text for r in self.failed],
            "errors": self.errors,
            "passed": not self.failed and not self.errors,
            "test_outcome": "failed" if run_failed else "passed",
        }

    def cell(self) -> dict[str, Any]:
        """The group's ``vs`` cell in the summary's table of groups."""
        if not self.baseline_ids:
            return {"baseline": None, "text": "no baseline"}
        parts = []
        for change in self.changes:
            name = "result" if change.name is None else change.name
            test = next((t for text, t in self.tests.items()
                         if parse_rule(text).metric == change.name), None)
            interval = f" [{test.interval_text()}]" if test is not None else ""
            parts.append(f"{name} {change.text()}{interval}")
        text = f"#{_ids_text(self.baseline_ids)}: " + (", ".join(parts) or "nothing to compare")
        if self.failed:
            text += " FAILS " + " ".join(r.text for r in self.failed)
        text += "".join(f" FAILS ({error})" for error in self.errors)
        return {"baseline": self.baseline_ids[0], "text": text}


def _test_record(found: GroupTest) -> dict[str, Any]:
    def plain(value: float | None) -> float | None:  # JSON has no infinities
        return value if value is None or math.isfinite(value) else None

    return {"test": found.test, "n_baseline": found.n_old, "n": found.n_new,
            "mean_baseline": found.mean_old, "mean": found.mean_new,
            "change": plain(found.change), "low": plain(found.low), "high": plain(found.high),
            "confidence": found.confidence, "relative": found.relative,
            "worse": found.worse, "text": found.describe()}


def open_compare_store(store: str) -> Reader:
    """The reader of ``--sacred-compare-store``; a usage error names it when unreadable."""
    from .readers import StoreUnreadable, open_reader

    try:
        return open_reader(store)
    except StoreUnreadable as exc:
        raise pytest.UsageError(f"--sacred-compare-store {store}: {exc}") from None


@dataclass
class Outcome:
    """What the check of one run found, for its summary cell."""

    baseline_id: int | None
    changes: list[Change] = field(default_factory=list)
    failed: list[Rule] = field(default_factory=list)

    def verdict(self, rules: Iterable[Rule], mode: str | int, store: str | None,
                run_failed: bool) -> dict[str, Any]:
        """What is stored with the run as ``info.regression`` (plain JSON): the rules, the
        baseline, each change, whether the check passed and the test's outcome (the run
        itself stays COMPLETED: its body did complete)."""
        return {
            "rules": [r.text for r in rules],
            "mode": mode,
            "baseline": None if self.baseline_id is None else {"id": self.baseline_id,
                                                                "store": store},
            "changes": [change_record(c) for c in self.changes],
            "failed": [r.text for r in self.failed],
            "passed": not self.failed,
            "test_outcome": "failed" if run_failed else "passed",
        }

    def cell(self) -> dict[str, Any]:
        """The row's ``vs`` entry: travels on the report (plain data for xdist)."""
        if self.baseline_id is None:
            return {"baseline": None, "text": "no baseline"}
        text = ", ".join((c.text() if c.name is None else f"{c.name} {c.text()}")
                         for c in self.changes) or "nothing to compare"
        if self.failed:
            text += " FAILS " + " ".join(r.text for r in self.failed)
        return {"baseline": self.baseline_id, "text": text}


class Comparison:
    """The regression checks of one session: baselines found at its start, each run
    checked when it completes."""

    def __init__(self, options: CompareOptions) -> None:
        self.options = options
        self.reader: Reader | None = None
        #: nodeid -> baseline run (from list_runs: no captured output)
        self._baselines: dict[str, StoredRun] = {}
        #: nodeid -> why it has none
        self._missing: dict[str, str] = {}
        #: nodeid -> what to say when its run is checked (a baseline of another config)
        self._notes: dict[str, str] = {}
        self._finals: dict[int, dict[str, Any]] = {}
        self._full: dict[int, Any] = {}
        self._infos: dict[int, dict[str, Any]] = {}
        #: group label -> the runs of its baseline group; -> why it has none
        self._group_baselines: dict[str, list[StoredRun]] = {}
        self._group_missing: dict[str, str] = {}
        self._group_outcomes: dict[str, GroupOutcome] = {}
        self._outcomes: dict[str, Outcome] = {}

    @property
    def higher_is_better(self) -> bool:
        """``best`` ranks by the result, higher first, unless every result rule says a rise
        is the bad direction (``result:+5%``)."""
        ways = {r.direction for r in self.options.rules if r.metric is None}
        return ways != {1}

    # -- (a) at session start -------------------------------------------------------------

    def open_store(self, observers: Iterable[Any]) -> None:
        """The compare store, or the first store of the session that can be read."""
        from .readers import StoreUnreadable, open_reader
        from .stores.registry import reader_store

        if self.options.store is not None:
            self.reader = open_compare_store(self.options.store)
            return
        tried = []
        for observer in observers:
            store = reader_store(observer)
            if store is None:
                continue
            try:
                self.reader = open_reader(store)
                return
            except StoreUnreadable as exc:
                tried.append(f"{store}: {exc}")
        warnings.warn(BaselineWarning(
            "--sacred-compare: no store of this session can be read, so no run has a "
            "baseline" + (f" ({'; '.join(tried)})" if tried else " (none is stored)")
            + "; name one with --sacred-compare-store"), stacklevel=1)

    def lookup(self, variants: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Find the baseline of each ``(nodeid, experiment, config)``, one ``list_runs`` per
        experiment name."""
        if self.reader is None:
            for nodeid, _, _ in variants:
                self._missing[nodeid] = "no readable store"
            return
        from .readers import StoreUnreadable

        try:
            self._lookup(variants)
        except StoreUnreadable as exc:
            raise pytest.UsageError(f"--sacred-compare: reading baselines failed: {exc}") from None

    def _lookup(self, variants: list[tuple[str, str, dict[str, Any]]]) -> None:
        from .readers import RunFilter

        assert self.reader is not None
        mode = self.options.mode
        if isinstance(mode, int):
            self._lookup_id(mode, variants)
            return
        by_key: dict[tuple[str, str], list[StoredRun]] = {}
        for name in dict.fromkeys(e for _, e, _ in variants):
            for run in self.reader.list_runs(RunFilter(experiment=name, status="COMPLETED")):
                by_key.setdefault((name, config_key(run.config)), []).append(run)
        for nodeid, name, config in variants:
            candidates = by_key.get((name, config_key(config)), [])
            found = choose(candidates, str(mode), self.higher_is_better, self._info)
            if found is None:
                what = ("with a numeric result " if mode == "best" else "")
                rejected = [r.id for r in candidates if failed_check(self._info(r))]
                self._missing[nodeid] = (
                    f"no earlier COMPLETED run of {name!r} {what}with this config in "
                    f"{self.reader.location}"
                    + (f" that passed its regression check (failed it: "
                       f"{', '.join(map(str, rejected))}; accept one with "
                       f"--sacred-compare=ID)" if rejected else ""))
            else:
                self._baselines[nodeid] = found

    def lookup_groups(self, groups: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Find the baseline group of each group of seeds ``(label, experiment, config)``:
        the runs of the chosen stored group of the same experiment and config (``last``:
        the latest that passed its check; ``best``: the best mean result; a run id: that
        run's group)."""
        if self.reader is None:
            for label, _, _ in groups:
                self._group_missing[label] = "no readable store"
            return
        from .readers import RunFilter, StoreUnreadable

        mode = self.options.mode
        try:
            if isinstance(mode, int):
                self._lookup_group_of(mode, groups)
                return
            by_key: dict[tuple[str, str], list[StoredRun]] = {}
            for name in dict.fromkeys(e for _, e, _ in groups):
                for run in self.reader.list_runs(RunFilter(experiment=name,
                                                           status="COMPLETED")):
                    by_key.setdefault((name, config_key(run.config)), []).append(run)
            for label, name, config in groups:
                stored = split_groups(by_key.get((name, config_key(config)), []))
                found = choose_group(stored, str(mode), self.higher_is_better, self._info)
                if found is None:
                    rejected = [g[0].id for g in stored
                                if any(failed_check(self._info(r)) for r in g)]
                    self._group_missing[label] = (
                        f"no earlier COMPLETED runs of {name!r} with this config in "
                        f"{self.reader.location}"
                        + (f" whose group passed its regression check (groups of runs "
                           f"{_ids_text(rejected)} failed it; accept one with "
                           "--sacred-compare=ID of one of its runs)" if rejected else ""))
                else:
                    self._group_baselines[label] = found
        except StoreUnreadable as exc:
            raise pytest.UsageError(f"--sacred-compare: reading baselines failed: {exc}") from None

    def _lookup_group_of(self, run_id: int, groups: list[tuple[str, str, dict[str, Any]]]
                         ) -> None:
        """``--sacred-compare=ID`` for groups: the COMPLETED runs of run ID's group."""
        from .readers.table import group_members

        assert self.reader is not None
        found = self._named_run(run_id)
        members = [r for r in group_members(self.reader, found) if r.status == "COMPLETED"]
        if not members:
            raise self._not_a_baseline(run_id, found)
        stored_name = found.experiment.get("name")
        for label, name, _ in groups:
            if name != stored_name:
                self._group_missing[label] = (f"run {run_id} is of experiment "
                                              f"{stored_name!r}, not {name!r}")
            else:
                self._group_baselines[label] = members

    def baseline_group(self, label: str) -> list[StoredRun] | None:
        """The runs of a group's baseline group, when one was found."""
        return self._group_baselines.get(label)

    def check_group(self, label: str, runs: list[tuple[int | None, Any, dict[str, Any]]],
                    warn: Callable[[Warning], None] = warnings.warn) -> GroupOutcome:
        """Compare the COMPLETED runs ``(id, result, finals)`` of a group with its baseline
        group, rule by rule (see :func:`judge_group`); ``warn`` for rules that cannot be
        judged. A rule with a confidence over fewer than two runs a side is an error of
        the outcome (the group fails), never a pass."""
        base = self._group_baselines.get(label)
        ids = [run_id for run_id, _, _ in runs]
        rules = self.options.rules
        if base is None:
            outcome = GroupOutcome(label, ids, [])
            reason = self._group_missing.get(label, "not looked up")
            warn(BaselineWarning(
                f"group {label} (runs {_ids_text(ids)}) has no baseline ({reason})"
                + (f": not checked: {' '.join(r.text for r in rules)}" if rules else "")))
            self._group_outcomes[label] = outcome
            return outcome
        old_sides = [(r.result, self._baseline_finals(r)) for r in base]
        new_sides = [(result, finals) for _, result, finals in runs]
        outcome = GroupOutcome(label, ids, [r.id for r in base])
        shared = sorted(set.intersection(*(set(f) for _, f in old_sides + new_sides)))
        for name in [None, *shared]:
            probe = Rule("", name, 0, 0.0, False)
            old, new = _values(probe, old_sides), _values(probe, new_sides)
            if old and new:
                outcome.changes.append(Change(name, math.fsum(old) / len(old),
                                              math.fsum(new) / len(new)))
        for rule in rules:
            old, new = _values(rule, old_sides), _values(rule, new_sides)
            if not old or not new:
                lacking = [what for what, values in (("its runs", new), ("the baseline", old))
                           if not values]
                verb = "has" if len(lacking) == 1 else "have"
                warn(BaselineWarning(f"{rule.text} not checked for group {label}: "
                                     f"{' and '.join(lacking)} {verb} no numeric "
                                     f"{rule.subject}"))
                continue
            if rule.confidence is not None and (len(old) < 2 or len(new) < 2):
                outcome.errors.append(
                    f"{rule.text} needs two or more runs a side; the group has {len(new)} "
                    f"and its baseline {len(old)} with a numeric {rule.subject}")
                continue
            verdict, found = judge_group(rule, old, new, self.options.test)
            if found is not None:
                outcome.tests[rule.text] = found
            if verdict is None:
                warn(BaselineWarning(f"{rule.text} not checked for group {label}: the "
                                     f"baseline's mean {rule.subject} is not a number"))
            elif verdict:
                outcome.failed.append(rule)
        self._group_outcomes[label] = outcome
        return outcome

    def group_failure(self, outcome: GroupOutcome) -> str | None:
        """The failure message of a group that broke rules (or could not be judged)."""
        if not outcome.failed and not outcome.errors:
            return None
        where = self.reader.location if self.reader is not None else "?"
        lines = [f"regression check of group {outcome.label} failed: runs "
                 f"{_ids_text(outcome.run_ids)} vs baseline runs "
                 f"{_ids_text(outcome.baseline_ids)} ({where})"]
        by_name = {c.name: c for c in outcome.changes}
        for rule in outcome.failed:
            found = outcome.tests.get(rule.text)
            if found is not None:
                lines.append(f"  {rule.text}: {found.describe()}; {rule.describe()}")
            else:
                change = by_name[rule.metric]
                lines.append(f"  {rule.text}: mean {rule.subject} {change.new!r} vs "
                             f"{change.old!r}: {change.text()}; {rule.describe()}")
        lines += [f"  {error}" for error in outcome.errors]
        lines.append("  the runs are stored as COMPLETED; the check fails the test")
        return "\n".join(lines)

    def group_cell(self, label: str) -> dict[str, Any] | None:
        outcome = self._group_outcomes.get(label)
        return outcome.cell() if outcome is not None else None

    def _info(self, run: StoredRun) -> dict[str, Any]:
        """A listed run's info; read whole when the listing left it out (object stores)."""
        if run.info or self.reader is None:
            return run.info
        if run.id not in self._infos:
            self._infos[run.id] = self.reader.get_run(run.id).info
        return self._infos[run.id]

    def _named_run(self, run_id: int) -> StoredRun:
        """The run ``--sacred-compare=ID`` names, for single runs and groups alike; a usage
        error when the store does not hold it."""
        from .readers import RunFilter

        assert self.reader is not None
        found = next(iter(self.reader.list_runs(RunFilter(ids=frozenset({run_id})))), None)
        if found is None:
            raise pytest.UsageError(f"--sacred-compare={run_id}: {self.reader.location} holds no "
                                    "run with that id; give an id it holds, last or best")
        return found

    def _not_a_baseline(self, run_id: int, found: StoredRun) -> pytest.UsageError:
        """The usage error for a named run (or group) that holds no COMPLETED run."""
        assert self.reader is not None
        return pytest.UsageError(f"--sacred-compare={run_id}: run {run_id} in "
                                 f"{self.reader.location} is {found.status}; a baseline must "
                                 "be a COMPLETED run")

    def _lookup_id(self, run_id: int, variants: list[tuple[str, str, dict[str, Any]]]) -> None:
        found = self._named_run(run_id)
        if found.status != "COMPLETED":
            raise self._not_a_baseline(run_id, found)
        stored_name = found.experiment.get("name")
        for nodeid, name, config in variants:
            if name != stored_name:
                self._missing[nodeid] = (f"run {run_id} is of experiment {stored_name!r}, not "
                                         f"{name!r}")
                continue
            self._baselines[nodeid] = found
            differing = _differing_keys(found.config, config)
            if differing:
                self._notes[nodeid] = (f"compared with run {run_id}, whose config differs in "
                                       f"{', '.join(differing)}")

    def baseline(self, nodeid: str) -> Any:
        """The whole baseline run of a variant as :func:`pytest_sacred.get_run` gives it
        (metrics as pandas Series: the ``analysis`` extra), or ``None``."""
        found = self._baselines.get(nodeid)
        if found is None or self.reader is None:
            return None
        if found.id not in self._full:
            from .readers.api import get_run

            self._full[found.id] = get_run(self.reader, found.id)
        return self._full[found.id]

    def _baseline_finals(self, run: StoredRun) -> dict[str, Any]:
        """Final metric values of a baseline; those of every baseline are read at the first
        call, in one request to the store."""
        if run.id not in self._finals:
            assert self.reader is not None
            runs = {r.id: r for r in [*self._baselines.values(),
                                      *(r for g in self._group_baselines.values() for r in g)]
                    if r.id not in self._finals}
            for run_id, summaries in self.reader.metric_summaries(list(runs.values())).items():
                self._finals[run_id] = {name: s.last for name, s in summaries.items()}
        return self._finals.setdefault(run.id, {})

    # -- (b) after a run completed ----------------------------------------------------------

    def check(self, nodeid: str, run_id: int | None, result: Any, finals: dict[str, Any],
              warn: Callable[[Warning], None] = warnings.warn) -> Outcome:
        """Compare a COMPLETED run with its baseline; ``warn`` for every rule that cannot be
        judged. The caller fails the test with :meth:`failure` when rules are broken."""
        base = self._baselines.get(nodeid)
        if base is None:
            outcome = Outcome(None)
            reason = self._missing.get(nodeid, "not looked up")
            rules = " ".join(r.text for r in self.options.rules)
            warn(BaselineWarning(
                f"run {run_id} has no baseline ({reason})"
                + (f": not checked: {rules}" if rules else "")))
            self._outcomes[nodeid] = outcome
            return outcome
        if nodeid in self._notes:
            warn(BaselineWarning(f"run {run_id} is {self._notes[nodeid]}"))
        old_finals = self._baseline_finals(base)
        outcome = Outcome(base.id, changes(base.result, result, old_finals, finals))
        by_name = {c.name: c for c in outcome.changes}
        for rule in self.options.rules:
            change = by_name.get(rule.metric)
            if change is None:
                sides = ((run_id, result, finals), (base.id, base.result, old_finals))
                lacking = [f"run {i}" for i, value, values in sides
                           if (value is None if rule.metric is None else rule.metric not in values)]
                what = "result" if rule.metric is None else f"metric {rule.metric!r}"
                warn(BaselineWarning(f"{rule.text} not checked: {' and '.join(lacking)} "
                                     f"{'has' if len(lacking) == 1 else 'have'} no {what}"))
                continue
            verdict = rule.violated(change)
            if verdict is None:
                warn(BaselineWarning(
                    f"{rule.text} not checked for run {run_id}: {rule.subject} {change.new!r} vs "
                    f"{change.old!r} of run {base.id} (a tolerance needs numbers)"))
            elif verdict:
                outcome.failed.append(rule)
        self._outcomes[nodeid] = outcome
        return outcome

    def failure(self, outcome: Outcome, run_id: int | None) -> str | None:
        """The test's failure message when ``outcome`` broke rules: both values, both ids."""
        if not outcome.failed:
            return None
        by_name = {c.name: c for c in outcome.changes}
        where = self.reader.location if self.reader is not None else "?"
        lines = [f"regression check failed: run {run_id} vs baseline run "
                 f"{outcome.baseline_id} ({where})"]
        for rule in outcome.failed:
            change = by_name[rule.metric]
            lines.append(f"  {rule.text}: {rule.subject} {change.new!r} (run {run_id}) vs "
                         f"{change.old!r} (run {outcome.baseline_id}): {change.text()}; "
                         f"{rule.describe()}")
        lines.append("  the run is stored as COMPLETED; the check fails the test")
        return "\n".join(lines)

    # -- (c) the summary cell -----------------------------------------------------------------

    def cell(self, nodeid: str) -> dict[str, Any] | None:
        outcome = self._outcomes.get(nodeid)
        return outcome.cell() if outcome is not None else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def _differing_keys(stored: dict[str, Any], config: dict[str, Any]) -> list[str]:
    from .serialize import flatten

    flat = flatten({k: v for k, v in config.items() if k != "seed"})
    keys = (stored.keys() | flat.keys()) - {"seed"}
    return sorted(k for k in keys if stored.get(k, ...) != flat.get(k, ...))


def column_title(cells: list[dict[str, Any]]) -> str:
    """``vs #ID`` when every compared run has the same baseline, else ``vs baseline``."""
    ids = {c["baseline"] for c in cells if c and c["baseline"] is not None}
    return f"vs #{ids.pop()}" if len(ids) == 1 else "vs baseline"


def cell_text(cell: dict[str, Any] | None, title: str) -> str:
    """A row's cell under ``title``: the baseline id leads when the title does not name it."""
    if not cell:
        return ""
    if cell["baseline"] is None or title != "vs baseline":
        text: str = cell["text"]
        return text
    return f"#{cell['baseline']}: {cell['text']}"


def stored_name(options: CompareOptions, experiment: str) -> str:
    """The name the runs of ``experiment`` are stored under (``--sacred-name`` wins)."""
    return options.experiment_name or experiment

