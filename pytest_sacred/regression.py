"""The regression checks and the baseline copy as the plugin sees them: four call sites.

(a) :meth:`RegressionChecks.start` once the experiments are selected and the stores open:
baselines are looked up before any run is stored; (b) :meth:`~RegressionChecks.judge`
before a completed run's final beat: the check, its verdict put in the run's info; then
:meth:`~RegressionChecks.after_run` when the run has ended: the baseline copy, the test
failure; (c) :meth:`~RegressionChecks.cell` for the run's summary row; (d)
:meth:`~RegressionChecks.finish` at the end of the session. Nothing is imported or looked
up unless a regression option is given or an experiment asks for ``sacred_baseline``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .keys import SPEC_KEY

if TYPE_CHECKING:
    from .baseline import BaselineSaver, RunRecorder
    from .compare import CompareOptions, Comparison
    from .options import Options
    from .record import RunRecord

_RECORDER = "sacred-regression-recorder"
_SEED_ID = re.compile(r"-?seed\d+(?=\]$)")


def group_label(nodeid: str) -> str:
    """A group of seeds named by its runs' node id without the seed: ``t.py::test[rbf]``."""
    return _SEED_ID.sub("", nodeid).replace("[]", "")


@dataclass(eq=False)
class _Group:
    """The selected runs of one group of seeds, while the session runs them."""

    label: str
    members: list[str]
    ended: set[str] = field(default_factory=set)
    #: the COMPLETED runs so far: (Run, RunRecord)
    completed: list[tuple[Any, RunRecord]] = field(default_factory=list)
    #: completed runs whose final event waits for the group's verdict
    held: list[RunRecord] = field(default_factory=list)
    #: what the baseline copy of each completed run needs: (Run, recorded, stored_in)
    to_save: list[tuple[Any, dict[str, Any], list[str]]] = field(default_factory=list)
    judged: bool = False
    passed: bool = True

    @property
    def done(self) -> bool:
        return self.ended >= set(self.members)


