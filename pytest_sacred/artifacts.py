"""Which files left in a run's ``tmp_path`` become artifacts, and under which names.

Each regular file becomes an artifact named by its path relative to ``tmp_path``, except:

* a name the stores reserve for the run's own files (``info.json``, ``run.json``... in
  any case, see :mod:`pytest_sacred.names`) is stored as ``tmp_path/<relative path>``
  (``tmp_path/info.json``), so it neither replaces the run's info nor is refused;
* a symbolic link is followed only when its target is a regular file inside
  ``tmp_path``; a link leading outside it (or nowhere) is not read, and is listed in the
  notes instead, as is anything that is not a regular file (a FIFO would block a read).
"""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from .names import ArtifactNameError, artifact_name

#: where a tmp_path file whose name is reserved is stored instead
RESERVED_PREFIX = "tmp_path/"


@dataclass
class TmpPathFiles:
    #: (artifact name, absolute path) to emit as artifact events, in name order
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    #: relative path -> why it was not stored (for ``info["tmp_path_skipped"]``)
    notes: dict[str, str] = field(default_factory=dict)


def _name(relative: str) -> str:
    try:
        return artifact_name(relative)
    except ArtifactNameError:  # only reserved names can fail for a relative path
        return RESERVED_PREFIX + relative


def tmp_path_artifacts(tmp_path: Path, already: AbstractSet[str] = frozenset()) -> TmpPathFiles:
    """The artifacts and notes for the files under ``tmp_path``.

    ``already`` holds absolute paths the test added itself with ``add_artifact``; they
    are not listed again.
    """
    found = TmpPathFiles()
    if not tmp_path.is_dir():
        return found
    root = os.path.realpath(tmp_path)
    base = str(tmp_path.absolute())
    for folder, dirs, files in os.walk(base, followlinks=False):
        dirs.sort()
        for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, entry)
            relative = Path(os.path.relpath(path, base)).as_posix()
            if path in already:
                continue
            if os.path.islink(path):
                target = os.path.realpath(path)
                inside = os.path.commonpath([root, target]) == root
                if not inside or not os.path.exists(target):
                    where = "outside tmp_path" if not inside else "which does not exist"
                    found.notes[relative] = (f"symbolic link to {os.readlink(path)}, {where}: "
                                             "not followed")
                    continue
                if not os.path.isfile(target):
                    continue  # a link to a folder inside tmp_path: its files are listed there
            elif not os.path.isfile(path):
                found.notes[relative] = "not a regular file: not stored"
                continue
            found.artifacts.append((_name(relative), path))
    found.artifacts.sort()
    return found
