"""The ``--sacred-print-*`` and ``--sacred-save-config`` commands: they report, nothing runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .keys import SPEC_KEY
from .resolve import RunSpec, visible_named_configs
from .serialize import flatten


def _spec(item: pytest.Item) -> RunSpec:
    return item.stash[SPEC_KEY]


def print_config(items: list[pytest.Item], write: Callable[..., None]) -> None:
    """Each run's config, sorted, with the entries' docs; modified entries are marked."""
    for item in items:
        spec = _spec(item)
        write(f"{item.nodeid} (experiment {spec.experiment})", bold=True)
        width = max(len(k) for k in spec.config)
        for key, value in sorted(spec.config.items()):
            notes = []
            changed = sorted(k for k in spec.modified if k == key or k.startswith(key + "."))
            if key in spec.swept:
                notes.append("parametrized")
            elif changed:
                notes.append("modified" if changed == [key] else "modified: " + ", ".join(changed))
            entry = spec.entries.get(key)
            doc = entry.doc if entry is not None else (
                "the random seed for this experiment" if key == "seed" else None)
            line = f"  {key:<{width}} = {value!r}"
            if doc:
                line += f"  # {doc}"
            if notes:
                line += f"  ({'; '.join(notes)})"
            write(line, blue=bool(changed and key not in spec.swept))
        write("")


def save_config(items: list[pytest.Item], path: str) -> str:
    """Write the one selected run's config (its parametrized entries aside) as JSON/YAML."""
    if len(items) != 1:
        raise pytest.UsageError(
            f"--sacred-save-config {path}: {len(items)} experiment variants are selected; "
            "select exactly one (-k or a node id) to save its config")
    spec = _spec(items[0])
    data = {k: v for k, v in spec.config.items() if k not in spec.swept}
    target = Path(path)
    if target.suffix.lower() in (".yaml", ".yml"):
        from .extras import require

        yaml = require("yaml", "yaml", f"--sacred-save-config {path}")

        text = yaml.safe_dump(flatten(data), sort_keys=True)
    elif target.suffix.lower() == ".json":
        text = json.dumps(flatten(data), sort_keys=True, indent=2)
    else:
        raise pytest.UsageError(f"--sacred-save-config {path}: use a .json or .yaml file name")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(
            f"--sacred-save-config {path}: cannot write it ({exc.strerror})") from exc
    return f"saved the config of {items[0].nodeid} to {path}"


def print_named_configs(items: list[pytest.Item], write: Callable[..., None]) -> None:
    """Named configs visible to the selected experiments, with their docstrings."""
    seen: dict[str, str | None] = {}
    for item in items:
        for name, named in visible_named_configs(item).items():
            seen.setdefault(f"{name}  ({named.path})", named.doc)
    write("named configs:", bold=True)
    for label, doc in sorted(seen.items()):
        write(f"  {label}" + (f"  # {doc}" if doc else ""))
    if not seen:
        write("  (none)")


def print_dependencies(infos: list[dict[str, Any]], write: Callable[..., None]) -> None:
    """Per experiment: the packages, the sources with md5, the repositories (M = dirty)."""
    for info in infos:
        write(f"experiment {info['name']} ({info['mainfile']})", bold=True)
        write("  dependencies:")
        for dep in info["dependencies"]:
            write(f"    {dep}")
        write("  sources:")
        for name, md5 in info["sources"]:
            write(f"    {name:<40} {md5}")
        write("  repositories:")
        for repo in info["repositories"]:
            write(f"    {'M' if repo['dirty'] else ' '} {repo['url']} {repo['commit']}")
        write("")


def run(state: Any, write: Callable[..., None]) -> None:
    """Carry out the commands the session's options name (``state``: the SacredSession)."""
    options = state.options
    if options.print_config:
        print_config(state.experiments, write)
    if options.print_named_configs:
        print_named_configs(state.experiments, write)
    if options.print_dependencies:
        infos = {id(i.module): state.runner.experiment_info(i, i.stash[SPEC_KEY].experiment)
                 for i in state.experiments}
        print_dependencies(list(infos.values()), write)
    if options.save_config:
        write(save_config(state.experiments, options.save_config))
