"""Notifications (Slack, Telegram): one message per run at its end, or one per session.

The process that runs a test renders its run's message from the config file's template
and attaches it to the test report; the main process (the only one under pytest-xdist,
which forwards the reports) sends it. So a session sends from one place, paced to the
service's rate limit, whatever the number of workers.

``--sacred-notify=runs`` sends one message per run, ``session`` one summary at the end
(counts per status, the failed runs listed); the default is ``runs`` for up to
``SWEEP_RUNS`` selected runs and ``session`` above. Messages go out from a background
thread, so pacing never delays a test; the session waits for them at its end.

A message that cannot be delivered is reported in the terminal summary (section
"pytest-sacred notification errors"); it loses no stored data, so it does not change the
exit code. Tokens and webhook URLs appear in no message, error or stored document.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from datetime import datetime
from email.message import Message
from typing import Any

import pytest

from ..keys import RUN_KEY, STATE
from ..payloads import ExperimentInfo, HostInfo
from ..stores.base import Observer, StoreError
from ..updates import ConfigError, read_mapping_file

#: above this many selected runs the default is one summary message for the session
SWEEP_RUNS = 10
MODES = ("runs", "session")
_HTTP_TIMEOUT = 10  # seconds per request
_MAX_RETRY_AFTER = 60  # seconds we wait when the service asks us to slow down
_SENT_WAIT = 600  # seconds the session end waits for queued messages at most

#: the template fields of each final status (Sacred's names); every template also gets
#: _id, config, experiment (alias ex_info), command, host_info, start_time, status,
#: elapsed_time
STATUS_FIELDS = {
    "completed": ("result", "stop_time"),
    "interrupted": ("interrupt_time",),
    "failed": ("fail_trace", "error", "fail_time"),
}


def elapsed_text(seconds: float) -> str:
    """A duration as people say it: "1 hour, 2 minutes", "less than a second"."""
    if seconds < 1:
        return "less than a second"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(int(seconds) if size == 1 else seconds, size)
        if count >= 1:
            parts.append(f"{int(count)} {unit}{'s' if count >= 2 else ''}")
    return ", ".join(parts[:2])


def _sample_fields() -> dict[str, Any]:
    """Values of every template field, for checking templates when the file is read."""
    now = datetime(2000, 1, 1)
    fields: dict[str, Any] = {
        "_id": 1, "config": {}, "experiment": {"name": "x"}, "ex_info": {"name": "x"},
        "command": "test_x", "host_info": {"hostname": "h"}, "start_time": now,
        "status": "COMPLETED", "elapsed_time": "1 second"}
    return fields | {name: "" for names in STATUS_FIELDS.values() for name in names}


def load_settings(path: str, option: str, schema: Mapping[str, tuple[type, ...]],
                  required: tuple[str, ...], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Read and check a notifier's config file: every key known and of the right type,
    every required key present, every template formattable. :class:`StoreError` names
    the key and what would be right."""
    if "://" in path:  # a webhook URL or an API URL with its token: never echo it
        raise StoreError(f"{option} takes a .json/.yaml config file, not a URL: put the URL "
                         "(a secret) in the file, under the key the README names")
    try:
        data = read_mapping_file(path, f"{option} file", show_error=False)
    except ConfigError as exc:
        raise StoreError(str(exc)) from None
    where = f"{option} {path}"
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise StoreError(f"{where}: unknown key {unknown[0]!r}; the keys are "
                         f"{', '.join(sorted(schema))}")
    missing = [key for key in required if data.get(key) in (None, "")]
    if missing:
        raise StoreError(f"{where}: {missing[0]!r} is missing; it is required")
    for key, value in data.items():
        types = schema[key]
        if value is not None and (not isinstance(value, types) or
                                  (isinstance(value, bool) and bool not in types)):
            wanted = " or ".join(t.__name__ for t in types)
            raise StoreError(f"{where}: {key!r} must be {wanted}, not "
                             f"{type(value).__name__}")
    settings = {**defaults, **data}
    sample = _sample_fields()
    for status in STATUS_FIELDS:
        template = settings.get(f"{status}_text")
        if template is None:
            continue
        try:
            template.format(**sample)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise StoreError(f"{where}: '{status}_text' does not format ({type(exc).__name__}: "
                             f"{exc}); its fields are {', '.join(sorted(sample))}") from None
    return settings


