"""Connecting to an SQL store, the same way for the writer and the reader: the engine for
a URL (with a connect timeout, SQLite's lock timeout, and the driver to install named when
it is missing) and a driver's connection error made short and password-free."""

from __future__ import annotations

from typing import Any

from ...redact import redact_url, scrub_password
from ..base import StoreError

#: seconds a PostgreSQL or MySQL/MariaDB connection attempt may take
_CONNECT_TIMEOUT = 5
#: the package to install for each driver SQLAlchemy may ask for
DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]' (or: pip install 'pytest-sacred[postgres]')",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql (or: pip install 'pytest-sacred[mysql]')",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "cx_Oracle": "cx_Oracle",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}


def create_engine(url: str, lock_timeout: float, what: str = "--sacred-sql") -> Any:
    """An engine for ``url``, or :class:`StoreError` naming the package or fix needed."""
    from ...extras import require

    require("sqlalchemy")
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    shown = redact_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise StoreError(f"{what} {shown!r} is not an SQLAlchemy URL; expected "
                         "dialect[+driver]://user:password@host/database, e.g. "
                         "sqlite:///runs.db or postgresql://user@host/db") from None
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = lock_timeout
    elif backend in ("postgresql", "mysql", "mariadb"):
        connect_args["connect_timeout"] = _CONNECT_TIMEOUT
    try:
        return sa.create_engine(parsed, connect_args=connect_args)
    except NoSuchModuleError:
        raise StoreError(f"{what} {shown!r}: SQLAlchemy knows no dialect "
                         f"{parsed.drivername!r}; use sqlite, postgresql, mysql, mariadb, "
                         "... (https://docs.sqlalchemy.org/en/20/dialects/)") from None
    except ImportError as exc:
        module = (exc.name or str(exc)).partition(".")[0]
        package = DRIVER_PACKAGES.get(module, module)
        raise StoreError(f"{what} {shown!r} needs the database driver {module!r}, which is "
                         f"not installed: pip install {package}") from None


def connect_error(exc: Exception, url: str) -> str:
    """A short reason from a driver's connection error, password removed."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return scrub_password(" ".join(reason[:2])[:300], url)
