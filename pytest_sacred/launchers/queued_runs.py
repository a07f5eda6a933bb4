"""Queued runs that really run: workers claim them from the store, one at a time.

``--sacred-queue`` stores each selected variant as a QUEUED run (config, seed, experiment
and the node id in ``meta.pytest.nodeid``). ``--sacred-run-queued`` makes a session a
worker: it collects the experiments, then claims QUEUED runs of the collected node ids
atomically (QUEUED -> RUNNING in one store operation, so a run is never run twice, whatever
the number of workers), runs each with its stored config and seed under its stored id,
and stops when the queue is empty (after ``--sacred-worker-idle`` seconds without one).

A store supports the queue when its observer has ``claim_queued`` and ``requeue``
(MongoDB and SQL: the kinds the registry of store kinds marks ``queue``).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass(frozen=True)
class Replay:
    """What a variant takes from a stored run instead of resolving its own."""

    run_id: int | None
    meta: dict[str, Any] = field(default_factory=dict)


def queue_store(observers: list[Any], what: str) -> Any:
    """The session's store that holds a queue; a usage error naming the stores if none."""
    for observer in observers:
        if callable(getattr(observer, "claim_queued", None)):
            return observer
    from ..stores.registry import queue_kinds

    names = ", ".join(getattr(o, "name", type(o).__name__) for o in observers) or "none"
    kinds = ", or ".join(f"{k.title}: {k.options[0]}" for k in queue_kinds())
    raise pytest.UsageError(f"{what} needs a store with a queue ({kinds}); "
                            f"this session's stores ({names}) have none")


def check_queueing(observers: list[Any]) -> None:
    """``--sacred-queue`` needs a store to record in; one no worker can claim from is
    worth a warning (the runs would wait for ever)."""
    if not observers:
        raise pytest.UsageError("--sacred-queue records runs in a store, but "
                                "--sacred-unobserved stores nothing; drop one of them")
    if not any(callable(getattr(o, "claim_queued", None)) for o in observers):
        import warnings

        from ..stores.registry import queue_kinds

        kinds = " or ".join(f"{k.title} ({k.options[0].partition('=')[0]})"
                            for k in queue_kinds())
        warnings.warn(pytest.PytestWarning(
            "--sacred-queue: the runs are recorded QUEUED, but no --sacred-run-queued worker "
            "can claim them from this session's stores "
            f"({', '.join(getattr(o, 'name', type(o).__name__) for o in observers)}); "
            f"queue in {kinds} for workers"), stacklevel=1)


def replay(item: pytest.Item, config: dict[str, Any], run_id: int | None,
           meta: dict[str, Any]) -> None:
    """Make ``item``'s next run use a stored ``config`` (and its seed) and ``run_id``."""
    from ..keys import REPLAY_KEY, SPEC_KEY

    spec = item.stash[SPEC_KEY]
    seed = config.get("seed", spec.seed)
    item.stash[SPEC_KEY] = dataclasses.replace(spec, config=dict(config), seed=seed)
    item.stash[REPLAY_KEY] = Replay(run_id, meta)


def requeue_dead(store: Any) -> list[int]:
    """Put the runs shown DIED? (RUNNING, silent for longer than the readers' limit) back
    in the queue."""
    from ..clock import utcnow
    from ..readers.status import SILENT_LIMIT

    ids = store.running_before(utcnow() - SILENT_LIMIT)
    return [run_id for run_id in ids if store.requeue(run_id, ("RUNNING",))]


def work(session: pytest.Session, idle: float, requeue: bool) -> None:
    """The worker's test loop: claim, run, repeat until the queue stays empty."""
    from .. import compat
    from ..keys import STATE

    state = session.config.stash[STATE]
    store = queue_store(state.observers, "--sacred-run-queued")
    items = {item.nodeid: item for item in state.experiments}
    write = session.config.get_terminal_writer().line
    if requeue:
        ids = requeue_dead(store)
        write(f"pytest-sacred: requeued dead run(s) {', '.join(map(str, ids)) or '(none)'}")
    worker = {**state.runner.host_info(), "worker": f"{socket.gethostname()}:{os.getpid()}"}
    last_claim = time.monotonic()
    ran = 0
    while not (session.shouldfail or session.shouldstop):
        doc = store.claim_queued(list(items), worker)
        if doc is None:
            waited = time.monotonic() - last_claim
            if waited >= idle:
                break
            time.sleep(min(1.0, idle - waited))
            continue
        item = items[doc["meta"]["pytest"]["nodeid"]]
        meta = {k: doc["meta"][k] for k in ("queue_time", "comment", "priority")
                if k in doc["meta"]}
        replay(item, doc["config"], doc["_id"], meta)
        compat.reset_item(item)
        item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
        ran += 1
        last_claim = time.monotonic()
    write(f"pytest-sacred: worker ran {ran} queued run(s); none left")


#: what ``pytest-sacred requeue`` puts back in the queue, by shown status (DIED?: RUNNING
#: without a heartbeat; a RUNNING run that still beats may be running: never twice)
REQUEUABLE = ("DIED?", "FAILED", "INTERRUPTED", "TIMEOUT")


def open_queue(store: str) -> Any:
    """The writable observer of a store with a queue (MongoDB or SQL), opened."""
    from ..readers import StoreUnreadable
    from ..stores.base import StoreError
    from ..stores.registry import kind_of, queue_kinds

    kind = kind_of(store)
    if not kind.queue:
        having = " and ".join(k.title for k in queue_kinds())
        raise StoreUnreadable(f"{store!r} is a {kind.name} store, which has no queue: requeue "
                              f"works on {having} stores")
    observer = kind.open_writer(store)
    try:
        observer.open()
    except StoreError as exc:
        raise StoreUnreadable(str(exc)) from None
    return observer


def requeue_runs(store: str, ids: list[int]) -> list[str]:
    """Put runs back in the queue for the next worker; one line per run. Raises
    ``NoSuchRun`` or ``ValueError`` (a run that is not requeuable) before changing any."""
    from ..readers import open_reader
    from ..readers.status import shown_status

    with open_reader(store) as reader:
        shown = {run_id: shown_status(reader.get_run(run_id)) for run_id in ids}
    refused = {i: s for i, s in shown.items() if s not in REQUEUABLE}
    if refused:
        raise ValueError("; ".join(f"run {i} is {s}" for i, s in refused.items())
                         + f": only runs shown {', '.join(REQUEUABLE)} can be requeued")
    observer = open_queue(store)
    try:
        statuses = ("RUNNING", "FAILED", "INTERRUPTED", "TIMEOUT")
        return [f"run {i} ({shown[i]}) queued again" if observer.requeue(i, statuses)
                else f"run {i} changed meanwhile; left as it is" for i in ids]
    finally:
        observer.close()
