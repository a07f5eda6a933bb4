"""The ``Run`` object a test receives as ``sacred_run`` (alias ``_run``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from .metrics import log_point
from .names import artifact_name
from .payloads import ExperimentInfo, HostInfo, MetaInfo
from .record import RunRecord


class Run:
    """One execution of one experiment variant, as Sacred's ``_run`` shows it.

    ``info`` and ``result`` are the user's to change; everything else is read-only here
    and kept up to date by pytest-sacred.
    """

    __slots__ = ("_record", "config", "_series")

    #: ``log_scalar(name, value, step=None)``: record a metric value; ``step`` defaults to
    #: the previous step of ``name`` + 1. Delivered with the next heartbeat. The buffer's
    #: own function over the buffer's series (``_series``): one call on the hottest path,
    #: and a method the interpreter's call-site caches keep.
    log_scalar = log_point

    def __init__(self, record: RunRecord) -> None:
        self._record = record
        self.config: Mapping[str, Any] = MappingProxyType(record.config)
        self._series = record.metrics.series

    @property
    def _id(self) -> int | None:
        """The run's id in the stores (``None`` until it starts, or when unobserved)."""
        return self._record.run_id

    @property
    def info(self) -> dict[str, Any]:
        """Free-form data stored with every heartbeat."""
        return self._record.info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        # Sacred's run.info is a plain attribute: replacing it works there too
        __tracebackhide__ = True
        if not isinstance(value, dict):
            raise TypeError(f"sacred_run.info must be a dict (stored as the run's info.json / "
                            f"info field), got {type(value).__name__}; assign a dict, or set "
                            f"a key: sacred_run.info['key'] = value")
        self._record.info = value

    @property
    def result(self) -> Any:
        """The run's result: the test's return value unless set here."""
        return self._record.result

    @result.setter
    def result(self, value: Any) -> None:
        self._record.result = value

    @property
    def experiment_info(self) -> ExperimentInfo:
        return self._record.experiment_info

    @property
    def host_info(self) -> HostInfo:
        return self._record.host_info

    @property
    def meta_info(self) -> MetaInfo:
        return self._record.meta_info

    @property
    def start_time(self) -> datetime | None:
        return self._record.start_time

    @property
    def stop_time(self) -> datetime | None:
        """When the run ended (``None`` while it runs), as in Sacred's ``_run``."""
        return self._record.stop_time

    @property
    def status(self) -> str | None:
        return self._record.status

    @property
    def resumed(self) -> int:
        """How many times the run was resumed so far (``--sacred-resume``): 0 on its first
        start, 1 in its first resumption... (the length of ``meta.resumed``)."""
        return len(self._record.meta_info.get("resumed") or [])

    def add_artifact(
        self,
        filename: str | os.PathLike[str],
        name: str | os.PathLike[str] | None = None,
        metadata: dict[str, Any] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Keep a file with the run, under ``name`` (default: its basename).

        The name is checked here, by the rule every store applies
        (:func:`~.names.artifact_name`), so that a name no store can keep fails this call
        (and the run) with a ``ValueError`` naming it, instead of the store refusing it
        after the run; it is stored normalised (``"a/./b"`` as ``"a/b"``).
        """
        __tracebackhide__ = True
        path = _existing_file(filename, "artifact")
        if isinstance(name, os.PathLike):
            name = os.fspath(name)  # Path("plots") / "loss.png" names as "plots/loss.png" does
        stored = artifact_name(os.path.basename(path) if name is None else name)
        self._record.artifact_paths.add(path)
        self._record.artifact_names.add(stored)
        self._record.emit("pytest_sacred_artifact_event", name=stored, filename=path,
                          metadata=self._record.storable(metadata,
                                                         f"artifact {stored!r} metadata"),
                          content_type=content_type)

    def add_resource(self, filename: str | os.PathLike[str]) -> None:
        """Record that the run read ``filename`` (stored once per content)."""
        __tracebackhide__ = True
        self._record.emit("pytest_sacred_resource_event",
                          filename=_existing_file(filename, "resource"))

    def open_resource(self, filename: str | os.PathLike[str], mode: str = "r") -> IO[Any]:
        """Open a file for reading and record it as a resource of the run.

        A mode that writes (``w``, ``a``, ``x``, ``+``) is refused: the resource is stored
        as the run read it, and writing would change the file after it was recorded.
        """
        __tracebackhide__ = True
        if set(mode) & set("wax+"):
            raise ValueError(f"open_resource({str(filename)!r}, mode={mode!r}): a resource is "
                             "a file the run reads; open it with 'r' or 'rb', and keep files "
                             "the run writes with add_artifact")
        self.add_resource(filename)
        return open(filename, mode)

    def __repr__(self) -> str:
        return f"<Run {self._id} {self.experiment_info.get('name')!r} {self.status}>"


def _existing_file(filename: str | os.PathLike[str], kind: str) -> str:
    __tracebackhide__ = True
    path = Path(filename).absolute()
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"{kind} {str(filename)!r} is {what} ({path}); "
                                f"pass the path of an existing file")
    return str(path)
