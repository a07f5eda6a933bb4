"""Scalars logged by a run, held until the next heartbeat delivers them.

``log_scalar`` is on the hot path (millions of calls): it only appends a tuple to a deque;
conversion to Sacred's payload (datetimes, plain numbers) happens when a beat drains it.
deque appends and pops are atomic, so the heartbeat thread drains without a lock.
"""

from __future__ import annotations

from collections import deque
from time import time
from typing import Any

from .clock import from_timestamp


class _Series:
    __slots__ = ("next_step", "pending")

    def __init__(self) -> None:
        self.next_step = 0
        self.pending: deque = deque()


def _number(value: Any) -> Any:
    if type(value) in (int, float):
        return value
    if hasattr(value, "item"):  # numpy scalars and 0-d arrays
        return value.item()
    return float(value)


class MetricsBuffer:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def log(self, name: str, value: Any, step: int | None = None) -> None:
        """Record ``value`` of metric ``name``; ``step`` defaults to the previous one + 1."""
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = _Series()
        if step is None:
            step = series.next_step
        series.next_step = step + 1
        series.pending.append((step, value, time()))

    def drain(self) -> dict[str, dict]:
        """Everything logged since the last drain, as Sacred's ``metrics_by_name``."""
        drained = {}
        for name, series in list(self._series.items()):
            pending = series.pending
            count = len(pending)
            if not count:
                continue
            entries = [pending.popleft() for _ in range(count)]
            steps, values, times = zip(*entries)
            drained[name] = {
                "name": name,
                "steps": list(steps),
                "values": [_number(v) for v in values],
                "timestamps": [from_timestamp(t) for t in times],
            }
        return drained
