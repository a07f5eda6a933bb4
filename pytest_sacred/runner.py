"""A run's life from its variant's setup to its final event, for one pytest session.

:class:`Runner` creates, starts, beats and ends runs; :class:`RunHooks` are the per-test
pytest hooks that drive it, registered only once experiments are selected, so that a suite
without any pays nothing per test.
"""

from __future__ import annotations

import functools
import inspect
import traceback
import types
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from . import compat, output
from .artifacts import tmp_path_artifacts
from .clock import utcnow
from .events import Dispatcher
from .heartbeat import Heartbeat
from .info.experiment import md5_of_file, module_info
from .info.git import repository_info
from .info.host import host_info
from .keys import RECORD_KEY, REPLAY_KEY, RESUME_KEY, RUN_KEY, SPEC_KEY
from .options import Options
from .payloads import ExperimentInfo, HostInfo, MetaInfo
from .record import RunRecord
from .resolve import RunSpec, explain_text_values
from .run import Run
from .signals import RunStopped

if TYPE_CHECKING:
    from .resume import Resumption
    from .session import SacredSession
    from .sysmetrics import SystemSampler


def run_status(exc: BaseException | None) -> str:
    """Sacred's status for a run whose body ended with ``exc``."""
    if exc is None:
        return "COMPLETED"
    if isinstance(exc, RunStopped):  # a signal: Slurm's time limit, scancel, preemption
        return exc.status
    if isinstance(exc, (KeyboardInterrupt, pytest.exit.Exception)):
        return "INTERRUPTED"
    if isinstance(exc, pytest.skip.Exception):
        return "SKIPPED"
    if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
        return "TIMEOUT"  # pytest-timeout's signal method
    return "FAILED"


def ended_by(exc: BaseException | None, status: str) -> str | None:
    """What stopped a run from outside its body (``info.ended_by``): the signal and why,
    or pytest-timeout's message; ``None`` for a run that ended by itself or on Ctrl-C."""
    if isinstance(exc, RunStopped):
        return exc.ended_by
    if status == "TIMEOUT" and exc is not None:
        return str(exc).strip().splitlines()[0]
    return None


def fail_trace(exc: BaseException, function: Callable[..., Any] | None) -> list[str]:
    """The traceback from the test function's frame on, as Sacred's list of strings,
    without the frames pytest hides from its report either (``__tracebackhide__``: the
    plugin's checks of a bad call), so that it ends at the user's line, as Sacred's
    filtered trace leaves out Sacred's own frames."""
    tb = exc.__traceback__
    code = getattr(function, "__code__", None)
    start = tb
    while start is not None and start.tb_frame.f_code is not code:
        start = start.tb_next
    return traceback.format_exception(type(exc), exc, _without_hidden(start or tb))


