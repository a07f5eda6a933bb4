"""``--sacred-resume ID…``: continue stored runs under their own ids.

A resumable run (INTERRUPTED, TIMEOUT, FAILED, or RUNNING and silent for longer than the
readers' DIED? limit) runs its experiment variant again, found by its stored node id
(``meta.pytest.nodeid``), with its stored config and seed. Before anything runs, the
session claims it in its store with one atomic compare-and-set of its status (the
writer's ``claim_resume``): of two sessions resuming one run, one wins and the other
stops with a usage error. The run then gets ``pytest_sacred_resumed_event`` instead of
``started_event``: status RUNNING again, ``meta.resumed`` one entry longer (holding the
``fail_trace`` of a FAILED attempt, which leaves the run's top level), everything else
stored kept. Its metrics go on after their last stored step, its captured output and
info go on from the stored ones, and the stored ``checkpoint/…`` artifacts are put back
in ``tmp_path / "checkpoint"`` before the body runs (:class:`Checkpoint` stores that
directory with each heartbeat).

:func:`resume` is the whole of it for one run and one item, for callers that know which
run to continue without the option (a requeued Slurm task).
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: statuses a run can be resumed from, as the readers show them
RESUMABLE = ("INTERRUPTED", "TIMEOUT", "FAILED", "DIED?")
#: what the stores' claim compares with: a DIED? run is RUNNING in the store
CLAIMABLE = ("INTERRUPTED", "TIMEOUT", "FAILED")
#: the run's checkpoint directory under its ``tmp_path``, and its artifacts' prefix
CHECKPOINT = "checkpoint"
OPTION = "--sacred-resume"


class ResumeWarning(pytest.PytestWarning):
    """Something of a resumed run that cannot go on as asked (a metric point logged again
    at a stored step, an observer that cannot express a resume)."""


@dataclass
class Resumption:
    """What a resumed run takes from its stored self; kept in the item's stash."""

    run_id: int
    #: the reader's name of the store the run is continued in
    store: str
    #: the status the claim found: INTERRUPTED, TIMEOUT, FAILED or DIED?
    from_status: str
    config: dict[str, Any]
    meta: dict[str, Any]
    info: dict[str, Any]
    captured_out: str
    #: each stored metric's last step: later points go on after it
    last_steps: dict[str, int]
    #: the stored ``checkpoint/…`` artifact names
    checkpoint: list[str] = field(default_factory=list)
    #: the run as the reader gave it
    stored: Any = None
    #: the trace its earlier attempt failed with (or an earlier one's, still on the run):
    #: moved into this resumption's ``meta.resumed`` entry, off the run's top level
    fail_trace: list[str] | None = None

    @property
    def earlier(self) -> list[dict[str, Any]]:
        """The stored ``meta.resumed`` entries (earlier resumptions)."""
        return list(self.meta.get("resumed") or [])


def writer_of(observers: list[Any], store: str) -> Any:
    """The session's observer writing ``store`` (the claim and the events go there)."""
    from .stores.registry import reader_store

    for observer in observers:
        if reader_store(observer) == store:
            return observer
    raise pytest.UsageError(f"{OPTION}: no store of this session writes {store!r}")


def store_for(observers: list[Any], option: str = OPTION) -> tuple[str, Any]:
    """The session's store that runs are resumed in (its reader's name) and its writer; a
    usage error naming ``option`` when there is none or it cannot claim runs."""
    from .rerun import store_of

    store = store_of(observers, option)
    observer = writer_of(observers, store)
    if not callable(getattr(observer, "claim_resume", None)):
        raise pytest.UsageError(f"{option}: the {observer.name} store cannot resume runs")
    return store, observer


def check_resumable(stored: Any, store: str) -> str:
    """The run's shown status when it can be resumed; else a usage error saying what to do."""
    from .readers.status import shown_status

    status = shown_status(stored)
    if status == "COMPLETED":
        raise pytest.UsageError(
            f"{OPTION} {stored.id}: run {stored.id} in {store!r} is COMPLETED, there is nothing "
            f"to continue; run it again as a new run with --sacred-rerun {stored.id}")
    if status not in RESUMABLE:
        why = {"RUNNING": "it is running (its heartbeat is recent)",
               "QUEUED": "it is queued: a --sacred-run-queued worker runs it"}.get(
                   status, f"it is {status}")
        raise pytest.UsageError(f"{OPTION} {stored.id}: run {stored.id} in {store!r} cannot be "
                                f"resumed: {why}; only {', '.join(RESUMABLE)} runs can")
    return status


