"""The store contract: the same tests on every store kind (stores_under_test.py), so a
store that does less than the others fails here by name.

1. a run of every kind of content, and a failed run, read back equal through our reader
   and through Sacred's own reader of the layout;
2. an outage of a few seconds mid-sweep: exit 0, no run and no point lost, none twice;
3. an outage for good: exit 6, a spill file, and its replay stores every run whole;
4. two sessions at once on one store: distinct ids, both sets of runs whole;
5. bad values (non-finite metrics, values no store takes as they are, a value over 16 MiB,
   keys with '.' and '$'): stored the same way, with the same warnings, by every store.

Sessions are real pytest subprocesses; stores are real servers and files. An outage is a
cut TCP proxy (networked stores) or a held lock (TinyDB, SQLite); see stores_under_test.py.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from stores_under_test import StoreUnderTest

from pytest_sacred.readers import open_reader

STORE_FAILED = 6
#: variants of the outage sweeps, and how many have run when the store is cut
VARIANTS = 20
CUT_AFTER = 5
#: seconds the store is away mid-sweep
OUTAGE = 2.5
#: and then longer, until a variant has ended while it is away, for at most this long
OUTAGE_LIMIT = 15.0
#: the tests without an outage: a store that fails them is given up on soon
NO_OUTAGE = "--sacred-store-retry=5"
#: the lock wait of sessions sharing a local store (TinyDB, SQLite): each waits for the
#: other's writes as a user's would (the default), not the outage tests' short wait, which a
#: busy machine's pause of the other writer passes; at the start of a session a lock not
#: had in time is a usage error (the session ends, the other waits for it in vain)
SHARED_LOCK_TIMEOUT = ("--sacred-lock-timeout", "30")


def _session(pytester: pytest.Pytester, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
         # a test still running after 30 s prints every thread's stack: where it is stuck
         "-o", "faulthandler_timeout=30", *args],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _output(session: subprocess.Popen, timeout: float = 240) -> str:
    """The session's output once it ends; killed (and its output given) if it has not
    ended after ``timeout`` seconds, so no stuck session outlives its test."""
    try:
        return session.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        session.kill()
        out = session.communicate()[0]
        raise AssertionError(f"the session did not end within {timeout:g} s:\n{out}") from None


def _outputs(sessions: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    """The output of every session once all have ended, within ``timeout`` seconds in all
    (see :func:`_output`); when one did not end in time, every session's output is given,
    that of one that ended early too: its own error is what left the other waiting."""
    deadline = time.monotonic() + timeout
    outputs, stuck = [], False
    for session in sessions:
        try:
            outputs.append(_output(session, max(deadline - time.monotonic(), 1)))
        except AssertionError as exc:
            stuck = True
            outputs.append(str(exc))
    if stuck:
        raise AssertionError("\n".join(f"session {number} (exit {session.returncode}):\n{out}"
                                       for number, (session, out) in
                                       enumerate(zip(sessions, outputs, strict=True))))
    return outputs


def _full_runs(store: StoreUnderTest) -> dict[int, Any]:
    """Every run of the store, whole, with its metrics and artifacts, by id."""
    with open_reader(store.name) as reader:
        runs = {}
        for listed in reader.list_runs():
            run = reader.get_run(listed.id)
            run.points = reader.metrics(run.id)  # type: ignore[attr-defined]
            run.files = {name: reader.artifact(run.id, name)  # type: ignore[attr-defined]
                         for name in run.artifacts}
            runs[run.id] = run
        return runs


# -- 1. round trip -----------------------------------------------------------------------------

STEPS = 150
ROUND_TRIP = textwrap.dedent('''
    import pytest
    from pytest_sacred import config

    STEPS = {steps}
    RESOURCE = {resource!r}

    @config
    def optimizer():
        return {{"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "nested": {{"on": True}}}}

    @pytest.mark.experiment("contract")
    @pytest.mark.parametrize("width", [8, 32])
    def test_train(width, optimizer, sacred_run, tmp_path):
        for step in range(STEPS):
            sacred_run.log_scalar("train.loss", 1.0 / (step + 1) / width, step)
            sacred_run.log_scalar("lr", optimizer["lr"] * 0.99 ** step)
            if step % 10 == 0:
                sacred_run.log_scalar("val.acc", step / STEPS + width / 1000, step * 2)
        sacred_run.info["best"] = {{"epoch": 3, "scores": [0.5, 0.25], "tag": f"w{{width}}"}}
        sacred_run.info["note"] = "unicode é ✓"
        with sacred_run.open_resource(RESOURCE) as f:
            assert f.read() == "resource data"
        (tmp_path / "model.bin").write_bytes(bytes(range(256)) * width)
        print(f"trained width={{width}}")
        print("second line")
        return 0.5 + width / 100

    @pytest.mark.experiment("contract")
    def test_fails(sacred_run):
        sacred_run.log_scalar("loss", 0.5)
        print("before the failure")
        assert 1 == 2, "intended failure"
''')


def _expected_metrics(width: int) -> dict[str, tuple[list[int], list[float]]]:
    return {
        "train.loss": (list(range(STEPS)), [1.0 / (s + 1) / width for s in range(STEPS)]),
        "lr": (list(range(STEPS)), [0.001 * 0.99 ** s for s in range(STEPS)]),
        "val.acc": ([s * 2 for s in range(0, STEPS, 10)],
                    [s / STEPS + width / 1000 for s in range(0, STEPS, 10)]),
    }


def test_round_trip(pytester: pytest.Pytester, store_under_test: StoreUnderTest) -> None:
    store = store_under_test
    resource = pytester.path / "data" / "resource.bin"
    resource.parent.mkdir()
    resource.write_bytes(b"resource data")
    resource_md5 = hashlib.md5(b"resource data").hexdigest()
    pytester.makepyfile(test_contract_trip=ROUND_TRIP.format(steps=STEPS,
                                                             resource=str(resource)))
    result = pytester.runpytest_subprocess("-p", "no:randomly", NO_OUTAGE, *store.options)
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "could not store" not in out and "NOT STORED" not in out, out

    runs = _full_runs(store)
    assert sorted(runs) == [1, 2, 3]
    by_test = {run.meta["pytest"]["nodeid"].split("::")[1]: run for run in runs.values()}
    assert set(by_test) == {"test_train[8]", "test_train[32]", "test_fails"}
    for width in (8, 32):
        run = by_test[f"test_train[{width}]"]
        label = f"{store.kind} run {run.id}"
        assert run.status == "COMPLETED", label
        assert run.experiment["name"] == "contract" and run.command == "test_train", label
        assert {k: v for k, v in run.config.items() if k != "seed"} == {
            "width": width, "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999],
                                          "nested": {"on": True}}}, label
        assert isinstance(run.config["seed"], int), label
        assert run.info == {"best": {"epoch": 3, "scores": [0.5, 0.25], "tag": f"w{width}"},
                            "note": "unicode é ✓"}, label
        assert run.result == 0.5 + width / 100, label
        assert f"trained width={width}\nsecond line\n" in run.captured_out, label
        assert run.fail_trace is None, label
        assert run.artifacts == ["model.bin"], label
        assert run.files == {"model.bin": bytes(range(256)) * width}, label
        assert sorted(run.metric_names) == sorted(_expected_metrics(width)), label
        for name, (steps, values) in _expected_metrics(width).items():
            metric = run.points[name]
            assert metric.steps == steps, (label, name)
            assert metric.values == values, (label, name)
            assert len(metric.timestamps) == len(steps) and None not in metric.timestamps
        assert run.start_time <= run.stop_time, label
        assert run.host["hostname"], label
    failed = by_test["test_fails"]
    assert failed.status == "FAILED" and failed.result is None
    assert "before the failure" in failed.captured_out
    assert failed.fail_trace[0].startswith("Traceback")
    assert "intended failure" in "".join(failed.fail_trace)
    assert failed.points["loss"].values == [0.5]

    # the same runs through Sacred's own reader of the layout (what it keeps of them)
    for run in runs.values():
        theirs = store.sacred(run.id)
        label = f"{store.kind} run {run.id} as Sacred reads it"
        assert theirs["status"] == run.status, label
        assert theirs["config"] == run.config, label
        assert theirs["info"] == run.info, label
        assert theirs["result"] == run.result, label
        assert theirs["captured_out"] == run.captured_out, label
        if isinstance(theirs["fail_trace"], str):  # Sacred's SQL column: lines joined by \n
            assert theirs["fail_trace"] == "\n".join(run.fail_trace), label
        else:
            assert theirs["fail_trace"] == run.fail_trace, label
        assert theirs["resources"] == [[str(resource), resource_md5]] * (
            run.status == "COMPLETED"), label
        if isinstance(theirs["artifacts"], dict):
            assert theirs["artifacts"] == run.files, label
        else:  # Sacred's SQL query names them only
            assert theirs["artifacts"] == run.artifacts, label
        if "metrics" in theirs:
            assert theirs["metrics"] == {name: (m.steps, m.values)
                                         for name, m in run.points.items()}, label
    # every reader gives a resource as [its path, the md5 of its content]
    for width in (8, 32):
        run = by_test[f"test_train[{width}]"]
        assert [list(r) for r in run.resources] == [[str(resource), resource_md5]], \
            f"{store.kind} run {run.id}: resources as our reader gives them"


# -- 2, 3. outages -----------------------------------------------------------------------------

SWEEP = textwrap.dedent(f'''
    import pathlib
    import time

    import pytest


    @pytest.mark.experiment("sweep")
    @pytest.mark.parametrize("i", range({VARIANTS}))
    def test_sweep(i, sacred_run, tmp_path):
        for step in range(6):
            sacred_run.log_scalar("loss", 1.0 / (step + 1 + i), step=step)
            time.sleep(0.04)
        sacred_run.info["i"] = i
        (tmp_path / "model.txt").write_text(f"model {{i}}")
        print("variant", i)
        pathlib.Path("done", str(i)).touch()
        return i
''')


def _check_sweep_stored(store: StoreUnderTest) -> None:
    """Every variant once, COMPLETED, with its result, info, output, artifact and points."""
    runs = _full_runs(store)
    variants = sorted(run.config["i"] for run in runs.values())
    assert variants == list(range(VARIANTS)), f"{store.kind}: variants stored {variants}"
    for run in runs.values():
        i = run.config["i"]
        label = f"{store.kind} run {run.id} (i={i})"
        assert run.status == "COMPLETED", label
        assert run.result == i and run.info == {"i": i}, label
        assert f"variant {i}\n" in run.captured_out, label
        assert run.files == {"model.txt": f"model {i}".encode()}, label
        assert run.points["loss"].steps == list(range(6)), label
        assert run.points["loss"].values == [1.0 / (s + 1 + i) for s in range(6)], label


def _done(pytester: pytest.Pytester) -> int:
    return len(list((pytester.path / "done").iterdir()))


def _start_sweep(pytester: pytest.Pytester, store: StoreUnderTest,
                 retry: str) -> subprocess.Popen:
    """The sweep in a subprocess session; returns once CUT_AFTER variants have run."""
    if store.cut is None:
        pytest.skip(store.no_outage)
    pytester.makepyfile(test_contract_sweep=SWEEP)
    (pytester.path / "done").mkdir()
    session = _session(pytester, *store.options, "--sacred-heartbeat=0.1",
                       f"--sacred-store-retry={retry}")
    deadline = time.monotonic() + 120
    while _done(pytester) < CUT_AFTER:
        if session.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the sweep did not get to variant {CUT_AFTER}:\n"
                                 f"{_output(session, 10)}")
        time.sleep(0.02)
    return session


def test_outage_mid_sweep_loses_nothing(pytester: pytest.Pytester,
                                        store_under_test: StoreUnderTest) -> None:
    store = store_under_test
    session = _start_sweep(pytester, store, retry="60")
    assert store.cut is not None and store.restore is not None
    store.cut()
    cut_at = _done(pytester)
    time.sleep(OUTAGE)
    # a sweep that waits for its store ends no variant while the store is away, however
    # long that is; one that goes on ends some, if later on a loaded machine (the first
    # write to fail, or the id claim that meets the outage, takes its client's timeouts)
    away_until = time.monotonic() + OUTAGE_LIMIT
    while _done(pytester) == cut_at and time.monotonic() < away_until:
        time.sleep(0.05)
    restored_at = _done(pytester)
    store.restore()
    out = _output(session)
    print(out)  # shown when the test fails
    assert restored_at < VARIANTS, "the sweep ended before the store came back"
    # the experiment never waits on a store: variants go on ending while it is away
    assert restored_at > cut_at, \
        f"no variant ended in the {OUTAGE_LIMIT + OUTAGE} s the store was away: the sweep " \
        "waited for it"
    assert session.returncode == 0, out
    assert f"{VARIANTS} passed" in out
    assert "NOT STORED" not in out and "could not store" not in out, out
    _check_sweep_stored(store)


_REPLAY_HINT = re.compile(r"python -m pytest_sacred replay (\S+\.jsonl)")


def test_outage_for_good_spills_and_replay_completes(pytester: pytest.Pytester,
                                                     store_under_test: StoreUnderTest) -> None:
    store = store_under_test
    session = _start_sweep(pytester, store, retry="2")
    assert store.cut is not None and store.restore is not None
    store.cut()
    try:
        out = _output(session)
    finally:
        store.restore()
    print(out)
    assert session.returncode == STORE_FAILED, out
    assert f"{VARIANTS} passed" in out
    assert "NOT STORED" in out or "stored without" in out or "incomplete" in out, out
    spills = {(pytester.path / named).resolve() for named in _REPLAY_HINT.findall(out)}
    assert len(spills) == 1, f"one spill file named for replay, got {spills}:\n{out}"
    [spill] = spills
    assert spill.is_file(), spill

    replayed = subprocess.run([sys.executable, "-m", "pytest_sacred", "replay", str(spill)],
                              cwd=pytester.path, capture_output=True, text=True, timeout=240)
    print(replayed.stdout, replayed.stderr)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed" in replayed.stdout and "ERROR" not in replayed.stdout
    _check_sweep_stored(store)


# -- 4. concurrent sessions ------------------------------------------------------------------------

PER_SESSION = 10
CONCURRENT = textwrap.dedent(f'''
    import os
    import pathlib
    import time
    import pytest

    def both_sessions_at(x):
        # a barrier between the two sessions: each has claimed the id of variant x (runs
        # get theirs before the body) before either claims the next one
        sync = pathlib.Path("sync")
        sync.mkdir(exist_ok=True)
        (sync / f"{{x}}-{{os.getpid()}}").touch()
        deadline = time.monotonic() + 120  # generous: only a stuck session hits it
        while len(list(sync.glob(f"{{x}}-*"))) < 2:
            assert time.monotonic() < deadline, f"the other session never reached {{x}}"
            time.sleep(0.005)

    @pytest.mark.experiment("concurrent")
    @pytest.mark.parametrize("x", range({PER_SESSION}))
    def test_variant(x, sacred_run, tmp_path):
        sacred_run.log_scalar("x", float(x))
        (tmp_path / "pid.txt").write_text(str(os.getpid()))
        print("pid", os.getpid())
        both_sessions_at(x)
        return os.getpid()
''')


def test_concurrent_sessions_get_distinct_ids(pytester: pytest.Pytester,
                                              store_under_test: StoreUnderTest) -> None:
    store = store_under_test
    pytester.makepyfile(test_contract_concurrent=CONCURRENT)
    sessions = [_session(pytester, NO_OUTAGE, *store.options, *SHARED_LOCK_TIMEOUT)
                for _ in range(2)]
    try:
        outputs = _outputs(sessions)
    finally:
        for session in sessions:
            if session.poll() is None:
                session.kill()
                session.wait()
    assert [s.returncode for s in sessions] == [0, 0], outputs
    runs = _full_runs(store)
    assert sorted(runs) == list(range(1, 2 * PER_SESSION + 1)), sorted(runs)
    pids = [run.result for run in runs.values()]
    assert len(set(pids)) == 2 and sorted({pids.count(p) for p in pids}) == [PER_SESSION]
    for run in runs.values():
        label = f"{store.kind} run {run.id}"
        assert run.status == "COMPLETED", label
        assert run.files == {"pid.txt": str(run.result).encode()}, label
        assert f"pid {run.result}\n" in run.captured_out, label
        assert run.points["x"].values == [float(run.config["x"])], label
    for pid in set(pids):  # each session stored every one of its variants once
        assert sorted(r.config["x"] for r in runs.values() if r.result == pid) == list(
            range(PER_SESSION))
    # the sessions really ran side by side: their ids interleave (in lock step, each pair
    # of ids 2x+1, 2x+2 went to one run of each session)
    owner = [runs[i].result for i in range(1, 2 * PER_SESSION + 1)]
    assert sum(a != b for a, b in zip(owner, owner[1:], strict=False)) > 1, owner
    assert all(owner[i] != owner[i + 1] for i in range(0, 2 * PER_SESSION, 2)), owner


# -- 5. bad values ---------------------------------------------------------------------------------

#: over 16 MiB: MongoDB's document limit, MariaDB's default max_allowed_packet
HUGE = 17 * 2**20
BAD_VALUES = textwrap.dedent(f'''
    import pytest
    from pytest_sacred import config

    @config
    def odd_keys():
        return {{"a.b": 1, "$c": {{"d.e": 2}}}}

    @pytest.mark.experiment("bad_values")
    def test_non_finite_metrics(sacred_run):
        for value in (float("nan"), float("inf"), float("-inf"), 1.5):
            sacred_run.log_scalar("m", value)
        return float("nan")

    @pytest.mark.experiment("bad_values")
    def test_keys(sacred_run, odd_keys):
        sacred_run.info["a.b"] = {{"$x": 1, "y.z$": [1, 2], "$": "dollar"}}
        return {{"$r.s": 1, ".": 2}}

    @pytest.mark.experiment("bad_values")
    def test_huge_info(sacred_run):
        sacred_run.info["huge"] = "x" * {HUGE}
        sacred_run.info["small"] = 1
        return 1

    @pytest.mark.experiment("bad_values")
    def test_unserialisable(sacred_run):
        sacred_run.info["f"] = lambda: 1
        sacred_run.info["s"] = {{1, 2}}
        return lambda: 2
''')


def test_bad_values_are_handled_the_same_by_every_store(
        pytester: pytest.Pytester, store_under_test: StoreUnderTest) -> None:
    from test_values import UNSTORABLE, check_unstorable_read_back

    store = store_under_test
    pytester.makepyfile(test_contract_bad=BAD_VALUES, test_unstorable=UNSTORABLE)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-W", "always", NO_OUTAGE,
                                           *store.options,
                                           "test_contract_bad.py", "test_unstorable.py")
    result.assert_outcomes(passed=12)
    out = result.stdout.str()
    assert result.ret == 0, out  # every value stored, none spilled
    assert "could not store" not in out and "NOT STORED" not in out, out
    # the warnings come from the one normalisation, before any store: the same everywhere
    warned = sorted(set(re.findall(r"(\S+ cannot be stored \([^)]*\))", out)))
    assert any("info['f'] cannot be stored" in w for w in warned), warned
    assert any("result cannot be stored" in w and "builtins.function" in w for w in warned), \
        warned
    check_unstorable_read_back(store.name, ignore={"bad_values"})

    with open_reader(store.name) as reader:
        runs = {run.command: reader.get_run(run.id) for run in reader.list_runs()
                if run.experiment["name"] == "bad_values"}
        assert sorted(runs) == ["test_huge_info", "test_keys", "test_non_finite_metrics",
                                "test_unserialisable"]
        assert {run.status for run in runs.values()} == {"COMPLETED"}
        finite = runs["test_non_finite_metrics"]
        assert math.isnan(finite.result)
        values = reader.metric(finite.id, "m").values
        assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1.5], values
        keys = runs["test_keys"]
        assert keys.config["odd_keys"] == {"a.b": 1, "$c": {"d.e": 2}}
        assert keys.info == {"a.b": {"$x": 1, "y.z$": [1, 2], "$": "dollar"}}
        assert keys.result == {"$r.s": 1, ".": 2}
        huge = runs["test_huge_info"]
        assert huge.info["small"] == 1 and huge.info["huge"] == "x" * HUGE
        odd = runs["test_unserialisable"]
        assert odd.info["f"].startswith("<function test_unserialisable.<locals>.<lambda>")
        assert odd.info["s"] == {"py/set": [1, 2]}
        assert odd.result.startswith("<function test_unserialisable.<locals>.<lambda>")

