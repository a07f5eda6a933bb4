"""Which files left in a run's ``tmp_path`` become artifacts, and under which names.

Each regular file becomes an artifact named by its path relative to ``tmp_path``, except:

* a path that is not an artifact name as it stands (see :mod:`pytest_sacred.names`): one
  the stores reserve for the run's own files (``info.json``, ``run.json``... in any
  case), a part starting with ``.pytest-sacred-``, or a backslash (a legal character in a
  POSIX file name, but a separator in artifact names, so ``a\\b`` would become ``a/b``).
  Such a file is stored as ``tmp_path/<relative path>`` with ``%``, ``\\`` and the
  leading ``.`` of a working-file prefix written ``%25``, ``%5C`` and ``%2E``
  (``tmp_path/info.json``, ``tmp_path/a%5Cb``): it neither replaces the run's own files
  nor is refused, and two files never share a name. The same holds for a name already
  taken by an ``add_artifact`` call of the run. Each renamed file is listed in
  ``info["tmp_path_renamed"]`` as ``[path, stored name]`` pairs;
* a symbolic link is followed only when its target is a regular file inside
  ``tmp_path``; a link leading outside it (or nowhere) is not read, and is listed in the
  notes instead, as is anything that is not a regular file (a FIFO would block a read).
"""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from .names import WORKING_PREFIX, ArtifactNameError, artifact_name

#: where a tmp_path file whose path is not an artifact name as it stands is stored instead
RESERVED_PREFIX = "tmp_path/"


@dataclass
class TmpPathFiles:
    #: (artifact name, absolute path) to emit as artifact events, in name order
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    #: relative path -> why it was not stored (for ``info["tmp_path_not_stored"]``)
    notes: dict[str, str] = field(default_factory=dict)
    #: relative path -> the other name it is stored under (``info["tmp_path_renamed"]``)
    renamed: dict[str, str] = field(default_factory=dict)


def _kept_as_is(relative: str) -> bool:
    """Whether the file's own relative path is an artifact name, unchanged."""
    try:
        return artifact_name(relative) == relative
    except ArtifactNameError:
        return False


def _escaped(part: str) -> str:
    """One path part with what the artifact rules would read differently written out:
    ``%`` first (so that the escaping is one-to-one), then backslashes, then the dot that
    starts a working-file prefix."""
    part = part.replace("%", "%25").replace("\\", "%5C")
    if part.startswith(WORKING_PREFIX):
        part = "%2E" + part[1:]
    return part


def _diverted(relative: str, taken: AbstractSet[str]) -> str:
    """The name under :data:`RESERVED_PREFIX` for a file whose path cannot be its name,
    one level deeper again while a file kept as it is holds that name already."""
    name = RESERVED_PREFIX + "/".join(_escaped(part) for part in relative.split("/"))
    while name in taken:
        name = RESERVED_PREFIX + name
    return artifact_name(name)  # the check every store makes; passes by construction


def tmp_path_artifacts(tmp_path: Path, already: AbstractSet[str] = frozenset(),
                       names: AbstractSet[str] = frozenset()) -> TmpPathFiles:
    """The artifacts and notes for the files under ``tmp_path``.

    ``already`` holds absolute paths the test added itself with ``add_artifact``; they
    are not listed again. ``names`` holds the names those calls used: a file here is
    not stored under one of them (it would replace the other artifact).
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
            found.artifacts.append((relative, path))
    # files whose path is their name first, so that a renamed file never takes the name of
    # one that keeps its own (``tmp_path/info.json`` on disk and ``info.json``)
    taken = set(names)
    kept = {relative for relative, _ in found.artifacts
            if relative not in taken and _kept_as_is(relative)}
    taken |= kept
    named: list[tuple[str, str]] = []
    for relative, path in found.artifacts:
        if relative in kept:
            named.append((relative, path))
            continue
        name = _diverted(relative, taken)
        taken.add(name)
        found.renamed[relative] = name
        named.append((name, path))
    found.artifacts = sorted(named)
    return found
