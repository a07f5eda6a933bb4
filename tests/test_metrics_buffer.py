"""The metrics buffer on its own: default steps, value conversion, and lock-free handoff."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from pytest_sacred.metrics import MetricsBuffer

np = pytest.importorskip("numpy")


def test_default_steps_continue_across_drains_and_after_explicit_steps():
    buffer = MetricsBuffer()
    buffer.log("loss", 1.0)
    buffer.log("loss", 0.5)
    assert buffer.drain()["loss"]["steps"] == [0, 1]
    buffer.log("loss", 0.25, step=10)
    buffer.log("loss", 0.125)
    buffer.log("acc", 0.9)
    drained = buffer.drain()
    assert drained["loss"]["steps"] == [10, 11]
    assert drained["acc"]["steps"] == [0]
    buffer.log("loss", 0.1)
    assert buffer.drain()["loss"]["steps"] == [12]
    assert buffer.drain() == {}


def test_values_become_plain_numbers_and_times_naive_utc():
    buffer = MetricsBuffer()
    buffer.log("x", np.float32(0.5))
    buffer.log("x", np.array(3))
    buffer.log("x", 7)
    metric = buffer.drain()["x"]
    assert metric["values"] == [0.5, 3, 7]
    assert [type(v) for v in metric["values"]] == [float, int, int]
    assert all(type(t) is datetime and t.tzinfo is None for t in metric["timestamps"])
    assert metric["name"] == "x"


def test_a_point_being_logged_during_a_drain_stays_whole_for_the_next():
    """A log() caught between its appends (step and value in, time not yet) by a drain."""
    buffer = MetricsBuffer()
    buffer.log("loss", 1.0)
    series = buffer._series["loss"]
    series.steps.append(None)  # the interrupted log(): step and value appended ...
    series.values.append(2.0)
    drained = buffer.drain()["loss"]
    assert drained["values"] == [1.0] and drained["steps"] == [0]
    series.times.append(series.times[0] if series.times else 0)  # ... then its time
    buffer.log("loss", 3.0)
    drained = buffer.drain()["loss"]
    assert drained["values"] == [2.0, 3.0] and drained["steps"] == [1, 2]
    assert len(drained["timestamps"]) == 2


def test_nothing_is_lost_or_duplicated_with_a_concurrent_drainer():
    buffer = MetricsBuffer()
    n = 200_000
    got: list = []
    done = threading.Event()

    def drainer():
        while not done.is_set():
            got.extend(buffer.drain().get("loss", {}).get("values", []))

    thread = threading.Thread(target=drainer)
    thread.start()
    for i in range(n):
        buffer.log("loss", i)
    done.set()
    thread.join()
    got.extend(buffer.drain().get("loss", {}).get("values", []))
    assert got == list(range(n))
