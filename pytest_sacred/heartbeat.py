"""One background thread per session beats whichever run is in progress.

Runs in one process follow each other, so a single daemon thread serves them all instead
of a thread per run; the final beat of a run happens on the main thread, under the run's
lock, so it never races a periodic one.

A periodic beat that raises (an observer or a value failing outside the per-observer
isolation) is handed to ``on_error`` and the loop goes on: the next beat runs, and so do
the beats of later runs. Without ``on_error`` the error is printed to stderr.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .events import thread_safe_trace

#: called with the run whose beat failed and the exception
ErrorCallback = Callable[[Any, BaseException], None]


def print_error(run: Any, exc: BaseException) -> None:
    """The default report of a failed beat: one traceback on stderr."""
    print(f"pytest-sacred: a heartbeat of {run!r} failed, the next one will run:\n"
          + thread_safe_trace(exc), file=sys.stderr)


class Heartbeat:
    def __init__(self, interval: float, beat: Callable[[Any], None],
                 on_error: ErrorCallback | None = None) -> None:
        self.interval = interval
        self._beat = beat
        self._on_error = on_error or print_error
        #: beats that raised, over the session (the next beat ran after each)
        self.failures = 0
        self._run: Any = None
        self._due = 0.0
        self._changed = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, run: Any) -> None:
        """Beat ``run`` every ``interval`` seconds from now on.

        The thread is not woken: it wakes at the due time it waits for (at most one
        interval away) and then waits for the new run's. However many runs start and end,
        it wakes about once an interval, and a run costs the test no GIL handoff.
        """
        if self.interval <= 0:
            return
        self._due = time.monotonic() + self.interval
        self._run = run
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pytest-sacred-heartbeat",
                                            daemon=True)
            self._thread.start()

    def unwatch(self) -> None:
        """No more periodic beats of the run (its final beat is the runner's)."""
        self._run = None

    def stop(self) -> None:
        self._stopped = True
        self._run = None
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped:
            run, due = self._run, self._due
            # idle: look again an interval later (a run watched meanwhile is due later)
            timeout = self.interval if run is None else max(due - time.monotonic(), 0)
            if self._changed.wait(timeout):  # stopped
                continue
            # the run watched when the wait began, and still watched with the same due time
            if run is not None and run is self._run and due == self._due:
                self._safe_beat(run)
                if self._run is run:  # not a new run watched during the beat
                    self._due = due + self.interval

    def _safe_beat(self, run: Any) -> None:
        try:
            self._beat(run)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the thread must go on
            self.failures += 1
            try:
                self._on_error(run, exc)
            except Exception:  # noqa: BLE001 - a failing report must not stop beats either
                print_error(run, exc)
