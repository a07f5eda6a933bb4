"""A user's bad call fails where it was made: artifact names, metric names, values and steps
are refused by the call itself, the run FAILS with that message, nothing is spilled, and
pytest's report shows the user's line, not the plugin's frames. ``tmp_path`` files whose
paths are no artifact names are stored under other names, never refused or merged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_sacred.readers import open_reader

try:  # imported once, here: in-process pytester runs drop the modules imported inside them,
    import sqlalchemy  # noqa: F401  and SQLAlchemy fails when imported a second time
except ImportError:
    pass

#: names no store can keep, and the rule each message must give
REFUSED = {
    "../../escaped.txt": "leads outside the run directory",
    "ABSOLUTE": "is an absolute path",
    "C:\\x.txt": "is an absolute path",
    "./run.json": "is the run's own file 'run.json'",
    "Metrics.JSON": "is the run's own file 'metrics.json'",
    "a/../info.json": "is the run's own file 'info.json'",
    "./": "is empty once normalised",
    "": "is empty once normalised",
    "sub/../..//x": "leads outside the run directory",
    "d/.pytest-sacred-y": "keeps for its working files",
    "nul\0.txt": "contains a NUL character",
}

REFUSED_NAMES = f'''
import pytest

REFUSED = {list(REFUSED)!r}


def source(tmp_path):
    path = tmp_path.parent / "payload.txt"
    path.write_text("payload")
    return str(path)


@pytest.mark.experiment
@pytest.mark.parametrize("name", REFUSED)
def test_refused(sacred_run, tmp_path, name):
    if name == "ABSOLUTE":
        name = str(tmp_path.parent / "absolute.txt")
    sacred_run.add_artifact(source(tmp_path), name=name)
    sacred_run.info["after"] = "never reached"
'''


def store_options(runs_dir: Path, mongo_server, mongo_db_name: str) -> dict[str, list[str]]:
    """Every local store, by the URL its reader takes: the options that select it."""
    for extra in ("tinydb", "hashfs", "sqlalchemy"):
        pytest.importorskip(extra)
    mongo = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    tiny = runs_dir.parent / "tiny"
    sqlite = f"sqlite:///{runs_dir.parent / 'runs.db'}"
    return {str(runs_dir): ["--sacred-file-storage", str(runs_dir)],
            f"mongodb://{mongo_server.host}:{mongo_server.port}/{mongo_db_name}":
                ["--sacred-mongo", mongo],
            str(tiny): ["--sacred-tinydb", str(tiny)],
            sqlite: ["--sacred-sql", sqlite]}


def test_artifact_names_no_store_keeps_fail_the_call_in_every_store(
        pytester: pytest.Pytester, runs_dir: Path, mongo_server, mongo_db_name: str) -> None:
    pytester.makepyfile(test_names=REFUSED_NAMES)
    stores = store_options(runs_dir, mongo_server, mongo_db_name)
    result = pytester.runpytest(*(o for options in stores.values() for o in options))
    result.assert_outcomes(failed=len(REFUSED))
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # not 6: every store stored every run
    out = result.stdout.str()
    assert "observer" not in out and "_spill" not in out
    assert not (runs_dir / "_spill").exists()
    for name, rule in REFUSED.items():
        assert f"ArtifactNameError: artifact name {name!r}"[:60] in out or name == "ABSOLUTE"
        assert rule in out, rule
    assert not list(pytester.path.parent.rglob("escaped.txt"))
    assert not list(pytester.path.parent.rglob("absolute.txt"))
    for url in stores:
        with open_reader(url) as reader:
            runs = {run.id: run for run in reader.list_runs()}
            assert sorted(runs) == list(range(1, len(REFUSED) + 1)), url
            for run_id, (name, rule) in enumerate(REFUSED.items(), start=1):
                run = reader.get_run(run_id)
                assert run.status == "FAILED" and run.artifacts == [], (url, name)
                trace = "".join(run.fail_trace or [])
                assert "ArtifactNameError: artifact name" in trace and rule in trace, (url, name)
                assert "after" not in run.info


HOSTILE_EVENTS = '''
import pytest


@pytest.mark.experiment
def test_event(sacred_run, tmp_path):
    payload = tmp_path.parent / "payload.txt"
    payload.write_text("payload")
    # an artifact event that did not come through add_artifact (a spill file being
    # replayed, another plugin): each store still applies the one name check
    for name in ("../x", "run.json", "d/.pytest-sacred-y", "/abs"):
        sacred_run._record.emit("pytest_sacred_artifact_event", name=name,
                                filename=str(payload), metadata=None, content_type=None)
    sacred_run._record.emit("pytest_sacred_artifact_event", name="ok/./kept.txt",
                            filename=str(payload), metadata=None, content_type=None)
'''


def test_every_store_applies_the_one_name_check(pytester: pytest.Pytester, runs_dir: Path,
                                                mongo_server, mongo_db_name: str) -> None:
    stores = store_options(runs_dir, mongo_server, mongo_db_name)
    check_the_one_name_check(pytester, stores, ["file", "mongo", "tinydb", "sql"])
    assert not (runs_dir.parent / "x").exists() and not Path("/abs").exists()


def check_the_one_name_check(pytester: pytest.Pytester, stores: dict[str, list[str]],
                             observers: list[str]) -> None:
    """A session of HOSTILE_EVENTS into ``stores`` (reader URL -> options): each of the
    ``observers`` refuses the four names and stores the fifth normalised."""
    path = pytester.makepyfile(test_hostile_events=HOSTILE_EVENTS)
    result = pytester.runpytest(path, *(o for options in stores.values() for o in options))
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    for observer in observers:
        assert (f"observer {observer} failed in pytest_sacred_artifact_event '../x' (run 1): "
                "ArtifactNameError: artifact name '../x' leads outside the run directory") in out
        refused = [line for line in out.splitlines()
                   if line.startswith(f"observer {observer} failed") and
                   line.endswith("(and 3 more of its events)")]
        assert len(refused) == 1, (observer, out)
    # the row names each refused artifact, for every store
    assert out.count("stored without artifact ../x, run.json, d/.pytest-sacred-y, "
                     "/abs") == len(observers)
    for url in stores:
        with open_reader(url) as reader:
            run = reader.get_run(1)
            assert run.artifacts == ["ok/kept.txt"], url  # stored normalised, alone
            assert reader.artifact(1, "ok/kept.txt") == b"payload"


TMP_PATH_FILES = r'''
import pytest


@pytest.mark.experiment
def test_files(sacred_run, tmp_path):
    explicit = tmp_path.parent / "explicit.txt"
    explicit.write_text("explicit")
    sacred_run.add_artifact(explicit, name="model.pkl")
    for relative, text in FILES.items():
        path = tmp_path.joinpath(*relative.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
'''

#: file under tmp_path (``/`` separates folders) -> the name it is stored under
TMP_PATH_NAMES = {
    "a/b": "a/b",
    "a\\b": "tmp_path/a%5Cb",                  # a legal POSIX name, not the folder a
    "a%5Cb": "a%5Cb",                            # kept as it is: no clash with the above
    "..\\..\\x": "tmp_path/..%5C..%5Cx",        # not a way out of the run
    ".pytest-sacred-x": "tmp_path/%2Epytest-sacred-x",
    "d/.pytest-sacred-y": "tmp_path/d/%2Epytest-sacred-y",
    "run.json": "tmp_path/tmp_path/run.json",   # a file kept as it is holds tmp_path/run.json
    "INFO.json": "tmp_path/INFO.json",
    "tmp_path/run.json": "tmp_path/run.json",  # kept: the renamed run.json goes deeper
    "model.pkl": "tmp_path/model.pkl",          # add_artifact took the name
    "plain.txt": "plain.txt",
}


def test_tmp_path_files_are_stored_under_distinct_names_in_every_store(
        pytester: pytest.Pytester, runs_dir: Path, mongo_server, mongo_db_name: str) -> None:
    check_tmp_path_names(pytester, store_options(runs_dir, mongo_server, mongo_db_name))
    info = json.loads((runs_dir / "1" / "info.json").read_text())
    assert "tmp_path_not_stored" not in info


def check_tmp_path_names(pytester: pytest.Pytester, stores: dict[str, list[str]]) -> None:
    """A session of TMP_PATH_FILES into ``stores``: every file under its own name."""
    names = TMP_PATH_NAMES
    path = pytester.makepyfile(test_files=f"FILES = {{r: r for r in {list(names)!r}}}\n"
                               + TMP_PATH_FILES)
    result = pytester.runpytest(path, *(o for options in stores.values() for o in options))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    renamed = [[relative, name] for relative, name in names.items() if relative != name]
    for url in stores:
        with open_reader(url) as reader:
            run = reader.get_run(1)
            assert sorted(run.artifacts) == sorted([*names.values(), "model.pkl"]), url
            for relative, name in names.items():  # each file's own text: none replaced
                assert reader.artifact(1, name) == relative.encode(), (url, relative)
            assert reader.artifact(1, "model.pkl") == b"explicit"
            assert sorted(run.info["tmp_path_renamed"]) == sorted(renamed), url


BAD_METRIC_CALLS = r'''
import math
from decimal import Decimal
from fractions import Fraction

import pytest


@pytest.mark.experiment
def test_refused(sacred_run):
    sacred_run.log_scalar("loss", 1.0)
    for name in (("a",), 3, None, b"loss", ["a"]):
        with pytest.raises(TypeError) as refused:
            sacred_run.log_scalar(name, 1.0)
        assert str(refused.value) == (
            f"log_scalar({name!r}, ...): a metric name must be a str, got "
            f"{type(name).__name__}; name the metric with text, e.g. 'train.loss'")
    for value, why in ((Decimal("sNaN"), "cannot convert signaling NaN to float"),
                       (Fraction(10**400, 3), "too large")):
        with pytest.raises(TypeError, match=r"^log_scalar\('loss', (Decimal|Fraction).*a "
                           r"metric value must be a real number a store can keep as float.*"
                           + why):
            sacred_run.log_scalar("loss", value)
    for step in (1.5, "3", True, None.__class__, [1]):
        with pytest.raises(TypeError, match=r"^log_scalar\('loss', \.\.\., step=.*\): a step "
                           r"must be an integer, got \w+; pass an int"):
            sacred_run.log_scalar("loss", 2.0, step=step)
    sacred_run.log_scalar("loss", Decimal("0.5"), step=7)
    with pytest.raises(TypeError, match=r"^log_scalar\('loss', Decimal\('sNaN'\)\)"):
        sacred_run.log_scalar("loss", Decimal("sNaN"))  # the converter kept for Decimal
    sacred_run.log_scalar(Name("other"), 3.0)  # a str subclass: stored as its plain str
    sacred_run.log_scalar("other", 4.0)


class Name(str):
    def __repr__(self):
        return f"Name({str(self)!r})"


@pytest.mark.experiment
def test_uncaught(sacred_run):
    sacred_run.log_scalar(("a",), 1.0)
'''


def test_bad_metric_names_values_and_steps_fail_at_the_call_in_every_store(
        pytester: pytest.Pytester, runs_dir: Path, mongo_server, mongo_db_name: str) -> None:
    pytester.makepyfile(test_metrics=BAD_METRIC_CALLS)
    stores = store_options(runs_dir, mongo_server, mongo_db_name)
    result = pytester.runpytest(*(o for options in stores.values() for o in options))
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["E *TypeError: log_scalar(('a',), ...): a metric name must be "
                                 "a str, got tuple; name the metric with text, e.g. 'train.loss'"])
    for url in stores:
        with open_reader(url) as reader:
            assert reader.get_run(1).status == "COMPLETED", url
            assert reader.get_run(2).status == "FAILED", url
            loss = reader.metric(1, "loss")
            assert loss.steps == [0, 7] and loss.values == [1.0, 0.5], url
            other = reader.metric(1, "other")
            assert other.steps == [0, 1] and other.values == [3.0, 4.0], url
            assert sorted(reader.get_run(1).metric_names) == ["loss", "other"], url
            assert reader.get_run(2).metric_names == [], url


BAD_CALLS = r'''
import pytest
from pytest_sacred import capture, config


@capture
def scaled(x, lr):
    return x * lr


@capture
def broken(lr):
    raise RuntimeError(f"helper failed with lr={lr}")


@config
def lr():
    return 0.1


@pytest.mark.experiment
def test_text_value(sacred_run):
    sacred_run.log_scalar("loss", "0.4")  # USER LINE text_value


@pytest.mark.experiment
def test_tuple_name(sacred_run):
    sacred_run.log_scalar(("a",), 1.0)  # USER LINE tuple_name


@pytest.mark.experiment
def test_float_step(sacred_run):
    sacred_run.log_scalar("loss", 1.0, step=1.5)  # USER LINE float_step


@pytest.mark.experiment
def test_escaping_name(sacred_run, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    sacred_run.add_artifact(tmp_path / "f.txt", name="../x")  # USER LINE escaping_name


@pytest.mark.experiment
def test_missing_artifact(sacred_run):
    sacred_run.add_artifact("missing.bin")  # USER LINE missing_artifact


@pytest.mark.experiment
def test_missing_resource(sacred_run):
    sacred_run.open_resource("missing.csv")  # USER LINE missing_resource


@pytest.mark.experiment
def test_resource_written(sacred_run, tmp_path):
    (tmp_path / "data.csv").write_text("1,2")
    sacred_run.open_resource(tmp_path / "data.csv", "w")  # USER LINE resource_written


@pytest.mark.experiment
def test_directory_resource(sacred_run, tmp_path):
    sacred_run.add_resource(tmp_path)  # USER LINE directory_resource


@pytest.mark.experiment
def test_info_not_a_dict(sacred_run):
    sacred_run.info = [("loss", 1.0)]  # USER LINE info_not_a_dict


@pytest.mark.experiment
def test_capture_bad_arguments(sacred_run, lr):
    scaled(1, 2, 3)  # USER LINE capture_bad_arguments


@pytest.mark.experiment
def test_capture_raises(sacred_run, lr):
    broken()  # USER LINE capture_raises
'''

#: test -> the message its failure must show
CALL_MESSAGES = {
    "text_value": "TypeError: log_scalar('loss', '0.4'): a metric value must be a real number",
    "tuple_name": "TypeError: log_scalar(('a',), ...): a metric name must be a str",
    "float_step": "TypeError: log_scalar('loss', ..., step=1.5): a step must be an integer",
    "escaping_name": "ArtifactNameError: artifact name '../x' leads outside the run directory",
    "missing_artifact": "FileNotFoundError: artifact 'missing.bin' is no such file",
    "missing_resource": "FileNotFoundError: resource 'missing.csv' is no such file",
    "resource_written": "ValueError: open_resource('",
    "directory_resource": "FileNotFoundError: resource '",
    "info_not_a_dict": "TypeError: sacred_run.info must be a dict (stored as the run's "
                       "info.json / info field), got list",
    "capture_bad_arguments": "TypeError: scaled(x, lr): too many positional arguments",
    "capture_raises": "RuntimeError: helper failed with lr=0.1",
}


def test_a_bad_call_shows_the_users_line_not_the_plugins_frames(
        pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(test_calls=BAD_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(failed=len(CALL_MESSAGES))
    text = result.stdout.str()
    failures = text[text.index("= FAILURES ="):text.index("= pytest-sacred runs =")]
    parts = re.split(r"\n_{3,} test_(\w+) _{3,}\n", failures)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert sorted(sections) == sorted(CALL_MESSAGES)
    for test, message in CALL_MESSAGES.items():
        body = sections[test]
        assert "pytest_sacred/" not in body, (test, body)  # no frame, no source of the plugin
        assert "__tracebackhide__" not in body and "raise TypeError" not in body
        assert f"# USER LINE {test}" in body, (test, body)
        assert message in body, (test, body)
        code = [line for line in body.splitlines() if line.startswith(">")]
        assert len(code) == (2 if test == "capture_raises" else 1), (test, body)
        assert f"# USER LINE {test}" in code[0]
    assert "raise RuntimeError" in sections["capture_raises"]  # the helper's own line too
    for run_id, (test, message) in enumerate(CALL_MESSAGES.items(), start=1):
        run = json.loads((runs_dir / str(run_id) / "run.json").read_text())
        assert run["status"] == "FAILED", test
        trace = "".join(run["fail_trace"])  # stored the same way: up to the user's line
        assert "pytest_sacred/" not in trace, (test, trace)
        assert f"# USER LINE {test}" in trace and message.split(": ")[1] in trace, test


def test_a_path_names_an_artifact_and_info_may_be_replaced(pytester: pytest.Pytester,
                                                           runs_dir: Path) -> None:
    pytester.makepyfile(test_ok='''
        from pathlib import Path
        import pytest

        @pytest.mark.experiment
        def test_ok(sacred_run, tmp_path):
            source = tmp_path.parent / "loss.png"
            source.write_text("png")
            sacred_run.add_artifact(source, name=Path("plots") / "loss.png")
            sacred_run.info["dropped"] = True
            sacred_run.info = {"replaced": 1}  # as Sacred's run.info allows
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    run = json.loads((runs_dir / "1" / "run.json").read_text())
    assert run["artifacts"] == ["plots/loss.png"]
    assert (runs_dir / "1" / "plots" / "loss.png").read_text() == "png"
    assert json.loads((runs_dir / "1" / "info.json").read_text()) == {"replaced": 1}


# -- tmp_path names, generated ----------------------------------------------------------------

#: pieces of file names that the artifact rules treat specially
PIECES = ["a", "b", "\\", "%", "%5C", "%25", "%2E", ".", "..", ".pytest-sacred-", "run.json",
          "INFO.JSON", "tmp_path", "C:", " ", "é"]


def test_generated_tmp_path_trees_keep_every_file_under_its_own_valid_name(
        tmp_path: Path) -> None:
    """Random trees of awkward names (fixed seed): every regular file is listed once, under
    a name every store accepts unchanged, no two files share a name, and the files whose
    own path is a valid name keep it."""
    import random

    from pytest_sacred.artifacts import tmp_path_artifacts
    from pytest_sacred.names import ArtifactNameError, artifact_name

    rnd = random.Random(20261206)
    for tree in range(150):
        root = tmp_path / str(tree)
        root.mkdir()
        files: set[str] = set()
        for _ in range(rnd.randint(1, 12)):
            parts = ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 3)))
                     for _ in range(rnd.randint(1, 3))]
            if any(part in (".", "..") for part in parts):
                continue  # no file can have these names
            path = root.joinpath(*parts)
            if any(p.is_file() for p in [path, *path.parents]) or path.is_dir():
                continue  # a folder where a file is, or the other way round
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("/".join(parts))
            files.add("/".join(parts))
        taken = {rnd.choice(sorted(files))} if rnd.random() < 0.3 else set()
        found = tmp_path_artifacts(root, names=taken)
        names = [name for name, _ in found.artifacts]
        assert len(names) == len(files) and len(set(names)) == len(names), (files, names)
        assert not set(names) & taken
        for name, path in found.artifacts:
            assert artifact_name(name) == name
            relative = Path(path).relative_to(root).as_posix()
            assert Path(path).read_text() == relative
            try:
                own_name = artifact_name(relative) == relative and relative not in taken
            except ArtifactNameError:
                own_name = False
            assert (name == relative) == own_name, (relative, name)
            assert found.renamed.get(relative, relative) == name
