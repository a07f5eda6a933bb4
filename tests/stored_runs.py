"""Stores with known runs in them, written once per test session by real pytest sessions
(and by Sacred 0.8.7's own observers), for the reader and command-line tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import INNER_ADDOPTS

REPO = Path(__file__).resolve().parent.parent

#: the experiment behind every stored run: 3 variants of "svm" (C = 0.5, 2, 8), one of
#: them failing, and one "other" run
EXPERIMENT = textwrap.dedent('''
    import pytest
    from pytest_sacred import config

    @config
    def optimizer():
        return {"lr": 0.1, "name": "sgd"}

    @pytest.mark.experiment("svm")
    @pytest.mark.parametrize("C", [0.5, 2.0, 8.0])
    def test_svm(C, optimizer, sacred_run, tmp_path):
        for step in range(5):
            sacred_run.log_scalar("loss", 1.0 / (step + 1) / C, step)
        sacred_run.log_scalar("acc", C / 10)
        sacred_run.info["note"] = f"C is {C}"
        (tmp_path / "model.bin").write_bytes(bytes(range(int(C))) + b"end")
        print(f"trained with C={C}")
        assert C < 8, "C too large"
        return C / 10

    @pytest.mark.experiment("other")
    def test_other(sacred_run):
        return "fine"
''')

#: runs written by pytest-sacred: id -> (experiment, status, C)
EXPECTED = {1: ("svm", "COMPLETED", 0.5), 2: ("svm", "COMPLETED", 2.0),
            3: ("svm", "FAILED", 8.0), 4: ("other", "COMPLETED", None)}


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["PYTEST_ADDOPTS"] = INNER_ADDOPTS
    return env


def write_runs(directory: Path, *store_options: str) -> None:
    """One pytest session of :data:`EXPERIMENT` writing into the given stores."""
    (directory / "test_exp.py").write_text(EXPERIMENT)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_exp.py",
         *store_options], cwd=directory, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the C=8 variant fails


SACRED_SCRIPT = textwrap.dedent('''
    import sys
    from sacred import SETTINGS, Experiment
    from sacred.observers import FileStorageObserver, MongoObserver

    SETTINGS.CAPTURE_MODE = "sys"  # in-process: no tee subprocess racing the last beat
    ex = Experiment("sacred_made", save_git_info=False)
    if sys.argv[1] == "file":
        ex.observers.append(FileStorageObserver(sys.argv[2]))
    else:
        ex.observers.append(MongoObserver(url=sys.argv[2], db_name=sys.argv[3]))

    @ex.config
    def cfg():
        alpha = 0.25
        nested = {"depth": 3}

    @ex.main
    def main(_run, alpha):
        for i in range(4):
            _run.log_scalar("score", alpha * i)
        with open("artifact.txt", "w") as f:
            f.write("made by sacred")
        _run.add_artifact("artifact.txt")
        print("hello from sacred")
        return alpha * 2

    ex.run(config_updates={"alpha": float(sys.argv[-1])})
''')


def write_sacred_runs(directory: Path, *observer: str) -> None:
    """Two runs (alpha 0.25 and 0.5) written by Sacred 0.8.7 itself, into
    ``"file", DIR`` or ``"mongo", URL, DB``."""
    script = directory / "sacred_exp.py"
    script.write_text(SACRED_SCRIPT)
    for alpha in ("0.25", "0.5"):
        proc = subprocess.run([sys.executable, str(script), *observer, alpha],
                              cwd=directory, env=_env(), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def file_checksums(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its md5 and modification time: reading changes none."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            out[str(path)] = (hashlib.md5(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        else:
            out[str(path)] = ("dir", None)
    return out


def mongo_checksums(client, db_name: str) -> dict[str, list]:
    """Every document and index of every collection of a database: reading changes none."""
    import bson

    db = client[db_name]
    return {name: (sorted(bson.encode(doc) for doc in db[name].find()),
                   sorted(db[name].index_information()))
            for name in sorted(db.list_collection_names())}


@dataclass
class FileStores:
    ours: Path  # written by pytest-sacred
    sacred: Path  # written by Sacred's own FileStorageObserver


@dataclass
class MongoStores:
    ours: str  # HOST:PORT:DB written by pytest-sacred
    url: str  # the same database as a mongodb:// URL
    sacred: str  # HOST:PORT:DB written by Sacred's own MongoObserver
    db: str
    sacred_db: str


@pytest.fixture(scope="session")
def file_stores(tmp_path_factory: pytest.TempPathFactory) -> FileStores:
    """File stores written once per session (a few seconds). Tests must not change them."""
    base = tmp_path_factory.mktemp("stored_file")
    write_runs(base, "--sacred-file-storage", str(base / "runs"))
    write_sacred_runs(base, "file", str(base / "sacred_runs"))
    return FileStores(base / "runs", base / "sacred_runs")


@pytest.fixture(scope="session")
def mongo_stores(tmp_path_factory: pytest.TempPathFactory, mongo_server) -> MongoStores:
    """Databases on the test server written once per session. Tests must not change them."""
    import secrets

    base = tmp_path_factory.mktemp("stored_mongo")
    db, sacred_db = f"readers_{secrets.token_hex(3)}", f"sacred_{secrets.token_hex(3)}"
    address = f"{mongo_server.host}:{mongo_server.port}"
    write_runs(base, "--sacred-mongo", f"{address}:{db}")
    write_sacred_runs(base, "mongo", mongo_server.url, sacred_db)
    return MongoStores(f"{address}:{db}", f"mongodb://{address}/{db}", f"{address}:{sacred_db}",
                       db, sacred_db)