class DeliveryError(Exception):
    """A message the service did not accept; the text never holds the token or URL."""


class Notifier(Observer):
    """Base of the Slack and Telegram notifiers: templates, the per-run payload, the
    summary, pacing. Subclasses give :meth:`deliver` and the settings."""

    priority = 10
    #: the service's size limit of one message, in characters
    message_limit = 4000
    #: seconds between two messages to the same destination
    interval = 1.0
    option = "--sacred-notify"

    def __init__(self, settings: dict[str, Any], mode: str | None, main_process: bool) -> None:
        self.settings = settings
        self.mode = mode
        self.main_process = main_process
        self.errors: list[str] = []
        self._runs: dict[int | None, dict[str, Any]] = {}
        self._ready: dict[int | None, dict[str, Any]] = {}
        self._summary: list[dict[str, Any]] = []
        self._queue: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._last_sent = 0.0

    # -- the service (subclasses) -----------------------------------------------------------

    def deliver(self, text: str, silent: bool) -> float | None:
        """Send one message; returns the seconds to wait when the service answered
        "too many requests" (the message was not taken), else None. Raises
        :class:`DeliveryError`."""
        raise NotImplementedError

    def describe(self) -> str:
        """The destination, for messages, without secrets."""
        return self.name

    # -- the run, in the process that runs it ----------------------------------------------------

    def pytest_sacred_started_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any]) -> None:
        self._runs[run_id] = {"_id": run_id, "config": config, "experiment": ex_info,
                              "ex_info": ex_info, "command": command, "host_info": host_info,
                              "start_time": start_time}

    def pytest_sacred_resumed_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, resume_time: datetime,
                                    config: dict[str, Any]) -> None:
        """A resumed run ends with a message as any run does (its time counted from here)."""
        self.pytest_sacred_started_event(run_id, ex_info, command, host_info, resume_time,
                                         config)

    def _end(self, run_id: int | None, status: str, key: str, when: datetime,
             **fields: Any) -> None:
        values = self._runs.pop(run_id, None)
        if values is None:
            return
        elapsed = (when - values["start_time"]).total_seconds()
        values.update(fields, status=status, elapsed_time=elapsed_text(elapsed))
        template = self.settings.get(f"{key}_text")
        text = None
        if template is not None:
            try:
                text = template.format(**values)
            except (KeyError, IndexError, ValueError, AttributeError) as exc:
                text = f"{template}\n(could not fill in the template: {exc})"
        self._ready[run_id] = {
            "run_id": run_id, "experiment": values["experiment"]["name"], "status": status,
            "text": text, "error": fields.get("error"), "elapsed": elapsed,
            "silent": key == "completed" and bool(self.settings.get("silent_completion"))}

    def pytest_sacred_completed_event(self, run_id: int | None, stop_time: datetime,
                                      result: Any) -> None:
        self._end(run_id, "COMPLETED", "completed", stop_time, result=result,
                  stop_time=stop_time)

    def pytest_sacred_interrupted_event(self, run_id: int | None, interrupt_time: datetime,
                                        status: str) -> None:
        self._end(run_id, status, "interrupted", interrupt_time, interrupt_time=interrupt_time)

    def pytest_sacred_failed_event(self, run_id: int | None, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        error = next((line.strip() for line in reversed(fail_trace) if line.strip()), "")
        self._end(run_id, "FAILED", "failed", fail_time, fail_trace="".join(fail_trace),
                  error=error.splitlines()[-1] if error else "", fail_time=fail_time)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """The run's message travels on its report (outermost: a setup failure's final
        event has been sent by then)."""
        report = yield
        run = item.stash.get(RUN_KEY, None)
        if run is not None and run._id in self._ready:
            payload = self._ready.pop(run._id)
            callspec = getattr(item, "callspec", None)
            selected = len(item.config.stash[STATE].experiments)
            payload.update(variant=callspec.id if callspec else "",
                           mode=self.mode or ("session" if selected > SWEEP_RUNS else "runs"))
            setattr(report, self._report_key(), payload)
        return report

    def _report_key(self) -> str:
        return f"sacred_notify_{self.name}"

    # -- sending, in the main process --------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, self._report_key(), None)
        if payload is None or not self.main_process:
            return
        if payload["mode"] == "session":
            self._summary.append(payload)
        elif payload["text"] is not None:
            self._enqueue(payload["text"], payload["silent"])

    def _enqueue(self, text: str, silent: bool = False) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_all, name=f"sacred-{self.name}",
                                            daemon=True)
            self._sender.start()
        self._queue.put((self._fit(text), silent))

    def _fit(self, text: str) -> str:
        """``text`` cut to the service's limit."""
        if len(text) <= self.message_limit:
            return text
        return text[: self.message_limit - 2] + " …"

    def _send_all(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            text, silent = entry
            try:
                self._send_paced(text, silent)
            except DeliveryError as exc:
                self.errors.append(f"{self.describe()}: {exc}")
            except Exception as exc:  # never a silent end of the sender; its text may
                # quote the request, so only the kind of error is shown
                self.errors.append(f"{self.describe()}: message not sent "
                                   f"({type(exc).__name__})")

    def _send_paced(self, text: str, silent: bool) -> None:
        for _ in range(3):
            wait = self._last_sent + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            retry_after = self.deliver(text, silent)
            self._last_sent = time.monotonic()
            if retry_after is None:
                return
            time.sleep(min(retry_after, _MAX_RETRY_AFTER))
        raise DeliveryError("the service kept answering 429 Too Many Requests; message dropped")

    def summary_text(self) -> str:
        """One message for the session: counts per status, then the failed runs."""
        runs = self._summary
        counts = Counter(p["status"] for p in runs)
        names = sorted({p["experiment"] for p in runs})
        head = (f"pytest-sacred: {len(runs)} run{'s' if len(runs) != 1 else ''} of "
                f"{', '.join(names)}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        lines = [head]
        failed = [p for p in runs if p["status"] != "COMPLETED"]
        if failed:
            lines.append("Not completed:")
        budget = self.message_limit - len(head) - 40
        for i, p in enumerate(failed):
            variant = f"[{p['variant']}]" if p["variant"] else ""
            error = f": {p['error']}" if p.get("error") else ""
            line = f"#{p['run_id']} {p['experiment']}{variant} {p['status']}{error}"[:300]
            if budget - len(line) - 1 < 0:
                lines.append(f"… and {len(failed) - i} more")
                break
            budget -= len(line) + 1
            lines.append(line)
        return "\n".join(lines)

    def close(self) -> None:
        if self.main_process and self._summary:
            self._enqueue(self.summary_text(), silent=False)
        if self._sender is not None:
            self._queue.put(None)
            self._sender.join(_SENT_WAIT)
            if self._sender.is_alive():
                self.errors.append(f"{self.describe()}: messages still unsent after "
                                   f"{_SENT_WAIT} s; gave up waiting")
            self._sender = None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.errors:
            terminalreporter.section("pytest-sacred notification errors", red=True)
            for line in self.errors:
                terminalreporter.write_line(line, red=True)
            terminalreporter.write_line(
                "(the runs are stored as usual; only the messages were not delivered)")


def post_json(url: str, body: dict[str, Any], opener: Callable[..., Any] | None = None,
              ) -> tuple[int, bytes, Mapping[str, str] | Message[str, str]]:
    """POST ``body`` as JSON; returns status, body and headers, HTTP errors included.

    Raises :class:`DeliveryError` when the server cannot be reached; its text never
    holds ``url`` (webhook URLs and bot tokens are secrets).
    """
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
    open_url = opener or urllib.request.urlopen
    try:
        with open_url(request, timeout=_HTTP_TIMEOUT) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"the service cannot be reached ({type(reason).__name__}: "
                            f"{_strip(str(reason), url)})") from None


def _strip(text: str, url: str) -> str:
    """An error text without the URL or its path (which holds the secret)."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    return text.replace(url, "<url>").replace(path, "<path>") if path.strip("/") else text


def mode_option(value: str | None) -> str | None:
    """``--sacred-notify``'s value checked (None: chosen by the number of runs)."""
    if value in (None, ""):
        return None
    if value not in MODES:
        raise StoreError(f"--sacred-notify {value!r}: give runs (one message per run) or "
                         "session (one summary at the end)")
    return value
