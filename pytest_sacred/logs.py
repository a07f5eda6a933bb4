"""``_log``: the logger Sacred gives the main function and captured functions of a run.

Named ``<experiment>.<function>``. While a run is on, its experiment's logger writes each
record to ``sys.stderr`` as Sacred's console logger formats it; pytest captures that, so
the records are part of the run's captured output (``captured_out``, ``cout.txt``).
"""

from __future__ import annotations

import logging
import sys
from typing import IO

#: Sacred's console format
FORMAT = "%(levelname)s - %(name)s - %(message)s"


def run_logger(experiment: str, function: str) -> logging.Logger:
    """The ``_log`` of ``function`` in ``experiment``."""
    return logging.getLogger(experiment).getChild(function)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment: pytest swaps it for each test phase."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:  # StreamHandler.__init__ sets it
        pass


class RunLogging:
    """The experiment's logger, writing to the run's output from :meth:`start` to
    :meth:`stop`. INFO records show unless the user configured the logger or the root
    logger to a level of their own."""

    def __init__(self, experiment: str) -> None:
        self.logger = logging.getLogger(experiment)
        self.handler = _CurrentStderr()
        self.handler.setFormatter(logging.Formatter(FORMAT))
        self._set_level = False

    def start(self) -> None:
        self.logger.addHandler(self.handler)
        if self.logger.level == logging.NOTSET and self.logger.getEffectiveLevel() > logging.INFO:
            self.logger.setLevel(logging.INFO)
            self._set_level = True

    def stop(self) -> None:
        self.logger.removeHandler(self.handler)
        if self._set_level:
            self.logger.setLevel(logging.NOTSET)
            self._set_level = False
