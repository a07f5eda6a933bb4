"""Sacred's TinyDB layout (``metadata.json`` and ``hashfs/``): the writer (:mod:`.writer`),
``metadata.json`` written in place (:mod:`.metadata_file`), value encoding, the reader."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import TinyDbObserver


def _claims(store: str) -> bool:
    return os.path.isdir(store) and os.path.isfile(os.path.join(store, "metadata.json"))


def _from_options(options: Options) -> list[Any]:
    if options.tinydb is None:
        return []
    from .writer import TinyDbObserver

    return [TinyDbObserver(str(options.tinydb), lock_timeout=options.lock_timeout)]


def _open_writer(store: str) -> TinyDbObserver:
    from .writer import TinyDbObserver

    return TinyDbObserver(store)


def _reopen(spec: dict[str, Any]) -> TinyDbObserver:
    from ..base import DEFAULT_LOCK_TIMEOUT
    from .writer import TinyDbObserver

    return TinyDbObserver(spec["directory"],
                          lock_timeout=spec.get("lock_timeout", DEFAULT_LOCK_TIMEOUT))


KIND = StoreKind(
    name="tinydb", title="TinyDB",
    options=("--sacred-tinydb=DIR", "--sacred-lock-timeout=SECONDS"), client="tinydb",
    claims=_claims, from_options=_from_options, open_writer=_open_writer, reopen=_reopen)
