"""Values as the SQL store's columns hold them, and back.

The columns are fixed in size and kind, and engines differ: SQLite stores NaN as NULL,
MySQL/MariaDB refuse NaN and infinities, PostgreSQL and MariaDB ``INTEGER`` have 32 bits,
a ``DOUBLE`` keeps integers exactly only up to 2**53. A value never fails a write:

* a metric point whose step or value its columns cannot hold exactly (a step beyond the
  ``step`` column, an integer beyond 2**53, NaN on SQLite, NaN/inf on MySQL, a number
  beyond floats) keeps the column's nearest value (``NULL`` for a step, ±inf or ``NULL``
  for a value) and the exact ``[step, value]`` as JSON in the ``exact`` column, which our
  reader prefers;
* ``run.result`` (Sacred's float column) gets the float when there is one; the exact
  result is in ``run_details.result`` (JSON), as before;
* a text column holds valid Unicode: a lone surrogate is U+FFFD (as in MongoDB);
  PostgreSQL's text cannot hold NUL: there a NUL in a text column (captured output, a
  metric or artifact name, Sacred's ``fail_trace`` column) is stored as U+FFFD; values
  kept as JSON (config, info, result, the trace's lines in ``run_details``) keep it;
* a text too large for one statement to the server (MySQL/MariaDB's
  ``max_allowed_packet``, 16 MiB by default on MariaDB) is stored whole in parts in the
  ``value_part`` table, which our reader joins again; its column keeps a short form
  (:func:`short_form`) with :data:`PARTS_MARK`, so Sacred's reader gets a readable value;
* a status outside Sacred's ``status_enum`` (``SKIPPED``, a custom interrupt status) is
  stored as ``INTERRUPTED`` in ``run.status``, which Sacred's ``SqlObserver.query`` can
  read, and as itself in ``run_details.status``, which our reader prefers.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..mongo.values import safe_text

#: the statuses Sacred's ``status_enum`` has (and ``QUEUED``, which Sacred writes too)
SACRED_STATUSES = frozenset({"RUNNING", "COMPLETED", "INTERRUPTED", "TIMEOUT", "FAILED",
                             "QUEUED"})
INT64 = range(-(2**63), 2**63)
INT32 = range(-(2**31), 2**31)
INT16 = range(-(2**15), 2**15)


def integer_range(column_type: Any, dialect: str) -> range:
    """The integers a reflected integer column holds (SQLite's ``INTEGER`` has 64 bits)."""
    import sqlalchemy as sa

    if dialect == "sqlite" or isinstance(column_type, sa.BigInteger):
        return INT64
    if isinstance(column_type, sa.SmallInteger):
        return INT16
    return INT32


def column_float(value: Any, dialect: str) -> float | None:
    """``value`` as a ``DOUBLE``/``FLOAT`` column takes it: a float, ±inf for an integer
    beyond floats, ``None`` where the engine has no such value (NaN on SQLite, NaN and
    infinities on MySQL/MariaDB) or for what is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if number != number:
        return None if dialect in ("sqlite", "mysql", "mariadb") else number
    if math.isinf(number) and dialect in ("mysql", "mariadb"):
        return None
    return number


def metric_point(step: Any, value: Any, steps: range, dialect: str
                 ) -> tuple[int | None, float | None, str | None]:
    """``(step, value, exact)`` columns of one point; ``exact`` is ``None`` when the
    first two read back equal to what was logged."""
    stored_step = step if type(step) is int and step in steps else None
    stored_value = column_float(value, dialect)
    if stored_step is not None and _reads_back(value, stored_value):
        return stored_step, stored_value, None
    return stored_step, stored_value, json.dumps([step, value])


def _reads_back(value: Any, stored: float | None) -> bool:
    if stored is None:
        return value is None
    if type(value) is int:
        return math.isfinite(stored) and int(stored) == value
    return stored == value or (stored != stored and value != value)


def point_from_columns(step: Any, value: Any, exact: str | None) -> tuple[Any, Any]:
    """The logged ``(step, value)`` of a stored point."""
    if exact:
        try:
            logged = json.loads(exact)
            return logged[0], logged[1]
        except (ValueError, TypeError, IndexError):
            pass  # damaged by hand: the columns are what there is
    return step, value


def column_text(text: str, dialect: str) -> str:
    """``text`` as a text column of the engine holds it: valid Unicode (a lone surrogate
    is U+FFFD, as in MongoDB), and NUL as U+FFFD on PostgreSQL."""
    text = safe_text(text)
    if dialect == "postgresql" and "\0" in text:
        return text.replace("\0", "\ufffd")
    return text


def status_columns(status: str) -> tuple[str, str | None]:
    """``(run.status, run_details.status)`` of a status."""
    if status in SACRED_STATUSES:
        return status, None
    return "INTERRUPTED", status


#: in the short form of a value stored in parts: where the whole value is
PARTS_MARK = "whole in table value_part"
#: characters kept from each end of a long text, and of small entries of a JSON object
PREVIEW_CHARS = 32 * 1024
#: the columns holding JSON objects: their short form keeps the small entries
_OBJECT_COLUMNS = frozenset({"run.info", "run.config"})
#: the columns holding plain text (the rest hold JSON)
_TEXT_COLUMNS = frozenset({"run.captured_out", "run.fail_trace", "run.comment"})


def short_form(field: str, text: str, note: str) -> str:
    """What the column ``field`` (``"table.column"``) holds of ``text`` stored in parts:
    the head and tail of a text, the small entries of a JSON object with ``note`` in
    place of each large one, else ``note`` as a JSON string. ``note`` names
    :data:`PARTS_MARK`."""
    if field in _TEXT_COLUMNS:
        return f"{text[:PREVIEW_CHARS]}\n{note}\n{text[-PREVIEW_CHARS:]}"
    if field in _OBJECT_COLUMNS:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            short, budget = {}, 4 * PREVIEW_CHARS
            for key, entry in value.items():
                size = len(json.dumps(entry))
                if size <= budget:
                    short[key] = entry
                    budget -= size
                else:
                    short[key] = note
            return json.dumps(short)
    return json.dumps(note)


def split_text(text: str, part_bytes: int) -> list[str]:
    """``text`` in parts of at most ``part_bytes`` bytes of UTF-8 each (cut between
    characters)."""
    step = max(part_bytes // 4, 1)  # 4 bytes is the most one character takes
    return [text[i:i + step] for i in range(0, len(text), step)] or [""]
