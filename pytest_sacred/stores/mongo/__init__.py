"""Sacred's MongoDB layout: the writer (:mod:`.writer`), the connection writer and reader
share (:mod:`.connection`), GridFS uploads, value encoding, the reader (:mod:`.reader`)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import MongoObserver

#: ``HOST:PORT:DB``, the short form of a store name
_SHORT_FORM = re.compile(r"[^/:]+:\d+:[\w.-]+")


def _claims(store: str) -> bool:
    if store.startswith(("mongodb://", "mongodb+srv://")):
        return True
    return bool(_SHORT_FORM.fullmatch(store)) and not os.path.isdir(store)


def _from_options(options: Options) -> list[Any]:
    if not options.mongo:
        return []
    from .writer import MongoObserver

    return [MongoObserver.from_option(options.mongo, collection=options.mongo_collection)]


def _open_writer(store: str) -> MongoObserver:
    from .writer import MongoObserver

    return MongoObserver(store)


def _reopen(spec: dict[str, Any]) -> MongoObserver:
    from .writer import MongoObserver

    return MongoObserver(spec["url"], db_name=spec["db"], collection=spec["collection"])


KIND = StoreKind(
    name="mongo", title="MongoDB",
    options=("--sacred-mongo=DB", "--sacred-mongo-collection=NAME"), client="pymongo",
    claims=_claims, from_options=_from_options, open_writer=_open_writer, reopen=_reopen,
    queue=True)
