"""``pytest-sacred serve``: the runs page served live from a local, read-only HTTP server.

The page is the report's, without data; it fetches ``api/runs`` every few seconds and a
run's details when shown. Every answer comes from a reader opened for that request (so a
store written meanwhile is read as it is now); a URL names runs by id and artifacts and
metrics by the names the run lists, never a path, so nothing outside the store is served.
Only GET and HEAD are answered; anything else is refused.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..cli import plain
from ..readers import NoSuchRun, Reader, RunFilter, StoredRun, StoreUnreadable, open_reader
from ..readers.base import MetricSummary
from ..readers.status import utcnow
from ..readers.table import run_rows
from . import (
    MAX_POINTS,
    Delegating,
    Selection,
    content_type,
    detail,
    iso,
    points_per_curve,
    render,
    summary,
)

#: what every answer says: not to be framed, sniffed or cached
_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


#: stored statuses of runs whose metrics may still grow
_LIVE = frozenset({"RUNNING", "QUEUED"})


class _EndedSummaries(Delegating):
    """A reader keeping the metric summaries of ended runs between requests (their metrics
    no longer change), so a refresh reads the metrics of running runs only."""

    def __init__(self, reader: Reader, known: dict[tuple[Any, ...], Any],
                 lock: threading.Lock) -> None:
        super().__init__(reader)
        self._known, self._lock = known, lock

    @staticmethod
    def _key(run: StoredRun) -> tuple[Any, ...] | None:
        if run.status in _LIVE:
            return None
        return (run.id, run.status, run.start_time, run.stop_time, run.heartbeat)

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        out: dict[int, dict[str, MetricSummary]] = {}
        with self._lock:
            for run in runs:
                key = self._key(run)
                if key is not None and key in self._known:
                    out[run.id] = self._known[key]
        missing = [run for run in runs if run.id not in out]
        fresh = self.reader.metric_summaries(missing) if missing else {}
        with self._lock:
            for run in missing:
                out[run.id] = fresh.get(run.id, {})
                key = self._key(run)
                if key is not None:
                    self._known[key] = out[run.id]
        return out


class RunsApp:
    """What the server answers, independent of HTTP: one store, one selection."""

    def __init__(self, store: str, selection: Selection, points: int | None = None) -> None:
        self.store = store
        self.selection = selection
        self.limit = points_per_curve(1, points) if points is not None else MAX_POINTS
        self._summaries: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        with self._reader() as reader:  # an unreadable store fails here, before serving
            self.location = reader.location

    def _reader(self) -> Reader:
        return open_reader(self.store)

    def page(self) -> str:
        return render({"schema": 1, "live": True, "stores": [self.location],
                       "title": f"pytest-sacred: {self.location} (live)",
                       "points": self.limit, "runs": []})

    def runs(self) -> dict[str, Any]:
        """Every selected run's table row, as the report has them."""
        now = utcnow()
        s = self.selection
        with _EndedSummaries(self._reader(), self._summaries, self._lock) as reader:
            rows = run_rows(reader, experiment=s.experiment, status=s.status, where=s.where,
                            ids=s.ids, now=now)
            ids = [row["id"] for row in rows]
            stored = {r.id: r for r in reader.list_runs(RunFilter(ids=frozenset(ids)))} \
                if ids else {}
        out = []
        for row in rows:
            run = stored.get(row["id"])
            if run is None:  # removed between the two reads
                continue
            finals = {name[len("metrics."):-len(".last")]: value for name, value in row.items()
                      if name.startswith("metrics.") and name.endswith(".last")}
            out.append(summary(run, finals, now, str(run.id)))
        return {"runs": out, "generated": iso(now), "points": self.limit}

    def _selected(self, reader: Reader, key: str) -> StoredRun:
        """The run ``key`` names, if the selection holds it (else :class:`NoSuchRun`)."""
        try:
            run_id = int(key)
        except ValueError:
            raise NoSuchRun(f"{key!r} is not a run id") from None
        if self.selection.ids is not None and run_id not in self.selection.ids:
            raise NoSuchRun(f"run {run_id} is not among the runs served")
        return reader.get_run(run_id)

    def run(self, key: str) -> dict[str, Any]:
        """One run whole (artifacts listed, not embedded: the page asks for them)."""
        with self._reader() as reader:
            run = self._selected(reader, key)
            whole, finals = detail(reader, run, self.limit, embed=False)
        return {**summary(run, finals, utcnow(), str(run.id)), **whole}

    def points(self, key: str, name: str) -> dict[str, Any]:
        """Every stored point of one metric of one run."""
        with self._reader() as reader:
            run = self._selected(reader, key)
            if name not in run.metric_names:
                raise NoSuchRun(f"run {run.id} has no metric {name!r}")
            metric = reader.metric(run.id, name)
        return {"steps": metric.steps, "values": plain(metric.values)}

    def artifact(self, key: str, name: str) -> tuple[bytes, str]:
        """An artifact the run lists, and its content type."""
        with self._reader() as reader:
            run = self._selected(reader, key)
            if name not in run.artifacts:
                raise NoSuchRun(f"run {run.id} has no artifact {name!r}")
            return reader.artifact(run.id, name), content_type(name)


