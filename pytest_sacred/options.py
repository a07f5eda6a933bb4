"""Every ``--sacred-*`` option and ini key: registered here, parsed once into :class:`Options`.

The command line wins over the ini file; a relative path given on the command line is
relative to the current directory, one given in the ini file to the ini file's directory.
Bad values are usage errors that name the option and say what would be right.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .updates import ConfigError, is_config_file, load_config_file, parse_assignments

#: the options that print or save something about the selected runs and run nothing
COMMANDS = ("print_config", "save_config", "print_named_configs", "print_dependencies")
DEFAULT_HEARTBEAT = 10.0
DEFAULT_STORE_RETRY = 120.0


def _run_id(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run id; ids are integers from 1")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (0 or more)")
    return seconds


def register(parser: pytest.Parser) -> None:
    """Add the options and ini keys (``pytest_addoption``)."""
    group = parser.getgroup("sacred", "experiment tracking (pytest-sacred)")
    add = group.addoption
    add("--sacred-with", action="append", metavar="KEY=VALUE",
        help="set a config entry (repeatable; nested: optimizer.lr=0.01; values are Python "
             "literals, else strings)")
    add("--sacred-named-config", action="append", metavar="NAME",
        help="apply a named config, or a .json/.yaml file of entries, to every experiment "
             "(repeatable, applied in order)")
    add("--sacred-seed", type=int, metavar="N", help="root seed of every run")
    add("--sacred-name", metavar="NAME", help="experiment name recorded for the runs")
    add("--sacred-comment", metavar="TEXT", help="comment stored in meta.comment")
    add("--sacred-id", type=_run_id, metavar="ID", help="id of the (single) run")
    add("--sacred-priority", type=float, metavar="N", help="stored in meta.priority")
    add("--sacred-queue", action="store_true",
        help="record the selected runs as QUEUED instead of running them")
    add("--sacred-enforce-clean", action="store_true",
        help="refuse to run when the experiments' git repository has uncommitted changes")
    add("--sacred-heartbeat", type=float, metavar="SECONDS",
        help="seconds between heartbeats (default 10; 0 or less: only the final beat)")
    add("--sacred-print-config", action="store_true",
        help="print each selected run's config with docs and changes; run nothing")
    add("--sacred-save-config", metavar="FILE",
        help="save the selected run's config to a .json/.yaml file; run nothing")
    add("--sacred-print-named-configs", action="store_true",
        help="list the named configs visible to the selected experiments; run nothing")
    add("--sacred-print-dependencies", action="store_true",
        help="print the selected experiments' packages, sources and repositories; run nothing")
    add("--sacred-capture-env", metavar="NAME,...",
        help="environment variables to record in host.ENV")
    add("--sacred-file-storage", metavar="DIR",
        help="store runs in DIR in Sacred's FileStorage layout (default: runs/ at the rootdir)")
    add("--sacred-unobserved", action="store_true", help="store nothing")
    add("--sacred-mongo", metavar="DB|HOST:PORT:DB|URL",
        help="store runs in MongoDB (Sacred's layout: Omniboard and Incense read it)")
    add("--sacred-mongo-collection", metavar="NAME", help="runs collection (default: runs)")
    add("--sacred-observer", action="append", metavar="MODULE:FACTORY",
        help="also send events to the observer FACTORY() returns: a Sacred observer "
             "(e.g. neptune-sacred's) or a pytest-sacred one; repeatable")
    # -- store outages (issue 9) --
    add("--sacred-store-retry", type=_seconds, metavar="SECONDS",
        help="how long writes to a store that does not answer are retried before they go to "
             "a spill file (runs/_spill/) for `pytest-sacred replay` (default 120)")
    parser.addini("sacred_store_retry", "seconds a store that does not answer is retried "
                                         "(default 120)")
    parser.addini("sacred_file_storage", "directory of the file store, relative to the ini file")
    parser.addini("sacred_mongo", "MongoDB store: DB, HOST:PORT:DB or a mongodb:// URL")
    parser.addini("sacred_mongo_collection", "MongoDB runs collection")
    parser.addini("sacred_heartbeat", "seconds between heartbeats (default 10)")


@dataclass(frozen=True)
class Options:
    """The session's pytest-sacred options, parsed and checked."""

    #: ``--sacred-with``, parsed into nested updates
    config_updates: dict[str, Any] = field(default_factory=dict)
    #: ``--sacred-named-config``: (label, updates) for files, (name, None) for names
    named_configs: tuple[tuple[str, dict[str, Any] | None], ...] = ()
    seed: int | None = None
    name: str | None = None
    comment: str | None = None
    run_id: int | None = None
    priority: float | None = None
    queue: bool = False
    enforce_clean: bool = False
    heartbeat: float = DEFAULT_HEARTBEAT
    #: seconds a store that does not answer is retried before its events are spilled
    store_retry: float = DEFAULT_STORE_RETRY
    print_config: bool = False
    save_config: str | None = None
    print_named_configs: bool = False
    print_dependencies: bool = False
    capture_env: tuple[str, ...] = ()
    #: the file store's directory when one was given (command line or ini)
    file_storage: Path | None = None
    unobserved: bool = False
    mongo: str | None = None
    mongo_collection: str | None = None
    observers: tuple[str, ...] = ()
    #: every ``--sacred-*`` option as given, for ``meta.options`` (passwords masked)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def command(self) -> bool:
        """Whether a print/save command replaces running the experiments."""
        return any(getattr(self, name) for name in COMMANDS)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        """Parse the options; raises ``pytest.UsageError`` naming a bad value."""
        option = config.option
        try:
            updates = parse_assignments(option.sacred_with or [])
            named = tuple(
                (name, load_config_file(name) if is_config_file(name) else None)
                for name in option.sacred_named_config or [])
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(
            config_updates=updates,
            named_configs=named,
            seed=option.sacred_seed,
            name=option.sacred_name,
            comment=option.sacred_comment,
            run_id=option.sacred_id,
            priority=option.sacred_priority,
            queue=option.sacred_queue,
            enforce_clean=option.sacred_enforce_clean,
            heartbeat=_heartbeat(config),
            store_retry=_store_retry(config),
            print_config=option.sacred_print_config,
            save_config=option.sacred_save_config,
            print_named_configs=option.sacred_print_named_configs,
            print_dependencies=option.sacred_print_dependencies,
            capture_env=tuple(n.strip() for n in (option.sacred_capture_env or "").split(",")
                              if n.strip()),
            file_storage=_path(config, "sacred_file_storage"),
            unobserved=option.sacred_unobserved,
            mongo=_value(config, "sacred_mongo"),
            mongo_collection=_value(config, "sacred_mongo_collection"),
            observers=tuple(option.sacred_observer or ()),
            meta=_meta(config),
        )


