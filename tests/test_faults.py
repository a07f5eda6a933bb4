"""Faults a tracker must survive: bad metric values, failing beats, killed processes, a full
disk, hostile artifact names and oversized values, against real processes, a real
filesystem and the real MongoDB test server.

The randomness here is in *when* a process is killed; what is asserted (every file
parses and holds whole beats, no delivered point is lost) must hold at every moment.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from helpers import INNER_ADDOPTS

from pytest_sacred.heartbeat import Heartbeat
from pytest_sacred.names import WORKING_PREFIX
from pytest_sacred.stores.file.writer import JOURNAL, read_metrics

INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment
"""
CHILD_FLAGS = ["-p", "no:cacheprovider", *INNER_ADDOPTS.split(), "-q"]


# -- what a store directory must hold, always -----------------------------------------------

def check_store(store: Path, delivered: dict[int, int] | None = None) -> dict:
    """Assert every run's files parse and hold whole beats; returns counts.

    ``delivered``: points of metric ``a`` that an observer running after the file store
    saw delivered, by run id; none of them may be missing from the files.
    """
    counts = {"runs": 0, "points": 0, "lost": 0, "journals": 0}
    for directory in sorted(p for p in store.iterdir() if p.name.isdigit()):
        if not (directory / "run.json").exists():
            # killed between claiming the id and the first event: nothing but config.json
            # (and working files, which no reader takes for the run's files)
            names = {p.name for p in directory.iterdir() if not p.name.startswith(WORKING_PREFIX)}
            assert names <= {"config.json"}, directory
            continue
        counts["runs"] += 1
        run = json.loads((directory / "run.json").read_text())
        assert run["status"] in ("RUNNING", "COMPLETED", "FAILED"), run["status"]
        json.loads((directory / "config.json").read_text())
        if (directory / "info.json").exists():
            info = json.loads((directory / "info.json").read_text())
            assert isinstance(info, dict)
        if not (directory / "metrics.json").exists():
            continue
        json.loads((directory / "metrics.json").read_text())  # valid on its own
        counts["journals"] += (directory / JOURNAL).exists()
        metrics = read_metrics(directory)
        for name, metric in metrics.items():
            steps, values, stamps = metric["steps"], metric["values"], metric["timestamps"]
            assert len(steps) == len(values) == len(stamps), (directory, name)
            assert steps == list(range(len(steps))), (directory, name)  # no gap, no repeat
            sign = -1 if name == "b" else 1
            assert values == [sign * s for s in steps], (directory, name)
            assert all(datetime.fromisoformat(t) for t in stamps)
            counts["points"] += len(steps)
        if delivered is not None:
            have = len(metrics.get("a", {}).get("steps", []))
            counts["lost"] += max(0, delivered.get(int(directory.name), 0) - have)
    return counts


#: the child's conftest: an observer of the lowest priority records what the file store
#: (priority 20) has been delivered before it, so the test can tell delivered from lost
DELIVERY_CONFTEST = '''
import os
import pytest_sacred.stores.file.writer as file_storage

if os.environ.get("LIVE_METRICS_BYTES"):  # reach the journal quickly
    file_storage.LIVE_METRICS_BYTES = int(os.environ["LIVE_METRICS_BYTES"])
priority = -100
_counts = {}
_log = os.open("delivered.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

def pytest_sacred_log_metrics(run_id, metrics_by_name):
    if "a" in metrics_by_name:
        _counts[run_id] = _counts.get(run_id, 0) + len(metrics_by_name["a"]["steps"])
        os.write(_log, f"{run_id} {_counts[run_id]}\\n".encode())
'''

BUSY_TEST = '''
import time
import pytest

@pytest.mark.experiment("busy")
@pytest.mark.parametrize("variant", range(20))
def test_busy(sacred_run, variant):
    # metrics.json grows to megabytes, rewritten every 20 ms: most kills land in a write
    for i in range(50_000):
        sacred_run.log_scalar("a", i)
        sacred_run.log_scalar("b", -i)
        if i % 500 == 0:
            sacred_run.info["i"] = i
            sacred_run.info["history"] = list(range(i % 5000))
            print("step", i)
            time.sleep(0.002)
    return variant
'''


def _delivered(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    if path.exists():
        for line in path.read_text().split("\n")[:-1]:  # the last may be cut off by the kill
            run_id, count = map(int, line.split())
            counts[run_id] = count
    return counts


def _busy_project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "conftest.py").write_text(DELIVERY_CONFTEST)
    (root / "test_busy.py").write_text(BUSY_TEST)


