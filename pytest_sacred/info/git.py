"""The git repository a source file lives in: url, commit, dirty."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ..redact import redact_url


@cache
def repository_info(directory: Path) -> dict[str, Any] | None:
    """``{"url", "commit", "dirty"}`` of the repository holding ``directory``, or ``None``.

    The url is the first remote's (credentials masked), else ``git://<working dir>``.
    """
    try:
        import git
    except Exception:  # GitPython missing, or no git executable on the machine
        return None
    try:
        repo = git.Repo(directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        url = redact_url(repo.remotes[0].url) if repo.remotes else "git:/" + str(repo.working_dir)
        try:
            commit = repo.head.commit.hexsha
        except ValueError:  # a repository without commits
            commit = None
        return {"url": url, "commit": commit, "dirty": repo.is_dirty()}
    finally:
        repo.close()
