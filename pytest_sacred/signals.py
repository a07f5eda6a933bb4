"""SIGTERM treated as Ctrl-C while experiments run and their stores are written.

Slurm, ``timeout``, ``docker stop`` and CI runners stop a job with SIGTERM, whose default
action ends the process at once: the running run would stay RUNNING in its store, without
its last points or a summary, and writes still queued for a store would be lost. Raising
``KeyboardInterrupt`` in the main thread instead lets pytest and the runner end the run
INTERRUPTED, the write queues spill what they hold, and the summary print (exit code 2).
A second SIGTERM gets the previous handler's behaviour (by default: the process ends).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise ``KeyboardInterrupt`` (main thread only); returns the function
    that puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    restored = previous if previous is not None else signal.SIG_DFL

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, restored)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is interrupt:
            signal.signal(signal.SIGTERM, restored)

    return restore
