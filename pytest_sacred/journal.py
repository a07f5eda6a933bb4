"""The file store's metrics journal, ``metrics.journal``: the points a run's heartbeats
delivered after its metrics outgrew memory, as the text ``metrics.json`` will hold.

A record is a header line ``{"name", "start", "count", "bytes": [s, t, v]}`` and then the
text of the points' steps, timestamps and values (``s``, ``t`` and ``v`` bytes: the list
elements of Sacred's ``indent=2`` layout, without brackets) and a newline. The text is
written once: at the end of the run the store copies it into ``metrics.json`` (a kernel
copy, nothing re-encoded), so the journal is what makes a heartbeat's points survive a
killed process without costing a second encoding. ``start`` is the number of the metric's
points before the record, so a reader adding the journal to ``metrics.json`` skips the
points ``metrics.json`` already holds. A record cut short was being written when the
process died: its beat was not delivered and is left out. Writer (the file store) and
readers share this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

JOURNAL = "metrics.journal"
_KEYS = ("steps", "timestamps", "values")


def journal_record(name: str, start: int, count: int,
                   texts: tuple[str, str, str]) -> tuple[str, int]:
    """A record of ``count`` points of metric ``name`` (ASCII only), and where its text
    starts within it."""
    header = json.dumps({"name": name, "start": start, "count": count,
                         "bytes": list(map(len, texts))}, separators=(",", ":")) + "\n"
    return header + "".join(texts) + "\n", len(header)


def _records(text: str, loads: Callable[[str], Any]) -> Iterator[tuple[dict[str, Any], str]]:
    position = 0
    while True:
        end = text.find("\n", position)
        if end < 0:
            return
        header = loads(text[position:end])
        body = end + 1
        stop = body + sum(header["bytes"])
        if text[stop:stop + 1] != "\n":  # cut short by a kill: not a whole beat
            return
        yield header, text[body:stop]
        position = stop + 1


def add_journal(metrics: dict[str, Any], text: str,
                loads: Callable[[str], Any] = json.loads) -> dict[str, Any]:
    """``metrics`` (as ``metrics.json`` holds them) with the journal ``text``'s points added."""
    for header, body in _records(text, loads):
        metric = metrics.setdefault(header["name"], {key: [] for key in _KEYS})
        skip = max(len(metric["steps"]) - header["start"], 0)
        offset = 0
        for key, length in zip(_KEYS, header["bytes"], strict=True):
            points = loads("[" + body[offset:offset + length] + "]")
            offset += length
            metric.setdefault(key, []).extend(points[skip:])
    return metrics
