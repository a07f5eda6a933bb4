"""A TCP proxy in threads, for store outages in the tests: a session talks to a server
through it, and the test cuts it (every connection reset, new ones refused, as when a
server dies or a cable is pulled) and restores it on the same port.

The server keeps running and keeps its data: only the path to it goes away, so a test can
cut any networked store (MongoDB, PostgreSQL, MariaDB, S3, GCS) the same way.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

HOST = "127.0.0.1"
_CHUNK = 65536
#: how often the accepting thread looks whether it should stop (a blocked accept() is
#: not woken by closing its socket from another thread)
_POLL = 0.05


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (SO_LINGER 0): the peer sees ECONNRESET at once
    instead of a polite end of stream."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class TcpProxy:
    """Forwards ``HOST:port`` to ``target_host:target_port``.

    :meth:`cut` resets every open connection and closes the listening socket, so a new
    connection is refused; :meth:`restore` listens on the same port again. ``cuts``
    counts the connections reset by cuts (a test can check its cut met live traffic).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stop = threading.Event()
        self.port = 0
        self.cut_connections = 0
        self._listen()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:  # the same port again: a client's socket may hold it for a moment
            try:
                listener.bind((HOST, self.port))
                break
            except OSError:
                if not self.port or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        listener.listen(64)
        listener.settimeout(_POLL)
        self.port = listener.getsockname()[1]
        self._stop = threading.Event()
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener, self._stop),
                                           name=f"tcp-proxy-{self.port}", daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            pair = (client, upstream)
            with self._lock:
                if stop.is_set():  # cut while this connection was being made
                    _reset(client)
                    _reset(upstream)
                    return
                self._pairs.add(pair)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, pair),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket,
              pair: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:  # one side ended: end both (the other pump then stops too)
            if pair not in self._pairs:
                return
            self._pairs.discard(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut(self) -> None:
        """Reset every connection and refuse new ones until :meth:`restore`."""
        if self._listener is None:
            return
        self._stop.set()
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = list(self._pairs), set()
        assert self._accepting is not None
        self._accepting.join()
        listener.close()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        self.cut_connections += len(pairs)

    def restore(self) -> None:
        """Accept connections on the same port again."""
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()
