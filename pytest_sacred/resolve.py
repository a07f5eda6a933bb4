"""A run's configuration, computed once per collected variant before anything runs.

Precedence, lowest first: the ``@config`` default, named configs in the order given (the
``named_configs`` marker's variant, then ``--sacred-named-config``), ``--sacred-with``.
Parametrized arguments are fixed by the variant and cannot be overridden. The values are
computed here, in dependency order, so that ``--sacred-print-config`` and the run itself
see exactly the same numbers; the config fixtures then just hand them out.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from .compat import conftest_modules, fixture_definitions, visible_fixture_definitions
from .decorators import CONFIG_ATTR, NAMED_ATTR, ConfigEntry, NamedConfig
from .keys import NAMED_PARAM, SEED_PARAM, SPEC_KEY
from .serialize import MAX_DEPTH, NotSerializableError, check_storable, normalize_config_value
from .updates import (
    ConfigError,
    SacredConfigWarning,
    did_you_mean,
    merge,
    plain_text,
    read_as_text,
    text_note,
)


@dataclass
class RunSpec:
    """What is known about a run before it starts."""

    experiment: str
    config: dict[str, Any]
    seed: int
    swept: tuple[str, ...]
    named_configs: list[str]
    config_updates: dict[str, Any]
    entries: dict[str, ConfigEntry] = field(repr=False)
    #: dotted keys changed by named configs or --sacred-with, for print-config
    modified: set[str] = field(default_factory=set)
    #: ``--sacred-with`` values of this run that were no Python literal: ``{key: text}``
    read_as_text: dict[str, str] = field(default_factory=dict)
    #: the marker's ``logger=``: ``_log`` is its child (Sacred's ``ex.logger``)
    logger: logging.Logger | None = None
    #: a run of a group of seeds: ``(index, count)`` (``--sacred-seeds``, ``seeds=``)
    seed_index: tuple[int, int] | None = None


def closest_marker(node: pytest.Item | None, name: str) -> pytest.Mark | None:
    """``node.get_closest_marker(name)`` without its generators: it runs for every test of
    every suite, experiments or not."""
    current: Any = node
    while current is not None:
        for mark in current.own_markers:
            if mark.name == name:
                return mark  # type: ignore[no-any-return]
        current = current.parent
    return None


def seed_count(option: int | None, marker: pytest.Mark) -> int | None:
    """How many seeds each variant of an experiment runs with: ``--sacred-seeds`` wins over
    the marker's ``seeds=``; ``None``: one run, no group (and for a ``seeds=`` that is no
    count, which :func:`check_seeds_marker` refuses)."""
    if option is not None:
        return option
    value = marker.kwargs.get("seeds")
    return value if _is_count(value) else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_seeds_marker(item: pytest.Item) -> None:
    """The marker's ``seeds=`` is a count; raises :class:`ConfigError` naming the test."""
    marker = closest_marker(item, "experiment")
    if marker is not None and "seeds" in marker.kwargs and not _is_count(marker.kwargs["seeds"]):
        raise ConfigError(f"{item.nodeid}: @pytest.mark.experiment(seeds="
                          f"{marker.kwargs['seeds']!r}): seeds is the number of runs of each "
                          "variant, an integer from 1 (e.g. seeds=10)")


def experiment_name(item: pytest.Item) -> str | None:
    """The name from the ``experiment`` marker, or ``None`` for an ordinary test."""
    marker = closest_marker(item, "experiment")
    if marker is None:
        return None
    name = marker.kwargs.get("name") or (marker.args[0] if marker.args else None)
    if name is None:
        name = str(getattr(item, "originalname", item.name)).removeprefix("test_")
    return str(name)


#: what ``@pytest.mark.experiment(...)`` takes by keyword
MARKER_KEYWORDS = ("name", "logger", "seeds")


