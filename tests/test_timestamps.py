"""Timestamps made from the clock's integers, and the file store's metrics text built from
them: the same text as ``datetime.isoformat`` and Sacred's ``json.dump(indent=2)``, through
memory and through the journal."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pytest_sacred.journal import JOURNAL, add_journal
from pytest_sacred.metrics import MetricsBuffer
from pytest_sacred.serialize import flatten
from pytest_sacred.stores.file import writer as file_storage
from pytest_sacred.stores.file.writer import FileStorageObserver, read_metrics
from pytest_sacred.timestamps import Timestamps, from_micros, iso_quoted, isoformats

EPOCH = datetime(1970, 1, 1)
NOW_US = 1_764_628_344_000_000  # 2025-12-01T22:32:24 exactly


def expected(micros: list[int], separator: str) -> str:
    return separator.join(f'"{(EPOCH + timedelta(microseconds=us)).isoformat()}"'
                          for us in micros)


@pytest.mark.parametrize("micros", [
    [NOW_US + 7 + 3 * i for i in range(5000)],  # one second
    [NOW_US - 1_500_000 + 997 * i for i in range(4000)],  # several seconds
    [NOW_US, NOW_US + 1, NOW_US + 1_000_000, NOW_US + 1_999_999, NOW_US + 2_000_000],
    [NOW_US + 5, NOW_US + 3, NOW_US + 2_000_001, NOW_US + 4, NOW_US + 4, NOW_US],  # clock back
    [0, 1, 999_999, 1_000_000, 1_000_001, 10_000_000_000],  # the epoch's first seconds
    [],
], ids=["one-second", "several-seconds", "whole-seconds", "not-monotonic", "epoch", "empty"])
def test_iso_text_is_isoformats(micros: list[int]) -> None:
    separator = ",\n      "
    assert iso_quoted(micros, separator) == expected(micros, separator)
    stamps = Timestamps([us * 1000 + 999 for us in micros])  # truncated to microseconds
    assert stamps.iso_text(0, len(micros), ",") == expected(micros, ",")
    assert isoformats(stamps) == [d.isoformat() for d in from_micros(micros)]


def test_timestamps_behave_as_the_list_of_datetimes() -> None:
    ns = [NOW_US * 1000 + 1234, (NOW_US + 2_500_000) * 1000]
    dates = [EPOCH + timedelta(microseconds=NOW_US + 1), EPOCH + timedelta(
        microseconds=NOW_US + 2_500_000)]
    stamps = Timestamps(ns)
    assert len(stamps) == 2 and stamps[1] == dates[1] and stamps[-1] == dates[1]
    assert stamps == dates and stamps[0:1] == dates[:1] and list(stamps) == dates
    assert stamps + [dates[0]] == dates + [dates[0]] and [dates[0]] + stamps == [dates[0], *dates]
    assert pickle.loads(pickle.dumps(stamps)) == stamps
    assert stamps != dates[:1]
    with pytest.raises(TypeError):
        hash(stamps)
    assert "py/" in json.dumps(flatten({"t": stamps}))  # a spill file keeps it (jsonpickle)


def test_a_drain_gives_the_same_times_lazily_or_as_a_list() -> None:
    buffer, again = MetricsBuffer(), MetricsBuffer()
    # each log reads the time once: a one-item iterator's __next__ is a clock of one reading
    for i in range(3):
        buffer.log("x", i, _time=iter([NOW_US * 1000 + i]).__next__)
        again.log("x", i, _time=iter([NOW_US * 1000 + i]).__next__)
    lazy, plain = buffer.drain(lazy=True)["x"], again.drain()["x"]
    assert isinstance(lazy["timestamps"], Timestamps) and type(plain["timestamps"]) is list
    assert lazy["timestamps"] == plain["timestamps"] == [EPOCH + timedelta(
        microseconds=NOW_US)] * 3


def _beats(observer: FileStorageObserver, lazy: bool) -> dict[str, dict[str, list]]:
    """Three beats of two metrics; returns what metrics.json must hold."""
    want: dict[str, dict[str, list]] = {}
    step = 0
    for size in (5, 3000, 40_000):
        payload = {}
        for name in ("loss", "acc ü"):
            ns = [(NOW_US + 17 * (step + i)) * 1000 for i in range(size)]
            values = [float("nan") if i == 3 else (step + i) * 0.5 if i % 2 else step + i
                      for i in range(size)]
            steps = list(range(step, step + size))
            stamps = Timestamps(ns)
            payload[name] = {"name": name, "steps": steps, "values": values,
                             "timestamps": stamps if lazy else stamps.datetimes()}
            kept = want.setdefault(name, {"steps": [], "timestamps": [], "values": []})
            kept["steps"] += steps
            kept["timestamps"] += [d.isoformat() for d in stamps.datetimes()]
            kept["values"] += values
        observer.pytest_sacred_log_metrics(run_id=1, metrics_by_name=payload)
        step += size
    return want


def _started(tmp_path: Path) -> tuple[FileStorageObserver, datetime]:
    """A file store under ``tmp_path`` with run 1 started; and its start time."""
    observer = FileStorageObserver(tmp_path)
    observer.open()
    start = EPOCH + timedelta(microseconds=NOW_US)
    observer.pytest_sacred_started_event(
        run_id=1, ex_info={"name": "m", "sources": [], "base_dir": str(tmp_path)},
        command="test_m", host_info={}, start_time=start, config={}, meta_info={})
    return observer, start


@pytest.mark.parametrize("live_bytes", [10**9, 50_000, 0], ids=["memory", "both", "journal"])
@pytest.mark.parametrize("lazy", [True, False], ids=["timestamps", "datetimes"])
def test_metrics_json_is_sacreds_text_through_memory_and_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_bytes: int, lazy: bool) -> None:
    monkeypatch.setattr(file_storage, "LIVE_METRICS_BYTES", live_bytes)
    observer, start = _started(tmp_path)
    want = _beats(observer, lazy)
    directory = tmp_path / "1"
    assert (directory / JOURNAL).exists() == (live_bytes < 10**9)
    live = read_metrics(directory)  # while the run goes on: metrics.json + journal
    assert json.dumps(live, sort_keys=True) == json.dumps(want, sort_keys=True)
    observer.pytest_sacred_completed_event(run_id=1, stop_time=start, result=None)
    assert not (directory / JOURNAL).exists()
    text = (directory / "metrics.json").read_text(encoding="utf-8")
    assert text == json.dumps(want, sort_keys=True, indent=2)  # byte for byte Sacred's


def test_a_journal_record_cut_short_is_left_out(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_storage, "LIVE_METRICS_BYTES", 0)
    observer, start = _started(tmp_path)
    for first in (0, 4):
        observer.pytest_sacred_log_metrics(run_id=1, metrics_by_name={"loss": {
            "name": "loss", "steps": list(range(first, first + 4)), "values": [1.0] * 4,
            "timestamps": Timestamps([NOW_US * 1000] * 4)}})
    journal = (tmp_path / "1" / JOURNAL).read_text()
    whole = add_journal({}, journal)["loss"]["steps"]
    assert whole == list(range(8))
    second = journal.index('{"name"', 1)  # where the second beat's record starts
    for cut in (len(journal) - 1, len(journal) - 20, second + 5, second):
        assert add_journal({}, journal[:cut])["loss"]["steps"] == list(range(4))
    assert add_journal({}, journal[:second - 1]) == {}  # the first's newline missing
