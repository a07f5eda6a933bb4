"""The git repository a source file lives in: url, commit, dirty, read with GitPython (as
Sacred does).

GitPython costs a session about 0.1 s to import, so it is imported only for a directory
inside a git work tree (found by looking for ``.git`` in it and its parents, a few
``stat`` calls), and only when a run asks (an experiment is selected): a suite without
experiments, or a project outside any repository, never loads it.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any

from ..redact import redact_url


def in_work_tree(directory: Path) -> bool:
    """Whether ``directory`` or a parent holds ``.git`` (a directory, or the file of a
    worktree or submodule)."""
    directory = directory.absolute()
    return any((d / ".git").exists() for d in (directory, *directory.parents))


@cache
def repository_info(directory: Path) -> dict[str, Any] | None:
    """``{"url", "commit", "dirty"}`` of the repository holding ``directory``, or ``None``
    (not in a work tree, or no git executable).

    The url is the first remote's (credentials masked), else ``git://<working dir>``; the
    commit is ``None`` in a repository without commits; dirty counts tracked changes,
    staged or not (untracked files do not make a tree dirty), as ``Repo.is_dirty()``.
    """
    if not in_work_tree(directory):
        return None
    try:
        import git
    except ModuleNotFoundError as exc:
        if exc.name != "git":
            raise
        warnings.warn("GitPython is not installed (a dependency of pytest-sacred): the runs "
                      "record no repository; pip install gitpython", stacklevel=2)
        return None
    except ImportError:  # GitPython found no git executable
        return None
    try:
        repo = git.Repo(directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        if repo.bare or repo.working_dir is None:
            return None
        remotes = repo.remotes
        url = redact_url(remotes[0].url) if remotes else "git:/" + str(repo.working_dir)
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:  # no commit yet
            commit = None
        return {"url": url, "commit": commit, "dirty": repo.is_dirty()}
    except git.GitCommandError:  # e.g. a repository git refuses (ownership, damage)
        return None
    finally:
        repo.close()
