"""The git repository a source file lives in: url, commit, dirty.

Asked of the ``git`` executable directly, three short commands run at once: the three
facts need no more, and importing GitPython to ask them cost a session about 0.1 s (its
import) before it ran the same commands.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from ..redact import redact_url

#: toplevel; first remote's url (config order, as GitPython's ``repo.remotes[0]``); HEAD and
#: the tracked changes (staged or not, untracked files ignored: GitPython's ``is_dirty()``)
_COMMANDS = (("rev-parse", "--show-toplevel"),
             ("config", "--get-regexp", r"^remote\..*\.url$"),
             ("status", "--porcelain=v2", "--branch", "--untracked-files=no"))


def _start(directory: Path, args: tuple[str, ...]) -> subprocess.Popen[str]:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}  # status writes no index
    return subprocess.Popen(["git", "-C", str(directory), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)


@cache
def repository_info(directory: Path) -> dict[str, Any] | None:
    """``{"url", "commit", "dirty"}`` of the repository holding ``directory``, or ``None``
    (not in a repository, or no git executable).

    The url is the first remote's (credentials masked), else ``git://<working dir>``; the
    commit is ``None`` in a repository without commits.
    """
    try:
        procs = [_start(directory, args) for args in _COMMANDS]
    except OSError:  # no git executable, or the directory has gone
        return None
    outputs = [(proc.communicate()[0], proc.returncode) for proc in procs]
    (toplevel, top_rc), (remotes, _), (status, status_rc) = outputs
    if top_rc != 0 or status_rc != 0:  # not a work tree (or a bare repository)
        return None
    first = remotes.splitlines()[0].split(" ", 1) if remotes.strip() else []
    url = redact_url(first[1]) if len(first) == 2 else "git:/" + toplevel.strip()
    commit = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    return {"url": url, "commit": commit, "dirty": dirty}
