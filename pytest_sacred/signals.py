"""SIGTERM treated as Ctrl-C while experiments run.

Slurm, ``timeout``, ``docker stop`` and CI runners stop a job with SIGTERM, whose default
action ends the process at once: the running run would stay RUNNING in its store, without
its last points or a summary. Raising ``KeyboardInterrupt`` in the main thread instead lets
pytest and the runner end the run INTERRUPTED and print the summary (exit code 2). A second
SIGTERM gets the previous handler's behaviour (by default: ends the process at once).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is interrupt:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
