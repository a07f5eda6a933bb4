"""Sweeps through a real Slurm cluster (tests/slurm/start.sh brings one up); what needs no
cluster (submitit's local executor, input refused before submitting) is in
test_launcher_local.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("submitit", reason="submitit is not installed (extra 'slurm')")

from helpers import LAUNCHER_SWEEP as SWEEP  # noqa: E402
from helpers import nothing_submitted, read_run, run_info, stored_runs  # noqa: E402


def _slurm_answers() -> str | None:
    """Why the Slurm tests cannot run here, or None when sinfo answers."""
    if shutil.which("sinfo") is None:
        return "no Slurm on this machine (sinfo not on PATH); start one with tests/slurm/start.sh"
    done = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return f"sinfo fails ({done.stderr.strip()[:200]}); start Slurm with tests/slurm/start.sh"
    return None


_NO_SLURM = _slurm_answers()
slurm = pytest.mark.skipif(_NO_SLURM is not None, reason=_NO_SLURM or "")


def _ids_and_statuses(docs: dict) -> tuple[list[int], set[str]]:
    return sorted(docs), {d["status"] for d in docs.values()}


@slurm
def test_twelve_variants_through_slurm_into_mongo(pytester, mongo_server, mongo_db_name):
    pytester.makepyfile(test_exp=SWEEP.format(n=12))
    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    result = pytester.runpytest("--sacred-launcher=slurm", f"--sacred-mongo={store}",
                                "-k", "svm", "--sacred-slurm-time=10", "--sacred-slurm-cpus=1")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*submitted 12 task(s) as job *", "*12 done, 0 running, "
                                 "0 pending, 0 failed*", "*id*status*log*"])
    with mongo_server.client() as client:
        docs = {d["_id"]: d for d in client[mongo_db_name].runs.find()}
    ids, statuses = _ids_and_statuses(docs)
    assert ids == list(range(1, 13)) and statuses == {"COMPLETED"}
    assert sorted(d["result"] for d in docs.values()) == [x * 10 for x in range(12)]
    tasks = {d["captured_out"].split("array task ")[1].split()[0] for d in docs.values()}
    assert tasks == {str(i) for i in range(12)}  # each variant in its own array task
    assert all("_log.out" in line for line in result.outlines if "COMPLETED" in line)


@slurm
def test_twelve_variants_through_slurm_into_the_file_store(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=12))
    result = pytester.runpytest("--sacred-launcher=slurm", "--sacred-slurm-chunk=3")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*submitted 4 task(s)*"])
    runs = stored_runs(runs_dir)
    assert sorted(runs) == list(range(1, 13))
    assert {r["status"] for r in runs.values()} == {"COMPLETED"}
    assert sorted(r["result"] for r in runs.values()) == [x * 10 for x in range(12)]
    captured = (runs_dir / "1" / "cout.txt").read_text()
    assert captured.startswith("variant ")


@slurm
def test_failing_variant_fails_the_submitting_session(pytester, runs_dir):
    pytester.makepyfile(test_exp="""
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [1, 2])
        def test_div(x):
            assert x == 1, "x is not 1"
    """)
    result = pytester.runpytest("--sacred-launcher=slurm")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*x is not 1*"])
    assert sorted(r["status"] for r in stored_runs(runs_dir).values()) == ["COMPLETED", "FAILED"]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@slurm
def test_scancel_ends_the_run_interrupted(pytester, runs_dir):
    pytester.makepyfile(test_exp="""
        import time
        import pytest

        @pytest.mark.experiment
        def test_long():
            print("started", flush=True)
            time.sleep(300)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    submitter = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_exp.py",
         "--sacred-launcher=slurm", "--sacred-heartbeat=1"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run_file = runs_dir / "1" / "run.json"
        _wait_for(lambda: run_file.is_file() and read_run(runs_dir, 1)["status"] == "RUNNING",
                  120, "the run to start")
        job = _wait_for(lambda: next((p.name for p in (pytester.path / "slurm-logs").iterdir()
                                      if p.is_dir() and p.name[0].isdigit()), None),
                        30, "the task's folder")
        subprocess.run(["scancel", job.split("_")[0]], check=True)
        out = submitter.communicate(timeout=180)[0]
    finally:
        if submitter.poll() is None:
            submitter.kill()
    assert submitter.returncode == pytest.ExitCode.TESTS_FAILED, out
    run = read_run(runs_dir, 1)
    assert run["status"] == "INTERRUPTED", run
    assert "CANCELLED" in out
    info = json.loads((runs_dir / "1" / "info.json").read_text())
    assert info["ended_by"] == f"SIGTERM from Slurm: job {job} cancelled or preempted", info


