"""The runner's record of one run: what the user's :class:`~.run.Run` shows, and the
bookkeeping behind it that only the runner touches."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .metrics import MetricsBuffer
from .payloads import ExperimentInfo, HostInfo, MetaInfo

#: ``emit(hook, **kwargs)``: sends one event of this run to its observers
Emit = Callable[..., None]


@dataclass(eq=False)
class RunRecord:
    config: dict[str, Any]
    seed: int
    experiment_info: ExperimentInfo
    host_info: HostInfo
    meta_info: MetaInfo
    emit: Emit
    #: the test function as collected, for tracebacks starting at its frame
    function: Callable[..., Any] | None = None
    run_id: int | None = None
    status: str | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    result: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    captured_out: str = ""
    metrics: MetricsBuffer = field(default_factory=MetricsBuffer)
    #: files added with ``add_artifact``: not added again from ``tmp_path``
    artifact_paths: set[str] = field(default_factory=set)
    #: the names those files are stored under: a ``tmp_path`` file does not take one
    artifact_names: set[str] = field(default_factory=set)
    #: events of a run never interleave (the heartbeat thread and the test both send)
    lock: threading.RLock = field(default_factory=threading.RLock)
    finished: bool = False
    #: observers (by id) that failed to start this run and get none of its events
    dropped: set[int] = field(default_factory=set)
    #: events raised before the run started, delivered right after started_event
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: captured output of phases already over (setup), as pytest's report sections
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    #: entries already warned about as stored by their ``repr`` (once per run and entry)
    warned: set[str] = field(default_factory=set)
    #: those warnings that ``-W error`` made exceptions: raised once the run has ended
    unsaid: list[str] = field(default_factory=list)
    #: the stored run this one continues (``--sacred-resume``), else ``None``
    resumption: Any = None
    #: the captured output stored before a resume: this run's output goes on after it
    output_before: str = ""
    #: the run's ``tmp_path / "checkpoint"`` (a :class:`~.resume.Checkpoint`), when it
    #: has a ``tmp_path``
    checkpoint: Any = None

    def storable(self, value: Any, entry: str) -> Any:
        """``value`` (the run's ``entry``: ``"result"``, ``"info"``, an artifact's
        metadata) as every store can take it (:func:`~.serialize.normalize`): what neither
        JSON nor jsonpickle stores becomes its ``repr``, with an
        :class:`~.serialize.UnstorableValueWarning` naming the part, once per run. Called
        where the run's events are made, so that every store and the spill file get the
        same value and the warning reaches the test's own warnings."""
        import warnings

        from .serialize import Replacement, UnstorableValueWarning, storable

        code = getattr(self.function, "__code__", None)

        def warn(replacement: Replacement) -> None:
            if replacement.entry in self.warned:
                return
            self.warned.add(replacement.entry)
            try:
                if code is None:
                    warnings.warn(replacement.message(), UnstorableValueWarning, stacklevel=4)
                else:  # shown at the experiment's function, not at the plugin's line
                    warnings.warn_explicit(replacement.message(), UnstorableValueWarning,
                                           code.co_filename, code.co_firstlineno)
            except UnstorableValueWarning as exc:  # -W error: the run must still end
                self.unsaid.append(str(exc))

        # a snapshot: the user (and the test body, while a periodic beat is made) may
        # change info after this; what was checked is what the stores get
        return storable(value, entry, warn, fresh=True)