def experiment_logger(item: pytest.Item) -> logging.Logger | None:
    """The experiment marker's ``logger=`` (Sacred's ``ex.logger``), or ``None``.

    Raises :class:`ConfigError` (a usage error) for a keyword the marker does not take
    and for a ``logger`` that is not a :class:`logging.Logger`, naming the marker and test.
    """
    marker = closest_marker(item, "experiment")
    if marker is None:
        return None
    for keyword in marker.kwargs:
        if keyword not in MARKER_KEYWORDS:
            raise ConfigError(
                f"{item.nodeid}: @pytest.mark.experiment got an unknown keyword {keyword!r}; "
                f"it takes {', '.join(MARKER_KEYWORDS)}" + did_you_mean(keyword, MARKER_KEYWORDS))
    logger = marker.kwargs.get("logger")
    if logger is None or isinstance(logger, logging.Logger):
        return logger
    text = repr(logger)
    raise ConfigError(
        f"{item.nodeid}: @pytest.mark.experiment(logger=...) must be a logging.Logger, got "
        f"{type(logger).__name__} {text if len(text) <= 60 else text[:57] + '...'}; pass "
        "one, e.g. logger=logging.getLogger('my_experiment')")


def config_entries(item: pytest.Item) -> dict[str, ConfigEntry]:
    """The ``@config`` fixtures in the item's closure (the nearest definition wins), and a
    ``seed`` entry visible to the item (its module, its conftests) even when nothing asks
    for it: as in Sacred, an experiment's seed entry is its seed."""
    entries: dict[str, ConfigEntry] = {}
    defs = fixture_definitions(item)
    for name in getattr(item, "fixturenames", ()):
        fixturedefs = defs.get(name)
        if fixturedefs:
            entry = getattr(fixturedefs[-1].func, CONFIG_ATTR, None)
            if entry is not None:
                entries[name] = entry
    if "seed" not in entries:
        _add_visible_entry(item, "seed", entries)
    return entries


def _add_visible_entry(item: pytest.Item, name: str, entries: dict[str, ConfigEntry]) -> None:
    """Add the ``@config`` entry ``name`` visible from ``item``, and the entries it derives
    from, to ``entries`` (what the fixture closure would hold had the test asked for it)."""
    fixturedefs = visible_fixture_definitions(item, name)
    entry = getattr(fixturedefs[-1].func, CONFIG_ATTR, None) if fixturedefs else None
    if entry is None:
        return
    entries[name] = entry
    for param in entry.params:
        if param not in entries:
            _add_visible_entry(item, param, entries)


def swept_params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    return {k: v for k, v in callspec.params.items() if k not in (NAMED_PARAM, SEED_PARAM)}


def find_named_config(item: pytest.Item, name: str) -> NamedConfig | None:
    """A named config visible from the item: its module's globals, then conftests upward."""
    candidates = [getattr(getattr(item, "module", None), name, None)]
    conftests = conftest_modules(item.config, item.path)
    candidates += [getattr(mod, name, None) for mod in reversed(conftests)]
    for candidate in candidates:
        named = getattr(candidate, NAMED_ATTR, None)
        if isinstance(named, NamedConfig):
            return named
    return None


def visible_named_configs(item: pytest.Item) -> dict[str, NamedConfig]:
    """Every named config an item can use, nearest definition first."""
    modules = [getattr(item, "module", None)]
    modules += list(reversed(conftest_modules(item.config, item.path)))
    found: dict[str, NamedConfig] = {}
    for module in modules:
        for value in vars(module).values() if module is not None else ():
            named = getattr(value, NAMED_ATTR, None)
            if isinstance(named, NamedConfig):
                found.setdefault(named.name, named)
    return found


def named_updates(item: pytest.Item, name: str) -> dict[str, Any]:
    from .updates import nested

    named = find_named_config(item, name)
    if named is None:
        visible = visible_named_configs(item)
        known = ", ".join(sorted(visible)) or "none"
        raise ConfigError(
            f"{item.nodeid}: unknown named config {name!r} (named configs visible here: {known})"
            + did_you_mean(name, visible))
    return nested(named.updates())