@slurm
def test_the_time_limit_ends_the_run_timeout(pytester, runs_dir):
    """Slurm signals the task (SIGUSR2, 90 s before) and stops it (SIGTERM) at its time
    limit: the run ends TIMEOUT, saying so; one that ignores SIGTERM is killed, and the
    submitting session ends it TIMEOUT from sacct's state."""
    pytester.makepyfile(test_exp="""
        import signal, time
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("deaf", [False, True])
        def test_long(deaf, sacred_run):
            sacred_run.log_scalar("step", 1)
            if deaf:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(300)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    submitter = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_exp.py", "-rf",
         "--sacred-launcher=slurm", "--sacred-slurm-time=1", "--sacred-heartbeat=1"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: all((runs_dir / str(i) / "run.json").is_file() for i in (1, 2)),
                  120, "both runs to start")
        array = next(p.name for p in (pytester.path / "slurm-logs").iterdir()
                     if p.is_dir() and p.name[0].isdigit()).split("_")[0]
        # Slurm's warning may come at once (the limit is below its 90 s) or not before the
        # SIGTERM (it checks limits every 30 s or so): sent here, so that it surely came
        subprocess.run(["scancel", "--signal=USR2", f"{array}_0"], check=True)
        out = submitter.communicate(timeout=240)[0]
    finally:
        if submitter.poll() is None:
            submitter.kill()
    result = pytest.RunResult(submitter.returncode, out.splitlines(), [], 0.0)
    result.assert_outcomes(failed=2)
    runs = stored_runs(runs_dir)
    assert {r["config"]["deaf"]: r["status"] for r in runs.values()} == {
        False: "TIMEOUT", True: "TIMEOUT"}, runs
    by_deaf = {r["config"]["deaf"]: run_id for run_id, r in runs.items()}
    stopped, killed = by_deaf[False], by_deaf[True]
    assert read_run(runs_dir, stopped)["stop_time"]
    ended = run_info(runs_dir, stopped)["ended_by"]
    assert ended.startswith("Slurm time limit (1:00) of job "), ended
    job = ended.rsplit(" ", 1)[1]
    # not stopped by the warning that came first (with a 1 min limit: at once)
    duration = [line for line in result.outlines
                if line.startswith(f"{stopped} ") and "TIMEOUT" in line][0]
    assert float(duration.split("TIMEOUT")[1].split("s")[0]) > 45, duration
    # the warning went to the run's captured output, and the run went on
    cout = (runs_dir / str(stopped) / "cout.txt").read_text()
    assert f"SIGUSR2 from Slurm: job {job} reaches its time limit (1:00) in " in cout, cout
    assert "UncompletedJobError: Job not requeued" not in out
    killed_info = run_info(runs_dir, killed)
    assert killed_info["ended_by"].endswith("ended TIMEOUT"), killed_info
    result.stdout.fnmatch_lines_random([
        f"FAILED test_exp.py::test_long[[]False[]] - run {stopped} TIMEOUT: Slurm time limit*",
        "FAILED test_exp.py::test_long[[]True[]] - Slurm task *ended TIMEOUT*",
        f"{stopped} *long*False*TIMEOUT*runs/{stopped} *",
        f"{killed} *long*True*TIMEOUT*runs/{killed} *"])


@slurm
def test_preemption_ends_the_run_interrupted(pytester, runs_dir):
    """SIGUSR2 long before the time limit is a preemption (submitit's signal; Slurm sends
    it with PreemptParameters=send_user_signal); SIGTERM before the limit a cancellation
    or preemption: both runs end INTERRUPTED saying so, not FAILED."""
    pytester.makepyfile(test_exp="""
        import time
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [0, 1])
        def test_long(x):
            time.sleep(300)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    submitter = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_exp.py", "-rf",
         "--sacred-launcher=slurm", "--sacred-slurm-time=10", "--sacred-heartbeat=1"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: all((runs_dir / str(i) / "run.json").is_file()
                              and read_run(runs_dir, i)["status"] == "RUNNING" for i in (1, 2)),
                  120, "both runs to start")
        by_x = {read_run(runs_dir, i)["config"]["x"]: i for i in (1, 2)}
        array = next(p.name for p in (pytester.path / "slurm-logs").iterdir()
                     if p.is_dir() and p.name[0].isdigit()).split("_")[0]
        subprocess.run(["scancel", "--signal=USR2", f"{array}_0"], check=True)
        subprocess.run(["scancel", "--signal=TERM", f"{array}_1"], check=True)
        out = submitter.communicate(timeout=180)[0]
    finally:
        if submitter.poll() is None:
            submitter.kill()
    assert submitter.returncode == pytest.ExitCode.TESTS_FAILED, out
    usr2, term = by_x[0], by_x[1]
    assert read_run(runs_dir, usr2)["status"] == "INTERRUPTED", out
    assert read_run(runs_dir, term)["status"] == "INTERRUPTED", out
    ended = run_info(runs_dir, usr2)["ended_by"]
    assert ended.startswith(f"SIGUSR2 from Slurm: job {array}_0 preempted ("), ended
    assert ended.endswith(" s before its time limit)"), ended
    assert run_info(runs_dir, term)["ended_by"] == (f"SIGTERM from Slurm: job {array}_1 "
                                                 "cancelled or preempted")
    assert "UncompletedJobError" not in out
    assert f"run {usr2} INTERRUPTED: SIGUSR2 from Slurm: job {array}_0 preempted" in out, out


