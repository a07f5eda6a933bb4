"""Where the stores are and what pytest collects: never the copies in a file store, wherever
the store lies, and no rootdir moved by a ``--sacred-*`` value taken for a test path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import stored_runs

from pytest_sacred.store_dirs import inside_file_store, is_copy_folder, is_run_directory

EXPERIMENT = '''
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("kernel", ["rbf", "poly"])
def test_svm(kernel):
    return 1.0
'''
MD5 = "71b0918137aaa076ee7068970e5a5682"


@pytest.fixture(params=["bytecode", "no-bytecode"])
def bytecode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Sessions with and without PYTHONDONTWRITEBYTECODE: a module pytest imports from a
    store leaves a ``__pycache__`` there only when bytecode is written."""
    if request.param == "bytecode":
        monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        return True
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    return False


def files_under(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


# -- the layout, recognised on disk ---------------------------------------------------------

def test_a_run_directory_is_a_numbered_directory_with_run_json(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    assert not is_run_directory(tmp_path / "1")  # claimed, nothing written: nothing to collect
    (tmp_path / "1" / "run.json").write_text("{}")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "run.json").write_text("{}")
    assert is_run_directory(tmp_path / "1")
    assert not is_run_directory(tmp_path / "tests")
    assert inside_file_store(tmp_path / "1") and not inside_file_store(tmp_path / "tests")


def test_a_copy_folder_is_known_by_its_copies_names(tmp_path: Path) -> None:
    """Even with no run left beside it (runs deleted, the copies kept)."""
    sources = tmp_path / "_sources"
    sources.mkdir()
    (sources / f"test_svm_{MD5}.py").write_text("def test_x(): pass\n")
    (sources / f"Makefile_{MD5}").write_text("all:\n")
    (sources / "__pycache__").mkdir()  # left by a session that did import a copy
    assert is_copy_folder(sources) and inside_file_store(sources)


def test_a_copy_folder_is_known_by_the_runs_beside_it(tmp_path: Path) -> None:
    resources = tmp_path / "_resources"
    resources.mkdir()
    (resources / "data.csv").write_text("x\n")  # not a copy's name
    assert not is_copy_folder(resources)
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "run.json").write_text("{}")
    assert is_copy_folder(resources) and inside_file_store(resources)


def test_a_package_named_like_a_copy_folder_is_collected(tmp_path: Path) -> None:
    sources = tmp_path / "_sources"
    sources.mkdir()
    (sources / "test_parser.py").write_text("def test_x(): pass\n")
    (tmp_path / "2024").mkdir()  # a numbered directory, but no run's
    assert not inside_file_store(sources)
    assert not inside_file_store(tmp_path / "2024")
    assert not inside_file_store(tmp_path / "test_parser.py")


# -- collection -----------------------------------------------------------------------------

def test_copies_in_a_store_the_session_does_not_use_are_not_collected(
        pytester: pytest.Pytester, bytecode: bool) -> None:
    """Tests run from the parent folder: the rootdir, and so the default store, is the parent
    while the project's own ``runs/`` (with copies of its test module) is walked through."""
    project = pytester.mkdir("project")
    (project / "test_svm.py").write_text(EXPERIMENT)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        pytester.runpytest_subprocess().assert_outcomes(passed=2)
    store = project / "runs"
    [copy] = (store / "_sources").iterdir()
    assert copy.name.startswith("test_svm_") and copy.suffix == ".py"
    # an artifact that looks like a test (or a conftest) in a run directory
    (store / "1" / "test_artifact.py").write_text("def test_artifact(): pass\n")
    (store / "1" / "conftest.py").write_text("raise RuntimeError('imported')\n")
    before = files_under(store)

    result = pytester.runpytest_subprocess("project")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "collected 2 items"])
    assert files_under(store) == before  # no __pycache__: nothing in it was imported
    assert sorted(stored_runs(pytester.path / "runs")) == [1, 2]


def test_copies_in_a_store_sacred_wrote_are_not_collected(pytester: pytest.Pytester) -> None:
    """A store with no run directory left (only ``_sources``), inside the test tree."""
    pytester.makepyfile(test_svm=EXPERIMENT)
    old = pytester.mkdir("old_store")
    (old / "_sources").mkdir()
    (old / "_sources" / f"test_svm_{MD5}.py").write_text(EXPERIMENT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["collected 2 items"])