#: the moments of the kills: in the first WINDOW seconds of a session's experiments
WINDOW = 1.5


def _start_busy(root: Path, journal: bool) -> subprocess.Popen:
    _busy_project(root)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if journal:  # the session writes most of its metrics to the journal
        env["LIVE_METRICS_BYTES"] = "2000"
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *CHILD_FLAGS, "--sacred-heartbeat", "0.02",
         "test_busy.py"], cwd=root, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def _kill_when_due(children: dict[Path, subprocess.Popen], moments: dict[Path, float],
                   seed: int) -> None:
    """SIGKILL each child ``moments[root]`` seconds after its first run started (its
    ``runs/1/run.json`` appeared); the children run side by side."""
    deadline = time.monotonic() + 60
    started: dict[Path, float] = {}
    try:
        while len(started) < len(children) or any(c.poll() is None for c in children.values()):
            now = time.monotonic()
            for root, child in children.items():
                if root not in started:
                    if (root / "runs" / "1" / "run.json").exists():  # running experiments
                        started[root] = now
                        continue
                    assert child.poll() is None, \
                        f"the child ended before its first run (seed {seed})"
                    assert now < deadline, "the child never started a run"
                elif child.poll() is None and now >= started[root] + moments[root]:
                    child.send_signal(signal.SIGKILL)
                    child.wait(timeout=30)
            time.sleep(0.005)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)


@pytest.mark.system  # sessions killed in subprocesses
def test_sigkill_at_any_moment_leaves_valid_files_and_loses_no_delivered_point(tmp_path):
    """Sessions SIGKILLed at random moments of their first WINDOW seconds of experiments
    leave valid files and lose no delivered point.

    The moments are spread over the window rather than all drawn from it: it is cut into
    ``kills // 2`` equal slices (6 with the default 12 kills, PYTEST_SACRED_KILLS), and in
    each slice two sessions run side by side and are killed at moments drawn uniformly in
    that slice, one writing its metrics to metrics.json only and one writing most of them
    to the journal. Every part of the window is thus hit in both modes in each run of the
    test (20 moments drawn from the whole window could leave a fifth of it unhit in one
    mode), and over runs every moment is (PYTEST_SACRED_KILL_SEED repeats a draw)."""
    kills = int(os.environ.get("PYTEST_SACRED_KILLS", "12"))
    seed = int(os.environ.get("PYTEST_SACRED_KILL_SEED", str(time.time_ns() % 10**6)))
    rnd = random.Random(seed)
    slices = max(1, (kills + 1) // 2)
    totals = {"runs": 0, "points": 0, "lost": 0, "journals": 0}
    for first in range(0, kills, 2):
        part = first // 2
        children, moments = {}, {}
        for k in range(first, min(first + 2, kills)):
            root = tmp_path / f"kill{k}"
            children[root] = _start_busy(root, journal=bool(k % 2))
            moments[root] = rnd.uniform(part, part + 1) * WINDOW / slices
        _kill_when_due(children, moments, seed)
        for root in children:
            try:
                counts = check_store(root / "runs", _delivered(root / "delivered.log"))
            except AssertionError as exc:
                raise AssertionError(f"{root.name} (seed {seed}, {moments[root]:.2f} s) left "
                                     f"an invalid store: {exc}") from exc
            for key in totals:
                totals[key] += counts[key]
    print(f"\n{kills}/{kills} kills left valid files (seed {seed}): {totals['runs']} runs, "
          f"{totals['points']} points, {totals['journals']} with a journal, "
          f"{totals['lost']} delivered points lost")
    assert totals["lost"] == 0
    assert totals["journals"] > 0 or kills < 10  # the journal was under test too


# -- bad metric values ------------------------------------------------------------------------

def test_bad_metric_values_fail_at_the_call_and_cost_nothing_else(pytester, runs_dir):
    pytest.importorskip("numpy")
    pytester.makepyfile(test_metric_values='''
        import math
        import numpy as np
        import pytest

        BAD = [None, "abc", "1.5", 1j, [1.0], np.array([1.0, 2.0]), np.complex64(1), object()]

        @pytest.mark.experiment
        def test_values(sacred_run):
            sacred_run.log_scalar("m", 1.0)
            for bad in BAD:
                with pytest.raises(TypeError, match=r"log_scalar\\('m', .*real number"):
                    sacred_run.log_scalar("m", bad)
            with pytest.raises(TypeError, match="step must be an integer"):
                sacred_run.log_scalar("m", 1.0, step="3")
            for good in (math.nan, math.inf, -math.inf, 7, np.float32(0.5), np.int64(3),
                         np.bool_(True), True, np.array(2.5), 10**30):
                sacred_run.log_scalar("m", good)

        @pytest.mark.experiment
        def test_uncaught(sacred_run):
            sacred_run.log_scalar("m", 1.0)
            sacred_run.log_scalar("m", None)
    ''')
    result = pytester.runpytest("--sacred-heartbeat", "0.05")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*TypeError: log_scalar('m', None): a metric value must be "
                                 "a real number, got NoneType*"])
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())["m"]
    values = metrics["values"]
    assert values[0] == 1.0 and values[1] != values[1]  # NaN, as Sacred stores it
    assert values[2:] == [float("inf"), float("-inf"), 7, 0.5, 3, 1, 1, 2.5, 10**30]
    assert metrics["steps"] == list(range(11))
    failed = json.loads((runs_dir / "2" / "run.json").read_text())
    assert failed["status"] == "FAILED" and failed["stop_time"]
    assert json.loads((runs_dir / "2" / "metrics.json").read_text())["m"]["values"] == [1.0]