@slurm
def test_slurm_workers_drain_the_queue(pytester, mongo_server, mongo_db_name):
    pytester.makepyfile(test_exp=SWEEP.format(n=6))
    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}").assert_outcomes(skipped=6)
    result = pytester.runpytest("test_exp.py", "--sacred-launcher=slurm", "--sacred-run-queued",
                                f"--sacred-mongo={store}", "--sacred-slurm-workers=2")
    result.stdout.fnmatch_lines(["*submitted 2 task(s)*workers*"])
    result.assert_outcomes(passed=6)
    with mongo_server.client() as client:
        docs = {d["_id"]: d for d in client[mongo_db_name].runs.find()}
    assert _ids_and_statuses(docs) == (list(range(1, 7)), {"COMPLETED"})


@slurm
def test_unknown_partition_is_refused(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=slurm", "--sacred-slurm-partition=gpu-huge")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-slurm-partition 'gpu-huge': no such partition "
                                 "(sinfo lists: debug)*"])
    nothing_submitted(pytester.path, runs_dir)


@slurm
def test_ctrl_c_cancels_the_array(pytester, runs_dir):
    import signal

    pytester.makepyfile(test_exp="""
        import time
        import pytest

        @pytest.mark.experiment
        def test_long():
            time.sleep(300)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    submitter = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_exp.py",
         "--sacred-launcher=slurm", "--sacred-slurm-cancel-on-interrupt"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: (runs_dir / "1" / "run.json").is_file()
                  and read_run(runs_dir, 1)["status"] == "RUNNING", 120, "the run to start")
        submitter.send_signal(signal.SIGINT)
        out = submitter.communicate(timeout=60)[0]
    finally:
        if submitter.poll() is None:
            submitter.kill()
    assert "pytest-sacred: cancelled job" in out, out
    job = out.split("cancelled job ")[1].split()[0]
    _wait_for(lambda: read_run(runs_dir, 1)["status"] != "RUNNING", 60, "the run to end")
    assert read_run(runs_dir, 1)["status"] == "INTERRUPTED"
    states = subprocess.run(["sacct", "-n", "-X", "-j", job, "-o", "State"],
                            capture_output=True, text=True).stdout
    assert "CANCELLED" in states


@slurm
def test_resources_the_cluster_lacks_are_a_clear_error(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=slurm", "--sacred-slurm-gpus=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-launcher=slurm: submitting the array failed: "
                                 "*Invalid generic resource (gres) specification*"])
    assert not stored_runs(runs_dir)


# -- --sacred-slurm-requeue: checkpointable tasks ------------------------------------------

#: a training loop with the checkpoint protocol (``checkpoint/state.json`` holds the next
#: step); in each time slot it runs 3 steps, then its Slurm task is signalled as a
#: preemption or time limit is (submitit's USR2, sent with ``scancel --signal``), as many
#: times as the variant's ``stops`` says
REQUEUED = """
import json, os, subprocess, time
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("stops", [2, 3])
def test_train(stops, sacred_run, tmp_path):
    state = tmp_path / "checkpoint" / "state.json"
    step = json.loads(state.read_text())["next"] if state.is_file() else 0
    slot = sacred_run.resumed
    print(f"slot {slot} starts at step {step}", flush=True)
    while step < 9:
        sacred_run.log_scalar("loss", float(step))
        step += 1
        state.parent.mkdir(exist_ok=True)
        (tmp_path / "state.tmp").write_text(json.dumps({"next": step}))
        os.replace(tmp_path / "state.tmp", state)  # written whole
        if slot < stops and step == 3 * (slot + 1):
            array = os.environ.get("SLURM_ARRAY_JOB_ID")  # none: a one-task array
            job = (f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array
                   else os.environ["SLURM_JOB_ID"])
            subprocess.run(["scancel", "--signal=USR2", job], check=True)
            time.sleep(120)  # the signal stops the run here
    return step
"""


def _release_requeued(array: str, seen: dict[str, float]) -> None:
    """Slurm holds a requeued job for about two minutes (its BeginTime): its old
    credential stays revoked until it expires, and a job started in the second of its
    requeue is refused ("Job credential revoked"). The test lets it start once it has
    been pending a few seconds (``seen``: since when each job is)."""
    pending = subprocess.run(["squeue", "-h", "-r", "-j", array, "-t", "PD", "-o", "%i|%r"],
                             capture_output=True, text=True, timeout=30).stdout.split()
    now = time.monotonic()
    for line in pending:
        job, _, reason = line.partition("|")
        if reason != "BeginTime":
            continue
        if now - seen.setdefault(job, now) >= 3:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"],
                           capture_output=True, timeout=30)
            del seen[job]
    for job in set(seen) - {line.partition("|")[0] for line in pending}:
        del seen[job]


@slurm
def test_requeued_tasks_resume_their_runs_under_the_same_id(pytester, runs_dir):
    """With --sacred-slurm-requeue 2 a run signalled twice is requeued twice and resumed
    each time: it completes under its first id with one series of points and its
    checkpoint carried over; a run signalled a third time ends TIMEOUT."""
    pytester.makepyfile(test_exp=REQUEUED)
    out, array, took = _follow_releasing(pytester, ["--sacred-slurm-requeue=2"])
    print(f"requeue test: {took:.0f} s\n{out}")  # shown when an assertion fails
    result = pytest.RunResult(1, out.splitlines(), [], took)
    result.assert_outcomes(passed=1, failed=1)
    assert "exit code" not in out, out
    runs = stored_runs(runs_dir)
    assert len(runs) == 2, (runs, out)  # one id per variant, whatever its time slots
    by_stops = {r["config"]["stops"]: run_id for run_id, r in runs.items()}
    done, over = by_stops[2], by_stops[3]
    run = read_run(runs_dir, done)
    assert run["status"] == "COMPLETED", (run, out)
    assert run["result"] == 9
    assert [r["from_status"] for r in run["meta"]["resumed"]] == ["INTERRUPTED"] * 2
    metrics = json.loads((runs_dir / str(done) / "metrics.json").read_text())["loss"]
    assert metrics["steps"] == list(range(9)) and metrics["values"] == [float(s) for s in range(9)]
    cout = (runs_dir / str(done) / "cout.txt").read_text()
    assert [line for line in cout.splitlines() if line.startswith("slot ")] == [
        "slot 0 starts at step 0", "slot 1 starts at step 3", "slot 2 starts at step 6"]
    assert "checkpoint/state.json" in run["artifacts"]
    # the signal's third time: no requeue left, the run ends TIMEOUT with its points
    run = read_run(runs_dir, over)
    assert run["status"] == "TIMEOUT", (run, out)
    assert len(run["meta"]["resumed"]) == 2
    ended = run_info(runs_dir, over)["ended_by"]
    assert ended.startswith(f"SIGUSR2 from Slurm: job {array}_") and ended.endswith(
        "not requeued again: the task was requeued 2 time(s), as many as "
        "--sacred-slurm-requeue 2 allows"), ended
    metrics = json.loads((runs_dir / str(over) / "metrics.json").read_text())["loss"]
    assert metrics["steps"] == list(range(9)) and metrics["values"] == [float(s) for s in range(9)]
    assert "UncompletedJobError" not in out
    result.stdout.fnmatch_lines_random([
        f"FAILED test_exp.py::test_train[[]3[]] - run {over} TIMEOUT: SIGUSR2 from Slurm*",
        f"{done} *train*2*COMPLETED*", f"{over} *train*3*TIMEOUT*"])


def _follow_releasing(pytester: pytest.Pytester, args: list[str]) -> tuple[str, str, float]:
    """Run a submitting session, releasing its requeued tasks; its output, array id and
    duration."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    began = time.monotonic()
    submitter = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_exp.py", "-rf",
         "--sacred-launcher=slurm", "--sacred-heartbeat=1", *args],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    logs = pytester.path / "slurm-logs"
    try:
        array = _wait_for(lambda: next((p.name.split("_")[0] for p in logs.iterdir()
                                        if p.is_dir() and p.name[0].isdigit()), None)
                          if logs.is_dir() else None, 120, "the array")
        deadline, seen = time.monotonic() + 400, {}
        while submitter.poll() is None and time.monotonic() < deadline:
            _release_requeued(array, seen)
            time.sleep(0.5)
        out = submitter.communicate(timeout=60)[0]
    finally:
        if submitter.poll() is None:
            submitter.kill()
    return out, array, time.monotonic() - began