# -- option values pytest takes for test paths ----------------------------------------------

#: options taking a directory or file, and what to create for each outside the project
PATH_OPTIONS = [
    ("--sacred-file-storage", "dir"),
    ("--sacred-tinydb", "dir"),
    ("--sacred-named-config", "file"),
    ("--sacred-compare-store", "dir"),
    ("--sacred-save-baseline", "dir"),
]


@pytest.fixture
def outside(pytester: pytest.Pytester, tmp_path: Path) -> Path:
    """A folder beside the pytester project (tmp_path and pytester.path are siblings)."""
    assert tmp_path.parent == pytester.path.parent
    return tmp_path


@pytest.mark.parametrize("option, kind", PATH_OPTIONS)
def test_a_value_that_moves_the_rootdir_is_refused(pytester: pytest.Pytester, outside: Path,
                                                   runs_dir: Path, option: str, kind: str,
                                                   bytecode: bool) -> None:
    """Before anything is collected or stored: the runs would be named relative to the
    wrong rootdir and the default store, pytest's cache and the ini file would move."""
    pytester.makepyfile(test_svm=EXPERIMENT)
    value = outside / "given"
    if kind == "dir":
        value.mkdir()
    else:
        value = outside / "wide.json"
        value.write_text("{}")
    result = pytester.runpytest_subprocess(option, str(value))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"*pytest took '{value}' (the value of {option}) for a test path: it chooses the "
        "rootdir and ini file before it knows pytest-sacred's options, so the rootdir "
        f"became {pytester.path.parent} instead of {pytester.path}. Write the value after "
        f"'=': {option}={value}"])
    assert not runs_dir.exists()
    assert files_under(outside) == {value.name}


def test_the_ini_file_a_value_would_skip_is_named(pytester: pytest.Pytester,
                                                  outside: Path) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_svm=EXPERIMENT)
    result = pytester.runpytest_subprocess("--sacred-file-storage", str(outside))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"*so the rootdir became {pytester.path.parent} instead of {pytester.path} and the "
        f"ini file {pytester.path / 'tox.ini'} was not read. Write the value after '=': "
        f"--sacred-file-storage={outside}"])


def test_a_value_in_pytest_addopts_is_checked_too(pytester: pytest.Pytester, outside: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_svm=EXPERIMENT)
    addopts = os.environ["PYTEST_ADDOPTS"]
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} --sacred-file-storage {outside}")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*pytest took '{outside}' (the value of "
                                 "--sacred-file-storage) for a test path*"])
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} --sacred-file-storage={outside}")
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    assert sorted(stored_runs(outside)) == [1, 2]


def test_the_value_after_equals_stores_there(pytester: pytest.Pytester, outside: Path,
                                             runs_dir: Path, bytecode: bool) -> None:
    """The form the refusal asks for: the rootdir stays, the default store's copies stay
    uncollected and untouched, and the runs go to the store given."""
    pytester.makepyfile(test_svm=EXPERIMENT)
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    before = files_under(runs_dir)
    store = outside / "store"
    store.mkdir()
    result = pytester.runpytest_subprocess(f"--sacred-file-storage={store}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "collected 2 items"])
    assert sorted(stored_runs(store)) == [1, 2]
    assert files_under(runs_dir) == before


def test_a_value_that_leaves_the_rootdir_alone_is_accepted(pytester: pytest.Pytester,
                                                           runs_dir: Path) -> None:
    """A store inside the project, written either way: pytest picks the same rootdir."""
    pytester.makepyfile(test_svm=EXPERIMENT)
    store = pytester.mkdir("store")
    for args in (["--sacred-file-storage", "store"], ["--sacred-file-storage", str(store)],
                 [f"--sacred-file-storage={store}"]):
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines([f"rootdir: {pytester.path}"])
    assert sorted(stored_runs(store)) == [1, 2, 3, 4, 5, 6]
    assert not runs_dir.exists()


def test_a_test_path_after_a_flag_is_a_test_path(pytester: pytest.Pytester,
                                                 outside: Path) -> None:
    """``--sacred-unobserved DIR`` names tests to run: DIR is no option's value, and the
    rootdir pytest picks for it is the right one."""
    tests = outside / "tests"
    tests.mkdir()
    (tests / "test_svm.py").write_text(EXPERIMENT)
    result = pytester.runpytest_subprocess("--sacred-unobserved", os.fspath(tests))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path.parent}"])
