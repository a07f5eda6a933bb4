"""The status a run is shown with: a RUNNING run whose heartbeat stopped is ``DIED?``.

Computed when shown, never stored (as Omniboard's PROBABLY_DEAD): the process may still
come back, and a reader never writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .base import StoredRun

#: a RUNNING run silent for longer than this is shown as DIED? (Omniboard's 120 s)
SILENT_LIMIT = timedelta(minutes=2)
DIED = "DIED?"


def utcnow() -> datetime:
    """Now as the stores keep times: naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def shown_status(run: StoredRun, now: datetime | None = None) -> str:
    """``run.status``, or ``DIED?`` when it is RUNNING and its last sign of life (the
    heartbeat, else the start) is older than :data:`SILENT_LIMIT`."""
    if run.status != "RUNNING":
        return run.status
    last = run.heartbeat or run.start_time
    if last is None:
        return run.status
    if last.tzinfo is not None:
        last = last.astimezone(timezone.utc).replace(tzinfo=None)
    return DIED if (now or utcnow()) - last > SILENT_LIMIT else run.status
