"""Sacred's FileStorage layout recognised on disk, wherever a store lies.

pytest must never collect inside a file store: ``_sources/`` holds copies of the test
modules (``test_svm_<md5>.py`` matches pytest's ``test_*.py``, and importing it writes a
``__pycache__`` into the store) and a run directory may hold any artifact, even a
``conftest.py``. The session knows its own stores, but not a store of another rootdir, a
copied baseline or a store Sacred wrote, and Sacred's layout has no marker file: such a
store is recognised by its parts, each of which is looked at only when pytest is about to
enter a directory of that name, so that collecting an ordinary tree costs nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: the folders of content-addressed copies beside the run directories
COPY_FOLDERS = frozenset({"_sources", "_resources"})
#: ``<stem>_<md5><ext>``, the name every copy gets (``file_layout.stored_copy_name``)
_COPY_NAME = re.compile(r"_[0-9a-f]{32}(\.[^.]*)?\Z")


def is_run_directory(path: Path) -> bool:
    """``<id>/run.json``: one run's directory of a file store."""
    return path.name.isdigit() and (path / "run.json").is_file()


def holds_run_directory(path: Path) -> bool:
    """Whether ``path`` has a run directory among its entries (stops at the first)."""
    try:
        with os.scandir(path) as entries:
            return any(e.name.isdigit() and e.is_dir() and is_run_directory(Path(e.path))
                       for e in entries)
    except OSError:
        return False


def is_copy_folder(path: Path) -> bool:
    """A store's ``_sources/`` or ``_resources/``: every file in it carries a copy's name,
    or the directory beside it is a store (it holds a run directory)."""
    if path.name not in COPY_FOLDERS:
        return False
    try:
        with os.scandir(path) as entries:
            names = [e.name for e in entries if e.is_file()]
    except OSError:
        return False
    if names and all(_COPY_NAME.search(name) for name in names):
        return True
    return holds_run_directory(path.parent)


def inside_file_store(path: Path) -> bool:
    """Whether pytest must not enter ``path``: a file store's run directory or copy folder.

    Only a name made of digits or one of :data:`COPY_FOLDERS` is looked at on disk.
    """
    name = path.name
    if name.isdigit():
        return is_run_directory(path)
    return name in COPY_FOLDERS and is_copy_folder(path)