# -- the heartbeat thread ------------------------------------------------------------------------

def test_a_failing_beat_is_reported_and_the_next_beat_runs():
    beats: list[str] = []
    errors: list[tuple[str, str]] = []
    done = threading.Event()

    def beat(run):
        beats.append(run)
        if run == "bad" or len(beats) == 2:
            raise ValueError(f"beat {len(beats)} of {run} failed")
        if run == "good" and beats.count("good") >= 3:
            done.set()

    heartbeat = Heartbeat(0.01, beat, on_error=lambda run, exc: errors.append((run, str(exc))))
    try:
        heartbeat.watch("bad")  # a run whose every beat fails ...
        deadline = time.monotonic() + 10
        while beats.count("bad") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        heartbeat.watch("good")  # ... and the next run, in the same thread
        assert done.wait(10), beats
    finally:
        heartbeat.stop()
    assert beats.count("bad") >= 3
    assert errors[:3] == [("bad", f"beat {i} of bad failed") for i in (1, 2, 3)]
    assert heartbeat.failures == len(errors)


def test_a_failing_error_report_does_not_stop_the_beats(capfd):
    beats: list[int] = []
    done = threading.Event()

    def beat(run):
        beats.append(run)
        if len(beats) >= 3:
            done.set()
        raise RuntimeError("store gone")

    def report(run, exc):
        raise OSError("the report failed too")

    heartbeat = Heartbeat(0.01, beat, on_error=report)
    try:
        heartbeat.watch(1)
        assert done.wait(10)
    finally:
        heartbeat.stop()
    assert "RuntimeError: store gone" in capfd.readouterr().err  # printed instead


def test_runs_shorter_than_the_interval_get_no_periodic_beat_and_a_long_one_does() -> None:
    """Runs come and go without waking the heartbeat thread; a run that lasts gets its beats
    on time, none before its interval is up."""
    beats: list[tuple[str, float]] = []
    done = threading.Event()

    def beat(run):
        beats.append((run, time.monotonic()))
        if len(beats) >= 2:
            done.set()

    heartbeat = Heartbeat(0.3, beat)
    try:
        for i in range(50):  # a sweep of short runs
            heartbeat.watch(f"short {i}")
            heartbeat.unwatch()
        watched = time.monotonic()
        heartbeat.watch("long")
        assert done.wait(10), beats
    finally:
        heartbeat.stop()
    assert [run for run, _ in beats[:2]] == ["long", "long"]
    assert beats[0][1] - watched >= 0.3
    assert beats[1][1] - watched >= 0.6  # the next one an interval later, not at once


# -- hostile artifact names and tmp_path contents ------------------------------------------------

HOSTILE = '''
import pytest


@pytest.mark.experiment
def test_kept(sacred_run, tmp_path):
    path = tmp_path.parent / "payload.txt"
    path.write_text("payload")
    sacred_run.add_artifact(path, name="ok/../kept.txt")
    sacred_run.add_artifact(path, name="dir\\\\inner.txt")
    sacred_run.info["user"] = 1
    (tmp_path / "info.json").write_text('{"mine": true}')
    (tmp_path / "RUN.json").write_text("not the run")
    (tmp_path / "outside.lnk").symlink_to("/etc/hostname")
    (tmp_path / "folder.lnk").symlink_to("/etc")
    (tmp_path / "dangling.lnk").symlink_to(tmp_path / "missing")
    (tmp_path / "inside.txt").write_text("inside")
    (tmp_path / "inside.lnk").symlink_to(tmp_path / "inside.txt")
'''


