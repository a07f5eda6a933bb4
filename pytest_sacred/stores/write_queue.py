"""The write queue of a shipped observer: its events written in order on a thread of their
own, retried while the store is down, spilled to a file when it stays down.

Sacred's QueueObserver had the same aim; its worker stalled the experiment at the end of a
run while the store was away (Sacred #566). Here nothing the experiment does waits for the
store: pluggy delivers each event to the observer's hook, which hands the write to this
queue and returns. Id allocation is not queued (a run needs its id before it starts).

- A *transient* error (the observer's :meth:`~.base.Observer.is_transient`: the server is
  unreachable) is retried with back-off, the same event again, so the run's order holds.
  The first one is said once ("unreachable, retrying"), and so is the recovery.
- When the store has been unreachable for ``retry`` seconds (0: at its first transient
  error, no retry), or is still retrying when the session ends and its time is up, every
  unwritten event goes to the spill file, a run's events from then on with it, after
  what its observer held of the run unwritten (:meth:`~.base.Observer.unwritten`); while
  given up, the queue tries the store again at a new run's first event every few seconds.
- A *permanent* error (the store refuses the write) is reported at once and the event
  spilled; a run whose first event could not be written has its later events spilled too.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events import detail

if TYPE_CHECKING:
    from ..spill import SpillWriter
    from .base import Observer

FIRST_EVENTS = frozenset({"pytest_sacred_started_event", "pytest_sacred_queued_event",
                          "pytest_sacred_resumed_event"})
#: arguments that are live objects of the run (the user may change them later): copied
_LIVE = frozenset({"info", "result", "metadata"})
_BACKOFF_START, _BACKOFF_MAX = 0.1, 2.0

#: ``report(observer, hook, run_id, exc, detail=..., spilled_to=...)``: see Dispatcher.report
Report = Callable[..., None]


def _snapshot(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        try:
            return copy.deepcopy(value)
        except Exception:  # an object that cannot be copied is written as it is then
            return value
    return value


@dataclass
class _Item:
    hook: str
    call: Callable[..., Any]
    kwargs: dict[str, Any]
    #: the transient error of its inline write: the thread's first try is a retry
    failed: BaseException | None = None

    @property
    def run_id(self) -> int | None:
        return self.kwargs.get("run_id")

    @property
    def first(self) -> bool:
        return self.hook in FIRST_EVENTS


def describe(exc: BaseException) -> str:
    text = str(exc).split("\n")[0]
    return f"{type(exc).__name__}: {text[:1000]}"


class StoreQueue:
    """Writes one observer's events in order on a background thread (see the module)."""

    def __init__(self, observer: Observer, retry: float, spill: SpillWriter, report: Report,
                 notify: Callable[[str], None], inline: bool = False) -> None:
        self.observer = observer
        self.retry = retry
        self.spill = spill
        self._report = report
        self._notify = notify
        #: write on the caller's thread while the store answers (a local disk: a thread
        #: handoff would cost more than the write); queue only what must wait
        self.inline = inline
        self._items: deque[_Item] = deque()
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()  # an inline write never overlaps the thread's
        self._thread: threading.Thread | None = None
        self._closing = False
        self._abandon = False  # interrupted while closing: stop retrying, spill the rest
        self._down_since: float | None = None
        self._given_up = False
        self._last_probe = 0.0
        self._broken: set[int | None] = set()
        #: events written after a retry, events spilled: for the session's closing note
        self.retried = 0
        self.spilled = 0
        self.outage_seconds = 0.0

    @property
    def down(self) -> bool:
        """The store did not answer the last write: don't wait for it (e.g. to name a run)."""
        return self._down_since is not None or self._given_up

    # -- producer side ------------------------------------------------------------------

    def submit(self, method: Callable[..., Any], observer: Any, names: tuple[str, ...],
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Write ``method(observer, *args, **kwargs)`` now (inline, healthy, nothing
        waiting) or queue it; ``names`` are the names of ``args``."""
        if self.inline and not self._items and not self.down and not (
                self._broken and _named(names, args, kwargs).get("run_id") in self._broken):
            with self._write_lock:
                try:
                    method(observer, *args, **kwargs)
                    return
                except Exception as exc:
                    item = _Item(method.__name__, functools.partial(method, observer),
                                 _named(names, args, kwargs))
                    if not self.observer.is_transient(exc):
                        self._refused(item, exc)
                        return
                    item.failed = exc
            with self._cv:  # transient: the thread retries it
                self._enqueue(item, front=True)
            return
        with self._cv:
            self._enqueue(_Item(method.__name__, functools.partial(method, observer),
                                _named(names, args, kwargs)))

    def _enqueue(self, item: _Item, front: bool = False) -> None:
        """Queue ``item`` (under ``self._cv``), with copies of the run's live objects."""
        item.kwargs = {name: _snapshot(value) if name in _LIVE else value
                       for name, value in item.kwargs.items()}
        if front:
            self._items.appendleft(item)
        else:
            self._items.append(item)
        self._start()
        self._cv.notify_all()

    @property
    def pending(self) -> int:
        return len(self._items)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"pytest-sacred-store-{self.observer.name}",
                daemon=True)
            self._thread.start()

    def close(self) -> None:
        """At the end of the session: write what is queued (retrying while the time allows),
        spill the rest, and stop the thread."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
            thread = self._thread
        try:
            if thread is not None:
                thread.join()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while waiting: spill, then stop
            with self._cv:
                self._abandon = True
                self._cv.notify_all()
            assert thread is not None
            thread.join()
            raise
        finally:
            self.spill.close()

    # -- the thread -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._items and not self._closing:
                    self._cv.wait()
                if not self._items:
                    return
                item = self._items[0]
            with self._write_lock:
                self._write(item)
            with self._cv:
                self._items.popleft()

    def _write(self, item: _Item) -> None:
        if item.run_id in self._broken:
            self._spill(item, "an earlier event of this run could not be written", quiet=True)
            return
        if self._given_up and not self._probe_due(item):
            # the run's later events follow it into the spill file: it is replayed whole
            self._broken.add(item.run_id)
            self._spill(item, "the store was given up", quiet=True)
            return
        delay = _BACKOFF_START
        failed, item.failed = item.failed, None
        while True:
            try:
                if failed is not None:  # its inline write failed just now
                    raise failed
                item.call(**item.kwargs)
            except Exception as exc:
                failed = None
                if not self.observer.is_transient(exc):
                    self._refused(item, exc)
                    return
                if self._given_up:  # the probe failed: still down
                    self._broken.add(item.run_id)
                    self._spill(item, describe(exc), quiet=True)
                    return
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                if self.retry > 0 and self._down_since == now:  # 0: the spill notice says it
                    self._notify(f"store {self.observer.name} does not answer ({describe(exc)}); "
                                 f"its writes wait and are retried for up to {self.retry:g} s, "
                                 "the runs go on")
                if now - self._down_since >= self.retry or self._abandon:
                    self._give_up(item, exc)
                    return
                with self._cv:
                    self._cv.wait(min(delay, max(self._down_since + self.retry - now, 0.01)))
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if self._down_since is not None or self._given_up:
                seconds = time.monotonic() - (self._down_since or time.monotonic())
                self.outage_seconds += seconds
                self._notify(f"store {self.observer.name} answers again"
                             + (f" after {seconds:.1f} s" if self._down_since else "")
                             + "; its queued writes go on")
                self._down_since, self._given_up = None, False
            if delay > _BACKOFF_START:
                self.retried += 1
            return

    def _probe_due(self, item: _Item) -> bool:
        """While given up, a new run's first event tries the store every few seconds."""
        if self._closing or not item.first:
            return False
        now = time.monotonic()
        if now - self._last_probe < min(max(self.retry, 1.0), 10.0):
            return False
        self._last_probe = now
        return True

    def _give_up(self, item: _Item, exc: BaseException) -> None:
        assert self._down_since is not None
        self.outage_seconds += time.monotonic() - self._down_since
        self._down_since, self._given_up = None, True
        self._last_probe = time.monotonic()
        self._broken.add(item.run_id)
        path = self._spill(item, describe(exc), quiet=True)
        self._notify(f"store {self.observer.name} still does not answer after {self.retry:g} s "
                     f"({describe(exc)}): its unwritten events go to {path}; write them into "
                     f"the store later with: python -m pytest_sacred replay {path}")

    def _refused(self, item: _Item, exc: BaseException) -> None:
        """A permanent error: reported now, the event kept in the spill file."""
        if item.first:
            self._broken.add(item.run_id)
        self._spill(item, describe(exc), exc)

    def _spill(self, item: _Item, reason: str, exc: BaseException | None = None,
               quiet: bool = False) -> str:
        """Keep the event in the spill file and record the failure (``quiet``: no notice
        of its own, the store's outage was said already)."""
        self.spilled += 1
        try:
            if item.run_id in self._broken:  # what the observer holds of the run goes first
                for hook, kwargs in self.observer.unwritten(item.run_id):
                    self.spill.write(hook, kwargs, reason)
            path = self.spill.write(item.hook, item.kwargs, reason)
        except Exception as error:  # nowhere to keep it: say it is lost
            self._report(self.observer, item.hook, item.run_id,
                         f"{reason}; and the spill file could not be written "
                         f"({describe(error)}): this event is lost",
                         detail=_detail(item))
            return ""
        self._report(self.observer, item.hook, item.run_id, exc if exc is not None else reason,
                     detail=_detail(item), spilled_to=path, notify=not quiet)
        return path


def _named(names: tuple[str, ...], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> dict[str, Any]:
    """A hook's arguments by name (what a queued item and a spill file keep)."""
    return {**dict(zip(names, args, strict=False)), **kwargs}


def _detail(item: _Item) -> str:
    return detail(item.hook, item.kwargs)
