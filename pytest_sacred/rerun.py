"""``--sacred-rerun ID``: run a stored run's experiment again with its stored config and seed.

The run is found through the readers (any readable store), its experiment by the node id
stored in ``meta.pytest.nodeid``. The new run is an ordinary run (new id, the session's
stores) with ``meta.rerun_of = ID``; what differs from the stored run's code (sources'
md5s, dependency versions, git commits) is listed in a warning, since it can change the
result.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

_MD5 = re.compile(r"[0-9a-f]{32}")


def store_of(observers: list[Any], option: str = "--sacred-rerun") -> str:
    """How to name the session's first store to :func:`~pytest_sacred.readers.open_reader`."""
    from .stores.registry import reader_store

    for observer in observers:
        store = reader_store(observer)
        if store is not None:
            return store
    hint = "; give --sacred-rerun-from STORE" if option == "--sacred-rerun" else \
        " (it continues a run in the store that holds it): drop --sacred-unobserved"
    raise pytest.UsageError(f"{option}: the session has no store to read the run from{hint}")


def load(run_id: int, store: str, option: str = "--sacred-rerun") -> Any:
    """The stored run; a usage error (naming ``option``) when the store or the run cannot
    be read."""
    from .readers import NoSuchRun, StoreUnreadable, open_reader

    try:
        with open_reader(store) as reader:
            stored = reader.get_run(run_id)
            md5s = getattr(reader, "source_md5s", None)  # stores that keep no md5 in the run
            if md5s is not None:
                found = md5s(stored)
                stored.experiment = {**stored.experiment, "sources": [
                    [name, found.get(name, "")]
                    for name, _ in stored.experiment.get("sources", [])]}
            return stored
    except NoSuchRun:
        raise pytest.UsageError(f"{option} {run_id}: the store {store!r} has no run "
                                f"{run_id}") from None
    except StoreUnreadable as exc:
        raise pytest.UsageError(f"{option} {run_id}: {exc}") from None
    except ImportError as exc:
        raise pytest.UsageError(f"{option} {run_id}: cannot read {store!r} ({exc})") from None


def select(config: pytest.Config, items: list[pytest.Item], observers: list[Any], run_id: int,
           rerun_from: str | None) -> Any:
    """Keep only the stored run's variant in ``items``; returns the stored run."""
    store = rerun_from or store_of(observers)
    stored = load(run_id, store)
    keep_only(config, items, [variant(items, stored, store)])
    return stored


def variant(items: list[pytest.Item], stored: Any, store: str,
            option: str = "--sacred-rerun") -> pytest.Item:
    """The collected item of the stored run's experiment variant (its ``meta.pytest.nodeid``);
    a usage error naming ``option`` when the run has none or it is not collected."""
    nodeid = (stored.meta.get("pytest") or {}).get("nodeid")
    if not nodeid:
        raise pytest.UsageError(f"{option} {stored.id}: run {stored.id} in {store!r} has no "
                                "meta.pytest.nodeid (it was not recorded by pytest-sacred)")
    for item in items:
        if item.nodeid == nodeid:
            return item
    raise pytest.UsageError(f"{option} {stored.id}: its experiment {nodeid} is not "
                            "collected here; run from the same rootdir, with its test file "
                            "on the command line or in testpaths")


def keep_only(config: pytest.Config, items: list[pytest.Item], keep: list[pytest.Item]) -> None:
    """Deselect every item but ``keep`` (as pytest's ``-k`` would), in collection order."""
    others = [item for item in items if item not in keep]
    if others:
        config.hook.pytest_deselected(items=others)
    items[:] = [item for item in items if item in keep]


def _source_md5s(sources: list[Any] | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for entry in sources or []:
        name, value = entry[0], str(entry[1]) if len(entry) > 1 else ""
        match = _MD5.search(value)
        found[name] = match.group(0) if match else None
    return found


def differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed in the code since the stored run, one line per difference."""
    lines = []
    old, new = _source_md5s(stored.get("sources")), _source_md5s(current.get("sources"))
    for name in sorted(set(old) | set(new)):
        if name not in new:
            lines.append(f"source {name}: no longer used")
        elif name not in old:
            lines.append(f"source {name}: new")
        elif old[name] is not None and old[name] != new[name]:
            lines.append(f"source {name}: md5 {old[name]} -> {new[name]}")
    def versions(deps: list[str] | None) -> dict[str, str]:
        return dict(d.partition("==")[::2] for d in deps or [])

    old_deps, new_deps = versions(stored.get("dependencies")), versions(current.get("dependencies"))
    for name in sorted(set(old_deps) | set(new_deps)):
        if old_deps.get(name) != new_deps.get(name):
            lines.append(f"dependency {name}: {old_deps.get(name, '(none)')} -> "
                         f"{new_deps.get(name, '(none)')}")
    def commits(repos: list[dict[str, Any]] | None) -> dict[Any, tuple[Any, Any]]:
        return {r.get("url"): (r.get("commit"), r.get("dirty")) for r in repos or []}

    old_repos, new_repos = commits(stored.get("repositories")), commits(current.get("repositories"))
    for url in sorted(set(old_repos) | set(new_repos), key=str):
        if old_repos.get(url) != new_repos.get(url):
            before, after = old_repos.get(url, (None, None)), new_repos.get(url, (None, None))
            lines.append(f"repository {url}: commit {before[0]}{' (dirty)' if before[1] else ''}"
                         f" -> {after[0]}{' (dirty)' if after[1] else ''}")
    return lines


def apply(item: pytest.Item, stored: Any, runner: Any) -> None:
    """The variant runs with the stored config and seed; warn about changed code."""
    from .keys import SPEC_KEY
    from .launchers.queued_runs import replay

    replay(item, stored.config, None, {"rerun_of": stored.id})
    current = runner.experiment_info(item, item.stash[SPEC_KEY].experiment)
    changed = differences(stored.experiment, current)
    if changed:
        item.warn(pytest.PytestWarning(
            f"--sacred-rerun {stored.id}: the code differs from the stored run's, so the "
            "result may differ:\n  " + "\n  ".join(changed)))
