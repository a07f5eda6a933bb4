"""``_log``: the logger Sacred gives the main function and captured functions of a run.

Named ``<experiment>.<function>``. While a run is on, its experiment's logger writes each
record to ``sys.stderr`` as Sacred's console logger formats it; pytest captures that, so
the records are part of the run's captured output (``captured_out``, ``cout.txt``).

An experiment marked with ``logger=`` (Sacred's ``ex.logger = logger``) gets
``logger.getChild(<function>)`` instead, configured as its owner configured it: no handler
is added and no level changed, as Sacred leaves a logger it is given; what its handlers
write to the standard streams pytest captures into the run's output.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

#: Sacred's console format
FORMAT = "%(levelname)s - %(name)s - %(message)s"


def run_logger(experiment: str, function: str) -> logging.Logger:
    """The ``_log`` of ``function`` in ``experiment`` (its level as configured)."""
    return logging.getLogger(experiment).getChild(function)


def _level_source(logger: logging.Logger) -> logging.Logger:
    """The nearest logger, ``logger`` included, whose level is set."""
    current: logging.Logger | None = logger
    while current is not None and current.level == logging.NOTSET:
        current = current.parent
    return current or logging.root


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment: pytest swaps it for each test phase."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:  # StreamHandler.__init__ sets it
        pass


class RunLogging:
    """The experiment's logger writes to the run's output from :meth:`start` to
    :meth:`stop`, and the loggers handed out by :meth:`logger` show INFO records; or, with
    the user's ``base`` logger, the loggers are its children and it is left as it is."""

    def __init__(self, experiment: str, base: logging.Logger | None = None) -> None:
        self.experiment = experiment
        self.base = base
        self.handler = _handler()
        self._raised: list[logging.Logger] = []

    def start(self) -> None:
        if self.base is None:
            logging.getLogger(self.experiment).addHandler(self.handler)

    def logger(self, function: str) -> logging.Logger:
        """``_log`` for ``function``. When no logger above it but the root has a level and
        the root's is above INFO (Python's default is WARNING), it gets INFO for the run:
        only runs that use ``_log`` pay for the level change (logging clears its caches)."""
        if self.base is not None:
            return self.base.getChild(function)
        logger = run_logger(self.experiment, function)
        if logger.level == logging.NOTSET and _level_source(logger) is logging.root \
                and logging.root.level > logging.INFO:
            logger.setLevel(logging.INFO)
            self._raised.append(logger)
        return logger

    def stop(self) -> None:
        if self.base is None:
            logging.getLogger(self.experiment).removeHandler(self.handler)
        for logger in self._raised:
            logger.setLevel(logging.NOTSET)
        self._raised.clear()


_HANDLER: _CurrentStderr | None = None


def _handler() -> _CurrentStderr:
    """One handler serves every run: it holds nothing of a run."""
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = _CurrentStderr()
        _HANDLER.setFormatter(logging.Formatter(FORMAT))
    return _HANDLER
