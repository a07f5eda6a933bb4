"""Delivering observer events: in priority order, one failing observer never stops the rest.

pluggy would stop at the first exception and orders implementations by registration, so
the events are delivered here, implementation by implementation, from ``get_hookimpls``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

import pluggy


@dataclass(frozen=True)
class ObserverError:
    """An exception an observer raised while handling an event."""

    observer: str
    hook: str
    run_id: int | None
    message: str
    trace: str

    def describe(self) -> str:
        return f"observer {self.observer} failed in {self.hook} (run {self.run_id}): {self.message}"


def _priority(impl: pluggy.HookImpl) -> float:
    value = getattr(impl.plugin, "priority", 0)
    return value if isinstance(value, (int, float)) else 0


class Dispatcher:
    """Calls one hook's implementations for one event at a time."""

    def __init__(self, pluginmanager: pluggy.PluginManager) -> None:
        self._pm = pluginmanager
        self.errors: list[ObserverError] = []
        self._seen: set[tuple] = set()

    def _implementations(self, hook: str) -> list[pluggy.HookImpl]:
        # get_hookimpls() lists in reverse call order; a stable sort keeps pluggy's order
        # among observers of equal priority.
        impls = getattr(self._pm.hook, hook).get_hookimpls()[::-1]
        return sorted(impls, key=_priority, reverse=True)

    def has_observers(self) -> bool:
        return any(self._implementations(h) for h in ("pytest_sacred_started_event",
                                                      "pytest_sacred_allocate_id"))

    def _name(self, plugin: Any) -> str:
        name = getattr(plugin, "name", None)
        return name if isinstance(name, str) else self._pm.get_name(plugin) or repr(plugin)

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: dict) -> tuple[bool, Any]:
        try:
            return True, impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            key = (id(impl.plugin), hook, kwargs.get("run_id"))
            if key in self._seen:  # one report per observer, hook and run is enough
                return False, None
            self._seen.add(key)
            self.errors.append(
                ObserverError(
                    observer=self._name(impl.plugin),
                    hook=hook,
                    run_id=kwargs.get("run_id"),
                    message=f"{type(exc).__name__}: {exc}",
                    trace="".join(traceback.format_exception(exc)),
                )
            )
            return False, None

    def emit(self, hook: str, skip: set[int], drop_failed: bool = False, **kwargs: Any) -> None:
        """Deliver an event to every observer not in ``skip``; errors are recorded.

        With ``drop_failed`` (the run's first event), an observer that raises is added to
        ``skip``: it holds no record of the run to update later.
        """
        for impl in self._implementations(hook):
            if id(impl.plugin) in skip:
                continue
            ok, _ = self._call(impl, hook, kwargs)
            if not ok and drop_failed:
                skip.add(id(impl.plugin))

    def allocate_id(self, skip: set[int], **kwargs: Any) -> int | None:
        """The id returned by the first observer, by priority, that names the run."""
        hook = "pytest_sacred_allocate_id"
        for impl in self._implementations(hook):
            ok, value = self._call(impl, hook, {**kwargs, "run_id": None})
            if not ok:
                skip.add(id(impl.plugin))
            elif value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    self.errors.append(
                        ObserverError(self._name(impl.plugin), hook, None,
                                      f"returned {value!r}; run ids must be integers", "")
                    )
                    skip.add(id(impl.plugin))
                    continue
                return value
        return None
