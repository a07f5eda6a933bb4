"""Reading what the file store wrote, for assertions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: PYTEST_ADDOPTS of the pytest sessions the tests start: unrelated plugins installed on the
#: machine stay out of them (hypothesis' plugin alone costs about half a second a session)
INNER_ADDOPTS = "-p no:hypothesispytest -p no:benchmark -p no:randomly"


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
    """Import the stores' drivers before any pytester session (tests/conftest.py does, as it
    loads): pytester drops the modules first imported during a test once it ends, and
    numpy's and SQLAlchemy's compiled parts cannot be imported a second time (the next test
    using them then fails inside them); SQLAlchemy's PostgreSQL dialect, imported again,
    registers its functions again with a warning each; moto's in-process server, started by
    a test, answers 500 once Flask's modules are dropped."""
    for module in ("numpy", "sqlalchemy", "sqlalchemy.dialects.sqlite",
                   "sqlalchemy.dialects.postgresql", "sqlalchemy.orm", "psycopg", "pymysql",
                   "tinydb", "pymongo", "gridfs", "filelock", "boto3", "moto.server",
                   "google.cloud.storage", "sacred.observers"):
        try:
            __import__(module)
        except ImportError:
            pass


# -- a store that goes away for good in the middle of a session -------------------------

#: variants of :data:`OUTAGE_EXPERIMENT`; the store goes away while variant 2 runs
OUTAGE_VARIANTS = 6
OUTAGE_EXPERIMENT = f"""
import pathlib
import time

import pytest


@pytest.mark.experiment("outage")
@pytest.mark.parametrize("i", range({OUTAGE_VARIANTS}))
def test_outage(i, sacred_run, tmp_path):
    if i == 2:  # this run is stored already: the store goes away under it
        pathlib.Path("cut-now").touch()
        deadline = time.monotonic() + 60
        while not pathlib.Path("cut-done").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    for step in range(3):
        sacred_run.log_scalar("loss", 1.0 / (step + 1 + i), step=step)
        time.sleep(0.03)
    sacred_run.info["i"] = i
    (tmp_path / "model.txt").write_text(f"model {{i}}")
    print("variant", i)
    return i
"""


def outage_session(path: Path, cut: Callable[[], None], store: str,
                   *args: str) -> tuple[str, Path]:
    """Run :data:`OUTAGE_EXPERIMENT` in a pytest subprocess in ``path``; ``cut()`` makes
    the store unreachable for good while variant 2 runs. Checks the session exits 6 with
    every test passed and returns its output and the spill file of ``store`` (the
    observer's name)."""
    (path / "test_outage_sweep.py").write_text(OUTAGE_EXPERIMENT)

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not (path / "cut-now").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        cut()
        (path / "cut-done").touch()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--sacred-heartbeat=0.05", "--sacred-store-retry=1", "test_outage_sweep.py", *args],
        cwd=path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    watcher.join(5)
    out = session.stdout
    assert session.returncode == 6, out
    assert f"{OUTAGE_VARIANTS} passed" in out, out
    [spill] = (path / "runs" / "_spill").glob(f"{store}-*.jsonl")
    assert f"python -m pytest_sacred replay {spill.relative_to(path)}" in out or \
        f"python -m pytest_sacred replay {spill}" in out, out
    return out, spill


def replay_and_check_whole(spill: Path, store: str | Path, *replay_args: str) -> None:
    """``pytest-sacred replay SPILL`` succeeds, and then ``store``, read through its
    reader, holds every run of :data:`OUTAGE_EXPERIMENT` whole."""
    from pytest_sacred.readers import open_reader

    replayed = subprocess.run(
        [sys.executable, "-m", "pytest_sacred", "replay", str(spill), *replay_args],
        capture_output=True, text=True, timeout=240)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "ERROR" not in replayed.stdout, replayed.stdout
    reader = open_reader(store)
    runs = sorted(reader.list_runs(), key=lambda r: r.result)
    assert [r.result for r in runs] == list(range(OUTAGE_VARIANTS))
    assert len({r.id for r in runs}) == OUTAGE_VARIANTS
    for listed in runs:
        run = reader.get_run(listed.id)  # whole: with info and output
        i = run.result
        assert run.status == "COMPLETED", (run.id, run.status)
        assert run.info.get("i") == i, (run.id, run.info)
        assert f"variant {i}" in (run.captured_out or ""), (run.id, run.captured_out)
        assert "model.txt" in run.artifacts, run.artifacts
        assert reader.artifact(run.id, "model.txt") == f"model {i}".encode()
        loss = reader.metric(run.id, "loss")
        assert loss.steps == [0, 1, 2], (run.id, loss.steps)
        assert loss.values == [1.0 / (step + 1 + i) for step in range(3)]


# -- a lock held by another process (the outage of SQLite and TinyDB) ---------------------

#: ``python -c HOLD_SQLITE_LOCK FILE``: an exclusive transaction on an SQLite file, held
HOLD_SQLITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""

#: ``python -c HOLD_FILE_LOCK LOCKFILE``: a filelock (TinyDB's metadata.json.lock), held
HOLD_FILE_LOCK = """
import sys, time
import filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def hold_lock(script: str, path: str | Path) -> subprocess.Popen:
    """Another process holding the lock of ``path`` (``script``: :data:`HOLD_SQLITE_LOCK`
    or :data:`HOLD_FILE_LOCK`) until it is killed; returns once the lock is taken."""
    holder = subprocess.Popen([sys.executable, "-c", script, str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        holder.kill()
        holder.wait()
        raise RuntimeError(f"the lock of {path} could not be taken")
    return holder


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


def sigterm_at_mark(session: subprocess.Popen, mark: Path, wait: float) -> str:
    """SIGTERM ``session`` once its run has written ``mark`` (waiting at most ``wait``
    seconds for it); the session's output, after checking it ended INTERRUPTED."""
    import pytest

    deadline = time.monotonic() + wait
    while not mark.exists():
        assert session.poll() is None and time.monotonic() < deadline, session.communicate()
        time.sleep(0.05)
    session.send_signal(signal.SIGTERM)
    out: str = session.communicate(timeout=60)[0]
    assert session.returncode == pytest.ExitCode.INTERRUPTED, out
    return out
