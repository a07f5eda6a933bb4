"""What each store actually holds of each run, said when it goes wrong and at the end.

One :class:`Delivery` per session: it gives every shipped observer its write queue
(:mod:`.stores.write_queue`), turns observer errors and store outages into one-line notices
printed as they happen (once per observer and run, once per outage), writes each run's
"stored in" cells from the errors recorded for it, and decides the exit code: a session
whose tests passed but some run, or part of one, could not be stored exits
:data:`STORE_FAILED`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .events import ALLOCATE, PARTS, Dispatcher, ObserverError
from .stores.base import Observer

if TYPE_CHECKING:
    from .stores.write_queue import StoreQueue

#: exit code of a session whose tests passed but whose runs were not all stored whole
STORE_FAILED = 6
_FIRST = ("pytest_sacred_started_event", "pytest_sacred_queued_event",
          "pytest_sacred_resumed_event", ALLOCATE)
_FINAL = ("pytest_sacred_completed_event", "pytest_sacred_failed_event",
          "pytest_sacred_interrupted_event")


class Delivery:
    def __init__(self, events: Dispatcher, retry: float, spill_dir: Path) -> None:
        self.events = events
        self.retry = retry
        self.spill_dir = spill_dir
        self.queues: list[StoreQueue] = []
        self._notices: list[str] = []
        self._said: set[tuple[int, int | None]] = set()
        self._lock = threading.Lock()
        events.listener = self._on_error

    # -- queues ---------------------------------------------------------------------------

    def attach(self, plugins: Iterable[object]) -> None:
        """Give every shipped observer among ``plugins`` a write queue (once)."""
        from .spill import SpillWriter
        from .stores.write_queue import StoreQueue

        for plugin in plugins:
            if isinstance(plugin, Observer) and plugin.queue is None:
                spill = SpillWriter(self.spill_dir, plugin.name, plugin.store_spec())
                plugin.queue = StoreQueue(plugin, self.retry, spill, self.events.report,
                                          self.notice, inline=plugin.writes_inline)
                self.queues.append(plugin.queue)

    def close(self, say: Callable[[list[str]], None] | None = None) -> None:
        """Write what the queues hold (within the retry time), spill the rest; ``say``
        prints at once why the session's end waits, when it does."""
        for queue in self.queues:
            if queue.down and queue.pending and say is not None:
                say([f"waiting up to {queue.retry:g} s from the start of the outage for "
                     f"store {queue.observer.name} to take its {queue.pending} queued "
                     "events; the rest goes to a spill file"])
            queue.close()
            queue.observer.queue = None

    @property
    def spill_files(self) -> list[str]:
        return [str(q.spill.path) for q in self.queues if q.spill.path is not None]

    @property
    def outage_seconds(self) -> float:
        return sum(q.outage_seconds for q in self.queues)

    # -- notices --------------------------------------------------------------------------

    def notice(self, text: str) -> None:
        with self._lock:
            self._notices.append(text)

    def _on_error(self, error: ObserverError) -> None:
        key = (error.observer_id, error.run_id)
        with self._lock:
            if key in self._said:  # once per observer and run; the summary has the rest
                return
            self._said.add(key)
        from .session import short_path

        run = f"run {error.run_id}" if error.run_id is not None else "the session"
        kept = f"; kept in {short_path(error.spilled_to)}" if error.spilled_to else ""
        self.notice(f"{error.observer} could not store {_part(error)} of {run} "
                    f"({error.message.splitlines()[0][:1000]}){kept}")

    def take_notices(self) -> list[str]:
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    # -- what a run's stores hold --------------------------------------------------------------

    def cells(self, observers: list[Observer], run_id: int | None,
              dropped: set[int]) -> list[str]:
        """One "stored in" cell per observer: its location, or what it lacks."""
        from .session import short_path

        errors = self.events.failures(run_id) if run_id is not None else []
        cells = []
        for observer in observers:
            where = short_path(observer.location(run_id))
            mine = [e for e in errors if e.observer_id == id(observer)]
            state = _state(mine, id(observer) in dropped)
            cells.append(f"{where}: {state}" if state else where)
        return cells


def error_lines(errors: list[ObserverError]) -> list[str]:
    """The errors of one run for the summary: each observer's first, and how many more."""
    first: dict[int, ObserverError] = {}
    more: dict[int, int] = {}
    for error in errors:
        if error.observer_id in first:
            more[error.observer_id] = more.get(error.observer_id, 0) + 1
        else:
            first[error.observer_id] = error
    return [error.describe() + (f" (and {more[key]} more of its events)" if key in more else "")
            for key, error in first.items()]


def _part(error: ObserverError) -> str:
    part = PARTS.get(error.hook)
    if part is not None:
        return f"{part[0]} {error.detail}"
    return error.hook.removeprefix("pytest_sacred_").replace("_", " ")


def _state(errors: list[ObserverError], dropped: bool) -> str:
    """``""`` when the store holds the run whole, else what it lacks."""
    from .session import short_path

    spilled = next((e.spilled_to for e in errors if e.spilled_to), "")
    kept = f"; kept in {short_path(spilled)}" if spilled else ""
    if dropped or any(e.hook in _FIRST for e in errors):
        return "NOT STORED" + kept
    parts = []
    for hook, (what, _) in PARTS.items():
        missing = [e.detail for e in errors if e.hook == hook]
        if missing:
            parts.append(f"stored without {what} " + ", ".join(dict.fromkeys(missing)))
    beats = sorted({_part(e) for e in errors if e.hook not in _FINAL and e.hook not in PARTS})
    if beats:
        parts.append("incomplete: " + ", ".join(beats) + " failed")
    if any(e.hook in _FINAL for e in errors):
        parts.append("incomplete: final event failed")
    return "; ".join(parts) + kept if parts else ""