def _value(config: pytest.Config, name: str) -> Any:
    """The command-line value, else the ini key of the same name, else ``None``."""
    value = config.getoption(name)
    if value in (None, "", []):
        value = config.getini(name)
    return value or None


def _path(config: pytest.Config, name: str) -> Path | None:
    given = config.getoption(name)
    if given is not None:
        return Path(given)
    ini = config.getini(name)
    if not ini:
        return None
    return Path(config.inipath.parent if config.inipath else config.rootpath) / ini


def _heartbeat(config: pytest.Config) -> float:
    given = config.getoption("sacred_heartbeat")
    if given is not None:
        return float(given)
    ini = config.getini("sacred_heartbeat")
    if not ini:
        return DEFAULT_HEARTBEAT
    try:
        return float(ini)
    except ValueError:
        raise pytest.UsageError(f"ini option sacred_heartbeat = {ini!r} is not a number of "
                                "seconds (e.g. 10, or 0 for the final beat only)") from None


def _store_retry(config: pytest.Config) -> float:
    given = config.getoption("sacred_store_retry")
    if given is not None:
        return float(given)
    ini = config.getini("sacred_store_retry")
    if not ini:
        return DEFAULT_STORE_RETRY
    try:
        return _seconds(ini)
    except argparse.ArgumentTypeError:
        raise pytest.UsageError(f"ini option sacred_store_retry = {ini!r} is not a number of "
                                "seconds (0 or more, e.g. 120)") from None


def _meta(config: pytest.Config) -> dict[str, Any]:
    from .redact import redact_strings

    meta = {}
    for dest, value in sorted(vars(config.option).items()):
        if dest.startswith("sacred_"):
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            meta["--" + dest.replace("_", "-")] = value
    result: dict[str, Any] = redact_strings(meta)
    return result
