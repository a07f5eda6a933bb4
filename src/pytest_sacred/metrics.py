"""Scalars logged by a run, held until the next heartbeat delivers them.

``log_scalar`` is on the hot path (millions of calls): it appends to three deques and
nothing else, not even the default step (``None`` until drained); conversion to Sacred's
payload (steps, datetimes, plain numbers) happens when a beat drains them. deque appends and pops are atomic, and the timestamp is appended last,
so the heartbeat thread drains as many points as it sees timestamps, without a lock.
"""

from __future__ import annotations

from collections import deque
from time import time
from typing import Any

from .clock import from_timestamps

_PLAIN_NUMBERS = (int, float)


class _Series:
    __slots__ = ("next_step", "steps", "values", "times")

    def __init__(self) -> None:
        self.next_step = 0
        self.steps: deque = deque()
        self.values: deque = deque()
        self.times: deque = deque()


def _number(value: Any) -> Any:
    if type(value) in _PLAIN_NUMBERS:
        return value
    if hasattr(value, "item"):  # numpy scalars and 0-d arrays
        return value.item()
    return float(value)


def _take(queue: deque, count: int) -> list:
    popleft = queue.popleft
    return [popleft() for _ in range(count)]


class MetricsBuffer:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def log(self, name: str, value: Any, step: int | None = None, _time=time) -> None:
        """Record ``value`` of metric ``name``; ``step`` defaults to the previous one + 1."""
        try:
            series = self._series[name]
        except KeyError:
            series = self._series[name] = _Series()
        series.steps.append(step)
        series.values.append(value)
        series.times.append(_time())

    @staticmethod
    def _steps(series: _Series, steps: list) -> list[int]:
        """Fill in default steps: the previous step + 1, starting at 0."""
        if None not in steps:
            series.next_step = steps[-1] + 1
            return steps
        step = series.next_step
        for i, given in enumerate(steps):
            step = steps[i] = step if given is None else given
            step += 1
        series.next_step = step
        return steps

    def drain(self) -> dict[str, dict]:
        """Everything logged since the last drain, as Sacred's ``metrics_by_name``."""
        drained = {}
        for name, series in list(self._series.items()):
            count = len(series.times)
            if not count:
                continue
            values = _take(series.values, count)
            if not all(type(v) in _PLAIN_NUMBERS for v in values):
                values = [_number(v) for v in values]
            drained[name] = {
                "name": name,
                "steps": self._steps(series, _take(series.steps, count)),
                "values": values,
                "timestamps": from_timestamps(_take(series.times, count)),
            }
        return drained
