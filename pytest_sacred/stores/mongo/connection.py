"""A MongoDB store's address and its connection, made the same way for the writer and the
reader: the store name parsed, the client created with a bounded server selection, and
the first round trip turned into a :class:`~..base.StoreError` that says what is wrong
(an unreachable server, a refused login, a bad URL)."""

from __future__ import annotations

import re
from typing import Any

from ...redact import redact_url, scrub_password
from ...urls import split_url
from ..base import StoreError
from .target import DEFAULT_DB, FORMS, check_collection, check_db_name, parse_target, server_of

#: how long the client looks for a server before an operation fails, unless the URL or the
#: caller's client arguments say otherwise
_SERVER_SELECTION_MS = 5000


class MongoConnection:
    """One store: server URL, database and runs collection, and the client once opened.

    ``url_or_db`` takes every ``--sacred-mongo`` form; ``db_name`` and ``collection``
    (default ``"runs"``) override what it says. ``client``, a ``pymongo.MongoClient``, is
    used instead of connecting and is left open by :meth:`close`; ``client_kwargs`` go to
    ``MongoClient``."""

    def __init__(self, url_or_db: str = DEFAULT_DB, db_name: str | None = None,
                 collection: str | None = None, client: Any = None,
                 **client_kwargs: Any) -> None:
        target = parse_target(url_or_db)
        self.url = target.url
        self.db_name = check_db_name(db_name, url_or_db) if db_name else target.db_name
        self.collection = check_collection(collection or target.collection or "runs",
                                            url_or_db)
        #: the ``!PRIORITY`` the store name gave, if any
        self.priority = target.priority
        self.server = server_of(self.url)
        self.client = client
        self._owns_client = client is None
        self._client_kwargs = client_kwargs
        self._db: Any = None

    def reader_name(self) -> str:
        """The store's name as :func:`~pytest_sacred.readers.open_reader` takes it: the URL
        with the database (and a collection other than ``runs``) as its path."""
        head, query_mark, query = self.url.partition("?")
        scheme, _, rest = head.partition("://")
        path = self.db_name + ("" if self.collection == "runs" else f".{self.collection}")
        return f"{scheme}://{rest.partition('/')[0]}/{path}{query_mark}{query}"

    def _connect(self) -> Any:
        from ...extras import require

        require("pymongo")
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.uri_parser import parse_uri

        kwargs = dict(self._client_kwargs)
        if "serverselectiontimeoutms" not in {k.lower() for k in kwargs} and \
                "serverselectiontimeoutms=" not in self.url.lower():
            kwargs["serverSelectionTimeoutMS"] = _SERVER_SELECTION_MS
        try:
            if self.url.startswith("mongodb://"):  # strict: MongoClient only warns on typos
                parse_uri(self.url)  # (mongodb+srv:// would need a DNS query here)
            return pymongo.MongoClient(self.url, **kwargs)
        except (InvalidURI, ConfigurationError, ValueError, TypeError) as exc:
            raise StoreError(f"--sacred-mongo {redact_url(self.url)!r} is not a valid MongoDB "
                             f"URL ({scrub_password(str(exc), self.url)}); expected {FORMS}"
                             ) from None

    def open(self, read_only: bool = False) -> None:
        """Connect, and read the runs collection once: that needs a valid URL, a reachable
        server and, when it asks for one, a valid login. Raises :class:`StoreError` saying
        which. ``read_only`` (for readers) skips creating the metrics index."""
        if self._db is not None:
            return
        if self.client is None:
            self.client = self._connect()
        from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

        where = redact_url(self.url)
        db = self.client[self.db_name]
        try:
            self.client.admin.command("ping")
            db[self.collection].find_one({}, projection={"_id": 1})
        except ServerSelectionTimeoutError as exc:
            seconds = self.client.options.server_selection_timeout
            reason = re.split(r" \(configured timeouts|, Timeout: ", str(exc))[0]
            raise StoreError(
                f"cannot reach MongoDB at {where!r} within {seconds:g} s "
                f"({scrub_password(reason, self.url)[:300]}); start the server, fix HOST:PORT in "
                "--sacred-mongo, or raise ?serverSelectionTimeoutMS= in the URL for a slow "
                "network") from None
        except OperationFailure as exc:
            raise StoreError(self._refusal(exc, where)) from None
        except PyMongoError as exc:
            raise StoreError(f"MongoDB at {where!r} failed: "
                             f"{scrub_password(str(exc), self.url)[:300]}") from None
        if not read_only:
            try:  # each metrics upsert looks its document up by these two fields
                db.metrics.create_index([("run_id", 1), ("name", 1)])
            except PyMongoError:
                pass  # a user without createIndex rights can still write runs
        self._db = db

    def _refusal(self, exc: Any, where: str) -> str:
        if exc.code == 18:
            hint = "check the user name and password in the URL"
            auth_db = (split_url(self.url).path or "").partition(".")[0]
            if auth_db not in ("", "admin") and "authsource=" not in self.url.lower():
                hint += (f"; the user is looked up in database {auth_db!r}, add "
                         "?authSource=admin if it was created in 'admin'")
            return f"MongoDB at {where!r} refused the login (authentication failed): {hint}"
        if exc.code == 13:
            return (f"MongoDB at {where!r} requires authentication for database "
                    f"{self.db_name!r}: give a user in the URL, "
                    "mongodb://USER:PASSWORD@host:port/db?authSource=admin")
        return (f"MongoDB at {where!r} refused the request: "
                f"{scrub_password(str(exc), self.url)[:300]}")

    def close(self) -> None:
        """Close the client if this connection made it."""
        if self._owns_client and self.client is not None:
            self.client.close()
            self.client = None
        self._db = None

    def database(self) -> Any:
        """The store's database (``pymongo.database.Database``), connecting on first use."""
        if self._db is None:
            self.open()
        return self._db
