"""Delivering observer events through pluggy, so that one failing observer never stops the rest.

pluggy calls the hooks: :meth:`Dispatcher.call` only says which run the event belongs to.
Isolation and order are set up once per plugin, when it registers (``isolate``, from
pytest's ``pytest_plugin_registered``), never on the event's way:

- every plain (non-wrapper) implementation of an observer hook gets a guard that reports its
  exception and returns ``None``, so pluggy goes on to the next one (pluggy stops a hook
  call at the first exception); ``firstresult`` then moves on to the next observer too. The
  guard also skips observers that failed a run's first event, for the rest of that run.
- order: pluggy's tryfirst/trylast classes, and within each the observers' ``priority``
  attribute (Sacred's, default 0, higher first, read when the plugin registers), then
  pluggy's own order (the plugin registered last first).

Wrappers are left as pluggy runs them: an exception a wrapper raises ends that event and is
reported here, naming the wrapper's plugin.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from .compat import order_plain_hookimpls, replace_hookimpl_function

ALLOCATE = "pytest_sacred_allocate_id"
HOOKS = (ALLOCATE, "pytest_sacred_queued_event", "pytest_sacred_started_event",
         "pytest_sacred_resumed_event",
         "pytest_sacred_heartbeat_event", "pytest_sacred_log_metrics",
         "pytest_sacred_completed_event", "pytest_sacred_interrupted_event",
         "pytest_sacred_failed_event", "pytest_sacred_resource_event",
         "pytest_sacred_artifact_event")


@dataclass(frozen=True)
class ObserverError:
    """An exception an observer raised while handling an event."""

    observer: str
    hook: str
    run_id: int | None
    message: str
    trace: str
    #: what of the run the failed event carried: an artifact's name, a resource's path
    detail: str = ""
    #: ``id()`` of the observer object, to tell apart observers sharing a name
    observer_id: int = 0
    #: the spill file holding the event that could not be written, if it was spilled
    spilled_to: str = ""

    def describe(self) -> str:
        from .session import short_path

        what = f" {self.detail!r}" if self.detail else ""
        spilled = f"; kept in {short_path(self.spilled_to)}" if self.spilled_to else ""
        message = self.message if len(self.message) <= 1000 else self.message[:999] + "…"
        return (f"observer {self.observer} failed in {self.hook}{what} (run {self.run_id}): "
                f"{message}{spilled}")


#: the events that carry one part of a run: what the part is called, and the argument
#: naming it (an artifact's name, a resource's path)
PARTS = {"pytest_sacred_artifact_event": ("artifact", "name"),
         "pytest_sacred_resource_event": ("resource", "filename")}


def detail(hook: str, kwargs: dict[str, Any]) -> str:
    """Which part of the run the event ``hook`` with these arguments carries (``""``: the
    event is about the whole run)."""
    part = PARTS.get(hook)
    value = kwargs.get(part[1]) if part is not None else None
    return str(value) if value is not None else ""


def thread_safe_trace(exc: BaseException) -> str:
    """``exc``'s traceback as ``traceback.format_exception`` prints it, without the ``^^^``
    markers under each line. Those come from parsing each line with :func:`ast.parse`, and
    on Python 3.11 the AST builder keeps its recursion count in state shared by every
    thread: a store's or the heartbeat's thread formatting an error while the main thread
    parses a module (pytest rewriting one on import) can make either raise
    ``SystemError: AST constructor recursion depth mismatch`` (CPython gh-106905)."""
    lines: list[str] = []
    seen: set[int] = set()

    def add(error: BaseException) -> None:
        seen.add(id(error))
        cause, context = error.__cause__, error.__context__
        if cause is not None and id(cause) not in seen:
            add(cause)
            lines.append("\nThe above exception was the direct cause of the following "
                         "exception:\n\n")
        elif (context is not None and id(context) not in seen
              and not error.__suppress_context__):
            add(context)
            lines.append("\nDuring handling of the above exception, another exception "
                         "occurred:\n\n")
        if error.__traceback__ is not None:
            lines.append("Traceback (most recent call last):\n")
            for frame in traceback.extract_tb(error.__traceback__):
                lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n')
                if frame.line:
                    lines.append(f"    {frame.line.strip()}\n")
        lines.extend(traceback.format_exception_only(type(error), error))

    add(exc)
    return "".join(lines)


@dataclass
class _Call:
    """The event being delivered on this thread."""

    run_id: int | None
    dropped: set[int]
    #: the run's first event: an observer failing it holds no record of the run
    first: bool
    hook: str = field(default="")


def _priority(plugin: object) -> float:
    value = getattr(plugin, "priority", 0)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _call_rank(impl: pluggy.HookImpl) -> tuple[int, float]:
    """tryfirst before the rest before trylast, as in pluggy; within each, Sacred's order:
    the higher ``priority`` first."""
    return (0 if impl.tryfirst else 2 if impl.trylast else 1, -_priority(impl.plugin))


class Dispatcher:
    """Calls the observer hooks of one pytest session."""

    def __init__(self, pluginmanager: pluggy.PluginManager) -> None:
        self._pm = pluginmanager
        self.errors: list[ObserverError] = []
        self._seen: set[tuple[int, str, int | None, str]] = set()
        #: guarded implementations, kept alive so that their ids stay theirs
        self._guarded: dict[int, pluggy.HookImpl] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        #: called with each new error (from any thread), to say it when it happens
        self.listener: Callable[[ObserverError], None] | None = None
        self.isolate()

    def name(self, plugin: object) -> str:
        if isinstance(plugin, str):  # pytest-sacred's own parts (e.g. the heartbeat)
            return plugin
        name = getattr(plugin, "name", None)
        if isinstance(name, str):
            return name
        return self._pm.get_name(plugin) or repr(plugin)

    def report(self, plugin: object, hook: str, run_id: int | None, exc: BaseException | str,
               trace: str = "", detail: str = "", spilled_to: str = "",
               notify: bool = True) -> None:
        """Record that ``plugin`` could not handle ``hook`` for ``run_id`` (thread-safe);
        also used by the shipped observers' write queues for failures after the call.
        ``notify=False``: a consequence of a failure already said (no notice of its own)."""
        key = (id(plugin), hook, run_id, detail)
        with self._lock:
            if key in self._seen:  # one report per observer, hook, run and artifact
                return
            self._seen.add(key)
        if isinstance(exc, BaseException):
            message = f"{type(exc).__name__}: {exc}"
            trace = thread_safe_trace(exc)
        else:
            message = exc
        error = ObserverError(self.name(plugin), hook, run_id, message, trace, detail,
                              id(plugin), spilled_to)
        with self._lock:
            self.errors.append(error)
        if self.listener is not None and notify:
            self.listener(error)


    def failures(self, run_id: int | None) -> list[ObserverError]:
        """The errors of one run, oldest first."""
        with self._lock:
            return [e for e in self.errors if e.run_id == run_id]

    def _guard(self, impl: pluggy.HookImpl, hook: str) -> Callable[..., Any]:
        function, plugin = impl.function, impl.plugin

        def guarded(*args: Any) -> Any:
            call: _Call | None = getattr(self._local, "call", None)
            if call is None:  # called by someone else (e.g. config.hook directly): as is
                return function(*args)
            if id(plugin) in call.dropped:
                return None
            try:
                result = function(*args)
            except Exception as exc:
                self.report(plugin, hook, call.run_id, exc,
                            detail=detail(hook, dict(zip(impl.argnames, args, strict=False))))
                if call.first:
                    call.dropped.add(id(plugin))
                return None
            if hook == ALLOCATE and result is not None and (
                    isinstance(result, bool) or not isinstance(result, int)):
                self.report(plugin, hook, None, f"returned {result!r}; run ids must be integers")
                call.dropped.add(id(plugin))
                return None
            return result

        guarded.__wrapped__ = function  # type: ignore[attr-defined]
        return guarded

    def isolate(self) -> None:
        """Guard every observer hook implementation not guarded yet and put each hook's in
        Sacred's order. Called when the dispatcher is made and whenever a plugin registers
        (pytest's ``pytest_plugin_registered``): pluggy adds a new plugin's implementations
        in its own order, which the events then keep until the next registration."""
        for hook in HOOKS:
            caller: pluggy.HookCaller | None = getattr(self._pm.hook, hook, None)
            if caller is None:
                continue
            added = False
            for impl in caller.get_hookimpls():
                if not (impl.wrapper or impl.hookwrapper) and id(impl) not in self._guarded:
                    replace_hookimpl_function(impl, self._guard(impl, hook))
                    self._guarded[id(impl)] = impl
                    added = True
            if added:
                order_plain_hookimpls(caller, _call_rank)

    def _wrapper_plugin(self, hook: str, exc: BaseException) -> object:
        """The plugin whose hook wrapper raised ``exc`` (pluggy itself, if none)."""
        codes = {getattr(i.function, "__code__", None): i.plugin
                 for i in getattr(self._pm.hook, hook).get_hookimpls()
                 if i.wrapper or i.hookwrapper}
        tb = exc.__traceback__
        found: object = "pluggy"
        while tb is not None:
            found = codes.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        return found

    def call(self, hook: str, dropped: set[int], first: bool = False, **kwargs: Any) -> Any:
        """Deliver one event to every observer not in ``dropped``; errors are recorded.

        With ``first`` (the run's first event, or id allocation), an observer that raises
        is added to ``dropped``: it holds no record of the run to update later.
        """
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        run_id = kwargs.get("run_id")
        self._local.call = _Call(run_id, dropped, first, hook)
        try:
            return caller(**kwargs)
        except Exception as exc:  # a wrapper raised: pluggy stopped the event there
            self.report(self._wrapper_plugin(hook, exc), hook, run_id, exc)
            return None
        finally:
            self._local.call = None

    def takes_timestamps(self) -> bool:
        """True when every implementation of ``log_metrics`` (wrappers too) declares
        ``takes_timestamps``: pytest-sacred's own observers do; anyone else's get the
        plain list of datetimes the hook has always given."""
        return all(getattr(impl.plugin, "takes_timestamps", False) is True
                   for impl in self._pm.hook.pytest_sacred_log_metrics.get_hookimpls())

    def allocate_id(self, dropped: set[int], **kwargs: Any) -> int | None:
        """The id returned by the first observer, in pluggy's order, that names the run."""
        result = self.call(ALLOCATE, dropped, first=True, **kwargs)
        return result if isinstance(result, int) and not isinstance(result, bool) else None
