"""Sacred's SQL tables through SQLAlchemy: the schema (:mod:`.schema`), the writer
(:mod:`.writer`), value encoding (:mod:`.values`), the reader (:mod:`.reader`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import SqlObserver

#: the SQLAlchemy URL schemes (with an optional ``+driver``) a store name may start with
_SCHEMES = re.compile(r"^(sqlite|postgresql|postgres|mysql|mariadb|oracle|mssql)(\+\w+)?://")


def _claims(store: str) -> bool:
    return bool(_SCHEMES.match(store))


def _from_options(options: Options) -> list[Any]:
    if options.sql is None:
        return []
    from .writer import SqlObserver

    return [SqlObserver(options.sql, lock_timeout=options.lock_timeout)]


def _open_writer(store: str) -> SqlObserver:
    from .writer import SqlObserver

    return SqlObserver(store)


def _reopen(spec: dict[str, Any]) -> SqlObserver:
    from ..base import DEFAULT_LOCK_TIMEOUT
    from .writer import SqlObserver

    return SqlObserver(spec["url"], lock_timeout=spec.get("lock_timeout", DEFAULT_LOCK_TIMEOUT))


KIND = StoreKind(
    name="sql", title="SQL", options=("--sacred-sql=URL", "--sacred-lock-timeout=SECONDS"),
    client="sqlalchemy", claims=_claims, from_options=_from_options, open_writer=_open_writer,
    reopen=_reopen, queue=True)
