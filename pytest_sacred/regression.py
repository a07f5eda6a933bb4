"""The regression checks and the baseline copy as the plugin sees them: four call sites.

(a) :meth:`RegressionChecks.start` once the experiments are selected and the stores open:
baselines are looked up before any run is stored; (b) :meth:`~RegressionChecks.judge`
before a completed run's final beat: the check, its verdict put in the run's info; then
:meth:`~RegressionChecks.after_run` when the run has ended: the baseline copy, the test
failure; (c)
:meth:`~RegressionChecks.cell` for the run's summary row; (d)
:meth:`~RegressionChecks.finish` at the end of the session. Nothing is imported or looked
up unless a regression option is given or an experiment asks for ``sacred_baseline``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

from .keys import SPEC_KEY

if TYPE_CHECKING:
    from .baseline import BaselineSaver, RunRecorder
    from .compare import CompareOptions, Comparison
    from .options import Options

_RECORDER = "sacred-regression-recorder"


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
              observers: Iterable[Any]) -> None:
        """Look up every selected variant's baseline (one pass per store) and get ready to
        record runs. Raises ``pytest.UsageError`` for an unusable compare or baseline store."""
        options = self.options
        wants_fixture = any("sacred_baseline" in getattr(i, "fixturenames", ())
                            for i in experiments)
        if options.mode is None and options.save_baseline is None and not wants_fixture:
            return
        from .baseline import BaselineSaver, RunRecorder
        from .clock import utcnow
        from .compare import Comparison, stored_name
        from .observers.base import StoreError

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

    # -- (b) -----------------------------------------------------------------------------------

    def judge(self, item: pytest.Item, run: Any) -> None:
        """A run completed and its final metrics are out: check it, and put the verdict
        in its info (``info.regression``), which its final beat stores. A run that failed
        its check is then never chosen as ``last`` or ``best``."""
        if self.recorder is None or self.comparison is None or self.options.mode is None:
            return
        record = self.recorder.peek(run._id)
        try:
            outcome = self.comparison.check(item.nodeid, run._id, run.result,
                                            record["finals"], item.warn)
        except Exception as exc:  # e.g. the baseline store went away: the run still ends
            self._failures[run._id] = (f"regression check of run {run._id} could not be "
                                       f"made: {type(exc).__name__}: {exc}")
            run.info["regression"] = {"rules": [r.text for r in self.options.rules],
                                      "mode": self.options.mode, "passed": False,
                                      "error": f"{type(exc).__name__}: {exc}",
                                      "test_outcome": "failed"}
            return
        message = self.comparison.failure(outcome, run._id)
        if message is not None:
            self._failures[run._id] = message
        where = self.comparison.reader.location if self.comparison.reader else None
        run.info["regression"] = outcome.verdict(self.options.rules, self.options.mode, where,
                                                 run_failed=message is not None)

    def after_run(self, item: pytest.Item, run: Any, stored_in: list[str]) -> None:
        """A run has ended (and was judged if it COMPLETED): copy it into the baseline
        store if it passed, and fail the test (``pytest.fail``) when a rule is broken. The
        run stays stored as it completed, its verdict in its info."""
        if self.recorder is None:
            return
        record = self.recorder.pop(run._id)
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

    def finish(self) -> None:
        if self.comparison is not None:
            self.comparison.close()
        if self.recorder is not None and self._config is not None:
            self._config.pluginmanager.unregister(self.recorder)
            self.recorder = None
