"""``@config``, ``@named_config`` and ``@capture``: what an experiment module writes."""

from __future__ import annotations

import functools
import inspect
import io
import logging
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

import pytest

from . import compat

P = ParamSpec("P")
R = TypeVar("R")
#: a named config: a function of no arguments returning its updates
N = TypeVar("N", bound=Callable[[], Mapping[str, Any]])

#: attribute on a config fixture's function holding its :class:`ConfigEntry`
CONFIG_ATTR = "_pytest_sacred_config_entry"
#: attribute on a named-config function holding its :class:`NamedConfig`
NAMED_ATTR = "_pytest_sacred_named_config"
#: the current run's config and special values, read by ``@capture`` functions
_capture_values: dict[str, Any] | None = None


def _def_header(func: Callable[..., Any]) -> tuple[int | None, str | None]:
    """The line number of a function's ``def`` keyword (after its decorators) in its file,
    and the ``# comment`` on its ``def`` line(s); ``None`` for what cannot be read."""
    try:
        lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None, None
    def_line: int | None = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            if def_line is None and tok.type == tokenize.NAME and tok.string == "def":
                def_line = first + tok.start[0] - 1
            elif def_line is not None and tok.type == tokenize.COMMENT:
                return def_line, tok.string.lstrip("#").strip() or None
            elif def_line is not None and tok.type == tokenize.NEWLINE:  # end of the header
                return def_line, None
    except (tokenize.TokenError, SyntaxError):
        pass
    return def_line, None


def _line_comment(func: Callable[..., Any]) -> str | None:
    """The ``# comment`` on a function's ``def`` line, if any."""
    return _def_header(func)[1]


def _doc_of(func: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(func)
    return doc.strip().splitlines()[0] if doc else _line_comment(func)


@dataclass(frozen=True)
class ConfigEntry:
    """One config entry: its default-producing function and the entries it derives from."""

    name: str
    func: Callable[..., Any]
    params: tuple[str, ...]

    @property
    def doc(self) -> str | None:
        """First docstring line, else the comment on the ``def`` line."""
        return _doc_of(self.func)


@overload
def config(func: Callable[P, R], *, name: str | None = None) -> Callable[P, R]: ...


@overload
def config(
    func: None = None, *, name: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def config(func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a config entry as a function-scoped fixture.

    The function returns the default; its arguments name the entries it derives from.
    Inside an experiment the fixture returns the run's resolved value (after named
    configs and ``--sacred-with``), so derived entries see overrides. Type checkers see
    the decorated function's own signature.
    """
    if func is None:
        return functools.partial(config, name=name)
    entry = ConfigEntry(name or func.__name__, func, tuple(inspect.signature(func).parameters))

    def fixture_function(request: pytest.FixtureRequest, **dependencies: Any) -> Any:
        __tracebackhide__ = True  # an entry that raises: pytest shows the user's function
        from .keys import SPEC_KEY

        spec = request.node.stash.get(SPEC_KEY, None)
        if spec is not None and entry.name in spec.config:
            return spec.config[entry.name]
        return entry.func(**dependencies)

    # pytest reads the signature to build the fixture closure: request + the entries used.
    fixture_function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in entry.params]
    )
    fixture_function.__name__ = entry.name
    fixture_function.__qualname__ = entry.name
    fixture_function.__module__ = func.__module__
    fixture_function.__doc__ = func.__doc__
    # pytest --fixtures (and fixture error messages) locate a fixture through __wrapped__:
    # point them at the user's function, not at this wrapper, and at its def line (what a
    # user looks for; pytest alone would show the decorator's line or the one after it,
    # depending on its release). __signature__ stops inspect.signature from following it.
    def_line = _def_header(func)[0]
    fixture_function.__wrapped__ = (  # type: ignore[attr-defined]
        func if def_line is None else compat.shown_at_line(func, def_line))
    setattr(fixture_function, CONFIG_ATTR, entry)
    return pytest.fixture(name=entry.name)(fixture_function)


@dataclass(frozen=True)
class NamedConfig:
    """A named set of config updates, applied on request."""

    name: str
    func: Callable[[], Mapping[str, Any]]
    path: str  # file that defines it

    @property
    def doc(self) -> str | None:
        return _doc_of(self.func)

    def updates(self) -> dict[str, Any]:
        value = self.func()
        if not isinstance(value, dict):
            raise TypeError(
                f"named config {self.name!r} ({self.path}) returned {type(value).__name__}; "
                "it must return a dict of config updates"
            )
        return value


@overload
def named_config(func: N, *, name: str | None = None) -> N: ...


@overload
def named_config(func: None = None, *, name: str | None = None) -> Callable[[N], N]: ...


def named_config(func: Callable[[], Mapping[str, Any]] | None = None, *,
                 name: str | None = None) -> Any:
    """Declare a named config: a function returning a dict of config updates.

    Visible to experiments in the same module and below the ``conftest.py`` defining it.
    The function is returned unchanged.
    """
    if func is None:
        return functools.partial(named_config, name=name)
    setattr(func, NAMED_ATTR, NamedConfig(name or func.__name__, func, inspect.getfile(func)))
    return func


def capture(func: Callable[P, R]) -> Callable[P, R]:
    """Fill a helper's missing arguments by name from the current run's config.

    Besides config entries, ``_run``, ``_config``, ``_seed`` (a fresh seed per call),
    ``_rnd`` (a generator seeded with it) and ``_log`` (the logger ``<experiment>.<helper>``,
    whose records go to the run's captured output, or ``logger.getChild(<helper>)`` for an
    experiment marked with ``logger=``) can be asked for. Outside a run, the
    function is called unchanged.
    """
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        __tracebackhide__ = True  # a failing call shows the caller's line and the helper's
        values = _capture_values
        if values is None:
            return func(*args, **kwargs)
        try:
            given = signature.bind_partial(*args, **kwargs).arguments
        except TypeError as exc:  # the caller's arguments do not fit: said as Python would
            raise TypeError(f"{func.__qualname__}{signature}: {exc}") from None
        for name, param in signature.parameters.items():
            if name in given or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if name in values["config"]:
                kwargs[name] = values["config"][name]
            elif name in ("_run", "_config"):
                kwargs[name] = values[name]
            elif name == "_log":
                kwargs[name] = values["_logging"].logger(func.__name__)
            elif name in ("_seed", "_rnd"):
                from .seeding import create_rnd

                seed = values["_seeds"].randint(1, 10**9)
                kwargs[name] = seed if name == "_seed" else create_rnd(seed)
        return func(*args, **kwargs)

    return wrapper


def run_log(function: str) -> logging.Logger:
    """``_log`` of ``function`` in the current run (the ``_log`` fixture's)."""
    __tracebackhide__ = True
    if _capture_values is None:
        raise RuntimeError("_log exists only while an experiment runs")
    logger: logging.Logger = _capture_values["_logging"].logger(function)
    return logger


def set_capture_values(run: Any | None, seed: int = 0,
                       logger: logging.Logger | None = None) -> None:
    """Make ``run`` (seeded with ``seed``) the run whose config ``@capture`` functions see,
    and whose output its experiment's logger writes to (``None`` to clear); ``logger``: the
    experiment marker's, whose children are then the run's ``_log``."""
    global _capture_values
    if _capture_values is not None:
        _capture_values["_logging"].stop()
    if run is None:
        _capture_values = None
        return
    import random

    from .logs import RunLogging

    logs = RunLogging(run.experiment_info["name"], logger)
    logs.start()
    _capture_values = {
        "config": run.config,
        "_run": run,
        "_config": run.config,
        "_seeds": random.Random(seed),
        "_logging": logs,
    }
