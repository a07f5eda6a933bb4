"""What one pytest session knows about its experiments: options, observers, runs.

Built in ``pytest_configure`` from the command line; everything costly (observers opened,
host and git info) waits until experiments are actually selected.
"""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .events import Dispatcher, ObserverError
from .observers.base import Observer, StoreError
from .keys import SPEC_KEY
from .resolve import RunSpec, build_spec, experiment_name, find_named_config, named_updates

if TYPE_CHECKING:
    from .runner import Runner
from .stores import build_observers
from .updates import ConfigError, is_config_file, load_config_file, parse_assignments


@dataclass
class SacredSession:
    config: pytest.Config
    cli_updates: dict
    #: named configs from the command line: (label, updates) for files, (name, None) else
    cli_named: list[tuple[str, dict | None]]
    observers: list[Observer]
    events: Dispatcher
    heartbeat_interval: float
    #: local store directories, never collected (``_sources/`` holds test module copies)
    store_directories: frozenset[Path] = frozenset()
    experiments: list[pytest.Item] = field(default_factory=list)
    _runner: Runner | None = None
    #: rows of runs stopped by Ctrl-C, which get no test report to carry them
    interrupted_rows: list[dict] = field(default_factory=list)
    #: regression checks and baseline copy (pytest_sacred.regression)
    regression: Any = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> "SacredSession":
        option = config.option
        try:
            cli_updates = parse_assignments(option.sacred_with or [])
            cli_named = [
                (name, load_config_file(name) if is_config_file(name) else None)
                for name in option.sacred_named_config or []
            ]
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        try:
            observers = build_observers(config)
        except StoreError as exc:
            raise pytest.UsageError(str(exc)) from None
        for observer in observers:
            name = f"sacred-{observer.name}"
            config.pluginmanager.register(observer, None if config.pluginmanager.has_plugin(name) else name)
        events = Dispatcher(config.pluginmanager)
        interval = option.sacred_heartbeat
        if interval is None:
            ini = config.getini("sacred_heartbeat") or "10"
            try:
                interval = float(ini)
            except ValueError:
                raise pytest.UsageError(f"ini option sacred_heartbeat = {ini!r} is not a number "
                                        "of seconds (e.g. 10, or 0 for the final beat only)"
                                        ) from None
        stores = {Path(o.basedir).absolute() for o in observers if hasattr(o, "basedir")}
        default = config.rootpath / "runs"
        if (default / "_sources").is_dir():  # also when this session stores elsewhere
            stores.add(default)
        from .regression import RegressionChecks

        regression = RegressionChecks.from_config(config)  # regression checks: bad rules fail here
        return cls(config, cli_updates, cli_named, observers, events, interval, frozenset(stores),
                   regression=regression)

    @property
    def runner(self) -> Runner:
        """Built when the first experiment needs it: ordinary suites never import it."""
        if self._runner is None:
            from .runner import Runner, options_meta

            option = self.config.option
            self._runner = Runner(
                self.config,
                self.events,
                heartbeat_interval=self.heartbeat_interval,
                capture_env=[n.strip() for n in (option.sacred_capture_env or "").split(",")
                             if n.strip()],
                options_meta=options_meta(self.config),
                experiment_name=option.sacred_name,
                comment=option.sacred_comment,
                priority=option.sacred_priority,
                run_id=option.sacred_id,
            )
        return self._runner

    # -- before anything runs -------------------------------------------------------------

    def prepare(self, items: list[pytest.Item], open_stores: bool) -> None:
        """Resolve every selected experiment's config and check the command line against them.

        Raises ``pytest.UsageError`` naming the culprit; nothing has run or been stored yet.
        """
        try:
            self._resolve(items)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not self.experiments:
            return
        option = self.config.option
        if option.sacred_id is not None and len(self.experiments) > 1:
            raise pytest.UsageError(
                f"--sacred-id {option.sacred_id} names one run, but {len(self.experiments)} "
                "experiment variants are selected; select one (-k or a node id)")
        if option.sacred_enforce_clean:
            self._check_clean()
        if open_stores:
            for observer in self.observers:
                try:
                    observer.open()
                except StoreError as exc:
                    raise pytest.UsageError(str(exc)) from None
            self.regression.start(self.config, self.experiments, self.observers)  # (a)

    def _cli_named_for(self, item: pytest.Item) -> list[tuple[str, dict]]:
        named = []
        for label, updates in self.cli_named:
            if updates is None:
                if find_named_config(item, label) is None:
                    continue  # visible to other selected experiments (checked below)
                updates = named_updates(item, label)
            named.append((label, updates))
        return named

    def _resolve(self, items: list[pytest.Item]) -> None:
        seed_option = self.config.option.sacred_seed
        used: set[str] = set()
        swept: dict[str, str] = {}
        known_names: set[str] = set()
        for item in items:
            name = experiment_name(item)
            if name is None:
                continue
            cli_named = self._cli_named_for(item)
            known_names.update(label for label, _ in cli_named)
            spec: RunSpec = build_spec(item, name, cli_named, self.cli_updates, seed_option)
            item.stash[SPEC_KEY] = spec
            used.update(spec.config)
            swept.update((key, item.nodeid) for key in spec.swept)
            self.experiments.append(item)
        if not self.experiments:
            if self.cli_updates or self.cli_named:
                raise ConfigError("--sacred-with/--sacred-named-config given, but no experiment "
                                  "is selected (mark tests with @pytest.mark.experiment)")
            return
        for label, updates in self.cli_named:
            if updates is None and label not in known_names:
                raise ConfigError(f"unknown named config {label!r}: no selected experiment "
                                  "defines it (see --sacred-print-named-configs)")
        for key in self.cli_updates:
            if key in swept:
                raise ConfigError(f"--sacred-with {key}: {key!r} is swept by parametrize in "
                                  f"{swept[key]}; change the parametrize values instead")
            if key not in used:
                raise ConfigError(f"--sacred-with {key}: no selected experiment has a config "
                                  f"entry {key!r} (entries: {', '.join(sorted(used))})")
        for label, updates in self.cli_named:
            for key in updates or {}:
                if key not in used:
                    raise ConfigError(f"named config {label!r} sets {key!r}, which no selected "
                                      "experiment uses")

    def _check_clean(self) -> None:
        for item in self.experiments:
            info = self.runner.experiment_info(item, "")
            if not info["repositories"]:
                raise pytest.UsageError(f"--sacred-enforce-clean: {info['mainfile']} is not in a "
                                        "git repository")
            for repo in info["repositories"]:
                if repo["dirty"]:
                    raise pytest.UsageError(
                        f"--sacred-enforce-clean: the repository {repo['url']} has uncommitted "
                        "changes; commit or stash them, or drop --sacred-enforce-clean")

    # -- after the runs -------------------------------------------------------------------------

    def summary_row(self, item: pytest.Item, run: Any) -> dict:
        """The run's line in the session's summary table."""
        from .summary import row

        callspec = getattr(item, "callspec", None)
        errors = [e.describe() for e in self.events.errors if e.run_id == run._id]
        entry = row(run, callspec.id if callspec else "", self.stored_in(run), errors)
        entry["vs"] = self.regression.cell(item.nodeid)  # regression checks (c)
        return entry

    def stored_in(self, run: Any) -> list[str]:
        """Where the run is stored, by the observers that took it."""
        return [_short(o.location(run._id)) for o in self.observers if id(o) not in run._dropped]

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        self.regression.finish()  # regression checks (d)
        for observer in self.observers:
            try:
                observer.close()
            except Exception as exc:  # closing must not hide the session's outcome
                self.events.errors.append(ObserverError(
                    observer.name, "close", None, f"{type(exc).__name__}: {exc}", ""))


def _short(location: str) -> str:
    """Paths under the current directory are shown relative to it."""
    if os.path.isabs(location):
        relative = os.path.relpath(location)
        if not relative.startswith(".."):
            return relative
    return location
