"""What the shipped observers have in common besides the hooks they implement."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .write_queue import StoreQueue

F = TypeVar("F", bound=Callable[..., Any])


#: seconds a store waits for a lock another process holds (TinyDB file lock, SQLite)
DEFAULT_LOCK_TIMEOUT = 30.0
#: a heartbeat this soon after a run's previous write is kept for the run's next write: the
#: final beat of a short run comes right before its end, which writes it along
DEFER_BEAT_SECONDS = 2.0


class StoreError(Exception):
    """A store that cannot be used: unreachable, unwritable, or a value that does not parse.

    Raised before any experiment runs; the message names the store and what would be right.
    """


class RunExists(StoreError):
    """A run's first event names an id the store holds for another run (a replay then
    stores the run under a new id)."""


class StoreWriteError(StoreError):
    """A write to a store that failed during a run (a full disk, a lost mount...).

    ``path`` and ``errno`` say which file and why, for the run's summary row; what the
    store held before the failed write is unchanged.
    """

    def __init__(self, message: str, path: str | None = None, errno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno


class Observer:
    """Base of the shipped observers.

    Subclasses implement some ``pytest_sacred_*`` hooks as methods. ``open`` runs once per
    session before the first run (only when experiments are selected), ``close`` once at
    the end of the session.
    """

    priority: int = 0
    #: short name shown in the summary table and in error messages
    name: str = "observer"
    #: the session's write queue (see :func:`queued`); ``None``: hooks write when called
    queue: StoreQueue | None = None
    #: the queue writes on the caller's thread while the store answers (a local disk)
    writes_inline: bool = False
    #: ``log_metrics`` may get :class:`~pytest_sacred.timestamps.Timestamps` (datetimes
    #: made on first use) instead of a list; only when every listener says so
    takes_timestamps: bool = True

    def open(self) -> None:
        """Check the store can be written; raise :class:`StoreError` if not."""

    def close(self) -> None:
        """Flush whatever is pending; called once at the end of the session."""

    def location(self, run_id: int | None) -> str:
        """Where this run is stored, for the summary table."""
        return f"{self.name}:{run_id}"

    def has_run(self, run_id: int) -> bool | None:
        """Whether the store already holds a run with this id (``None``: cannot tell).

        Asked before anything runs when ``--sacred-id`` names the run's id."""
        return None

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` may go away when the write is tried again later (the store is
        down or unreachable), rather than meaning the store refuses the write."""
        return False

    def store_spec(self) -> dict[str, Any] | None:
        """How :mod:`pytest_sacred.spill` reopens this store to replay a spill file
        (``{"kind": ..., ...}``, no secrets), or ``None`` when it cannot."""
        return None

    def unwritten(self, run_id: int | None) -> list[tuple[str, dict[str, Any]]]:
        """The events of run ``run_id`` this observer took but holds unwritten (a store
        that writes a run's state from memory, or batches it), as ``(hook, arguments)``;
        they are forgotten here. The write queue asks when the run's events go to the
        spill file from now on, so the spill holds what a replay needs to write the run
        whole."""
        return []

    def reader_store(self) -> str | None:
        """How :func:`~pytest_sacred.readers.open_reader` names this store (baselines and
        reruns are read from it), or ``None`` when it is not read back."""
        return None


class RunHistory:
    """The events of each unfinished run, kept by an observer that writes a run's files
    or document whole from memory (TinyDB, the object stores): when the run's events go
    to a spill file, these go first, and a replay rebuilds the run from them."""

    def __init__(self) -> None:
        self._events: dict[int | None, list[tuple[str, dict[str, Any]]]] = {}

    def add(self, hook: str, run_id: int | None, **kwargs: Any) -> None:
        """Keep one event (the first event of a run starts its history)."""
        self._events.setdefault(run_id, []).append((hook, {"run_id": run_id, **kwargs}))

    def forget(self, run_id: int | None) -> None:
        """The run is written whole: nothing to keep."""
        self._events.pop(run_id, None)

    def take(self, run_id: int | None) -> list[tuple[str, dict[str, Any]]]:
        """The run's events, forgotten here (they go to the spill file)."""
        return self._events.pop(run_id, [])


def provisional_id(observer: Any, store: str) -> int:
    """The id of a new run named while ``store`` does not answer: the one after this
    process's last (``observer._next_id``), which the run's queued first event then claims
    (a clash with another writer found then is a refusal, and the replay renames the run).
    A process that has stored no run there yet cannot choose one: :class:`StoreError`."""
    if observer._next_id is None:
        raise StoreError(f"{store} does not answer and this process has stored no run there "
                         "yet, so no id can be chosen")
    run_id: int = observer._next_id
    observer._next_id = run_id + 1
    return run_id


def resumable(entry: Mapping[str, Any], statuses: tuple[str, ...], silent_since: Any,
              parse: Callable[[str], Any] = lambda text: text) -> str | None:
    """The status a stored run (its ``status``, ``heartbeat`` and ``start_time`` entries)
    is resumed from, or ``None`` when it is not resumable: one of ``statuses``, or RUNNING
    without a sign of life since ``silent_since`` (its times read by ``parse``)."""
    status = entry.get("status")
    if status == "RUNNING":
        last = entry.get("heartbeat") or entry.get("start_time")
        if not last or parse(str(last)) > silent_since:
            return None
    elif status not in statuses:
        return None
    return str(status)


def resumed(entries: list[Any] | None, resume_time: Any, host_info: Mapping[str, Any],
            from_status: str, encode: Callable[[dict[str, Any]], Any] = lambda e: e,
            fail_trace: Sequence[str] | None = None) -> list[Any]:
    """A run's ``meta.resumed`` with this resumption's entry (``{"time", "host",
    "from_status"}``, as the store ``encode``-s it) at the end, unless it is there already:
    the resumed event written again (retried after a lost answer, or replayed from a spill
    file) adds no second entry.

    ``fail_trace`` is the trace the run's earlier attempt failed with: it goes into the
    entry (key ``"fail_trace"``) and the store removes it from the run's top level, where
    Sacred's tools would show it on the resumed attempt however that ends. The entry of a
    resumption is found again by its time, host and status alone, so an event written
    again finds its entry whether or not that one carries the trace."""
    entry: dict[str, Any] = {"time": resume_time, "host": host_info.get("hostname"),
                             "from_status": from_status}
    if fail_trace:
        entry["fail_trace"] = list(fail_trace)
    encoded = encode(entry)
    entries = list(entries or [])
    if any(_without_trace(e) == _without_trace(encoded) for e in entries):
        return entries
    return [*entries, encoded]


def _without_trace(entry: Any) -> Any:
    """A ``meta.resumed`` entry as :func:`resumed` compares it: without its fail_trace."""
    if isinstance(entry, Mapping):
        return {key: value for key, value in entry.items() if key != "fail_trace"}
    return entry


def earlier_trace(meta_info: Mapping[str, Any]) -> list[str] | None:
    """The fail_trace of a resumed run's earlier attempt, as the resumed event carries it:
    in the last entry of its ``meta_info["resumed"]`` (see :func:`resumed`), taken from the
    run when the session loaded it. A store writes it into the run's entry from there, not
    from what it holds: the event written again, after the top-level trace was moved, then
    writes the same entry (MongoDB's ``$addToSet`` compares whole entries)."""
    entries = meta_info.get("resumed") or []
    if not entries or not isinstance(entries[-1], Mapping):
        return None
    trace = entries[-1].get("fail_trace")
    return list(trace) if trace else None


def queued(method: F) -> F:
    """Send a hook method's calls through the observer's write queue, when it has one.

    pluggy still calls the hook (wrappers and monitoring see every event); the write
    itself then happens on the queue's thread, in order, retried while the store is down.
    Without a queue (an observer used outside a session) the method runs when called.
    """

    # pluggy passes a hook's arguments by position, in the order of the method's parameters
    names = tuple(inspect.signature(method).parameters)[1:]

    @functools.wraps(method)
    def hook(self: Observer, *args: Any, **kwargs: Any) -> Any:
        if self.queue is None:
            return method(self, *args, **kwargs)
        self.queue.submit(method, self, names, args, kwargs)
        return None

    return hook  # type: ignore[return-value]
