"""The file store: Sacred's FileStorageObserver layout (FORMATS.md section 3)."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

RUN_KEYS = {"artifacts", "command", "experiment", "heartbeat", "host", "meta", "resources",
            "result", "start_time", "status", "stop_time"}
EXPERIMENT_KEYS = {"name", "base_dir", "sources", "dependencies", "repositories", "mainfile"}

LAYOUT_EXPERIMENT = textwrap.dedent("""
    import pytest
    from pytest_sacred import config

    @config
    def lr():
        return 0.1

    @config
    def layers():
        return [64, 32]

    @pytest.mark.experiment("layout")
    def test_full(lr, layers, sacred_run, tmp_path):
        for step in range(3):
            sacred_run.log_scalar("train.loss", 1.0 / (step + 1))
        sacred_run.log_scalar("acc", 0.5, step=10)
        sacred_run.info["best"] = {"epoch": 2}
        print("hello from the run")
        (tmp_path / "model.txt").write_text("weights")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "a.txt").write_text("nested")
        outside = tmp_path.parent / "explicit-source.txt"
        outside.write_text("explicit")
        sacred_run.add_artifact(outside, name="renamed.txt")
        with sacred_run.open_resource(RESOURCE) as f:
            assert f.read() == "resource data"
        return 0.75

    @pytest.mark.experiment("layout")
    def test_no_info(sacred_run):
        return None

    @pytest.mark.experiment("layout")
    def test_fails():
        print("output before the failure")
        assert 1 == 2, "intended failure"