class RegressionChecks:
    """The session's regression checks (``--sacred-compare*``) and baseline copy."""

    def __init__(self, options: CompareOptions) -> None:
        self.options = options
        self.comparison: Comparison | None = None
        self.saver: BaselineSaver | None = None
        self.recorder: RunRecorder | None = None
        self._config: pytest.Config | None = None
        #: run id -> the failure message of its broken rules (judged, not yet ended)
        self._failures: dict[int | None, str] = {}
        #: groups of seeds checked as a whole, by label; each member's node id -> label
        self._groups: dict[str, _Group] = {}
        self._group_of: dict[str, str] = {}
        #: ends a held run (its final beat and event): the runner's ``complete``
        self.release: Callable[[RunRecord], None] | None = None

    @classmethod
    def from_config(cls, config: pytest.Config, session_options: Options) -> RegressionChecks:
        """Options read and checked at session start: a bad rule or an unreadable compare
        store is a usage error here (also in the xdist controller, which collects nothing)."""
        from .compare import open_compare_store, read_options

        options = read_options(session_options)
        if options.store is not None and not config.option.help:
            open_compare_store(options.store).close()
        return cls(options)

    # -- (a) -----------------------------------------------------------------------------------

    def start(self, config: pytest.Config, experiments: list[pytest.Item],
              observers: Iterable[Any],
              release: Callable[[RunRecord], None] | None = None) -> None:
        """Look up every selected variant's baseline (one pass per store) and get ready to
        record runs. Raises ``pytest.UsageError`` for an unusable compare or baseline store,
        and for a rule with a confidence that a group (or a single run) cannot meet."""
        options = self.options
        self.release = release
        wants_fixture = any("sacred_baseline" in getattr(i, "fixturenames", ())
                            for i in experiments)
        if options.mode is None and options.save_baseline is None and not wants_fixture:
            return
        from .baseline import BaselineSaver, RunRecorder
        from .clock import utcnow
        from .compare import Comparison, stored_name
        from .stores.base import StoreError

        if options.save_baseline is not None:
            self.saver = BaselineSaver(options.save_baseline, utcnow())
            try:
                self.saver.open()
            except StoreError as exc:
                raise pytest.UsageError(f"--sacred-save-baseline: {exc}") from None
        self.recorder = RunRecorder(keep_points=self.saver is not None,
                                    keep_artifacts=options.baseline_artifacts)
        config.pluginmanager.register(self.recorder, _RECORDER)
        self._config = config
        # the fixture alone compares with the last run, without checks or a summary column
        mode = options.mode or "last"
        self.comparison = Comparison(dataclasses.replace(options, mode=mode))
        self.comparison.open_store(observers)
        self.comparison.lookup([
            (item.nodeid, stored_name(options, item.stash[SPEC_KEY].experiment),
             item.stash[SPEC_KEY].config) for item in experiments])
        if options.mode is not None:
            self._plan_groups(config, experiments)

    def _plan_groups(self, config: pytest.Config, experiments: list[pytest.Item]) -> None:
        """Gather the selected groups of seeds and their baseline groups; refuse what a
        rule with a confidence cannot judge, before anything runs."""
        from .compare import stored_name

        assert self.comparison is not None
        confident = [r.text for r in self.options.rules if r.confidence is not None]
        wanted: dict[str, tuple[str, dict[str, Any]]] = {}
        for item in experiments:
            spec = item.stash[SPEC_KEY]
            if spec.seed_index is None:
                if confident:
                    raise pytest.UsageError(
                        f"{item.nodeid} is a single run, but {confident[0]} judges groups of "
                        "seeds (two or more runs a side): give --sacred-seeds N (N >= 2) or "
                        "the marker's seeds=N, or drop the @ from the rule")
                continue
            label = group_label(item.nodeid)
            group = self._groups.setdefault(label, _Group(label, []))
            group.members.append(item.nodeid)
            self._group_of[item.nodeid] = label
            wanted[label] = (stored_name(self.options, spec.experiment), spec.config)
        if not self._groups:
            return
        if hasattr(config, "workerinput"):
            raise pytest.UsageError(
                "--sacred-compare checks each group of seeds as a whole, in one process; "
                "pytest-xdist spreads a group's runs over its workers: run the checked "
                "session without -n")
        self.comparison.lookup_groups([(label, name, config_)
                                       for label, (name, config_) in wanted.items()])
        if not confident:
            return
        for label, group in self._groups.items():
            if len(group.members) < 2:
                raise pytest.UsageError(
                    f"group {label}: {confident[0]} needs two or more runs a side, and "
                    f"{len(group.members)} of the group is selected: give --sacred-seeds N "
                    "(N >= 2), or select the whole group")
            base = self.comparison.baseline_group(label)
            if base is not None and len(base) < 2:
                where = self.comparison.reader.location if self.comparison.reader else "?"
                raise pytest.UsageError(
                    f"group {label}: its baseline is {len(base)} run (id "
                    f"{', '.join(str(r.id) for r in base)} in {where}) and {confident[0]} "
                    "needs two or more runs a side: run the baseline with --sacred-seeds N "
                    "(N >= 2), or name a run of a group with --sacred-compare=ID")

    # -- (b) -----------------------------------------------------------------------------------

    def judge(self, item: pytest.Item, run: Any) -> bool:
        """A run completed and its final metrics are out: check it, and put the verdict
        in its info (``info.regression``), which its final beat stores. A run that failed
        its check is then never chosen as ``last`` or ``best``.

        Returns whether the run's end is held: a run of a group of seeds waits for the
        group's last run, whose check puts the group's verdict in every run of it."""
        if self.recorder is None or self.comparison is None or self.options.mode is None:
            return False
        label = self._group_of.get(item.nodeid)
        if label is not None:
            group = self._groups[label]
            group.completed.append((run, run._record))
            if group.ended >= set(group.members) - {item.nodeid}:
                self._judge_group(item, group, run._id)
                return False
            group.held.append(run._record)
            return True
        try:
            outcome = self.comparison.check(item.nodeid, run._id, run.result,
                                            run._record.metrics.finals, item.warn)
        except Exception as exc:  # e.g. the baseline store went away: the run still ends
            self._failures[run._id] = (f"regression check of run {run._id} could not be "
                                       f"made: {type(exc).__name__}: {exc}")
            run.info["regression"] = {"rules": [r.text for r in self.options.rules],
                                      "mode": self.options.mode, "passed": False,
                                      "error": f"{type(exc).__name__}: {exc}",
                                      "test_outcome": "failed"}
            return False
        message = self.comparison.failure(outcome, run._id)
        if message is not None:
            self._failures[run._id] = message
        where = self.comparison.reader.location if self.comparison.reader else None
        run.info["regression"] = outcome.verdict(self.options.rules, self.options.mode, where,
                                                 run_failed=message is not None)
        return False

    def _judge_group(self, item: pytest.Item, group: _Group, last_id: int | None) -> None:
        """Check a group whose runs have all ended (but those held): its verdict goes into
        the info of each of its completed runs, the held ones are ended with it, and the
        failure is the test's of run ``last_id`` (the group's last)."""
        assert self.comparison is not None and self.options.mode is not None
        group.judged = True
        runs = [(run._id, run.result, record.metrics.finals) for run, record in group.completed]
        where = self.comparison.reader.location if self.comparison.reader else None
        if not runs:  # nothing to store it with; each run failed its own test already
            verdict: dict[str, Any] = {"passed": False}
            message = None
        else:
            try:
                outcome = self.comparison.check_group(group.label, runs, item.warn)
            except Exception as exc:  # e.g. the baseline store went away: the runs still end
                message = (f"regression check of group {group.label} could not be made: "
                           f"{type(exc).__name__}: {exc}")
                verdict = {"rules": [r.text for r in self.options.rules],
                           "mode": self.options.mode, "passed": False,
                           "errors": [f"{type(exc).__name__}: {exc}"],
                           "test_outcome": "failed"}
            else:
                message = self.comparison.group_failure(outcome)
                verdict = outcome.verdict(self.options.rules, self.options.mode, where,
                                          self.options.test, len(group.members),
                                          run_failed=message is not None)
        group.passed = verdict["passed"]
        if message is not None:
            self._failures[last_id] = message
        for run, _ in group.completed:
            run.info["regression"] = verdict
        self._release(group)

    def _release(self, group: _Group) -> None:
        """End the group's held runs (their info now holds the verdict)."""
        held, group.held = group.held, []
        for record in held:
            if self.release is not None:
                self.release(record)

    def group_cell(self, nodeid: str) -> dict[str, Any] | None:
        """The group's ``vs`` entry, on the row of the run its check was made with."""
        label = self._group_of.get(nodeid)
        if label is None or self.comparison is None or not self._groups[label].done:
            return None
        return self.comparison.group_cell(label)

    @property
    def records_runs(self) -> bool:
        """Runs are recorded for a check or a baseline: :meth:`after_run` uses where each
        run is stored (otherwise it returns at once)."""
        return self.recorder is not None

    def after_run(self, item: pytest.Item, run: Any, stored_in: list[str],
                  raising: bool = True) -> None:
        """A run has ended (and was judged if it COMPLETED): copy it into the baseline
        store if it passed, and fail the test (``pytest.fail``, unless not ``raising``:
        the test failed already) when a rule is broken. The run stays stored as it
        completed, its verdict in its info."""
        if self.recorder is None:
            return
        record = self.recorder.pop(run._id)
        label = self._group_of.get(item.nodeid)
        if label is not None and self.comparison is not None and self.options.mode is not None:
            self._group_ended(item, self._groups[label], run, record, stored_in, raising)
            return
        message = self._failures.pop(run._id, None)
        if run.status != "COMPLETED":
            return
        if self.saver is not None and message is None:
            try:
                self.saver.save(run, record, stored_in)
            except Exception as exc:  # the run is stored; its baseline copy is not
                message = (f"run {run._id} could not be saved as a baseline in "
                           f"{self.options.save_baseline}: {type(exc).__name__}: {exc}")
        if message is not None:
            pytest.fail(message, pytrace=False)

    def _group_ended(self, item: pytest.Item, group: _Group, run: Any,
                     recorded: dict[str, Any], stored_in: list[str], raising: bool) -> None:
        group.ended.add(item.nodeid)
        if run.status == "COMPLETED":
            group.to_save.append((run, recorded, stored_in))
        if not group.done:
            return
        if not group.judged:  # the group's last run did not complete: judged without it
            self._judge_group(item, group, run._id)
        message = self._failures.pop(run._id, None)
        if self.saver is not None and group.passed and message is None:
            for member, member_recorded, member_stored_in in group.to_save:
                try:
                    self.saver.save(member, member_recorded, member_stored_in)
                except Exception as exc:  # the runs are stored; their baseline copies not
                    message = (f"run {member._id} could not be saved as a baseline in "
                               f"{self.options.save_baseline}: {type(exc).__name__}: {exc}")
        if message is not None and raising:
            pytest.fail(message, pytrace=False)

    # -- (c) -----------------------------------------------------------------------------------

    def cell(self, nodeid: str) -> dict[str, Any] | None:
        """The run's ``vs`` entry in the summary row (``None``: not compared)."""
        if self.comparison is None or self.options.mode is None:
            return None
        return self.comparison.cell(nodeid)

    def baseline(self, nodeid: str) -> Any:
        """For the ``sacred_baseline`` fixture: a ``get_run`` object, or ``None``."""
        return self.comparison.baseline(nodeid) if self.comparison is not None else None

    # -- (d) -----------------------------------------------------------------------------------

    def finish(self) -> list[str]:
        """End the session's checks: runs of a group the session did not finish (stopped
        by ``-x`` or interrupted) are ended with a verdict saying so, and are no one's
        baseline. Returns what to tell the user about them."""
        said = []
        for group in self._groups.values():
            if group.held:
                from .readers.table import ids_text

                ids = [run._id for run, _ in group.completed]
                said.append(f"group {group.label} was not checked: the session ended after "
                            f"{len(group.ended)} of its {len(group.members)} runs; "
                            f"{'runs' if len(ids) > 1 else 'run'} {ids_text(ids)} "
                            f"{'are' if len(ids) > 1 else 'is'} stored COMPLETED with a "
                            "failed verdict (no one's baseline)")
                ended = [run._id for run, _ in group.completed]
                verdict = {"rules": [r.text for r in self.options.rules],
                           "mode": self.options.mode, "passed": False,
                           "group": {"label": group.label, "size": len(group.members),
                                     "runs": ended},
                           "errors": [f"not judged: the session ended after {len(group.ended)} "
                                      f"of the group's {len(group.members)} runs"],
                           "test_outcome": "passed"}
                for run, _ in group.completed:
                    run.info["regression"] = verdict
                self._release(group)
        if self.comparison is not None:
            self.comparison.close()
        if self.recorder is not None and self._config is not None:
            self._config.pluginmanager.unregister(self.recorder)
            self.recorder = None
        return said
