"""A Sacred ``RunObserver`` (neptune-sacred's, Sacred's own, ...) fed by pytest-sacred.

Sacred's observers handle one run at a time and take no run id after the first event;
runs in one pytest process follow each other, so the adapter forwards each event as it
comes. The run's id (allocated by a pytest-sacred store) is passed as Sacred's ``_id``.

Sacred's observers modify the payloads they get (its FileStorageObserver and
MongoObserver replace ``ex_info["sources"]`` with their own paths or file ids), which the
other observers share: the first event hands them copies.
"""

from __future__ import annotations

import copy
import importlib
from datetime import datetime
from typing import Any

from ..names import artifact_name
from ..payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from .base import Observer, StoreError

#: what a Sacred observer must have to be fed: its started and final events
_SACRED_METHODS = ("started_event", "completed_event", "failed_event")


def _missing_methods(obj: Any) -> list[str]:
    return [m for m in _SACRED_METHODS if not callable(getattr(obj, m, None))]


def is_sacred_observer(obj: Any) -> bool:
    return not _missing_methods(obj)


class SacredObserver(Observer):
    """Forwards pytest-sacred's events to ``observer``, with its ``priority``."""

    def __init__(self, observer: Any) -> None:
        missing = _missing_methods(observer)
        if missing:
            raise StoreError(f"{observer!r} is not a Sacred observer: it lacks "
                             f"{', '.join(missing)}")
        self.observer = observer
        self.priority = getattr(observer, "priority", 0)
        self.name = type(observer).__name__
        #: resumed runs: the Sacred observer never started them, it gets none of their events
        self._resumed: set[int | None] = set()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        handler = getattr(self.observer, method, None)
        return handler(*args, **kwargs) if handler is not None else None

    def _call_for(self, run_id: int | None, method: str, **kwargs: Any) -> Any:
        """``_call`` for an event of a run the Sacred observer was started with."""
        if run_id in self._resumed:
            return None
        return self._call(method, **kwargs)

    def pytest_sacred_queued_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                   command: str, host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._call("queued_event", **copy.deepcopy(dict(
            ex_info=ex_info, command=command, host_info=host_info, queue_time=queue_time,
            config=config, meta_info=meta_info)), _id=run_id)

    def pytest_sacred_started_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._call("started_event", **copy.deepcopy(dict(
            ex_info=ex_info, command=command, host_info=host_info, start_time=start_time,
            config=config, meta_info=meta_info)), _id=run_id)

    def pytest_sacred_resumed_event(self, run_id: int | None, from_status: str) -> None:
        """Sacred's observers have no event to continue a stored run with (a started_event
        would record it anew, or fail on its id): this run is left out of this observer,
        and the warning says so."""
        import warnings

        from ..resume import ResumeWarning

        self._resumed.add(run_id)
        warnings.warn(ResumeWarning(
            f"the Sacred observer {self.name} cannot express a resumed run: run {run_id} "
            f"(resumed from {from_status}) is not sent to it; the session's pytest-sacred "
            "stores record the resumption"), stacklevel=2)

    def pytest_sacred_heartbeat_event(self, run_id: int | None, info: dict[str, Any],
                                      captured_out: str, beat_time: datetime,
                                      result: Any) -> None:
        self._call_for(run_id, "heartbeat_event", info=info, captured_out=captured_out,
                   beat_time=beat_time, result=result)

    def pytest_sacred_log_metrics(self, run_id: int | None,
                                  metrics_by_name: dict[str, MetricSeries],
                                  info: dict[str, Any]) -> None:
        # Sacred's observers get the lists they expect (pymongo cannot encode a sequence)
        self._call_for(run_id, "log_metrics", metrics_by_name={
            name: {**metric, "timestamps": list(metric["timestamps"])}
            for name, metric in metrics_by_name.items()}, info=info)

    def pytest_sacred_completed_event(self, run_id: int | None, stop_time: datetime,
                                      result: Any) -> None:
        self._call_for(run_id, "completed_event", stop_time=stop_time, result=result)

    def pytest_sacred_interrupted_event(self, run_id: int | None, interrupt_time: datetime,
                                        status: str) -> None:
        self._call_for(run_id, "interrupted_event", interrupt_time=interrupt_time, status=status)

    def pytest_sacred_failed_event(self, run_id: int | None, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._call_for(run_id, "failed_event", fail_time=fail_time, fail_trace=fail_trace)

    def pytest_sacred_resource_event(self, run_id: int | None, filename: str) -> None:
        self._call_for(run_id, "resource_event", filename=filename)

    def pytest_sacred_artifact_event(self, run_id: int | None, name: str, filename: str,
                                     metadata: dict[str, Any] | None,
                                     content_type: str | None) -> None:
        # the names every store accepts: Sacred's own observers would write "../x" there
        self._call_for(run_id, "artifact_event", name=artifact_name(name), filename=filename,
                   metadata=metadata, content_type=content_type)

    def close(self) -> None:
        self._call("join")  # Sacred's QueueObserver and others flush here


def from_sacred(observer: Any) -> SacredObserver:
    """Wrap a Sacred observer so that it can be registered as a pytest-sacred observer."""
    return SacredObserver(observer)


def from_spec(spec: str) -> Observer:
    """The observer ``--sacred-observer module:factory`` names: ``factory()`` may return a
    Sacred observer (wrapped) or a pytest-sacred one (used as is)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise StoreError(f"--sacred-observer {spec!r} is not MODULE:FACTORY "
                         "(e.g. my_observers:make_neptune)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StoreError(f"--sacred-observer {spec!r}: cannot import {module_name!r} ({exc})"
                         ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise StoreError(f"--sacred-observer {spec!r}: {module_name} has no callable "
                         f"{attribute!r}")
    try:
        observer = factory()
    except Exception as exc:
        raise StoreError(f"--sacred-observer {spec!r}: {attribute}() raised "
                         f"{type(exc).__name__}: {exc}") from None
    if isinstance(observer, Observer):
        return observer
    if is_sacred_observer(observer):
        return SacredObserver(observer)
    raise StoreError(f"--sacred-observer {spec!r}: {attribute}() returned {observer!r}, "
                     "neither a Sacred observer (with started_event, completed_event, "
                     "failed_event) nor a pytest_sacred.stores.base.Observer")
