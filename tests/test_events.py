"""Observer events: what a custom observer written as pytest hooks receives, and when."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

# An observer as a class registered in pytest_configure: every event it receives is
# appended, with its arguments, to one list shared by all recorders of the session, which
# is written to events.json at the end of the session.
RECORDER = '''
import json
import pathlib

import pytest

EVENTS = []


def _plain(value):
    return json.loads(json.dumps(value, default=str))


class Recorder:
    def __init__(self, name, priority=0, allocate=None, fail_in=()):
        self.name = name
        self.priority = priority
        self._allocate = allocate  # first id to hand out, or None to leave it to others
        self._fail_in = set(fail_in)

    def _record(self, hook, **kwargs):
        EVENTS.append({"observer": self.name, "hook": hook, **_plain(kwargs)})
        if hook in self._fail_in:
            raise RuntimeError(f"{self.name} broke in {hook}")

    def pytest_sacred_allocate_id(self, ex_info, config, meta_info):
        self._record("allocate_id", config=config)
        if self._allocate is not None:
            self._allocate += 1
            return self._allocate - 1
        return None

    def pytest_sacred_started_event(self, run_id, ex_info, command, host_info, start_time,
                                    config, meta_info):
        self._record("started_event", run_id=run_id, command=command, config=config,
                     ex_name=ex_info["name"])

    def pytest_sacred_heartbeat_event(self, run_id, info, captured_out, beat_time, result):
        self._record("heartbeat_event", run_id=run_id, info=info, captured_out=captured_out,
                     result=result)

    def pytest_sacred_log_metrics(self, run_id, metrics_by_name, info):
        self._record("log_metrics", run_id=run_id, metrics_by_name=metrics_by_name)

    def pytest_sacred_completed_event(self, run_id, stop_time, result):
        self._record("completed_event", run_id=run_id, result=result)

    def pytest_sacred_failed_event(self, run_id, fail_time, fail_trace):
        self._record("failed_event", run_id=run_id, fail_trace=fail_trace,
                     fail_trace_types=[type(line).__name__ for line in fail_trace])

    def pytest_sacred_interrupted_event(self, run_id, interrupt_time, status):
        self._record("interrupted_event", run_id=run_id, status=status)

    def pytest_sacred_artifact_event(self, run_id, name, filename, metadata, content_type):
        self._record("artifact_event", run_id=run_id, name=name)

    def pytest_sacred_resource_event(self, run_id, filename):
        self._record("resource_event", run_id=run_id, filename=filename)


def pytest_sessionfinish(session):
    pathlib.Path(str(session.config.rootpath), "events.json").write_text(json.dumps(EVENTS))
'''


def observer_conftest(pytester: pytest.Pytester, register: str) -> None:
    """A conftest.py with the recorder class and a pytest_configure registering ``register``."""
    body = textwrap.dedent(register).strip()
    pytester.makeconftest(
        RECORDER + "\n\ndef pytest_configure(config):\n" + textwrap.indent(body, "    ") + "\n")


def events(pytester: pytest.Pytester, observer: str | None = "rec") -> list[dict]:
    data = json.loads((pytester.path / "events.json").read_text())
    return [e for e in data if observer is None or e["observer"] == observer]


def hooks(evs: list[dict]) -> list[str]:
    return [e["hook"] for e in evs]


# The recorder asks first (priority 100) but leaves the id to the file store.
ONE_RECORDER = "config.pluginmanager.register(Recorder('rec', priority=100), 'rec')"


def test_completed_run_event_order(pytester: pytest.Pytester, runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment("ordered")
        def test_ok(sacred_run, tmp_path):
            sacred_run.log_scalar("loss", 0.5)
            sacred_run.log_scalar("loss", 0.25)
            sacred_run.info["note"] = "hello"
            (tmp_path / "model.txt").write_text("weights")
            print("training done")
            return 42
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    evs = events(pytester)
    assert hooks(evs) == ["allocate_id", "started_event", "artifact_event", "log_metrics",
                          "heartbeat_event", "completed_event"]
    run_ids = {e["run_id"] for e in evs if "run_id" in e}
    assert run_ids == {1}
    started, artifact, metrics, beat, completed = evs[1:]
    assert started["command"] == "test_ok"
    assert started["ex_name"] == "ordered"
    assert "seed" in started["config"]
    assert artifact["name"] == "model.txt"
    assert metrics["metrics_by_name"]["loss"]["steps"] == [0, 1]
    assert metrics["metrics_by_name"]["loss"]["values"] == [0.5, 0.25]
    assert beat["info"] == {"note": "hello"}
    assert beat["result"] == 42
    assert "training done" in beat["captured_out"]
    assert completed["result"] == 42
    assert read_run(runs_dir, 1)["status"] == "COMPLETED"


def test_failed_run_gets_fail_trace(pytester: pytest.Pytester, runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_breaks(sacred_run):
            value = 1
            assert value == 2, "value went astray"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    evs = events(pytester)
    assert hooks(evs) == ["allocate_id", "started_event", "log_metrics", "heartbeat_event",
                          "failed_event"]
    failed = evs[-1]
    assert failed["run_id"] == 1
    trace = failed["fail_trace"]
    assert isinstance(trace, list) and trace
    assert set(failed["fail_trace_types"]) == {"str"}
    text = "".join(trace)
    assert "in test_breaks" in text
    assert "value went astray" in text
    stored = read_run(runs_dir, 1)
    assert stored["status"] == "FAILED"
    assert stored["fail_trace"] == trace


def test_skip_in_body_is_interrupted_skipped(pytester: pytest.Pytester, runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_skips(sacred_run):
            pytest.skip("not today")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(skipped=1)
    evs = events(pytester)
    assert hooks(evs) == ["allocate_id", "started_event", "log_metrics", "heartbeat_event",
                          "interrupted_event"]
    assert evs[-1]["status"] == "SKIPPED"
    assert read_run(runs_dir, 1)["status"] == "SKIPPED"


def test_fixture_error_before_body_is_a_failed_run(pytester: pytest.Pytester,
                                                   runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def dataset():
            raise RuntimeError("dataset is unreachable")

        @pytest.mark.experiment
        def test_needs_data(dataset, sacred_run):
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert not (pytester.path / "body-ran").exists()
    evs = events(pytester)
    assert hooks(evs)[:2] == ["allocate_id", "started_event"]
    assert hooks(evs)[-1] == "failed_event"
    assert "completed_event" not in hooks(evs)
    assert "dataset is unreachable" in "".join(evs[-1]["fail_trace"])
    assert read_run(runs_dir, 1)["status"] == "FAILED"


def test_id_allocated_by_the_highest_priority_observer(pytester: pytest.Pytester,
                                                        runs_dir: Path) -> None:
    observer_conftest(
        pytester,
        """
        config.pluginmanager.register(Recorder('low', priority=10, allocate=100), 'low')
        config.pluginmanager.register(Recorder('high', priority=50, allocate=500), 'high')
        """,
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [1, 2])
        def test_named(x, sacred_run):
            assert sacred_run._id in (500, 501)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    all_events = events(pytester, None)
    started = [e for e in all_events if e["hook"] == "started_event"]
    # both observers, higher priority first, both with the id the higher one chose
    assert [(e["observer"], e["run_id"]) for e in started] == [
        ("high", 500), ("low", 500), ("high", 501), ("low", 501)]
    for name in ("high", "low"):
        assert {e["run_id"] for e in events(pytester, name) if "run_id" in e} == {500, 501}
    # the file store (priority 20) used the id it was given, not one of its own
    assert sorted(stored_runs(runs_dir)) == [500, 501]


def test_failing_observer_is_reported_and_others_get_every_event(
        pytester: pytest.Pytester, runs_dir: Path) -> None:
    observer_conftest(
        pytester,
        """
        config.pluginmanager.register(
            Recorder('broken', priority=100, fail_in={'started_event'}), 'broken')
        config.pluginmanager.register(
            Recorder('flaky', priority=90, fail_in={'heartbeat_event'}), 'flaky')
        config.pluginmanager.register(Recorder('rec', priority=5), 'rec')
        """,
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_ok(sacred_run, tmp_path):
            sacred_run.log_scalar("loss", 1.0)
            (tmp_path / "out.txt").write_text("x")
            return 7
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == 6  # tests passed, but parts of the run were not stored
    result.stdout.fnmatch_lines([
        "pytest-sacred: broken could not store started event of run 1 (*",
        "*pytest-sacred observer errors*",
    ])
    out = result.stdout.str()
    section = out[out.index("pytest-sacred observer errors"):]
    assert "broken" in section and "started_event" in section
    assert "broke in started_event" in section
    assert "flaky" in section and "heartbeat_event" in section
    # the observer after them got everything
    assert hooks(events(pytester, "rec")) == ["started_event", "artifact_event", "log_metrics",
                                              "heartbeat_event", "completed_event"]
    # the one failing only in heartbeat_event still got the final event
    assert hooks(events(pytester, "flaky"))[-1] == "completed_event"
    # and so did the file store
    stored = read_run(runs_dir, 1)
    assert stored["status"] == "COMPLETED"
    assert stored["result"] == 7
    assert stored["artifacts"] == ["out.txt"]
    assert json.loads((runs_dir / "1" / "metrics.json").read_text())["loss"]["values"] == [1.0]


def test_periodic_heartbeats_deliver_metrics_in_pieces(pytester: pytest.Pytester,
                                                        runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import sys
        import time
        import pytest

        def wait_for_beats(request, count):
            # the recorder's events so far: a periodic beat is awaited, not slept for
            recorder = request.config.pluginmanager.get_plugin("rec")
            events = sys.modules[type(recorder).__module__].EVENTS
            deadline = time.monotonic() + 120  # generous: only a broken heartbeat hits it
            while sum(e["hook"] == "heartbeat_event" for e in events) < count:
                assert time.monotonic() < deadline, f"no heartbeat {count} in 120 s"
                time.sleep(0.01)

        @pytest.mark.experiment
        def test_long(sacred_run, request):
            for step in range(12):
                sacred_run.log_scalar("loss", 1.0 / (step + 1))
                sacred_run.info["step"] = step
                print(f"step {step}")
                if step % 4 == 3:  # three periodic beats while the body runs
                    wait_for_beats(request, step // 4 + 1)
            return "done"
        """
    )
    result = pytester.runpytest("--sacred-heartbeat", "0.1")
    result.assert_outcomes(passed=1)
    evs = events(pytester)
    beats = [e for e in evs if e["hook"] == "heartbeat_event"]
    assert len(beats) >= 3, hooks(evs)
    # each heartbeat is preceded by its log_metrics
    order = [h for h in hooks(evs) if h in ("log_metrics", "heartbeat_event")]
    assert order == ["log_metrics", "heartbeat_event"] * len(beats)
    assert hooks(evs)[-1] == "completed_event"

    pieces = [e["metrics_by_name"].get("loss") for e in evs if e["hook"] == "log_metrics"]
    pieces = [p for p in pieces if p]
    assert len(pieces) >= 2, "metrics should arrive with several beats"
    steps = [s for p in pieces for s in p["steps"]]
    values = [v for p in pieces for v in p["values"]]
    assert steps == list(range(12))
    assert values == [1.0 / (s + 1) for s in range(12)]
    assert all(len(p["timestamps"]) == len(p["steps"]) for p in pieces)

    # info updates show in later beats
    seen = [b["info"].get("step") for b in beats]
    assert seen[-1] == 11
    assert len({s for s in seen if s is not None}) >= 2
    assert [s for s in seen if s is not None] == sorted(s for s in seen if s is not None)
    # result only once the body returned
    assert beats[0]["result"] is None
    assert beats[-1]["result"] == "done"
    # the final beat carries all the output
    assert all(f"step {i}" in beats[-1]["captured_out"] for i in range(12))

    stored = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert stored["loss"]["steps"] == list(range(12))