""")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_dirs(store: Path) -> list[int]:
    if not store.is_dir():
        return []
    return sorted(int(p.name) for p in store.iterdir() if p.name.isdigit())


@pytest.fixture
def layout(pytester: pytest.Pytester, runs_dir: Path) -> dict:
    """One session of LAYOUT_EXPERIMENT; its runs by test name."""
    resource = pytester.path / "data" / "resource.txt"
    resource.parent.mkdir()
    resource.write_text("resource data")
    pytester.makepyfile(test_layout=f"RESOURCE = {str(resource)!r}\n" + LAYOUT_EXPERIMENT)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3]
    by_name = {run["command"]: (run_id, run) for run_id, run in runs.items()}
    return {"resource": resource, **by_name}


def test_run_json_keys(layout: dict) -> None:
    _, full = layout["test_full"]
    assert set(full) - {"config"} == RUN_KEYS
    assert full["status"] == "COMPLETED"
    assert full["result"] == 0.75
    assert full["heartbeat"] is not None
    assert full["start_time"] <= full["stop_time"]
    _, failed = layout["test_fails"]
    assert set(failed) - {"config"} == RUN_KEYS | {"fail_trace"}
    assert failed["status"] == "FAILED"
    assert "intended failure" in "".join(failed["fail_trace"])


def test_experiment_and_sources(layout: dict, pytester: pytest.Pytester, runs_dir: Path) -> None:
    _, full = layout["test_full"]
    experiment = full["experiment"]
    assert set(experiment) == EXPERIMENT_KEYS
    assert experiment["name"] == "layout"
    assert experiment["mainfile"] == "test_layout.py"
    assert os.path.realpath(experiment["base_dir"]) == os.path.realpath(pytester.path)
    names = [name for name, _ in experiment["sources"]]
    assert "test_layout.py" in names
    for name, stored in experiment["sources"]:
        original = Path(experiment["base_dir"], name)
        digest = md5(original)
        stem, ext = os.path.splitext(os.path.basename(name))
        assert stored == f"_sources/{stem}_{digest}{ext}"
        copy = runs_dir / stored
        assert copy.is_file()
        assert md5(copy) == digest
    assert isinstance(experiment["dependencies"], list)
    assert isinstance(experiment["repositories"], list)


def test_host_config_and_meta(layout: dict) -> None:
    _, full = layout["test_full"]
    assert {"hostname", "os", "python_version", "cpu", "ENV"} <= set(full["host"])
    assert full["command"] == "test_full"
    assert full["config"]["lr"] == 0.1
    assert full["config"]["layers"] == [64, 32]
    assert isinstance(full["config"]["seed"], int)
    assert set(full["config"]) == {"lr", "layers", "seed"}
    assert full["meta"]["command"] == "test_full"


def test_metrics_info_and_cout(layout: dict, runs_dir: Path) -> None:
    run_id, _ = layout["test_full"]
    metrics = json.loads((runs_dir / str(run_id) / "metrics.json").read_text())
    assert set(metrics) == {"train.loss", "acc"}
    for entry in metrics.values():
        assert set(entry) == {"steps", "timestamps", "values"}
        assert len(entry["timestamps"]) == len(entry["steps"])
    assert metrics["train.loss"]["steps"] == [0, 1, 2]
    assert metrics["train.loss"]["values"] == [1.0, 0.5, 1.0 / 3]
    assert metrics["acc"] == {"steps": [10], "values": [0.5],
                              "timestamps": metrics["acc"]["timestamps"]}
    assert json.loads((runs_dir / str(run_id) / "info.json").read_text()) == {
        "best": {"epoch": 2}}
    assert "hello from the run" in (runs_dir / str(run_id) / "cout.txt").read_text()

    # output of a failed run is kept too (Sacred loses it: FORMATS.md section 11.1)
    failed_id, _ = layout["test_fails"]
    assert "output before the failure" in (runs_dir / str(failed_id) / "cout.txt").read_text()

    no_info_id, _ = layout["test_no_info"]
    # written as {} from the start (Incense's file reader needs it), unlike Sacred
    assert json.loads((runs_dir / str(no_info_id) / "info.json").read_text()) == {}
    assert (runs_dir / str(no_info_id) / "cout.txt").exists()
    assert json.loads((runs_dir / str(no_info_id) / "metrics.json").read_text()) == {}


def test_artifacts_are_copied(layout: dict, runs_dir: Path) -> None:
    run_id, full = layout["test_full"]
    directory = runs_dir / str(run_id)
    assert sorted(full["artifacts"]) == ["model.txt", "renamed.txt", "sub/a.txt"]
    assert (directory / "model.txt").read_text() == "weights"
    assert (directory / "sub" / "a.txt").read_text() == "nested"
    assert (directory / "renamed.txt").read_text() == "explicit"


def test_resources_are_stored_once(layout: dict, pytester: pytest.Pytester,
                                   runs_dir: Path) -> None:
    _, full = layout["test_full"]
    resource = layout["resource"]
    assert len(full["resources"]) == 1
    original, stored = full["resources"][0]
    assert original == str(resource)
    expected = runs_dir / "_resources" / f"resource_{md5(resource)}.txt"
    assert expected.read_text() == "resource data"
    stored_path = Path(stored) if os.path.isabs(stored) else pytester.path / stored
    assert stored_path.resolve() == expected.resolve()


def test_json_files_are_indented_and_sorted(layout: dict, runs_dir: Path) -> None:
    run_id, _ = layout["test_full"]
    directory = runs_dir / str(run_id)
    for name in ("run.json", "config.json", "info.json", "metrics.json"):
        text = (directory / name).read_text()
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True), name


def test_artifacts_added_while_heartbeats_run(pytester: pytest.Pytester,
                                              runs_dir: Path) -> None:
    """Events from the test body and from the heartbeat thread never clash in run.json."""
    pytester.makepyfile(
        """
        import json
        import pathlib
        import pytest

        @pytest.mark.experiment
        def test_busy(sacred_run, tmp_path):
            run_json = pathlib.Path("runs", str(sacred_run._id), "run.json")
            unreadable = []
            for i in range(150):
                path = tmp_path.parent / f"file{i}.txt"
                path.write_text(str(i))
                sacred_run.add_artifact(path, name=f"art{i}.txt")
                sacred_run.log_scalar("i", i)
                try:  # a reader meanwhile sees a whole run.json, old or new
                    json.loads(run_json.read_text())
                except ValueError as exc:
                    unreadable.append(f"{i}: {exc}")
            assert unreadable == []
        """
    )
    result = pytester.runpytest("--sacred-heartbeat", "0.001")
    result.assert_outcomes(passed=1)
    assert "observer errors" not in result.stdout.str()
    run = read_run(runs_dir, 1)
    assert run["status"] == "COMPLETED"
    assert run["artifacts"] == [f"art{i}.txt" for i in range(150)]
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert metrics["i"]["steps"] == list(range(150))
    assert sorted(p.name for p in (runs_dir / "1").iterdir() if p.name.startswith(".")) == []


def test_ids_are_consecutive_and_continue(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [1, 2, 3])
        def test_variant(x):
            return x
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3]
    assert sorted(run["config"]["x"] for run in runs.values()) == [1, 2, 3]
    assert all(run["result"] == run["config"]["x"] for run in runs.values())

    # the file named: the store's copy of the module is another matter (see below)
    pytester.runpytest("test_ids_are_consecutive_and_continue.py", "-k", "variant[2]"
                       ).assert_outcomes(passed=1)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3, 4]
    assert runs[4]["config"]["x"] == 2


def test_store_copies_of_sources_are_not_collected(pytester: pytest.Pytester,
                                                   runs_dir: Path) -> None:
    """runs/_sources/test_x_<md5>.py is a copy of an experiment, not a test to run again."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_once():
            return 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [p.name.startswith("test_") for p in (runs_dir / "_sources").iterdir()] == [True]
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "runs/_sources/" not in result.stdout.str()
    assert sorted(stored_runs(runs_dir)) == [1, 2]


