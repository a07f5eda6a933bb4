"""Naive UTC times, as Sacred stores them (``datetime.utcnow()`` without its deprecation)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def from_timestamp(seconds: float) -> datetime:
    """Naive UTC datetime of a ``time.time()`` value."""
    return _EPOCH + timedelta(seconds=seconds)