def load(run_id: int, store: str) -> Resumption:
    """The stored run as a :class:`Resumption`, checked resumable (nothing claimed yet)."""
    from . import rerun
    from .readers import open_reader

    stored = rerun.load(run_id, store, OPTION)
    status = check_resumable(stored, store)
    with open_reader(store) as reader:
        metrics = reader.metrics(run_id)
        if stored.captured_out is None:  # lazily read by some readers
            stored = reader.get_run(run_id)
    last = {name: max(m.steps) for name, m in metrics.items() if m.steps}
    return Resumption(
        run_id=run_id, store=store, from_status=status, config=dict(stored.config),
        meta=dict(stored.meta), info=dict(stored.info or {}),
        captured_out=stored.captured_out or "", last_steps=last,
        checkpoint=[a for a in stored.artifacts if a.startswith(CHECKPOINT + "/")],
        stored=stored, fail_trace=list(stored.fail_trace) if stored.fail_trace else None)


def claim(observer: Any, resumption: Resumption) -> None:
    """Take the run for this session in its store, atomically: RUNNING again with a fresh
    heartbeat, if its status is still what the readers showed resumable. A usage error
    when another session was first (or the store cannot claim)."""
    from .clock import utcnow
    from .readers.status import SILENT_LIMIT
    from .stores.base import StoreError

    take = getattr(observer, "claim_resume", None)
    if not callable(take):
        raise pytest.UsageError(f"{OPTION} {resumption.run_id}: the {observer.name} store "
                                "cannot resume runs")
    try:
        found = take(resumption.run_id, CLAIMABLE, utcnow() - SILENT_LIMIT)
    except StoreError as exc:
        raise pytest.UsageError(f"{OPTION} {resumption.run_id}: {exc}") from None
    if found is None:
        raise pytest.UsageError(
            f"{OPTION} {resumption.run_id}: run {resumption.run_id} in {resumption.store!r} "
            "was claimed by another session meanwhile (or it changed); it is not resumed twice")
    resumption.from_status = "DIED?" if found == "RUNNING" else found


def resume(item: pytest.Item, run_id: int, observer: Any, store: str | None = None) -> Resumption:
    """Make ``item``'s next run continue stored run ``run_id`` of ``observer``'s store:
    load and check it, claim it, and give the item its config, seed and id. ``item`` must
    be the run's variant (see :func:`pytest_sacred.rerun.variant`)."""
    from .stores.registry import reader_store

    store = store or reader_store(observer)
    if store is None:
        raise pytest.UsageError(f"{OPTION} {run_id}: the {observer.name} store cannot be read "
                                "back, so its runs cannot be resumed")
    resumption = load(run_id, store)
    claim(observer, resumption)
    apply(item, resumption)
    return resumption


def apply(item: pytest.Item, resumption: Resumption) -> None:
    """The item's next run is ``resumption``'s run (its config, seed and id)."""
    from .keys import RESUME_KEY
    from .launchers.queued_runs import replay

    replay(item, resumption.config, resumption.run_id, {})
    item.stash[RESUME_KEY] = resumption


def select(config: pytest.Config, items: list[pytest.Item], observers: list[Any],
           ids: tuple[int, ...]) -> list[tuple[pytest.Item, Resumption]]:
    """``--sacred-resume``, at collection: the runs' variants kept in ``items``, each run
    loaded and checked (claimed later, by :func:`claim_all`, once the session is checked)."""
    from .rerun import keep_only, store_of, variant

    store = store_of(observers, OPTION)
    chosen: list[tuple[pytest.Item, Resumption]] = []
    for run_id in ids:
        resumption = load(run_id, store)
        item = variant(items, resumption.stored, store, OPTION)
        same = [r.run_id for i, r in chosen if i is item]
        if same:
            raise pytest.UsageError(
                f"{OPTION}: runs {same[0]} and {run_id} are runs of the same variant "
                f"{item.nodeid}, which runs once per session; resume them in two sessions")
        chosen.append((item, resumption))
    keep_only(config, items, [i for i, _ in chosen])
    return chosen


def claim_all(observers: list[Any], chosen: list[tuple[pytest.Item, Resumption]]) -> None:
    """Claim each selected run and set up its item (after the session's checks)."""
    for item, resumption in chosen:
        claim(writer_of(observers, resumption.store), resumption)
        apply(item, resumption)


# -- the run ---------------------------------------------------------------------------------


def restore_checkpoint(resumption: Resumption, directory: Path) -> list[Path]:
    """Write the stored ``checkpoint/…`` artifacts into ``directory`` (read through the
    store's reader); returns the files written."""
    from .names import artifact_name
    from .readers import open_reader

    written: list[Path] = []
    if not resumption.checkpoint:
        return written
    with open_reader(resumption.store) as reader:
        for name in resumption.checkpoint:
            relative = artifact_name(name)[len(CHECKPOINT) + 1:]
            target = directory.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            source = reader.artifact_path(resumption.run_id, name)
            if source is not None:
                import shutil

                shutil.copyfile(source, target)
            else:
                target.write_bytes(reader.artifact(resumption.run_id, name))
            written.append(target)
    return written


