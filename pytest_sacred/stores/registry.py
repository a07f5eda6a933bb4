"""The one list of store kinds: every place that must tell stores apart asks here.

Each kind's package (``pytest_sacred.stores.<kind>``) declares its :class:`StoreKind` as
``KIND``: the options that select it, the store names it answers to (a directory, a URL),
the client library it needs, and how to open its writer (an observer) and to open it again
from a spill file's header; its reader is its package's ``reader.open_store``. Those
openers import the kind's modules (and its client library) only when called, so asking
the registry costs no client import.

The order of :data:`ORDER` is the order of the session's stores (and of the hooks of stores
with equal priority) and the order in which a store name is matched: the URL schemes first,
then directories (TinyDB's before the file store's, since a TinyDB directory is a
directory too), so a name is claimed by exactly one kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..options import Options
    from ..readers.base import Reader
    from .base import Observer

#: the kinds' packages, in the order their stores are built and their names matched
ORDER = ("mongo", "s3", "gcs", "sql", "tinydb", "file")


@dataclass(frozen=True)
class StoreKind:
    """What pytest-sacred knows of one kind of store, and how to open it."""

    #: the kind's name: its package, its observer's ``name``, a spill header's ``kind``
    name: str
    #: what the kind is called in messages ("MongoDB")
    title: str
    #: its options, the one that selects it first, with the form of its value
    #: (``--sacred-mongo=DB``), for messages
    options: tuple[str, ...]
    #: top-level module of its client library, a key of :data:`~..extras.PACKAGES`
    #: (``None``: the standard library is enough)
    client: str | None
    #: whether ``store`` (a name as ``pytest-sacred`` commands take it) is of this kind
    claims: Callable[[str], bool]
    #: its observers selected by a session's options (none when its options are not given)
    from_options: Callable[[Options], list[Observer]]
    #: its observer writing into ``store``, not opened yet
    open_writer: Callable[[str], Observer]
    #: its observer again from a spill file's ``store`` header (its ``store_spec()``);
    #: ``None`` for a kind whose writer keeps no spill file
    reopen: Callable[[dict[str, Any]], Observer] | None = None
    #: whether its observer holds queued runs (``claim_queued``, ``requeue``)
    queue: bool = False

    def open_reader(self, store: str) -> Reader:
        """Its reader of ``store`` (``open_store`` of the kind's ``reader`` module); raises
        ``StoreUnreadable`` naming what is wrong."""
        module = importlib.import_module(f"{__package__}.{self.name}.reader")
        reader: Reader = module.open_store(store)
        return reader

    @property
    def extra(self) -> str | None:
        """The ``pytest-sacred[extra]`` that installs its client library."""
        if self.client is None:
            return None
        from ..extras import PACKAGES

        return PACKAGES[self.client.partition(".")[0]].extra

    def require_client(self) -> None:
        """Import its client library, or raise ``MissingExtra`` naming the extra."""
        if self.client is not None:
            from ..extras import require

            require(self.client)


_KINDS: dict[str, StoreKind] = {}


def kinds() -> tuple[StoreKind, ...]:
    """Every store kind, in :data:`ORDER` (their packages imported on first call)."""
    if not _KINDS:
        for name in ORDER:
            found: StoreKind = importlib.import_module(f"{__package__}.{name}").KIND
            _KINDS[name] = found
    return tuple(_KINDS[name] for name in ORDER)


def kind(name: str) -> StoreKind:
    """The kind called ``name``; ``KeyError`` for a name no kind has."""
    kinds()
    return _KINDS[name]


def kind_of(store: str, writing: bool = False) -> StoreKind:
    """The kind of the store named ``store``: a directory (file store or TinyDB), a
    ``mongodb://`` URL or ``HOST:PORT:DB``, an SQLAlchemy URL, ``s3://`` or ``gs://``.

    A name no kind claims is refused with ``StoreUnreadable`` naming the forms, unless
    ``writing``: then it is a directory still to be made, a file store."""
    for candidate in kinds():
        if candidate.claims(store):
            return candidate
    if writing:
        return kind("file")
    from ..readers.base import StoreUnreadable

    raise StoreUnreadable(
        f"{store!r} is not a store: give a run directory (file store or TinyDB), a "
        "mongodb:// URL or HOST:PORT:DB, an SQLAlchemy URL (sqlite:///runs.db), s3:// or gs://")


def observers_from_options(options: Options) -> list[Observer]:
    """The stores a session's options select, in :data:`ORDER` (no default store)."""
    return [observer for found in kinds() for observer in found.from_options(options)]


def reopen(spec: dict[str, Any] | None) -> Observer:
    """The observer a spill file's ``store`` header names, not opened yet; ``StoreError``
    when the header names no store that can be reopened."""
    found = kind(spec["kind"]) if spec and spec.get("kind") in ORDER else None
    if spec is None or found is None or found.reopen is None:
        from .base import StoreError

        raise StoreError("the spill file does not say how to reach its store; give the store "
                         "with --store (a directory, a mongodb:// URL, an SQLAlchemy URL, "
                         "s3:// or gs://)")
    return found.reopen(spec)


def reader_store(observer: Any) -> str | None:
    """How :func:`~pytest_sacred.readers.open_reader` names the store ``observer`` writes:
    a store observer says so itself (:meth:`.base.Observer.reader_store`); an observer
    without that method (a plain plugin, a Sacred observer) is not read back."""
    own = getattr(observer, "reader_store", None)
    if callable(own):
        named: str | None = own()
        return named
    return None


def queue_kinds() -> list[StoreKind]:
    """The kinds whose stores hold queued runs."""
    return [found for found in kinds() if found.queue]