def handler(app: RunsApp, allowed_hosts: frozenset[str] | None) -> type[BaseHTTPRequestHandler]:
    """The request handler of a server for ``app``. ``allowed_hosts``: the ``Host`` headers
    accepted (a page of another site resolving its name to 127.0.0.1 is refused); ``None``
    accepts any."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "pytest-sacred"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base name
            pass  # a request a second while the page is open: not for the terminal

        def _send(self, status: int, body: bytes, kind: str,
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**_HEADERS, **(extra or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, value: Any) -> None:
            self._send(200, json.dumps(value, allow_nan=False).encode(), "application/json")

        def _error(self, status: HTTPStatus, text: str) -> None:
            self._send(status, text.encode(), "text/plain; charset=utf-8")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if allowed_hosts is not None and self.headers.get("Host") not in allowed_hosts:
                self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
                return
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            routes: dict[str, Callable[[], None]] = {
                "/": lambda: self._send(200, app.page().encode(), "text/html; charset=utf-8"),
                "/api/runs": lambda: self._json(app.runs()),
                "/api/run": lambda: self._json(app.run(query["key"])),
                "/api/points": lambda: self._json(app.points(query["key"], query["name"])),
                "/api/artifact": self._artifact(query),
            }
            route = routes.get(url.path)
            if route is None:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
                return
            try:
                route()
            except KeyError as exc:
                self._error(HTTPStatus.BAD_REQUEST, f"missing query parameter {exc}")
            except NoSuchRun as exc:
                self._error(HTTPStatus.NOT_FOUND, str(exc))
            except StoreUnreadable as exc:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"cannot read the store: {exc}")

        def _artifact(self, query: dict[str, str]) -> Callable[[], None]:
            def send() -> None:
                data, kind = app.artifact(query["key"], query["name"])
                # shown in the page, never run as a page of this origin (an SVG's scripts)
                self._send(200, data, kind, {"Content-Security-Policy": "sandbox",
                                             "Content-Disposition": "inline"})
            return send

        do_HEAD = do_GET  # noqa: N815

        def _refuse(self) -> None:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: only GET and HEAD")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    return Handler


LOOPBACK = "127.0.0.1"


def make_server(app: RunsApp, host: str = LOOPBACK, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``app`` bound to ``host:port`` (port 0: any free one), not started."""
    server = ThreadingHTTPServer((host, port), handler(app, None))
    bound = server.server_address[1]
    if host in (LOOPBACK, "localhost", "::1"):
        allowed = frozenset({f"{LOOPBACK}:{bound}", f"localhost:{bound}", f"[::1]:{bound}"})
        server.RequestHandlerClass = handler(app, allowed)
    server.daemon_threads = True
    return server


def serve(app: RunsApp, host: str, port: int) -> int:
    """Serve until interrupted (Ctrl-C); prints the address first."""
    server = make_server(app, host, port)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {app.location} at http://{shown}:{bound}/ (read-only; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def start_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve from a daemon thread (for tests and notebooks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