def named_config_names(items: Iterable[pytest.Item]) -> set[str]:
    """The names of every named config visible to ``items``, for "did you mean" hints."""
    names: set[str] = set()
    for item in items:
        names.update(visible_named_configs(item))
    return names


def _apply(default: Any, update: Any, path: str) -> Any:
    """An update on a default value: into a dict default, only existing entries may change
    (as in Sacred, a new nested key is a typo more often than not); otherwise it replaces."""
    if not isinstance(update, dict) or not isinstance(default, dict):
        return update
    for key, value in update.items():
        if key not in default:
            have = ", ".join(map(str, default)) or "none"
            raise ConfigError(f"config entry {path!r} has no entry {key!r} (it has: {have})"
                              + did_you_mean(str(key), map(str, default)))
        if isinstance(value, dict) and isinstance(default[key], dict):
            _apply(default[key], value, f"{path}.{key}")
    return merge(default, update)


def build_spec(
    item: pytest.Item,
    name: str,
    cli_named: list[tuple[str, dict[str, Any]]],
    cli_updates: dict[str, Any],
    seed_option: int | None,
    seed_root: int = 0,
) -> RunSpec:
    """Resolve the config of one variant. Raises :class:`ConfigError` naming the culprit.

    A run of a group of seeds takes the seed derived from ``seed_root`` and its index."""
    from .updates import dotted_keys

    entries = config_entries(item)
    params = swept_params(item)
    known = set(entries) | set(params) | {"seed"}
    text_read = {k: v for k, v in read_as_text(cli_updates).items() if k.split(".")[0] in known}
    cli_updates = plain_text(cli_updates)

    named: list[tuple[str, dict[str, Any]]] = []
    callspec = getattr(item, "callspec", None)
    if callspec is not None and NAMED_PARAM in callspec.params:
        variant = callspec.params[NAMED_PARAM]
        variant_updates = named_updates(item, variant)
        if variant_updates and not set(variant_updates) & known:
            raise ConfigError(f"{item.nodeid}: named config {variant!r} sets "
                              f"{', '.join(map(repr, variant_updates))}, none of which this "
                              f"experiment uses (it uses: {', '.join(sorted(known))})")
        named.append((variant, variant_updates))
    named += cli_named

    updates: dict[str, Any] = {}
    for label, named_values in named:
        for key in named_values:
            if key in params:
                raise ConfigError(f"{item.nodeid}: named config {label!r} sets {key!r}, "
                                  "which parametrize sweeps; remove it from one of them")
        updates = merge(updates, {k: v for k, v in named_values.items() if k in known})
    updates = merge(updates, {k: v for k, v in cli_updates.items() if k in known})
    seed_index = callspec.params.get(SEED_PARAM) if callspec is not None else None
    if seed_index is not None:
        if "seed" in params:
            raise ConfigError(f"{item.nodeid}: seed is swept both by parametrize and by "
                              "seeds (--sacred-seeds or the marker's seeds=); keep one")
        if "seed" in updates:
            raise ConfigError(f"{item.nodeid}: the seed is set (--sacred-with or a named "
                              "config) while the variant runs with several seeds; give the "
                              "root of its seeds with --sacred-seed instead")
        from .seeding import derive_seed

        updates["seed"] = derive_seed(seed_root, seed_index[0])
    elif seed_option is not None and "seed" not in updates:
        updates["seed"] = seed_option
    modified = {k for k in dotted_keys(updates) if k.split(".")[0] in known}
    if "seed" not in updates and "seed" not in params and "seed" not in entries:
        updates["seed"] = secrets.randbelow(10**9) + 1  # from the OS, not the last run

    values: dict[str, Any] = {k: normalize_config_value(v) for k, v in params.items()}
    resolving: list[str] = []

    def value_of(key: str) -> Any:
        if key in values:
            return values[key]
        entry = entries.get(key)
        if entry is None:
            if key == "seed":
                return updates["seed"]
            raise ConfigError(f"config entry {resolving[-1]!r} depends on {key!r}, which is "
                              "neither a config entry nor a parametrize argument")
        if key in resolving:
            raise ConfigError("config entries depend on each other in a cycle: "
                              + " -> ".join(resolving[resolving.index(key):] + [key]))
        resolving.append(key)
        try:
            update = updates.get(key)
            if key in updates and not isinstance(update, dict):
                value = update
            else:
                inputs = {p: value_of(p) for p in entry.params}
                try:
                    value = entry.func(**inputs)
                except Exception as exc:
                    related = {k: v for k, v in text_read.items()
                               if k.split(".")[0] in entry.params}
                    raise ConfigError(
                        f"{item.nodeid}: config entry {key!r} raised {type(exc).__name__}: "
                        f"{exc}" + (f" (its inputs: {inputs})" if inputs else "")
                        + (f"; {text_note(related)}" if related else "")) from exc
                if key in updates:
                    value = _apply(value, update, key)
        finally:
            resolving.pop()
        values[key] = normalize_config_value(value)
        return values[key]

    for key in entries:
        value_of(key)
    seed = value_of("seed")
    values["seed"] = seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{item.nodeid}: seed must be an int, got {seed!r}")
    for key, value in values.items():
        try:
            check_storable(value, key)
        except NotSerializableError as exc:
            raise ConfigError(f"{item.nodeid}: config entry {key!r} cannot be stored: {exc}; "
                              f"use a JSON value or one jsonpickle can restore, nested at "
                              f"most {MAX_DEPTH} levels") from None

    return RunSpec(
        experiment=name,
        config=values,
        seed=seed,
        swept=tuple(params),
        named_configs=[label for label, _ in named],
        # only what changed this run's config: session-wide keys it has no entry for are not
        config_updates={k: v for k, v in cli_updates.items() if k in known},
        entries=entries,
        modified=modified,
        read_as_text=text_read,
        seed_index=seed_index,
    )


