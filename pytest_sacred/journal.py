"""The file store's metrics journal, ``metrics.journal.jsonl``: one line per heartbeat.

Each line is a JSON list of entries ``{"name", "start", "steps", "timestamps", "values"}``;
``start`` is the number of points of that metric written before the entry, so a reader
adding the journal to ``metrics.json`` skips the points ``metrics.json`` already holds. A
last line without its newline was being written when the process died: its beat was not
delivered and is left out. Writer (the file store) and readers share this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

JOURNAL = "metrics.journal.jsonl"
_KEYS = ("steps", "timestamps", "values")


def journal_line(entries: list[dict[str, Any]]) -> str:
    """One beat's line."""
    return json.dumps(entries, separators=(",", ":")) + "\n"


def add_journal(metrics: dict[str, Any], text: str,
                loads: Callable[[str], Any] = json.loads) -> dict[str, Any]:
    """``metrics`` (as ``metrics.json`` holds them) with the journal ``text``'s points added."""
    for line in text.split("\n")[:-1]:  # the text after the last newline is not a whole beat
        for entry in loads(line):
            metric = metrics.setdefault(entry["name"], {key: [] for key in _KEYS})
            skip = len(metric["steps"]) - entry["start"]
            for key in _KEYS:
                metric[key] = list(metric.get(key, [])) + entry[key][max(skip, 0):]
    return metrics
