"""One background thread per session beats whichever run is in progress.

Runs in one process follow each other, so a single daemon thread serves them all instead
of a thread per run; the final beat of a run happens on the main thread, under the run's
lock, so it never races a periodic one.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class Heartbeat:
    def __init__(self, interval: float, beat: Callable[[Any], None]) -> None:
        self.interval = interval
        self._beat = beat
        self._run: Any = None
        self._due = 0.0
        self._changed = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, run: Any) -> None:
        """Beat ``run`` every ``interval`` seconds from now on."""
        if self.interval <= 0:
            return
        self._run, self._due = run, time.monotonic() + self.interval
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pytest-sacred-heartbeat",
                                            daemon=True)
            self._thread.start()
        self._changed.set()

    def unwatch(self) -> None:
        self._run = None
        self._changed.set()

    def stop(self) -> None:
        self._stopped = True
        self._run = None
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped:
            run = self._run
            timeout = None if run is None else max(self._due - time.monotonic(), 0)
            if self._changed.wait(timeout):
                self._changed.clear()
                continue
            if run is self._run and run is not None:
                self._beat(run)
                self._due += self.interval
