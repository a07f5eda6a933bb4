"""What the shipped observers have in common besides the hooks they implement."""

from __future__ import annotations


#: seconds a store waits for a lock another process holds (TinyDB file lock, SQLite)
DEFAULT_LOCK_TIMEOUT = 30.0


class StoreError(Exception):
    """A store that cannot be used: unreachable, unwritable, or a value that does not parse.

    Raised before any experiment runs; the message names the store and what would be right.
    """


class Observer:
    """Base of the shipped observers.

    Subclasses implement some ``pytest_sacred_*`` hooks as methods. ``open`` runs once per
    session before the first run (only when experiments are selected), ``close`` once at
    the end of the session.
    """

    priority: int = 0
    #: short name shown in the summary table and in error messages
    name: str = "observer"

    def open(self) -> None:
        """Check the store can be written; raise :class:`StoreError` if not."""

    def close(self) -> None:
        """Flush whatever is pending; called once at the end of the session."""

    def location(self, run_id: int | None) -> str:
        """Where this run is stored, for the summary table."""
        return f"{self.name}:{run_id}"
