"""What one pytest session knows about its experiments: options, observers, runs.

Built in ``pytest_configure``; everything costly (observers opened, host and git info)
waits until experiments are actually selected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .delivery import STORE_FAILED, Delivery, error_lines
from .events import Dispatcher, ObserverError
from .keys import SPEC_KEY
from .options import Options
from .resolve import (
    RunSpec,
    build_spec,
    check_seeds_marker,
    experiment_logger,
    experiment_name,
    find_named_config,
    named_config_names,
    named_updates,
    warn_unused_entries,
)
from .stores.base import Observer, StoreError
from .stores.selection import build_observers
from .updates import ConfigError, did_you_mean

if TYPE_CHECKING:
    from .record import RunRecord
    from .runner import Runner


@dataclass(eq=False)
class SacredSession:
    config: pytest.Config
    options: Options
    observers: list[Observer]
    events: Dispatcher
    #: local store directories, never collected (``_sources/`` holds test module copies)
    store_directories: frozenset[Path] = frozenset()
    experiments: list[pytest.Item] = field(default_factory=list)
    _runner: Runner | None = None
    #: rows of runs stopped by Ctrl-C, which get no test report to carry them
    interrupted_rows: list[dict[str, Any]] = field(default_factory=list)
    #: a usage error an xdist worker stopped the session with, repeated at the very end
    usage_error: str | None = None
    #: regression checks and baseline copy (pytest_sacred.regression)
    regression: Any = None
    delivery: Delivery | None = None
    #: this process's rows with their runs, brought up to date when the queues are done
    local_rows: list[tuple[dict[str, Any], RunRecord]] = field(default_factory=list)
    #: under xdist, in the controller: what the workers said at their end
    worker_results: list[dict[str, Any]] = field(default_factory=list)
    #: puts back the SIGTERM handler the session found (see :mod:`.signals`)
    restore_sigterm: Callable[[], None] | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> SacredSession:
        options = Options.from_config(config)
        try:
            observers = build_observers(options, config.rootpath)
        except StoreError as exc:
            raise pytest.UsageError(str(exc)) from None
        for observer in observers:
            name = f"sacred-{observer.name}"
            config.pluginmanager.register(
                observer, None if config.pluginmanager.has_plugin(name) else name)
        stores = {Path(o.basedir).absolute() for o in observers if hasattr(o, "basedir")}
        default = config.rootpath / "runs"
        events = Dispatcher(config.pluginmanager)
        spill_dir = (options.file_storage or default) / "_spill"
        from .regression import RegressionChecks

        regression = RegressionChecks.from_config(config, options)  # bad rules fail here
        return cls(config, options, observers, events, frozenset(stores),
                   regression=regression,
                   delivery=Delivery(events, options.store_retry, spill_dir))

    @property
    def runner(self) -> Runner:
        """Built when the first experiment needs it: ordinary suites never import it."""
        if self._runner is None:
            from .runner import Runner

            self._runner = Runner(self.config, self.events, self.options)
        return self._runner

    # -- before anything runs -------------------------------------------------------------

    def prepare(self, items: list[pytest.Item]) -> None:
        """Resolve every selected experiment's config and check the command line against them.

        Raises ``pytest.UsageError`` naming the culprit; nothing has run or been stored yet.
        """
        try:
            self._resolve(items)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not self.experiments:
            return
        options = self.options
        if options.run_id is not None and len(self.experiments) > 1:
            raise pytest.UsageError(
                f"--sacred-id {options.run_id} names one run, but {len(self.experiments)} "
                "experiment variants are selected; select one (-k or a node id)")
        self._check_async()
        if options.system_metrics:
            from .sysmetrics import check_available

            check_available()
        if options.enforce_clean:
            self._check_clean()
        if not options.command:
            for observer in self.observers:
                try:
                    observer.open()
                except StoreError as exc:
                    raise pytest.UsageError(str(exc)) from None
            if options.run_id is not None:
                self._check_free_id(options.run_id)
            self.regression.start(self.config, self.experiments, self.observers,
                                  release=self.runner.complete)
            assert self.delivery is not None
            self.delivery.attach(self.config.pluginmanager.get_plugins())

    def _check_free_id(self, run_id: int) -> None:
        """``--sacred-id N`` naming a stored run: refused before anything runs."""
        for observer in self.observers:
            if observer.has_run(run_id):
                raise pytest.UsageError(
                    f"--sacred-id {run_id}: {observer.name} store already holds run {run_id} "
                    f"({short_path(observer.location(run_id))}); choose a free id, or leave "
                    "--sacred-id out to get the next one")

    def _cli_named_for(self, item: pytest.Item) -> list[tuple[str, dict[str, Any]]]:
        named = []
        for label, updates in self.options.named_configs:
            if updates is None:
                if find_named_config(item, label) is None:
                    continue  # visible to other selected experiments (checked below)
                updates = named_updates(item, label)
            named.append((label, updates))
        return named

    def _resolve(self, items: list[pytest.Item]) -> None:
        options = self.options
        used: set[str] = set()
        swept: dict[str, str] = {}
        known_names: set[str] = set()
        for item in items:
            name = experiment_name(item)
            if name is None:
                continue
            cli_named = self._cli_named_for(item)
            known_names.update(label for label, _ in cli_named)
            check_seeds_marker(item)
            spec: RunSpec = build_spec(item, name, cli_named, options.config_updates,
                                       options.seed, options.seed_root)
            spec.logger = experiment_logger(item)
            item.stash[SPEC_KEY] = spec
            used.update(spec.config)
            swept.update((key, item.nodeid) for key in spec.swept)
            self.experiments.append(item)
        if not self.experiments:
            if options.config_updates or options.named_configs:
                raise ConfigError("--sacred-with/--sacred-named-config given, but no experiment "
                                  "is selected (mark tests with @pytest.mark.experiment)")
            return
        for label, updates in options.named_configs:
            if updates is None and label not in known_names:
                raise ConfigError(f"unknown named config {label!r}: no selected experiment "
                                  "defines it (see --sacred-print-named-configs)"
                                  + did_you_mean(label, named_config_names(self.experiments)))
        for key in options.config_updates:
            if key in swept:
                raise ConfigError(f"--sacred-with {key}: {key!r} is swept by parametrize in "
                                  f"{swept[key]}; change the parametrize values instead")
            if key not in used:
                raise ConfigError(f"--sacred-with {key}: no selected experiment has a config "
                                  f"entry {key!r} (entries: {', '.join(sorted(used))})"
                                  + did_you_mean(key, used))
        for label, updates in options.named_configs:
            for key in updates or {}:
                if key not in used:
                    raise ConfigError(f"named config {label!r} sets {key!r}, which no selected "
                                      "experiment uses" + did_you_mean(key, used))
        warn_unused_entries(self.experiments)

    def _check_async(self) -> None:
        """An ``async def`` experiment runs only under an async plugin that awaits it."""
        from .asyncsupport import unrunnable_reason

        for item in self.experiments:
            reason = unrunnable_reason(item)
            if reason is not None:
                raise pytest.UsageError(reason)

    def _check_clean(self) -> None:
        for item in self.experiments:
            info = self.runner.experiment_info(item, "")
            if not info["repositories"]:
                raise pytest.UsageError(f"--sacred-enforce-clean: {info['mainfile']} is not in a "
                                        "git repository")
            for repo in info["repositories"]:
                if repo["dirty"]:
                    raise pytest.UsageError(
                        f"--sacred-enforce-clean: the repository {repo['url']} has uncommitted "
                        "changes; commit or stash them, or drop --sacred-enforce-clean")

    @pytest.hookimpl(trylast=True)  # after every other parametrize: [rbf-seed2]
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """``--sacred-seeds N`` or the marker's ``seeds=N``: each variant N times."""
        from .keys import SEED_PARAM
        from .resolve import closest_marker, seed_count

        experiment = closest_marker(metafunc.definition, "experiment")
        if experiment is None:
            return
        count = seed_count(self.options.seeds, experiment)
        if count is not None:  # a bad seeds= is a usage error when the configs resolve
            # the parameter is ours, not the test's: in the closure, pytest accepts it
            metafunc.fixturenames.append(SEED_PARAM)
            metafunc.parametrize(SEED_PARAM, [(i, count) for i in range(count)],
                                 ids=[f"seed{i}" for i in range(count)])

    # -- after the runs -------------------------------------------------------------------------

    def summary_row(self, item: pytest.Item, record: RunRecord) -> dict[str, Any]:
        """The run's line in the session's summary table."""
        from .summary import row

        callspec = getattr(item, "callspec", None)
        result = row(record, callspec.id if callspec else "", [], [], item.nodeid)
        self._fill(result, record)
        result["vs"] = self.regression.cell(item.nodeid)
        spec = item.stash.get(SPEC_KEY, None)
        if spec is not None and spec.seed_index is not None:  # for the table of groups
            from .regression import group_label
            from .summary import group_entry

            result["group"] = group_entry(group_label(item.nodeid), spec.seed_index, record,
                                          self.regression.group_cell(item.nodeid))
        self.local_rows.append((result, record))
        return result

    def stored_in(self, record: RunRecord) -> list[str]:
        """Where the run is stored, by the observers that took it."""
        return [short_path(o.location(record.run_id)) for o in self.observers
                if id(o) not in record.dropped]

    def _fill(self, result: dict[str, Any], record: RunRecord) -> None:
        assert self.delivery is not None
        result["stored in"] = self.delivery.cells(self.observers, record.run_id, record.dropped)
        result["errors"] = error_lines(self.events.failures(record.run_id)) \
            if record.run_id is not None else []

    def take_notices(self) -> list[str]:
        return self.delivery.take_notices() if self.delivery is not None else []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Store failures are said when they happen: with the report of the test they
        happened in (an xdist worker's travel to the controller on it)."""
        notices = getattr(report, "sacred_notices", None)
        if notices and not hasattr(self.config, "workerinput"):
            write_notices(self.config, notices)

    def catch_sigterm(self, runs_experiments: bool) -> None:
        """From the test loop to the end of the session (the stores' queues included),
        SIGTERM (Slurm, ``timeout``, ``docker stop``, CI) stops the experiments as Ctrl-C
        does: the run ends INTERRUPTED, the summary prints. In a process running
        experiments, and in the xdist controller, so that it prints the summary of what its
        workers stored. Put back in :meth:`close`."""
        controller = getattr(self.config.option, "dist", "no") != "no" and \
            not hasattr(self.config, "workerinput")
        if (runs_experiments or controller) and self.restore_sigterm is None:
            from .signals import sigterm_as_interrupt

            self.restore_sigterm = sigterm_as_interrupt()

    @property
    def store_failed(self) -> bool:
        """Some run, or part of one, could not be stored (here or in a worker)."""
        return bool(self.events.errors) or any(r.get("failed") for r in self.worker_results)

    def exit_status(self, status: int) -> int:
        """The session's exit code: ``STORE_FAILED`` instead of success when a store
        failed; a worse outcome (failed tests, interruption, usage error) keeps its own."""
        if self.store_failed and status == pytest.ExitCode.OK:
            return STORE_FAILED
        return status

    def final_rows(self) -> dict[str, Any]:
        """What a worker sends its controller at the end (``workeroutput``)."""
        return {"failed": self.store_failed,
                "rows": {r["node"]: {"stored in": r["stored in"], "errors": r["errors"]}
                         for r, _ in self.local_rows},
                "interrupted_rows": self.interrupted_rows,
                "notices": self.take_notices(),
                "spill_files": self.delivery.spill_files if self.delivery else []}

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        for text in self.regression.finish():  # regression checks (d)
            if self.delivery is not None:
                self.delivery.notice(text)
        if self.delivery is not None:
            worker = hasattr(self.config, "workerinput")
            self.delivery.close(None if worker else lambda n: write_notices(self.config, n))
        if self.events.errors:  # now that the queues are done: what the stores hold
            for result, record in self.local_rows:
                self._fill(result, record)
        for observer in self.observers:
            try:
                observer.close()
            except Exception as exc:  # closing must not hide the session's outcome
                self.events.errors.append(ObserverError(
                    observer.name, "close", None, f"{type(exc).__name__}: {exc}", ""))
        if self.restore_sigterm is not None:
            self.restore_sigterm()
            self.restore_sigterm = None


def write_notices(config: pytest.Config, notices: list[str]) -> None:
    """Print notices on their own lines, between the test progress."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        import sys

        for text in notices:
            print(f"pytest-sacred: {text}", file=sys.stderr)
        return
    reporter.ensure_newline()
    for text in notices:
        reporter.write_line(f"pytest-sacred: {text}", yellow=True, bold=True)


def short_path(location: str) -> str:
    """Paths under the current directory are shown relative to it."""
    if os.path.isabs(location):
        relative = os.path.relpath(location)
        if not relative.startswith(".."):
            return relative
    return location