def _artifact_files(directory: Path) -> set[str]:
    own = {"run.json", "config.json", "cout.txt", "metrics.json", "info.json"}
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")
            if p.is_file() and p.relative_to(directory).as_posix() not in own}


def test_artifact_names_are_normalised_and_tmp_path_links_kept_inside(
        pytester, runs_dir, mongo_server, mongo_db_name):
    # names no store keeps are refused by add_artifact itself: see test_call_errors.py
    pytester.makepyfile(test_names=HOSTILE)
    result = pytester.runpytest(f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:"
                                f"{mongo_db_name}", "--sacred-file-storage", str(runs_dir))
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    with mongo_server.client() as client:
        docs = {d["_id"]: d for d in client[mongo_db_name].runs.find()}
    run_dir = runs_dir / "1"
    run = json.loads((run_dir / "run.json").read_text())
    expected = ["dir/inner.txt", "inside.lnk", "inside.txt", "kept.txt",
                "tmp_path/RUN.json", "tmp_path/info.json"]
    assert run["status"] == "COMPLETED" and sorted(run["artifacts"]) == expected
    assert _artifact_files(run_dir) == set(expected)  # nothing else was written in the run
    assert (run_dir / "tmp_path" / "info.json").read_text() == '{"mine": true}'
    assert (run_dir / "inside.lnk").read_text() == "inside"
    info = json.loads((run_dir / "info.json").read_text())
    assert info["user"] == 1  # the run's info, not the file from tmp_path
    notes = info["tmp_path_not_stored"]
    assert notes["outside.lnk"] == "symbolic link to /etc/hostname, outside tmp_path: not followed"
    assert notes["folder.lnk"].endswith("outside tmp_path: not followed")
    assert "which does not exist" in notes["dangling.lnk"]
    assert sorted(notes) == ["dangling.lnk", "folder.lnk", "outside.lnk"]
    assert sorted(info["tmp_path_renamed"]) == [["RUN.json", "tmp_path/RUN.json"],
                                                ["info.json", "tmp_path/info.json"]]
    assert sorted(a["name"] for a in docs[1]["artifacts"]) == expected


# -- oversized and huge values on MongoDB ------------------------------------------------------

def test_a_config_over_16_mb_is_kept_in_gridfs_and_the_run_stored(
        pytester, mongo_server, mongo_db_name):
    import gridfs

    pytester.makepyfile(test_big='''
        import pytest
        from pytest_sacred import config

        @config
        def weights():
            return "w" * (17 * 1024 * 1024)

        @config
        def lr():
            return 0.1

        @pytest.mark.experiment
        def test_big(weights, lr, sacred_run):
            sacred_run.log_scalar("loss", 0.5)
            return len(weights)
    ''')
    result = pytester.runpytest(f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:"
                                f"{mongo_db_name}")
    result.assert_outcomes(passed=1)
    assert result.ret == 0 and "observer errors" not in result.stdout.str()
    with mongo_server.client() as client:
        db = client[mongo_db_name]
        doc = db.runs.find_one({"_id": 1})
        assert doc["status"] == "COMPLETED" and doc["result"] == 17 * 1024 * 1024
        assert doc["config"]["lr"] == 0.1 and "seed" in doc["config"]
        assert doc["config"]["weights"].startswith("…[config of ")
        stored = gridfs.GridFS(db).get(doc["config_file"])
        assert stored.filename == "config://runs/1"
        whole = json.loads(stored.read())
        assert whole["weights"] == "w" * (17 * 1024 * 1024) and whole["lr"] == 0.1
        assert db.metrics.find_one({"run_id": 1})["values"] == [0.5]


def test_integers_beyond_64_bits_are_stored_as_floats_without_losing_other_points(
        pytester, mongo_server, mongo_db_name):
    pytester.makepyfile(test_ints='''
        import pytest

        @pytest.mark.experiment
        def test_ints(sacred_run):
            sacred_run.log_scalar("m", 1)
            sacred_run.log_scalar("m", 10**30)
            sacred_run.log_scalar("m", -10**400)
            sacred_run.log_scalar("m", 2)
            sacred_run.log_scalar("other", 3.5)
            sacred_run.log_scalar("steps", 1.0, step=10**20)
    ''')
    result = pytester.runpytest(f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:"
                                f"{mongo_db_name}")
    result.assert_outcomes(passed=1)
    assert "observer errors" not in result.stdout.str()
    with mongo_server.client() as client:
        metrics = {m["name"]: m for m in client[mongo_db_name].metrics.find({"run_id": 1})}
    assert metrics["m"]["values"] == [1, 1e30, float("-inf"), 2]
    assert type(metrics["m"]["values"][0]) is int
    assert metrics["m"]["steps"] == [0, 1, 2, 3]
    assert metrics["other"]["values"] == [3.5]
    assert metrics["steps"]["steps"] == [1e20]