def test_unmarked_tests_produce_no_events(pytester: pytest.Pytester, runs_dir: Path) -> None:
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest

        def test_plain():
            assert True

        @pytest.mark.parametrize("x", [1, 2])
        def test_param(x, tmp_path):
            (tmp_path / "f.txt").write_text("x")
            return None
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert events(pytester, None) == []
    assert not runs_dir.exists()
    assert "pytest-sacred" not in result.stdout.str()


def test_observer_registered_mid_session_is_isolated_and_ordered(
        pytester: pytest.Pytester, runs_dir: Path) -> None:
    """Isolation and Sacred's order are set up when a plugin registers: observers a test
    registers after the first run are guarded and ordered by priority like the others."""
    observer_conftest(pytester, ONE_RECORDER)
    pytester.makepyfile(
        """
        import pytest
        from conftest import Recorder

        @pytest.mark.experiment
        def test_a(sacred_run):
            pass

        def test_register(request):
            pm = request.config.pluginmanager
            # registered low priority first: pluggy alone would call it first
            pm.register(Recorder('late-low', priority=-5), 'late-low')
            pm.register(Recorder('late-broken', priority=200, fail_in={'started_event'}),
                        'late-broken')

        @pytest.mark.experiment
        def test_b(sacred_run):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    assert result.ret == 6
    result.stdout.fnmatch_lines(["pytest-sacred: late-broken could not store started event "
                                 "of run 2 (*"])
    started = [e["observer"] for e in events(pytester, None)
               if e["hook"] == "started_event"]
    # run 1: only rec; run 2: by priority, the broken one skipped after failing
    assert started == ["rec", "late-broken", "rec", "late-low"]
    late = [e["hook"] for e in events(pytester, None) if e["observer"] == "late-broken"]
    assert late == ["allocate_id", "started_event"]  # dropped for the rest of run 2
    # asked after the file store (priority 20), which named the run: no allocate_id for it
    rec_run_2 = [e["hook"] for e in events(pytester) if e.get("run_id") == 2]
    assert rec_run_2[0] == "started_event" and rec_run_2[-1] == "completed_event"
    assert hooks(events(pytester, "late-low")) == rec_run_2
