"""A run's life from its variant's setup to its final event, for one pytest session."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

import pytest

from . import output
from .clock import utcnow
from .events import Dispatcher
from .heartbeat import Heartbeat
from .info.experiment import md5_of_file, module_info
from .info.git import repository_info
from .info.host import host_info
from .resolve import RunSpec
from .run import Run


def run_status(exc: BaseException | None) -> str:
    """Sacred's status for a run whose body ended with ``exc``."""
    if exc is None:
        return "COMPLETED"
    if isinstance(exc, (KeyboardInterrupt, pytest.exit.Exception)):
        return "INTERRUPTED"
    if isinstance(exc, pytest.skip.Exception):
        return "SKIPPED"
    if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
        return "TIMEOUT"  # pytest-timeout's signal method
    return "FAILED"


def fail_trace(exc: BaseException, item: pytest.Item) -> list[str]:
    """The traceback from the test function's frame on, as Sacred's list of strings."""
    tb = exc.__traceback__
    code = getattr(getattr(item, "obj", None), "__code__", None)
    start = tb
    while start is not None and start.tb_frame.f_code is not code:
        start = start.tb_next
    return traceback.format_exception(type(exc), exc, start or tb)


class Runner:
    """Creates, starts, beats and ends runs, and gathers host/experiment info once."""

    def __init__(
        self,
        config: pytest.Config,
        events: Dispatcher,
        heartbeat_interval: float,
        capture_env: list[str],
        options_meta: dict,
        experiment_name: str | None,
        comment: str | None,
        priority: float | None,
        run_id: int | None,
    ) -> None:
        # files and repositories change between sessions run in one process
        md5_of_file.cache_clear()
        repository_info.cache_clear()
        self.config = config
        self.events = events
        self.heartbeat = Heartbeat(heartbeat_interval, self._periodic_beat)
        self._capture_env = capture_env
        self._options_meta = options_meta
        self._name = experiment_name
        self._comment = comment
        self._priority = priority
        self._forced_id = run_id
        self._host_info: dict | None = None
        self._experiment_info: dict[tuple[str, str], dict] = {}

    # -- gathered once ----------------------------------------------------------------------

    def host_info(self) -> dict:
        if self._host_info is None:
            self._host_info = host_info(self._capture_env)
        return self._host_info

    def experiment_info(self, item: pytest.Item, name: str) -> dict:
        """One dict per module and experiment name, shared by its runs (observers may
        encode it once)."""
        module = item.module  # type: ignore[attr-defined]
        key = (module.__name__, self._name or name)
        info = self._experiment_info.get(key)
        if info is None:
            same_module = next((v for (m, _), v in self._experiment_info.items()
                                if m == module.__name__), None)
            if same_module is None:
                conftests = list(self.config.pluginmanager._getconftestmodules(item.path))
                same_module = module_info(module, conftests, self.config.rootpath)
            info = self._experiment_info[key] = {
                "name": key[1], **{k: v for k, v in same_module.items() if k != "name"}}
        return info

    # -- one run ----------------------------------------------------------------------------

    def create(self, item: pytest.Item, spec: RunSpec) -> Run:
        meta = {
            "command": getattr(item, "originalname", item.name),
            "options": self._options_meta,
            "named_configs": spec.named_configs,
            "config_updates": spec.config_updates,
            "pytest": {"nodeid": item.nodeid},
        }
        if self._comment is not None:
            meta["comment"] = self._comment
        if self._priority is not None:
            meta["priority"] = self._priority

        def emit(hook: str, **kwargs: Any) -> None:
            if run.status is None:  # not started yet: deliver right after started_event
                run._pending.append((hook, kwargs))
            else:
                self._emit(run, hook, **kwargs)

        from .keys import REPLAY_KEY

        replay = item.stash.get(REPLAY_KEY, None)  # issue 13: a queued or re-run stored run
        if replay is not None:
            meta.update(replay.meta)
        run = Run(spec.config, spec.seed, self.experiment_info(item, spec.experiment),
                  self.host_info(), meta, emit)
        if replay is not None:
            run._id = replay.run_id
        return run

    def _emit(self, run: Run, hook: str, drop_failed: bool = False, **kwargs: Any) -> None:
        with run._lock:  # the heartbeat thread and the test body both send events
            self.events.emit(hook, run._dropped, drop_failed, run_id=run._id, **kwargs)

    def _open(self, run: Run, hook: str, **time: Any) -> None:
        """Name the run, then send its first event; an observer failing it is dropped."""
        if run._id is None:  # a replayed queued run keeps its id (issue 13)
            run._id = self._forced_id
        config = dict(run.config)
        if run._id is None:
            run._id = self.events.allocate_id(run._dropped, run=run, ex_info=run.experiment_info,
                                              config=config, meta_info=run.meta_info)
        self._emit(run, hook, drop_failed=True, ex_info=run.experiment_info,
                   command=run.meta_info["command"], host_info=run.host_info, config=config,
                   meta_info=run.meta_info, **time)

    def queue(self, run: Run) -> None:
        run.status = "QUEUED"
        run.meta_info["queue_time"] = queue_time = utcnow()
        self._open(run, "pytest_sacred_queued_event", queue_time=queue_time)

    def start(self, run: Run) -> None:
        run.start_time = utcnow()
        run.status = "RUNNING"
        self._open(run, "pytest_sacred_started_event", start_time=run.start_time)
        for hook, kwargs in run._pending:
            self._emit(run, hook, **kwargs)
        run._pending.clear()
        self.heartbeat.watch(run)

    def _beat(self, run: Run, captured_out: str) -> None:
        run.captured_out = captured_out
        self._emit(run, "pytest_sacred_log_metrics", metrics_by_name=run._metrics.drain(),
                   info=run.info)
        self._emit(run, "pytest_sacred_heartbeat_event", info=run.info,
                   captured_out=captured_out, beat_time=utcnow(), result=run.result)

    def _periodic_beat(self, run: Run) -> None:
        with run._lock:
            if run._finished:
                return
            live = output.peek(self.config)
            self._beat(run, output.combine(run._sections, live) if live is not None
                       else run.captured_out)

    def finish(self, run: Run, item: pytest.Item, exc: BaseException | None,
               sections: list[tuple[str, str, str]], trace: list[str] | None = None) -> None:
        """End a started run: artifacts, the final beat, then the final event."""
        self.heartbeat.unwatch()
        self._add_tmp_path_artifacts(run, item)
        status = run_status(exc)
        with run._lock:
            run._finished = True
            run.stop_time = utcnow()
            self._beat(run, output.combine(sections))
            run.status = status
            if status == "COMPLETED":
                self._emit(run, "pytest_sacred_completed_event", stop_time=run.stop_time,
                           result=run.result)
            elif status == "FAILED":
                self._emit(run, "pytest_sacred_failed_event", fail_time=run.stop_time,
                           fail_trace=trace if trace is not None else fail_trace(exc, item))
            else:
                self._emit(run, "pytest_sacred_interrupted_event",
                           interrupt_time=run.stop_time, status=status)

    def _add_tmp_path_artifacts(self, run: Run, item: pytest.Item) -> None:
        """Files left under the run's ``tmp_path`` become artifacts named by relative path."""
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if not isinstance(tmp, Path) or not tmp.is_dir():
            return
        for path in sorted(tmp.rglob("*")):
            if path.is_file() and str(path.absolute()) not in run._artifact_paths:
                self._emit(run, "pytest_sacred_artifact_event",
                           name=path.relative_to(tmp).as_posix(), filename=str(path.absolute()),
                           metadata=None, content_type=None)

    def close(self) -> None:
        self.heartbeat.stop()


def options_meta(config: pytest.Config) -> dict:
    """The ``--sacred-*`` options of this session for ``meta.options``, URLs redacted."""
    from .redact import redact_strings

    meta = {}
    for dest, value in sorted(vars(config.option).items()):
        if dest.startswith("sacred_"):
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            meta["--" + dest.replace("_", "-")] = value
    return redact_strings(meta)
