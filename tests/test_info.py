"""Host, dependency and git information recorded with every run."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

EXPERIMENT = """
    import pytest

    @pytest.mark.experiment
    def test_one():
        return 1
"""


def test_host_info(pytester: pytest.Pytester, runs_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOO", "foo value")
    monkeypatch.delenv("BAR", raising=False)
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest("--sacred-capture-env", "FOO,BAR").assert_outcomes(passed=1)
    host = read_run(runs_dir, 1)["host"]
    assert host["hostname"] == platform.node()
    assert host["os"] == [platform.system(), platform.platform()]
    assert host["python_version"] == platform.python_version()
    assert isinstance(host["cpu"], str) and host["cpu"]
    assert host["ENV"] == {"FOO": "foo value"}


def test_no_env_captured_by_default(pytester: pytest.Pytester, runs_dir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOO", "foo value")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    assert read_run(runs_dir, 1)["host"]["ENV"] == {}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(pytester: pytest.Pytester) -> Path:
    """The pytester directory as a committed git repository with an experiment in it.

    The experiment module imports a local helper module, so the run has several sources
    (module, helper, conftest) in one repository.
    """
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    pytest.importorskip("git")
    pytester.makeconftest(
        """
        from pytest_sacred import config

        @config
        def lr():
            return 0.1
        """
    )
    pytester.makepyfile(
        mylib="""
        def double(x):
            return 2 * x
        """,
        test_git_exp="""
        import pytest
        import mylib

        @pytest.mark.experiment
        def test_tracked(lr):
            return mylib.double(lr)
        """,
    )
    path = pytester.path
    git(path, "init", "-q")
    git(path, "config", "user.email", "tester@example.invalid")
    git(path, "config", "user.name", "Tester")
    (path / ".gitignore").write_text("runs/\n__pycache__/\n.pytest_cache/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "experiment")
    return path


def test_git_info_clean(repo: Path, pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.runpytest("test_git_exp.py").assert_outcomes(passed=1)
    experiment = read_run(runs_dir, 1)["experiment"]
    names = {name for name, _ in experiment["sources"]}
    assert {"test_git_exp.py", "mylib.py", "conftest.py"} <= names
    head = git(repo, "rev-parse", "HEAD")
    toplevel = git(repo, "rev-parse", "--show-toplevel")
    assert experiment["repositories"] == [
        {"url": "git:/" + toplevel, "commit": head, "dirty": False}]


def test_git_info_dirty(repo: Path, pytester: pytest.Pytester, runs_dir: Path) -> None:
    (repo / "mylib.py").write_text("def double(x):\n    return x + x\n")
    pytester.runpytest("test_git_exp.py").assert_outcomes(passed=1)
    repositories = read_run(runs_dir, 1)["experiment"]["repositories"]
    assert len(repositories) == 1
    assert repositories[0]["dirty"] is True
    assert repositories[0]["commit"] == git(repo, "rev-parse", "HEAD")


def test_git_remote_credentials_are_masked(repo: Path, pytester: pytest.Pytester,
                                           runs_dir: Path) -> None:
    password = "secret"
    git(repo, "remote", "add", "origin", f"https://user:{password}@example.invalid/x.git")
    pytester.runpytest("test_git_exp.py").assert_outcomes(passed=1)
    repositories = read_run(runs_dir, 1)["experiment"]["repositories"]
    assert repositories == [{"url": "https://user:***@example.invalid/x.git",
                             "commit": git(repo, "rev-parse", "HEAD"), "dirty": False}]
    files = [p for p in runs_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert password.encode() not in path.read_bytes(), path


def test_enforce_clean_refuses_a_dirty_tree(repo: Path, pytester: pytest.Pytester,
                                            runs_dir: Path) -> None:
    (repo / "mylib.py").write_text("def double(x):\n    return x + x\n")
    result = pytester.runpytest("test_git_exp.py", "--sacred-enforce-clean")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = result.stderr.str()
    assert "--sacred-enforce-clean" in message
    toplevel = git(repo, "rev-parse", "--show-toplevel")
    assert toplevel in message
    assert stored_runs(runs_dir) == {}
    assert "passed" not in result.stdout.str()


def test_enforce_clean_runs_on_a_clean_tree(repo: Path, pytester: pytest.Pytester,
                                            runs_dir: Path) -> None:
    pytester.runpytest("test_git_exp.py", "--sacred-enforce-clean").assert_outcomes(passed=1)
    assert read_run(runs_dir, 1)["experiment"]["repositories"][0]["dirty"] is False


def test_dependencies(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    dependencies = read_run(runs_dir, 1)["experiment"]["dependencies"]
    assert f"pytest=={pytest.__version__}" in dependencies
    assert dependencies == sorted(dependencies, key=str.lower)
    assert all("==" in d for d in dependencies)


def test_print_dependencies_runs_nothing(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_one():
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest("--sacred-print-dependencies")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*pytest=={pytest.__version__}*"])
    assert "test_print_dependencies_runs_nothing.py" in result.stdout.str()
    assert not (pytester.path / "body-ran").exists()
    assert stored_runs(runs_dir) == {}
    assert result.parseoutcomes().get("passed", 0) == 0