#: what a body raises when a number it computes with arrived as a string
_TEXT_FAILURES = (TypeError, ValueError, AttributeError)


def explain_text_values(spec: RunSpec, exc: BaseException) -> None:
    """Note on ``exc`` that the run's ``--sacred-with`` values read as strings may be why it
    failed (shown under pytest's traceback and stored in ``fail_trace``)."""
    if not spec.read_as_text or not isinstance(exc, _TEXT_FAILURES):
        return
    note = text_note(spec.read_as_text)
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10: pytest shows __notes__ too
        exc.__notes__ = [  # type: ignore[union-attr]  # no __notes__ in 3.10's stubs
            *getattr(exc, "__notes__", []), note]


def warn_unused_entries(experiments: Iterable[pytest.Item]) -> None:
    """Warn about each ``@config`` entry of a test module that none of the module's selected
    experiments uses: in Sacred every entry of a config scope is part of the config, so a
    user porting from it expects this one to be recorded, and it is not."""
    used: dict[Any, set[str]] = {}
    modules: dict[Any, Any] = {}
    for item in experiments:
        module = getattr(item, "module", None)
        if module is None or SPEC_KEY not in item.stash:
            continue
        modules[id(module)] = module
        used.setdefault(id(module), set()).update(item.stash[SPEC_KEY].entries)
    for key, module in modules.items():
        for entry in _module_entries(module):
            if entry.name in used[key]:
                continue
            code = entry.func.__code__
            warnings.warn_explicit(
                SacredConfigWarning(
                    f"config entry {entry.name!r} is used by none of the selected experiments "
                    f"of {module.__name__}, so no run records it; ask for it as an argument "
                    f"of the experiment, or mark it @pytest.mark.usefixtures({entry.name!r})"),
                SacredConfigWarning, code.co_filename, code.co_firstlineno)


def _module_entries(module: Any) -> list[ConfigEntry]:
    """The ``@config`` entries a module defines (imported ones belong to their own module)."""
    found = {}
    for value in vars(module).values():
        entry = getattr(value, CONFIG_ATTR, None)
        if isinstance(entry, ConfigEntry) and entry.func.__module__ == module.__name__:
            found[entry.name] = entry
    return list(found.values())
