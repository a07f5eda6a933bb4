"""Every use of a private pytest or pluggy API, in one place, each covered by
tests/test_compat.py (pytest's) or tests/test_compat_pluggy.py (pluggy's).

pytest gives plugins no public way to read the output captured so far in a phase, the
conftest modules that apply to a path, the report sections collected for an item, an
item's fixture definitions by name (in its closure or merely visible to it), to say
which line ``--fixtures`` shows for a fixture, or to learn which rootdir and ini file a
command line gives once every plugin's options are known. When a pytest
release changes one of these, the test of that function fails and this module is the only
one to adapt.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest


def global_capture(config: pytest.Config) -> Any | None:
    """pytest's active global capture (``MultiCapture``; with ``-s`` one without streams),
    or ``None`` when there is none yet."""
    capman = config.pluginmanager.getplugin("capturemanager")
    return getattr(capman, "_global_capturing", None) if capman is not None else None


def conftest_modules(config: pytest.Config, path: Path) -> list[ModuleType]:
    """The ``conftest.py`` modules that apply to ``path``, outermost first."""
    return list(config.pluginmanager._getconftestmodules(path))


def report_sections(item: pytest.Item) -> list[tuple[str, str, str]]:
    """``(when, key, text)`` sections (captured stdout/stderr/log) gathered so far."""
    return item._report_sections


def fixture_definitions(item: pytest.Item) -> dict[str, Sequence[Any]]:
    """``name -> [FixtureDef, ...]`` for the item's fixture closure (last one wins)."""
    return item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined,no-any-return]


def visible_fixture_definitions(item: pytest.Item, name: str) -> Sequence[Any]:
    """The ``FixtureDef`` s of fixture ``name`` visible from ``item`` (nearest last), whether
    or not the item's closure holds it."""
    manager = item.session._fixturemanager
    return manager.getfixturedefs(name, item) or ()


def replace_hookimpl_function(impl: Any, function: Any) -> None:
    """Make pluggy call ``function`` instead of ``impl``'s own (used to isolate observers,
    once per implementation, when its plugin registers).

    pluggy reads ``HookImpl.function`` at every call and passes the arguments named by
    ``HookImpl.argnames``, which stay those of the original function; the attribute is
    typed ``Final`` but is a plain slot.
    """
    impl.function = function


def order_plain_hookimpls(caller: Any, key: Any) -> None:
    """Reorder ``caller``'s non-wrapper implementations so pluggy calls them by ``key``
    (Sacred's priority order: done when a plugin registers; pluggy keeps the order until
    the next registration inserts one in its own place).

    pluggy keeps a hook's implementations in ``HookCaller._hookimpls``, plain ones first,
    and calls them from the end of that list; the sort is stable, so ties keep pluggy's
    order (tryfirst/trylast, then the plugin registered last first) when ``key`` keeps it.
    """
    impls = caller._hookimpls
    split = next((i for i, m in enumerate(impls) if m.wrapper or m.hookwrapper), len(impls))
    call_order = impls[:split][::-1]
    wanted = sorted(call_order, key=key)
    if wanted != call_order:
        impls[:split] = wanted[::-1]


def reset_item(item: pytest.Item) -> None:
    """Forget an item's fixture values and captured sections so that it can run again in
    the same session (a queue worker runs one variant once per queued run)."""
    init = getattr(item, "_initrequest", None)
    if init is not None:
        init()
    item._report_sections = []


@functools.cache
def _location_offset() -> int:
    """What pytest adds to a function's ``co_firstlineno`` when it shows the function's
    location (``--fixtures``): 1 up to pytest 8, 0 from pytest 9 on. Measured on a probe
    rather than read from the version, so a pytest that changes it again is followed."""
    from _pytest.compat import getlocation

    def probe() -> None:  # pragma: no cover - never called
        pass

    shown = int(str(getlocation(probe)).rsplit(":", 1)[1])
    return shown - probe.__code__.co_firstlineno


def shown_at_line(func: Callable[..., Any], line: int) -> Callable[..., Any]:
    """A stand-in for ``func`` (same file, name and docstring, never called) that pytest's
    ``--fixtures`` listing shows at ``line`` of ``func``'s file.

    A fixture wrapper's ``__wrapped__`` points at it. pytest locates a fixture by its real
    function's ``co_firstlineno`` (the first decorator's line) plus an offset that changed
    between releases; the stand-in's code starts where that sum is ``line``. ``func``
    itself is left alone: its tracebacks keep their line numbers.
    """
    if not isinstance(func, FunctionType):
        return func
    code = func.__code__.replace(co_firstlineno=max(line - _location_offset(), 1))
    stand_in = FunctionType(code, func.__globals__, func.__name__, func.__defaults__,
                            func.__closure__)
    stand_in.__doc__ = func.__doc__
    stand_in.__module__ = func.__module__
    stand_in.__qualname__ = func.__qualname__
    return stand_in


def setup_for(config: pytest.Config,
              args: Sequence[str]) -> tuple[list[str], Path, Path | None]:
    """``args`` parsed as pytest parses them now, every plugin's options known: their test
    paths, and the rootdir and ini file pytest's own rules choose for those paths.

    pytest chooses the session's rootdir and ini file before it loads the plugins, so the
    value of a plugin's option written as a separate argument counts as a test path then;
    comparing with this tells whether that changed the choice. Needs ``config``'s parser
    (``Config._parser``) and pytest's rule (``findpaths.determine_setup``, which gained the
    ``override_ini`` argument in pytest 9 and returns three or four values).
    """
    from _pytest.config.findpaths import determine_setup

    namespace = config._parser.parse_known_args(args)
    paths = [str(arg) for arg in getattr(namespace, "file_or_dir", None) or ()]
    given: dict[str, Any] = {
        "inifile": namespace.inifilename,
        "args": paths,
        "rootdir_cmd_arg": namespace.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    if "override_ini" in inspect.signature(determine_setup).parameters:
        given["override_ini"] = namespace.override_ini
    rootpath, inipath = determine_setup(**given)[:2]
    return paths, rootpath, inipath
