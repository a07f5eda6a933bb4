"""A real MongoDB-wire server for the tests: SecantusDB's ``secantusd-py`` in a subprocess.

SecantusDB (PyPI ``secantusdb``, GPL) is a test tool only: it runs in its own process and
the plugin never imports it. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _executable() -> list[str]:
    """``secantusd-py`` beside this interpreter (no pyenv shim in between), else on PATH."""
    beside = Path(sys.executable).with_name("secantusd-py")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError("secantusd-py not found: pip install secantusdb==0.7.0b3")
    return [found]


@dataclass
class MongoServer:
    """A running server; ``url`` has no database, add ``<db>`` after the last slash."""

    host: str
    port: int
    process: subprocess.Popen
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def client(self, **kwargs: Any):
        """A pymongo client for assertions; the caller closes it."""
        import pymongo

        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        return pymongo.MongoClient(self.host, self.port, **kwargs)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout`` seconds (it takes
        about 2 s to shut down); the log file goes too."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.log_path.unlink(missing_ok=True)


def _wait_until_up(server: MongoServer, timeout: float) -> None:
    import pymongo
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout
    client = pymongo.MongoClient(server.host, server.port, serverSelectionTimeoutMS=250,
                                 connectTimeoutMS=250)
    try:
        while True:
            if server.process.poll() is not None:
                output = server.log()
                server.stop()
                raise RuntimeError(f"secantusd-py exited with code {server.process.returncode}"
                                   f" before answering; its output:\n{output}")
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                if time.monotonic() > deadline:
                    output = server.log()
                    server.stop()
                    raise RuntimeError(f"secantusd-py on {server.host}:{server.port} did not "
                                       f"answer ping within {timeout:.0f} s; its output:\n"
                                       f"{output}") from None
                time.sleep(0.05)
    finally:
        client.close()


def start_server(storage_path: str | os.PathLike = ":memory:", *extra: str,
                 timeout: float = START_TIMEOUT, port: int | None = None) -> MongoServer:
    """Start ``secantusd-py`` on a free port (or ``port``: a restart where clients wait)
    and return once it answers ``ping``.

    ``storage_path`` ``":memory:"`` is an ephemeral store; a directory survives a restart
    (needed to create users and then restart with ``--auth``; with ``--sync-on-commit``
    every acknowledged write survives a SIGKILL).
    """
    port = port or free_port()
    args = [*_executable(), "--host", HOST, "--port", str(port), "--storage-path",
            str(storage_path), "--log-level", "WARNING", *extra]
    log = Path(tempfile.mkstemp(prefix="secantusd-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = MongoServer(HOST, port, process, log, args)
    _wait_until_up(server, timeout)
    return server


@dataclass
class AuthServer:
    """A server that requires a login, with one root user created in ``admin``."""

    server: MongoServer
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, db_name: str, password: str | None = None) -> str:
        password = self.password if password is None else password
        return (f"mongodb://{self.user}:{password}@{self.host}:{self.port}/{db_name}"
                "?authSource=admin")


def start_auth_server(directory: str | os.PathLike, user: str, password: str) -> AuthServer:
    """Create ``user`` on a fresh server, then restart it with ``--auth`` on the same data."""
    plain = start_server(directory)
    try:
        with plain.client() as client:
            client.admin.command("createUser", user, pwd=password, roles=["root"])
    finally:
        plain.stop()
    return AuthServer(start_server(directory, "--auth"), user, password)
