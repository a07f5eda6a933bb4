"""PostgreSQL and MariaDB on this machine, for the SQL store rows: a fresh namespace per
measured run (a schema, selected through ``search_path``, or a database), dropped at the end."""

from __future__ import annotations

from typing import Any

SERVERS = {
    "postgresql": "postgresql://postgres@127.0.0.1/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1/test",
}


def _engine(kind: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(SERVERS[kind], connect_args={"connect_timeout": 3})


def missing(kind: str) -> str | None:
    """Why the server cannot be used here, or ``None``."""
    try:
        engine = _engine(kind)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # driver or server missing
        return f"{kind}: {exc}"[:200]
    return None


def _statement(kind: str, verb: str, name: str) -> str:
    what = "SCHEMA" if kind == "postgresql" else "DATABASE"
    if verb == "DROP":
        return f"DROP {what} IF EXISTS {name}" + (" CASCADE" if kind == "postgresql" else "")
    return f"CREATE {what} {name}"


def create(kind: str, name: str) -> str:
    """An empty namespace ``name``; returns the URL that writes into it."""
    import sqlalchemy as sa

    engine = _engine(kind)
    with engine.connect() as conn:
        conn.execute(sa.text(_statement(kind, "DROP", name)))
        conn.execute(sa.text(_statement(kind, "CREATE", name)))
        conn.commit()
    engine.dispose()
    return url(kind, name)


def url(kind: str, name: str) -> str:
    if kind == "postgresql":
        return f"{SERVERS[kind]}?options=-csearch_path%3D{name}"
    return SERVERS[kind].rsplit("/", 1)[0] + "/" + name


def drop(kind: str, names: list[str]) -> None:
    import sqlalchemy as sa

    engine = _engine(kind)
    with engine.connect() as conn:
        for name in names:
            conn.execute(sa.text(_statement(kind, "DROP", name)))
        conn.commit()
    engine.dispose()


def count_runs(store_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM run")).scalar()
    finally:
        engine.dispose()
