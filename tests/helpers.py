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
    imported a second time (the next test using SQLAlchemy then fails inside it)."""
    for module in ("sqlalchemy", "sqlalchemy.dialects.sqlite", "tinydb", "pymongo"):
        try:
            __import__(module)
        except ImportError:
            pass


#: the experiment the launcher tests sweep (``.format(n=...)`` variants), through Slurm
#: (test_slurm.py) or submitit's local executor (test_launcher_local.py)
LAUNCHER_SWEEP = """
import os
import pytest
from pytest_sacred import config

@config
def scale():
    return 10

@pytest.mark.experiment
@pytest.mark.parametrize("x", range({n}))
def test_svm(x, scale):
    print("variant", x, "array task", os.environ.get("SLURM_ARRAY_TASK_ID"))
    return x * scale
"""


def run_info(store: Path, run_id: int | str) -> dict:
    """info.json of a stored run."""
    return json.loads((Path(store) / str(run_id) / "info.json").read_text())


def nothing_submitted(project: Path, runs_dir: Path) -> None:
    """A launcher refused its input before submitting: no task folder, no stored run."""
    assert not (project / "slurm-logs").exists()
    assert not runs_dir.exists() or not stored_runs(runs_dir)
