"""Reading what the file store wrote, for assertions."""

from __future__ import annotations

import json
from pathlib import Path


def read_run(store: Path, run_id: int | str) -> dict:
    """run.json of a stored run, with its config.json under ``config``."""
    directory = Path(store) / str(run_id)
    data = json.loads((directory / "run.json").read_text())
    data["config"] = json.loads((directory / "config.json").read_text())
    return data


def stored_runs(store: Path) -> dict[int, dict]:
    """Every run in a file store, by id."""
    store = Path(store)
    if not store.is_dir():
        return {}
    return {int(p.name): read_run(store, p.name) for p in store.iterdir() if p.name.isdigit()}


def import_store_drivers() -> None:
    """Import the stores' drivers before any pytester session: pytester drops the modules
    first imported during a test once it ends, and SQLAlchemy's compiled parts cannot be
    imported a second time (the next test using SQLAlchemy then fails inside it); moto's
    in-process server, started by a test, answers 500 once Flask's modules are dropped."""
    for module in ("sqlalchemy", "sqlalchemy.dialects.sqlite", "sqlalchemy.orm", "psycopg",
                   "pymysql", "tinydb", "pymongo", "gridfs", "filelock", "boto3",
                   "moto.server", "google.cloud.storage", "sacred.observers"):
        try:
            __import__(module)
        except ImportError:
            pass