def _without_hidden(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the entries whose frame sets ``__tracebackhide__`` to a true value
    (a callable one asks pytest's ``ExceptionInfo``, which there is none of here: kept);
    ``tb`` itself when it has nothing else."""
    kept: list[types.TracebackType] = []
    entry = tb
    while entry is not None:
        hide = entry.tb_frame.f_locals.get(
            "__tracebackhide__", entry.tb_frame.f_globals.get("__tracebackhide__", False))
        if callable(hide) or not hide:
            kept.append(entry)
        entry = entry.tb_next
    if not kept:
        return tb
    shown: types.TracebackType | None = None
    for entry in reversed(kept):
        shown = types.TracebackType(shown, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return shown


class Runner:
    """Creates, starts, beats and ends runs, and gathers host/experiment info once."""

    def __init__(self, config: pytest.Config, events: Dispatcher, options: Options) -> None:
        # files and repositories change between sessions run in one process
        md5_of_file.cache_clear()
        repository_info.cache_clear()
        self.config = config
        self.events = events
        self.options = options
        self.heartbeat = Heartbeat(options.heartbeat, self._periodic_beat,
                                   on_error=self._beat_failed)
        self._system: SystemSampler | None = None
        if options.system_metrics and not options.queue:
            from .sysmetrics import SystemSampler

            self._system = SystemSampler()
        self._host_info: HostInfo | None = None
        self._experiment_info: dict[tuple[str, str], ExperimentInfo] = {}
        #: completed runs whose final event waits for their group's verdict: beaten with
        #: the running one, so that readers do not take them for dead
        self._held: list[RunRecord] = []

    # -- gathered once ----------------------------------------------------------------------

    def host_info(self) -> HostInfo:
        if self._host_info is None:
            self._host_info = host_info(self.options.capture_env)  # type: ignore[assignment]
        return self._host_info  # type: ignore[return-value]

    def experiment_info(self, item: pytest.Item, name: str) -> ExperimentInfo:
        """One dict per module and experiment name, shared by its runs (observers may
        encode it once)."""
        module = item.module  # type: ignore[attr-defined]
        key = (module.__name__, self.options.name or name)
        info = self._experiment_info.get(key)
        if info is None:
            same_module: Mapping[str, Any] | None = next(
                (v for (m, _), v in self._experiment_info.items() if m == module.__name__), None)
            if same_module is None:
                conftests = compat.conftest_modules(self.config, item.path)
                same_module = module_info(module, conftests, self.config.rootpath)
            info = self._experiment_info[key] = cast("ExperimentInfo", {
                "name": key[1], **{k: v for k, v in same_module.items() if k != "name"}})
        return info

    # -- one run ----------------------------------------------------------------------------

    def create(self, item: pytest.Item, spec: RunSpec) -> RunRecord:
        meta: MetaInfo = {
            "command": getattr(item, "originalname", item.name),
            "options": self.options.meta,
            "named_configs": spec.named_configs,
            "config_updates": spec.config_updates,
            "pytest": {"nodeid": item.nodeid},
        }
        if self.options.comment is not None:
            meta["comment"] = self.options.comment
        if self.options.priority is not None:
            meta["priority"] = self.options.priority
        if spec.seed_index is not None:  # one run of a group: how to find its siblings
            meta["seeds"] = {"root": self.options.seed_root, "index": spec.seed_index[0],
                             "count": spec.seed_index[1], "group": self.options.group_session}

        def emit(hook: str, **kwargs: Any) -> None:
            if record.status is None:  # not started yet: deliver right after started_event
                record.pending.append((hook, kwargs))
            else:
                self._emit(record, hook, **kwargs)

        replay = item.stash.get(REPLAY_KEY, None)  # a queued or re-run stored run
        if replay is not None:
            meta.update(replay.meta)  # type: ignore[typeddict-item]
        record = RunRecord(spec.config, spec.seed, self.experiment_info(item, spec.experiment),
                           self.host_info(), meta, emit, function=getattr(item, "obj", None))
        if replay is not None:
            record.run_id = replay.run_id
        resumption = item.stash.get(RESUME_KEY, None)
        if resumption is not None:
            self._continue(record, resumption)
        return record

    @staticmethod
    def _continue(record: RunRecord, resumption: Resumption) -> None:
        """A resumed run goes on from its stored self: its info (without what ended it last
        time), its output, its metrics' steps, and ``meta.resumed`` one entry longer (with the
        earlier attempt's fail_trace, which the stores move there from the run's top level)."""
        record.resumption = resumption
        record.info = {k: v for k, v in resumption.info.items() if k != "ended_by"}
        record.output_before = resumption.captured_out
        record.metrics.continue_after(resumption.last_steps)
        # this resumption is counted from the run's setup on (its fixtures see it); its
        # time becomes the start's
        from .stores.base import resumed

        record.meta_info["resumed"] = resumed(resumption.earlier, utcnow(), record.host_info,
                                              resumption.from_status,
                                              fail_trace=resumption.fail_trace)

    def _emit(self, record: RunRecord, hook: str, first: bool = False, **kwargs: Any) -> None:
        with record.lock:  # the heartbeat thread and the test body both send events
            self.events.call(hook, record.dropped, first, run_id=record.run_id, **kwargs)

    def _open(self, record: RunRecord, hook: str, **time: Any) -> None:
        """Name the run, then send its first event; an observer failing it is dropped."""
        if record.run_id is None:  # a replayed queued run keeps its id
            record.run_id = self.options.run_id
        config = dict(record.config)
        if record.run_id is None:
            record.run_id = self.events.allocate_id(
                record.dropped, ex_info=record.experiment_info, config=config,
                meta_info=record.meta_info)
        self._emit(record, hook, first=True, ex_info=record.experiment_info,
                   command=record.meta_info["command"], host_info=record.host_info,
                   config=config, meta_info=record.meta_info, **time)

    def queue(self, record: RunRecord) -> None:
        record.status = "QUEUED"
        record.meta_info["queue_time"] = queue_time = utcnow()
        self._open(record, "pytest_sacred_queued_event", queue_time=queue_time)

    def start(self, record: RunRecord) -> None:
        record.start_time = utcnow()
        record.status = "RUNNING"
        if record.resumption is None:
            self._open(record, "pytest_sacred_started_event", start_time=record.start_time)
        else:
            record.meta_info["resumed"][-1]["time"] = record.start_time
            self._open(record, "pytest_sacred_resumed_event", resume_time=record.start_time,
                       from_status=record.resumption.from_status)
        for hook, kwargs in record.pending:
            self._emit(record, hook, **kwargs)
        record.pending.clear()
        if self._system is not None:
            self._system.start()
        self.heartbeat.watch(record)

    def _sample_system(self, record: RunRecord) -> None:
        """``--sacred-system-metrics``: one sample into the run's metrics, before a beat
        drains them; a failing sample is reported with the run and the beat goes on."""
        if self._system is None:
            return
        try:
            for name, value in self._system.sample().items():
                record.metrics.log(name, value)
        except Exception as exc:  # noqa: BLE001 - psutil or the OS: the beat must happen
            self.events.report("system metrics", "sample", record.run_id, exc)
        while self._system.errors:
            self.events.report("system metrics", "nvidia-smi", record.run_id,
                               self._system.errors.pop())

    def _beat(self, record: RunRecord, captured_out: str,
              judge: Callable[[], bool] | None = None) -> bool:
        """Send what is new; ``judge`` (see :meth:`finish`) says whether to hold the end."""
        record.captured_out = captured_out
        metrics = record.metrics.drain(lazy=self.events.takes_timestamps())
        if record.metrics.repeated:
            from .resume import warn_repeated

            warn_repeated(record.metrics.repeated)
            record.metrics.repeated.clear()
        info = record.storable(record.info, "info")
        self._emit(record, "pytest_sacred_log_metrics", metrics_by_name=metrics, info=info)
        held = False
        if judge is not None:
            held = judge()  # its verdict joins the info of this beat
            info = record.storable(record.info, "info")
        self._emit(record, "pytest_sacred_heartbeat_event", info=info,
                   captured_out=captured_out, beat_time=utcnow(),
                   result=record.storable(record.result, "result"))
        return held

    def _beat_failed(self, record: RunRecord, exc: BaseException) -> None:
        """A periodic beat raised (the next one still runs): reported with the run."""
        self.events.report("heartbeat", "periodic beat", record.run_id, exc)

    def _captured(self, record: RunRecord, sections: list[tuple[str, str, str]],
                  live: tuple[str, str] | None = None) -> str:
        """The run's output through the conftests' captured-output filter; a filter that
        raises (or returns no text) is reported and the output kept folded, so that the
        beat, and the run's end, still happen."""
        try:
            text = output.combine(sections, live, output.hook_filter(self.config))
        except Exception as exc:
            self.events.report("captured-output filter", "pytest_sacred_captured_out_filter",
                               record.run_id, exc)
            text = output.combine(sections, live)
        if record.output_before:  # a resumed run's output goes on after the stored one
            before = record.output_before
            return before + ("" if before.endswith("\n") or not text else "\n") + text
        return text

    def _send_checkpoint(self, record: RunRecord) -> None:
        """The files of ``tmp_path / "checkpoint"`` new or changed since the last beat, as
        ``checkpoint/…`` artifacts (a killed run keeps its last checkpoint)."""
        if record.checkpoint is None:
            return
        try:
            changed = record.checkpoint.changed()
        except OSError as exc:  # the directory went away while listed: the next beat
            self.events.report("checkpoint", "list", record.run_id, exc)
            return
        for name, path in changed:
            self._emit(record, "pytest_sacred_artifact_event", name=name, filename=path,
                       metadata=None, content_type=None)

    def _periodic_beat(self, record: RunRecord) -> None:
        for held in list(self._held):
            self._held_beat(held)
        with record.lock:
            if record.finished:
                return
            live = output.peek(self.config)
            self._sample_system(record)
            self._send_checkpoint(record)
            self._beat(record, self._captured(record, record.sections, live)
                       if live is not None else record.captured_out)

    def _held_beat(self, record: RunRecord) -> None:
        with record.lock:
            if record in self._held:
                self._emit(record, "pytest_sacred_heartbeat_event", info=record.info,
                           captured_out=record.captured_out, beat_time=utcnow(),
                           result=record.result)

    def finish(self, record: RunRecord, item: pytest.Item, exc: BaseException | None,
               sections: list[tuple[str, str, str]], trace: list[str] | None = None,
               judge: Callable[[], bool] | None = None) -> None:
        """End a started run: artifacts, the final beat, then the final event. ``judge``
        (a completed run's regression check) runs once the final metrics are out and
        before the final info is, so that its verdict is stored with the run; when it
        returns True the final event waits for :meth:`complete` (a run of a group of seeds
        whose verdict comes with the group's last run)."""
        self.heartbeat.unwatch()
        self._add_tmp_path_artifacts(record, item)
        status = run_status(exc)
        stopper = ended_by(exc, status)
        with record.lock:
            if stopper is not None:  # reaches the stores with the final beat
                record.info["ended_by"] = stopper
            record.finished = True
            record.stop_time = utcnow()
            self._sample_system(record)
            held = self._beat(record, self._captured(record, sections),
                              judge if status == "COMPLETED" else None)
            record.status = status
            if held:
                self._held.append(record)
                return
            if status == "COMPLETED":
                self._emit(record, "pytest_sacred_completed_event", stop_time=record.stop_time,
                           result=record.storable(record.result, "result"))
            elif status == "FAILED":
                assert exc is not None or trace is not None
                self._emit(record, "pytest_sacred_failed_event", fail_time=record.stop_time,
                           fail_trace=trace if trace is not None
                           else fail_trace(exc, record.function))  # type: ignore[arg-type]
            else:
                self._emit(record, "pytest_sacred_interrupted_event",
                           interrupt_time=record.stop_time, status=status)

    def complete(self, record: RunRecord) -> None:
        """End a COMPLETED run whose end :meth:`finish` held: its info as it is now (the
        group's verdict), then the final event with the time its body ended."""
        assert record.stop_time is not None
        with record.lock:
            if record in self._held:
                self._held.remove(record)
            self._emit(record, "pytest_sacred_heartbeat_event", info=record.info,
                       captured_out=record.captured_out, beat_time=utcnow(),
                       result=record.result)
            self._emit(record, "pytest_sacred_completed_event", stop_time=record.stop_time,
                       result=record.result)

    def _add_tmp_path_artifacts(self, record: RunRecord, item: pytest.Item) -> None:
        """Files left under the run's ``tmp_path`` become artifacts (see :mod:`.artifacts`)."""
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if not isinstance(tmp, Path):
            return
        already: set[str] = set(record.artifact_paths)
        if record.checkpoint is not None:  # stored by a beat as they are now: not again
            already |= record.checkpoint.unchanged_paths()
        found = tmp_path_artifacts(tmp, already, record.artifact_names)
        for name, path in found.artifacts:
            self._emit(record, "pytest_sacred_artifact_event", name=name, filename=path,
                       metadata=None, content_type=None)
        # both reach the stores with the final beat
        if found.notes:
            record.info["tmp_path_not_stored"] = found.notes
        if found.renamed:  # pairs, not a dict: MongoDB would escape the dots of the paths
            record.info["tmp_path_renamed"] = [list(pair) for pair in found.renamed.items()]

    def close(self) -> None:
        self.heartbeat.stop()


def _keeping_result(function: Callable[..., Any], record: RunRecord) -> Callable[..., Any]:
    """``function`` as pytest (or an async plugin) will call it, its return value kept as
    the run's result and ``None`` handed back, so pytest warns about no returned value."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def awaited(**kwargs: Any) -> None:
            value = await function(**kwargs)
            if value is not None:
                record.result = value
        return awaited

    @functools.wraps(function)
    def called(**kwargs: Any) -> None:
        value = function(**kwargs)
        if value is not None:
            record.result = value
    return called


class TerminalFlush:
    """Flushes pytest's terminal writer at the end of an experiment's body, before pytest's
    capture reads the phase's output.

    What a plugin writes through the terminal writer while the body runs (pytest-timeout's
    report of where a test hung) goes to the captured file descriptor, but only once
    flushed: without this it stays buffered (unless ``PYTHONUNBUFFERED`` is set), misses
    the run's captured output and is printed after the test instead.
    """

    @pytest.hookimpl(wrapper=True, trylast=True)  # innermost: inside pytest's capture
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if RECORD_KEY in item.stash:
                item.config.get_terminal_writer().flush()


class RunHooks:
    """The per-test hooks of experiments. Ordinary tests in a mixed suite pass through at
    the cost of one stash lookup per hook."""

    def __init__(self, session: SacredSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Before any fixture: the run exists and the global generators are seeded."""
        spec = item.stash.get(SPEC_KEY, None)
        if spec is None:
            return
        from .decorators import set_capture_values
        from .seeding import seed_globals

        runner = self.session.runner
        record = item.stash[RECORD_KEY] = runner.create(item, spec)
        run = item.stash[RUN_KEY] = Run(record)
        if self.session.options.queue:
            runner.queue(record)
            pytest.skip(f"queued as run {record.run_id}")
        seed_globals(spec.seed)
        set_capture_values(run, spec.seed, spec.logger)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # tryfirst makes this the outermost wrapper: pytest's capture has stored the call's
        # output in the item's report sections by the time the body's outcome reaches us.
        record = item.stash.get(RECORD_KEY, None)
        if record is None:
            return (yield)
        runner = self.session.runner
        record.sections = list(compat.report_sections(item))
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if isinstance(tmp, Path):
            from .resume import Checkpoint

            # snapshots beside tmp_path: pytest's retention of its temporary
            # directories removes them with it
            record.checkpoint = Checkpoint(tmp / "checkpoint",
                                           tmp.parent / f"{tmp.name}-checkpoint-snapshots")
        if record.resumption is not None:
            from .resume import restore

            restore(record, item)
        runner.start(record)
        function = item.obj  # type: ignore[attr-defined]
        item.obj = _keeping_result(function, record)  # type: ignore[attr-defined]
        try:
            result = yield
        except BaseException as exc:
            item.obj = function  # type: ignore[attr-defined]
            explain_text_values(item.stash[SPEC_KEY], exc)  # "C='abc' was read as a string"
            runner.finish(record, item, exc, compat.report_sections(item))
            self.session.regression.after_run(item, item.stash[RUN_KEY], [], raising=False)
            if isinstance(exc, KeyboardInterrupt):  # no report will carry this run's row
                self.session.interrupted_rows.append(self.session.summary_row(item, record))
            raise
        item.obj = function  # type: ignore[attr-defined]
        regression = self.session.regression
        run = item.stash[RUN_KEY]
        runner.finish(record, item, None, compat.report_sections(item),
                      judge=functools.partial(regression.judge, item, run))
        if record.unsaid:  # -W error made a warning an error: it fails the test, as
            from .serialize import UnstorableValueWarning  # the run ended and was stored

            raise UnstorableValueWarning(record.unsaid[0])
        # the regression checks may fail the test, once the run is stored as it ended
        regression.after_run(item, run, self.session.stored_in(record)
                             if regression.records_runs else [])
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        spec = item.stash.get(SPEC_KEY, None)
        if spec is not None and call.when == "setup" and call.excinfo is not None:
            explain_text_values(spec, call.excinfo.value)  # a derived entry failed on it
        report = yield
        record = item.stash.get(RECORD_KEY, None)
        if record is None:
            return report
        if call.when == "setup" and report.failed and record.status is None:
            # a fixture failed before the body: the run failed too
            runner = self.session.runner
            runner.start(record)
            runner.finish(record, item, call.excinfo.value if call.excinfo else None,
                          compat.report_sections(item),
                          trace=report.longreprtext.splitlines(keepends=True))
        if call.when == "setup" and not report.passed and record.status != "QUEUED":
            # its body never ran (a fixture failed or skipped): its group goes on without it
            self.session.regression.after_run(item, item.stash[RUN_KEY], [], raising=False)
        if call.when == "call" or (call.when == "setup" and (report.failed
                                                             or record.status == "QUEUED")):
            # xdist sends the row to the controller with the report
            report.sacred_run = self.session.summary_row(item, record)
        notices = self.session.take_notices()
        if notices:  # printed when the report is logged, here or in the xdist controller
            report.sacred_notices = notices
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if item.stash.get(RECORD_KEY, None) is not None:
                from .decorators import set_capture_values
                from .seeding import forget

                set_capture_values(None)
                forget()
                del item.stash[RECORD_KEY]
                del item.stash[RUN_KEY]

