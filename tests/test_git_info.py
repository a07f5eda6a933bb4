"""The repository facts asked of git directly agree with GitPython's answers (the library
Sacred uses for them) in every state a project's repository can be in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_sacred.info.git import repository_info

pytestmark = pytest.mark.system  # every test runs git

git_lib = pytest.importorskip("git")  # the oracle (test extra)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.invalid", "-c",
                    "user.name=T", *args], check=True, capture_output=True)


def gitpython_answer(directory: Path) -> dict[str, object]:
    repo = git_lib.Repo(directory, search_parent_directories=True)
    try:
        url = repo.remotes[0].url if repo.remotes else "git:/" + str(repo.working_dir)
        try:
            commit = repo.head.commit.hexsha
        except ValueError:
            commit = None
        return {"url": url, "commit": commit, "dirty": repo.is_dirty()}
    finally:
        repo.close()


def committed(root: Path) -> None:
    with open(root / "a.py", "a") as f:  # a new line each time: a new commit each time
        f.write("x = 1\n")
    git(root, "add", "a.py")
    git(root, "commit", "-qm", "one")


STATES: dict[str, Callable[[Path], None]] = {
    "no commits": lambda root: None,
    "clean": committed,
    "untracked file only": lambda root: (committed(root), (root / "new.py").write_text("")),
    "modified": lambda root: (committed(root), (root / "a.py").write_text("x = 2\n")),
    "staged": lambda root: (committed(root), (root / "a.py").write_text("x = 3\n"),
                            git(root, "add", "a.py")),
    "two remotes": lambda root: (committed(root),
                                 git(root, "remote", "add", "zz", "https://example.invalid/z"),
                                 git(root, "remote", "add", "aa", "git@example.invalid:a.git")),
    "detached head": lambda root: (committed(root), committed(root),
                                   git(root, "checkout", "-q", "HEAD~1")),
}


@pytest.mark.parametrize("state", STATES)
def test_agrees_with_gitpython(tmp_path: Path, state: str) -> None:
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    git(root, "init", "-q")
    STATES[state](root)
    repository_info.cache_clear()
    ours = repository_info(root / "sub")
    assert ours == gitpython_answer(root / "sub")
    assert ours is not None and ours["dirty"] is (state in ("modified", "staged"))


def test_outside_a_repository(tmp_path: Path) -> None:
    repository_info.cache_clear()
    assert repository_info(tmp_path) is None