class Checkpoint:
    """A run's ``tmp_path / "checkpoint"``: which of its files changed since they were last
    sent to the stores (as ``checkpoint/<relative path>`` artifacts).

    A file is compared by its modification time and size: checkpoints are written whole
    (write a temporary file, then rename it over the old one, so that a beat never sends
    half of one). What a beat sends is a snapshot in ``staging`` (a hard link, else a copy,
    made when the beat lists the file): a store that writes it later still gets the file
    as it was, although the test goes on replacing it, and a file that is gone by the time
    it is linked (the temporary file of such a rename) is no part of the checkpoint.
    """

    def __init__(self, directory: Path, staging: Path) -> None:
        self.directory = directory
        self.staging = staging
        self._sent: dict[str, tuple[int, int]] = {}
        self._snapshots = 0

    def _files(self) -> dict[str, tuple[str, tuple[int, int]]]:
        from .names import ArtifactNameError, artifact_name

        found: dict[str, tuple[str, tuple[int, int]]] = {}
        if not self.directory.is_dir():
            return found
        base = str(self.directory)
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for entry in sorted(files):
                path = os.path.join(folder, entry)
                try:
                    stat = os.stat(path)
                except OSError:  # removed while listed
                    continue
                name = CHECKPOINT + "/" + Path(os.path.relpath(path, base)).as_posix()
                try:
                    if artifact_name(name) != name:
                        continue  # not a name as it stands: the end of the run renames it
                except ArtifactNameError:
                    continue
                found[name] = (path, (stat.st_mtime_ns, stat.st_size))
        return found

    def mark_sent(self) -> None:
        """Everything in the directory now counts as stored (restored files)."""
        self._sent = {name: key for name, (_, key) in self._files().items()}

    def changed(self) -> list[tuple[str, str]]:
        """``(artifact name, snapshot path)`` of the files new or changed since the last
        call; a file removed before its snapshot is made is left out."""
        out = []
        for name, (path, key) in self._files().items():
            if self._sent.get(name) != key:
                snapshot = self._snapshot(path)
                if snapshot is not None:
                    self._sent[name] = key
                    out.append((name, snapshot))
        return out

    def _snapshot(self, path: str) -> str | None:
        self._snapshots += 1
        target = self.staging / str(self._snapshots) / os.path.basename(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                os.link(path, target)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                shutil.copy2(path, target)  # another filesystem, or no hard links there
        except FileNotFoundError:  # renamed or removed since it was listed
            return None
        return str(target)

    def unchanged_paths(self) -> set[str]:
        """Absolute paths of the files stored as they are now: the end of the run skips them."""
        return {os.path.abspath(path) for name, (path, key) in self._files().items()
                if self._sent.get(name) == key}


def warn_repeated(names: list[str]) -> None:
    """Said once per metric: points logged at a step the stored run already has."""
    for name in names:
        warnings.warn(ResumeWarning(
            f"metric {name!r}: points logged at steps the resumed run already stored (at or "
            "before its last stored step) were not stored again; a resumed run's points go on "
            "after the last stored step"), stacklevel=2)


def command(store: str, run_id: int) -> str:
    """The pytest command line that resumes ``run_id`` of ``store`` (``pytest-sacred
    resume``): its store option, and its node id so that only its test file is collected."""
    import shlex

    from .readers import open_reader
    from .stores.registry import kind_of

    with open_reader(store) as reader:
        stored = reader.get_run(run_id)
    check_resumable(stored, store)
    kind = kind_of(store)
    nodeid = (stored.meta.get("pytest") or {}).get("nodeid")
    parts = ["pytest"]
    if nodeid:
        parts.append(nodeid.split("::")[0])
    parts += [kind.options[0].partition("=")[0], store]
    parts += [OPTION, str(run_id)]
    return " ".join(shlex.quote(p) for p in parts)


def restore(record: Any, item: pytest.Item) -> None:
    """Before a resumed run's body: its stored checkpoint back in ``tmp_path /
    "checkpoint"`` (counted as stored, so that the next beat does not send it again). A
    test without ``tmp_path`` cannot get it: said in a warning."""
    resumption: Resumption = record.resumption
    if record.checkpoint is None:
        if resumption.checkpoint:
            item.warn(ResumeWarning(
                f"{OPTION} {resumption.run_id}: the stored run has a checkpoint "
                f"({len(resumption.checkpoint)} file(s) under checkpoint/), but "
                f"{item.nodeid} does not use the tmp_path fixture to receive it"))
        return
    restore_checkpoint(resumption, record.checkpoint.directory)
    record.checkpoint.mark_sent()