# -- a full disk --------------------------------------------------------------------------------

FILLING_TEST = '''
import pytest

@pytest.mark.experiment("filling")
@pytest.mark.parametrize("variant", range(6))
def test_filling(sacred_run, variant, tmp_path):
    for i in range(3000):
        sacred_run.log_scalar("a", i)
        sacred_run.log_scalar("b", -i)
    sacred_run.info["blob"] = "x" * 20000
    print("y" * 20000)
    (tmp_path / "artifact.bin").write_bytes(b"z" * 30000)
'''


def _small_filesystem(path: Path) -> tuple[str, callable]:
    """A 300 KB tmpfs at ``path`` (root only), or else a per-file size limit for the child:
    returns (kind, preexec function or None)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(path)],
                             capture_output=True)
    if mounted.returncode == 0:
        return "tmpfs", None
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill

    return "rlimit", limit


@pytest.mark.system  # mounts a small filesystem
def test_a_full_disk_is_reported_and_never_corrupts_earlier_files(tmp_path):
    store = tmp_path / "small"
    kind, preexec = _small_filesystem(store)
    try:
        root = tmp_path / "project"
        root.mkdir()
        (root / "pytest.ini").write_text(INI)
        (root / "test_filling.py").write_text(FILLING_TEST)
        child = subprocess.run(
            [sys.executable, "-m", "pytest", *CHILD_FLAGS, "--sacred-heartbeat", "0.01",
             "--sacred-file-storage", str(store / "runs"), "test_filling.py"],
            cwd=root, capture_output=True, text=True, timeout=300, preexec_fn=preexec)
        out = child.stdout + child.stderr
        assert "6 passed" in out, out[-3000:]  # the experiments ran, whatever the disk did
        code = "ENOSPC" if kind == "tmpfs" else "EFBIG"
        assert f"[Errno {getattr(errno, code)} {code}]" in out, out[-3000:]
        assert "the files written before are unchanged" in out
        assert f"cannot write {store / 'runs'}" in out or f"cannot create {store / 'runs'}" in out
        counts = check_store(store / "runs")
        assert counts["runs"] >= 1  # something was stored before the disk was full
    finally:
        if kind == "tmpfs":
            subprocess.run(["umount", str(store)], check=False)


# -- the file store's replaced files -------------------------------------------------------------

PLAIN_RUNS = '''
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("i", range(3))
def test_plain(sacred_run, i, tmp_path):
    for step in range(50):
        sacred_run.log_scalar("a", step)
    print("output", i)
    (tmp_path / "model.txt").write_text(str(i))
'''


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "os-replace"])
def test_every_file_is_whole_and_no_working_file_remains(pytester, runs_dir, monkeypatch,
                                                         exchange):
    import pytest_sacred.stores.atomic_file as atomic_file

    if not exchange:  # as on a system or filesystem without RENAME_EXCHANGE
        monkeypatch.setattr(atomic_file, "_renameat2", False)
    pytester.makepyfile(test_plain=PLAIN_RUNS)
    pytester.runpytest("--sacred-heartbeat", "0.001").assert_outcomes(passed=3)
    assert check_store(runs_dir)["runs"] == 3
    assert not [p for p in runs_dir.rglob("*") if p.name.startswith(".pytest-sacred-")]
    for run_id in (1, 2, 3):
        directory = runs_dir / str(run_id)
        assert json.loads((directory / "run.json").read_text())["artifacts"] == ["model.txt"]
        assert json.loads((directory / "metrics.json").read_text())["a"]["steps"] == list(
            range(50))
        assert (directory / "cout.txt").read_text().startswith(f"output {run_id - 1}")


def test_incense_reads_a_run_without_info(pytester, runs_dir):
    incense = pytest.importorskip("incense")
    pytester.makepyfile(test_plain=PLAIN_RUNS)
    pytester.runpytest("-k", "0").assert_outcomes(passed=1)
    loader = incense.experiment_loader.FileSystemExperimentLoader(runs_dir)
    run = loader.find_by_id(1)  # FileNotFoundError without info.json
    assert dict(run.info) == {}
    assert run.status == "COMPLETED"
    assert list(run.metrics["a"].values) == list(range(50))
    assert set(run.artifacts) <= {"model.txt", "info.json"}  # no working file among them