@slurm
def test_a_requeued_chunk_runs_only_what_is_left(pytester, runs_dir):
    """A task of two variants, signalled in its second: the requeued task resumes that
    run and does not run the finished one again; both are reported."""
    pytester.makepyfile(test_exp=REQUEUED.replace("[2, 3]", "[0, 1]"))
    out, _, took = _follow_releasing(pytester, ["--sacred-slurm-requeue=1",
                                                "--sacred-slurm-chunk=2"])
    print(f"requeued chunk test: {took:.0f} s\n{out}")
    result = pytest.RunResult(0, out.splitlines(), [], took)
    result.assert_outcomes(passed=2)
    runs = stored_runs(runs_dir)
    assert {r["config"]["stops"]: (r["status"], len(r["meta"].get("resumed") or []))
            for r in runs.values()} == {0: ("COMPLETED", 0), 1: ("COMPLETED", 1)}, out
    result.stdout.fnmatch_lines(["*submitted 1 task(s)*", "*1 done, 0 running, 0 pending, "
                                 "0 failed*"])


@pytest.mark.parametrize("args, message", [
    (["--sacred-launcher=slurm", "--sacred-slurm-requeue=-1"],
     "*--sacred-slurm-requeue '-1': expected an integer >= 0*"),
    (["--sacred-launcher=slurm", "--sacred-slurm-requeue=twice"],
     "*--sacred-slurm-requeue 'twice': expected an integer >= 0*"),
    (["--sacred-slurm-requeue=2"], "*--sacred-slurm-requeue given without "
                                   "--sacred-launcher=slurm*"),
    (["--sacred-launcher=local", "--sacred-slurm-requeue=2"],
     "*--sacred-slurm-requeue needs --sacred-launcher=slurm: only Slurm requeues*"),
    (["--sacred-launcher=slurm", "--sacred-run-queued", "--sacred-slurm-requeue=1"],
     "*--sacred-slurm-requeue resumes the runs of array tasks; queue workers*"),
])
def test_requeue_bad_input_is_refused(pytester, runs_dir, args, message):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    nothing_submitted(pytester.path, runs_dir)


@slurm
def test_requeue_without_a_store_to_resume_in_is_refused(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=slurm", "--sacred-slurm-requeue=1",
                                "--sacred-unobserved")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-slurm-requeue: the session has no store to read "
                                 "the run from*drop --sacred-unobserved*"])
    nothing_submitted(pytester.path, runs_dir)
