"""The repository facts a run records (url, commit, dirty) in every state a project's
repository can be in, checked against what the git executable itself answers; and that
GitPython, which reads them, is imported only for an experiment in a work tree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_sacred.info.git import repository_info

pytestmark = pytest.mark.system  # every test runs git

pytest.importorskip("git")  # GitPython: a dependency of the package


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.invalid", "-c",
                    "user.name=T", *args], check=True, capture_output=True)


def _out(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)


def git_cli_answer(directory: Path) -> dict[str, object]:
    """The same facts from git's own commands: the first remote in config order, HEAD,
    and tracked changes (staged or not) against HEAD."""
    top = _out(directory, "rev-parse", "--show-toplevel").stdout.strip()
    remotes = _out(directory, "config", "--get-regexp", r"^remote\..*\.url$").stdout.split()
    url = remotes[1] if remotes else "git:/" + top
    head = _out(directory, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else None
    status = _out(directory, "status", "--porcelain", "--untracked-files=no").stdout
    return {"url": url, "commit": commit, "dirty": bool(status.strip())}


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
    assert ours == git_cli_answer(root / "sub")
    assert ours is not None and ours["dirty"] is (state in ("modified", "staged"))


def test_outside_a_repository(tmp_path: Path) -> None:
    repository_info.cache_clear()
    assert repository_info(tmp_path) is None


def test_a_remote_url_with_credentials_is_masked(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    committed(tmp_path)
    git(tmp_path, "remote", "add", "origin", "https://alice:S3cret@example.invalid/r.git")
    repository_info.cache_clear()
    info = repository_info(tmp_path)
    assert info is not None and "S3cret" not in info["url"]
    assert info["url"].startswith("https://alice:") and "example.invalid/r.git" in info["url"]


def test_a_linked_worktree_and_a_bare_repository(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q")
    committed(main)
    git(main, "worktree", "add", "-q", str(tmp_path / "linked"))
    repository_info.cache_clear()
    linked = repository_info(tmp_path / "linked")  # its .git is a file
    assert linked == git_cli_answer(tmp_path / "linked") and linked["dirty"] is False
    git(tmp_path, "clone", "-q", "--bare", str(main), str(tmp_path / "bare.git"))
    repository_info.cache_clear()
    assert repository_info(tmp_path / "bare.git") is None


SESSION_END = """
import json, sys

def pytest_sessionfinish(session):
    with open("modules.json", "w") as f:
        json.dump({"git": "git" in sys.modules}, f)
"""


@pytest.mark.parametrize("case", ["no experiment, in a repository",
                                  "experiment outside a repository",
                                  "experiment in a repository"])
def test_gitpython_is_imported_only_for_an_experiment_in_a_work_tree(pytester, case):
    pytester.makeconftest(SESSION_END)
    pytester.makepyfile(test_case="""
        import pytest

        @pytest.mark.experiment
        def test_exp():
            pass

        def test_plain():
            pass
        """)
    if "in a repository" in case:
        git(pytester.path, "init", "-q")
        committed(pytester.path)
    selected = "test_plain" if case.startswith("no experiment") else "test_exp"
    result = pytester.runpytest_subprocess("-k", selected)
    result.assert_outcomes(passed=1)
    imported = json.loads((pytester.path / "modules.json").read_text())["git"]
    assert imported is (case == "experiment in a repository")
    if selected == "test_exp":
        run = json.loads((pytester.path / "runs" / "1" / "run.json").read_text())
        repositories = run["experiment"]["repositories"]
        if imported:
            assert repositories == [git_cli_answer(pytester.path)]
        else:
            assert repositories == []
