"""A MongoDB-wire test server (SecantusDB's ``secantusd-py``) for the Mongo rows.

Reuses ``tests/mongo_server.py``'s ``start_server`` when it is there; otherwise starts
``secantusd-py`` on a free port itself and polls ``ping`` with pymongo.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import REPO

HOST = "127.0.0.1"


@dataclass
class Server:
    host: str
    port: int
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def option(self, db: str) -> str:
        """The ``--sacred-mongo`` value for database ``db``."""
        return f"{self.host}:{self.port}:{db}"


def missing() -> str | None:
    """Why the Mongo rows cannot run, or None."""
    if importlib.util.find_spec("pymongo") is None:
        return "pymongo is not installed (pip install -e '.[mongo]')"
    if _secantusd() is None:
        return "secantusd-py is not installed (pip install secantusdb==0.7.0b3)"
    return None


def _secantusd() -> str | None:
    beside = Path(sys.executable).with_name("secantusd-py")
    return str(beside) if beside.exists() else shutil.which("secantusd-py")


def _test_helper() -> Any | None:
    path = REPO / "tests" / "mongo_server.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_bench_tests_mongo_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module if hasattr(module, "start_server") else None


def start() -> Server:
    helper = _test_helper()
    if helper is not None:
        server = helper.start_server(":memory:")
        return Server(server.host, server.port, server.stop)
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [_secantusd(), "--host", HOST, "--port", str(port), "--storage-path", ":memory:",
         "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    import pymongo

    client = pymongo.MongoClient(HOST, port, serverSelectionTimeoutMS=250)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                client.admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if process.poll() is not None or time.monotonic() > deadline:
                    stop()
                    raise RuntimeError("secantusd-py did not start") from None
                time.sleep(0.05)
    finally:
        client.close()
    return Server(HOST, port, stop)


def count_runs(server: Server, db: str, collection: str = "runs") -> int:
    import pymongo

    with pymongo.MongoClient(server.host, server.port, serverSelectionTimeoutMS=5000) as client:
        return client[db][collection].count_documents({})