def test_file_storage_option(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_one():
            return 1
        """
    )
    absolute = pytester.path / "elsewhere" / "store"
    pytester.runpytest("--sacred-file-storage", str(absolute)).assert_outcomes(passed=1)
    assert sorted(stored_runs(absolute)) == [1]
    pytester.runpytest("test_file_storage_option.py", "--sacred-file-storage", "relative_store"
                       ).assert_outcomes(passed=1)
    assert sorted(stored_runs(pytester.path / "relative_store")) == [1]
    assert not runs_dir.exists()


def test_file_storage_ini_relative_to_ini_file(pytester: pytest.Pytester, runs_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nsacred_file_storage = from_ini\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_one():
            return 1
        """
    )
    workdir = pytester.mkdir("workdir")
    monkeypatch.chdir(workdir)
    pytester.runpytest(str(pytester.path / "test_file_storage_ini_relative_to_ini_file.py")
                       ).assert_outcomes(passed=1)
    assert sorted(stored_runs(pytester.path / "from_ini")) == [1]
    assert not (workdir / "from_ini").exists()
    assert not runs_dir.exists()


def test_unobserved_writes_nothing(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_one(sacred_run, tmp_path):
            sacred_run.log_scalar("x", 1)
            (tmp_path / "a.txt").write_text("a")
            return 1
        """
    )
    pytester.runpytest("--sacred-unobserved").assert_outcomes(passed=1)
    assert not runs_dir.exists()


FORCED_ID = textwrap.dedent("""
    import pytest

    @pytest.mark.experiment
    def test_one(sacred_run, tmp_path):
        assert sacred_run._id == 42
        sacred_run.log_scalar("x", VALUE)
        (tmp_path / "a.txt").write_text(str(VALUE))
        print("value", VALUE)
        return VALUE
""")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_forced_id_and_taken_id(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(test_forced="VALUE = 1\n" + FORCED_ID)
    pytester.runpytest("--sacred-id", "42").assert_outcomes(passed=1)
    assert run_dirs(runs_dir) == [42]
    assert read_run(runs_dir, 42)["result"] == 1
    before = snapshot(runs_dir / "42")

    pytester.makepyfile(test_forced="VALUE = 2\n" + FORCED_ID)
    result = pytester.runpytest("test_forced.py", "--sacred-id", "42")
    # a usage error before anything runs: the test body did not run
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-id 42: file store already holds run 42 (runs*42)*"])
    result.assert_outcomes()
    assert run_dirs(runs_dir) == [42]
    assert snapshot(runs_dir / "42") == before


@pytest.mark.parametrize("meta", [
    {"command": "t", "named_configs": [], "config_updates": {}, "pytest": {"nodeid": "a[é-1]"}},
    {"command": "t", "config_updates": {"a": {"b": [1, 2.5, None]}}, "seeds": {"root": 3}},
    {"command": "t", "config_updates": {"a": (1, 2)}},  # not plain JSON: jsonpickle's tags
    {},
], ids=["plain", "nested", "tagged", "empty"])
def test_meta_with_the_session_options_encoded_once_is_the_same_text(meta: dict) -> None:
    """``meta`` of every run holds the session's options (the same dict each time): encoded
    once, the text must stay byte for byte Sacred's ``json.dump(..., indent=2)`` nested in
    run.json, for this run and the next."""
    from pytest_sacred.stores.file.layout import SESSION_META, EncodedOnce, indented

    options = {"--sacred-a": None, "--sacred-b": True, "--sacred-c": ["x", 1.5],
               "--sacred-d": {"k": "ü\n"}}
    encode = EncodedOnce()
    for run in range(2):
        value = {**meta, "options": options, "run": run} if meta else meta
        text = encode.members(value, SESSION_META)
        assert text == indented(value)
        assert json.loads(text) == json.loads(indented(value))
