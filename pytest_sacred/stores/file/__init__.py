"""Sacred's FileStorage layout in a directory: the writer (:mod:`.writer`), the text of its
files (:mod:`.layout`, shared with the object stores), the reader (:mod:`.reader`, its
records made by :mod:`.read_layout`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import FileStorageObserver


def _from_options(options: Options) -> list[Any]:
    # the default store (a session with no store selected) is the session's choice, made
    # where the session's stores are built
    if options.file_storage is None:
        return []
    return [_open_writer(options.file_storage)]


def _open_writer(store: str | os.PathLike[str]) -> FileStorageObserver:
    from .writer import FileStorageObserver

    return FileStorageObserver(store)


def _reopen(spec: dict[str, Any]) -> FileStorageObserver:
    return _open_writer(spec["directory"])


KIND = StoreKind(
    name="file", title="file store", options=("--sacred-file-storage=DIR",), client=None,
    claims=os.path.isdir, from_options=_from_options, open_writer=_open_writer,
    reopen=_reopen)
