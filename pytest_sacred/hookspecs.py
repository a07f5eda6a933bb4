"""Observer hook specifications.

An observer is any pytest plugin implementing some of these hooks: an object registered
with ``config.pluginmanager.register(obj)`` or plain functions in a ``conftest.py``.
pluggy lets an implementation accept any subset of the arguments.

pytest-sacred calls these hooks through pluggy, so every hookimpl option works as pluggy
documents it: ``tryfirst``/``trylast``, ``wrapper=True`` and ``hookwrapper=True``
wrappers, ``specname``; pluggy's tracing and ``add_hookcall_monitoring`` see every call.
Implementations are called tryfirst ones first and trylast ones last, as pluggy does; within
each of those classes, by the plugin's ``priority`` attribute (Sacred's; default 0, higher
first), then in pluggy's order (the plugin registered last first). An implementation that
raises is reported and the others still receive the event (see
:mod:`pytest_sacred.events`). Times are naive ``datetime`` values in UTC, as in Sacred.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from .payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries

hookspec = pytest.hookspec


@hookspec(firstresult=True)
def pytest_sacred_allocate_id(
    ex_info: ExperimentInfo, config: dict[str, Any], meta_info: MetaInfo
) -> int | None:
    """Name a run before its first event.

    Called once per run that has no id yet (``--sacred-id`` gives one), ``firstresult``:
    implementations are asked in pluggy's order and the first that returns an int names
    the run; every observer then receives that id in ``run_id``. One that raises or
    returns something else than an int is reported and the next one is asked. An observer
    that claims an id here (e.g. by creating a directory) must also accept
    ``started_event``/``queued_event`` for ids it did not claim.

    :param ex_info: experiment info (``name``, ``base_dir``, ``sources``, ``dependencies``,
        ``repositories``, ``mainfile``).
    :param config: the run's final configuration, ``seed`` included.
    :param meta_info: ``command``, ``options``, ``named_configs``, ``config_updates`` and,
        when given, ``comment`` and ``priority``.
    """


@hookspec
def pytest_sacred_queued_event(
    run_id: int | None,
    ex_info: ExperimentInfo,
    command: str,
    host_info: HostInfo,
    queue_time: datetime,
    config: dict[str, Any],
    meta_info: MetaInfo,
) -> None:
    """A run was queued with ``--sacred-queue`` instead of being executed.

    ``meta_info`` carries ``queue_time`` too. No other event follows for this run.
    """


@hookspec
def pytest_sacred_started_event(
    run_id: int | None,
    ex_info: ExperimentInfo,
    command: str,
    host_info: HostInfo,
    start_time: datetime,
    config: dict[str, Any],
    meta_info: MetaInfo,
) -> None:
    """A run starts: its fixtures are set up and the test body is about to run.

    :param command: the test function's name.
    :param host_info: ``hostname``, ``os``, ``python_version``, ``cpu``, ``ENV`` and, when
        ``nvidia-smi`` answers, ``gpus``; gathered once per session.
    """


@hookspec
def pytest_sacred_resumed_event(
    run_id: int,
    ex_info: ExperimentInfo,
    command: str,
    host_info: HostInfo,
    resume_time: datetime,
    config: dict[str, Any],
    meta_info: MetaInfo,
    from_status: str,
) -> None:
    """A stored run continues (``--sacred-resume``): fires instead of ``started_event``,
    when its fixtures are set up and the body is about to run again.

    The store already holds the run under ``run_id`` (the session claimed it, atomically,
    before anything ran). A store sets its status back to RUNNING, appends
    ``{"time": resume_time, "host": host_info["hostname"], "from_status": from_status}``
    to its ``meta.resumed`` and keeps everything else it holds (config, metrics, output,
    info, artifacts, start time), except the run's top-level ``fail_trace``: the trace of
    an earlier attempt that failed goes into that entry, as ``"fail_trace"`` (the entry
    ``meta_info["resumed"][-1]`` has it; :func:`pytest_sacred.stores.base.earlier_trace`),
    so that the resumed attempt is not shown failed whatever its end. The run's later
    events are those of any run: its heartbeats carry the stored output followed by the
    new, its metrics the points after the last stored step of each, and its final event
    ends it.

    :param ex_info: experiment info of the code that runs now (it may differ from the
        stored one).
    :param command: the test function's name.
    :param host_info: the host it continues on (see ``started_event``).
    :param resume_time: when it continues.
    :param config: the stored config, seed included.
    :param meta_info: this session's meta info; ``meta_info["resumed"]`` lists every
        resumption of the run, this one last (with ``"fail_trace"`` when the run had one).
    :param from_status: the status it is resumed from: ``"INTERRUPTED"``, ``"TIMEOUT"``,
        ``"FAILED"`` or ``"DIED?"`` (RUNNING without a heartbeat for longer than the
        readers' limit).
    """


@hookspec
def pytest_sacred_heartbeat_event(
    run_id: int | None,
    info: dict[str, Any],
    captured_out: str,
    beat_time: datetime,
    result: Any,
) -> None:
    """Every ``--sacred-heartbeat`` seconds while the run is alive, and once when it ends.

    :param info: the run's mutable ``info`` dict (user data).
    :param captured_out: all output captured so far (cumulative, ``\\r`` folded).
    :param result: the result so far (``None`` until the body returns).
    """


@hookspec
def pytest_sacred_log_metrics(
    run_id: int | None, metrics_by_name: dict[str, MetricSeries], info: dict[str, Any]
) -> None:
    """Metrics logged since the previous heartbeat; fires just before each heartbeat.

    :param metrics_by_name: ``{name: {"name", "steps": [int], "values": [number],
        "timestamps": [datetime]}}``, only the entries not yet delivered. An observer
        with the attribute ``takes_timestamps = True`` (all of pytest-sacred's) may get a
        :class:`~pytest_sacred.timestamps.Timestamps` instead of the list: a read-only
        sequence of the same datetimes, made on first use; when any implementation lacks
        the attribute, every one gets the list.
    :param info: the run's ``info`` dict. Sacred's MongoObserver appends its metric ids
        to ``info["metrics"]``; pytest-sacred's MongoDB store leaves the dict alone (the
        ids go to the run document's ``info.metrics``, a user's own ``info["metrics"]``
        beside them).
    """


@hookspec
def pytest_sacred_completed_event(run_id: int | None, stop_time: datetime, result: Any) -> None:
    """The test body returned and passed; ``result`` is its return value."""


@hookspec
def pytest_sacred_interrupted_event(
    run_id: int | None, interrupt_time: datetime, status: str
) -> None:
    """The run was stopped from outside.

    :param status: ``"INTERRUPTED"`` (Ctrl-C, SIGTERM, a Slurm cancellation or
        preemption), ``"TIMEOUT"`` (pytest-timeout, a Slurm time limit) or ``"SKIPPED"``
        (the body called ``pytest.skip``). What stopped it, when a signal or a time limit
        did, is in the ``info`` of the final heartbeat before this event, as ``ended_by``.
    """


@hookspec
def pytest_sacred_failed_event(
    run_id: int | None, fail_time: datetime, fail_trace: list[str]
) -> None:
    """The body or one of its fixtures raised, or an assert failed.

    :param fail_trace: the traceback as a list of strings, starting at the test's frames.
    """


@hookspec
def pytest_sacred_resource_event(run_id: int | None, filename: str) -> None:
    """The run opened or declared a resource; ``filename`` is an absolute path."""


@hookspec
def pytest_sacred_artifact_event(
    run_id: int | None,
    name: str,
    filename: str,
    metadata: dict[str, Any] | None,
    content_type: str | None,
) -> None:
    """The run produced a file to keep.

    :param name: the artifact's name in the store (path relative to ``tmp_path`` for files
        left there, else the basename or the name given to ``add_artifact``).
    :param filename: absolute path of the file, still in place when this fires.
    """


# -- captured output --------------------------------------------------------------------------


@hookspec(firstresult=True)
def pytest_sacred_captured_out_filter(text: str) -> str | None:
    """The text to store as a run's captured output (Sacred's ``captured_out_filter``).

    Called for every heartbeat and the final beat with the raw output of the run so far
    (stdout, then stderr, of its setup and call phases). Return the text to store, or
    ``None`` to leave it to the next implementation; when none returns text, carriage
    returns and backspaces are folded as a terminal shows them
    (:func:`pytest_sacred.output.fold`, which a filter may call itself).
    """
