"""Scalars logged by a run, held until the next heartbeat delivers them.

``log_scalar`` is on the hot path (millions of calls): it appends to three lists and
nothing else, not even the default step (``None`` until drained). A drain converts what it
takes to Sacred's payload (steps, datetimes, plain numbers) with C-level bulk operations,
never point by point in Python.

No lock: the logging thread appends the timestamp last, so a series holds as many complete
points as it has timestamps. A drain copies that many from the front of each list and then
deletes them (``del list[:n]`` is one step under the GIL), so a point being logged at that
moment stays behind, whole, for the next drain. Drains never overlap: the runner holds the
run's lock.
"""

from __future__ import annotations

from time import time
from typing import Any

from .clock import from_timestamps
from .serialize import from_numpy

_PLAIN_NUMBERS = frozenset((int, float))


class _Series:
    __slots__ = ("steps", "values", "times")

    def __init__(self) -> None:
        self.steps: list = []
        self.values: list = []
        self.times: list = []


def _number(value: Any) -> Any:
    if type(value) in _PLAIN_NUMBERS:
        return value
    plain = from_numpy(value)
    return plain if plain is not value else float(value)


class MetricsBuffer:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._next_step: dict[str, int] = {}

    def log(self, name: str, value: Any, step: int | None = None, _time=time) -> None:
        """Record ``value`` of metric ``name``; ``step`` defaults to the previous one + 1."""
        try:
            series = self._series[name]
        except KeyError:
            series = self._series[name] = _Series()
        series.steps.append(step)
        series.values.append(value)
        series.times.append(_time())

    def _steps(self, name: str, steps: list) -> list[int]:
        """Fill in default steps: the previous step + 1, starting at 0."""
        step = self._next_step.get(name, 0)
        defaults = steps.count(None)
        if defaults == len(steps):
            steps = list(range(step, step + len(steps)))
        elif defaults:
            for i, given in enumerate(steps):
                step = steps[i] = step if given is None else given
                step += 1
        self._next_step[name] = steps[-1] + 1
        return steps

    def drain(self) -> dict[str, dict]:
        """Everything logged since the last drain, as Sacred's ``metrics_by_name``."""
        drained = {}
        for name, series in list(self._series.items()):
            count = len(series.times)  # complete points only: the time is appended last
            if not count:
                continue
            taken = []
            for points in (series.steps, series.values, series.times):
                taken.append(points[:count])
                del points[:count]
            steps, values, times = taken
            if not set(map(type, values)) <= _PLAIN_NUMBERS:
                values = [_number(v) for v in values]
            drained[name] = {"name": name, "steps": self._steps(name, steps),
                             "values": values, "timestamps": from_timestamps(times)}
        return drained
