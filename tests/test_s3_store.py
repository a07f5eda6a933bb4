"""The S3 store against moto in server mode on 127.0.0.1 (no mocked boto3).

The layout is checked byte for byte against the file store written in the same session;
the id claim by several writers at once; uploads per event by the object versions the
server keeps; bad input at session start; and the reader.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from cloud_servers import (  # noqa: E402
    AWS_TEST_SECRET,
    MotoS3,
    MotoS3WithAuth,
    aws_test_env,
    claim_concurrently,
    free_port,
)

from pytest_sacred.readers import NoSuchRun, RunFilter, StoreUnreadable, open_reader  # noqa: E402
from pytest_sacred.stores.base import StoreError  # noqa: E402
from pytest_sacred.stores.objects.bucket import parse_bucket_url  # noqa: E402
from pytest_sacred.stores.s3.writer import S3Observer  # noqa: E402

SECRET = AWS_TEST_SECRET

EXPERIMENT = textwrap.dedent("""
    import time
    import pytest
    from pytest_sacred import config

    @config
    def lr():
        return 0.1

    @pytest.mark.experiment("cloud")
    @pytest.mark.parametrize("k", [1, 2])
    def test_train(lr, k, sacred_run, tmp_path):
        for step in range(3):
            sacred_run.log_scalar("loss", 1.0 / (k + step))
        sacred_run.info["k"] = k
        print("training", k)
        (tmp_path / "model.txt").write_text(f"weights {k}")
        return k * lr

    @pytest.mark.experiment("cloud")
    def test_fails():
        print("before the failure")
        assert 1 == 2, "intended"
""")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_test_env(monkeypatch, tmp_path)


_buckets = iter(range(1, 10_000))


@pytest.fixture
def bucket() -> str:
    """A bucket name no other test uses (not created: the store creates it)."""
    return f"runs-{next(_buckets)}"


def objects(moto: MotoS3, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = moto.client()
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in listing}


def run_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_cloud=EXPERIMENT)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


# -- layout ----------------------------------------------------------------------------------


def test_layout_is_the_file_stores_byte_for_byte(pytester: pytest.Pytester, moto: MotoS3,
                                                 bucket: str) -> None:
    result = run_session(pytester, "--sacred-s3", f"s3://{bucket}/team/runs",
                         "--sacred-s3-endpoint", moto.url, "--sacred-file-storage", "fs")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"*s3://{bucket}/team/runs/1, fs/1*"])
    stored = objects(moto, bucket, "team/runs/")
    local = {p.relative_to(pytester.path / "fs").as_posix(): p.read_bytes()
             for p in (pytester.path / "fs").rglob("*") if p.is_file()}
    assert set(stored) == set(local)
    assert stored == local
    for run_id in ("1", "2"):
        names = ("run.json", "config.json", "metrics.json", "info.json", "cout.txt", "model.txt")
        assert {f"{run_id}/{name}" for name in names} <= set(stored)
    assert any(key.startswith("_sources/test_cloud_") for key in stored)
    run = json.loads(stored["3/run.json"])
    assert run["status"] == "FAILED" and "intended" in "".join(run["fail_trace"])
    assert b"before the failure" in stored["3/cout.txt"]


def test_bucket_at_the_root_and_region_option(pytester: pytest.Pytester, moto: MotoS3,
                                              bucket: str) -> None:
    result = run_session(pytester, "-k", "train", "--sacred-s3", f"s3://{bucket}",
                         "--sacred-s3-endpoint", moto.url, "--sacred-s3-region", "eu-west-1")
    result.assert_outcomes(passed=2)
    assert {"1/run.json", "2/run.json"} <= set(objects(moto, bucket))
    location = moto.client().get_bucket_location(Bucket=bucket)["LocationConstraint"]
    assert location == "eu-west-1"
    assert not (pytester.path / "runs").exists()  # another store given: no default file store


def test_endpoint_from_the_aws_configuration(pytester: pytest.Pytester, moto: MotoS3,
                                             bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    pytester.makeini(f"[pytest]\nsacred_s3 = s3://{bucket}/from-ini\n")
    result = run_session(pytester, "-k", "train")
    result.assert_outcomes(passed=2)
    assert "from-ini/2/run.json" in objects(moto, bucket)


def test_a_run_uploads_only_what_changed(pytester: pytest.Pytester, moto: MotoS3,
                                         bucket: str) -> None:
    """With versioning on, the server keeps one version per upload of each object."""
    client = moto.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    pytester.makepyfile(test_beats=textwrap.dedent("""
        import time
        import pytest

        @pytest.mark.experiment("beats")
        def test_slow(sacred_run):
            sacred_run.info["fixed"] = 1
            sacred_run.log_scalar("x", 1.0)
            print("once")
            time.sleep(2.5)
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-s3", f"s3://{bucket}/p",
                                "--sacred-s3-endpoint", moto.url, "--sacred-heartbeat", "0.1")
    result.assert_outcomes(passed=1)
    versions = Counter(v["Key"] for v in client.list_object_versions(
        Bucket=bucket, Prefix="p/1/")["Versions"])
    # start, a beat a second at most (of some 25), the end
    assert 3 <= versions["p/1/run.json"] <= 5
    assert versions["p/1/config.json"] == 1
    assert versions["p/1/info.json"] == 1
    assert versions["p/1/metrics.json"] == 1
    assert versions["p/1/cout.txt"] <= 2  # the live text, and the final one if it differs


# -- ids ---------------------------------------------------------------------------------------


def test_ids_are_unique_with_several_writers(moto: MotoS3, bucket: str) -> None:
    """Four writers claim ten ids each at the same time from one prefix."""
    writers = [S3Observer(f"s3://{bucket}/shared", endpoint=moto.url) for _ in range(4)]
    writers[0].open()
    claimed = claim_concurrently(writers, 10)
    assert sorted(claimed) == list(range(1, 41))
    assert {f"{i}/config.json" for i in range(1, 41)} == set(objects(moto, bucket, "shared/"))


def test_a_given_id_that_is_taken_fails_the_run_not_the_store(
        pytester: pytest.Pytester, moto: MotoS3, bucket: str) -> None:
    args = ("-k", "train and 1", "--sacred-s3", f"s3://{bucket}/p", "--sacred-s3-endpoint",
            moto.url, "--sacred-id", "7")
    run_session(pytester, *args).assert_outcomes(passed=1)
    before = objects(moto, bucket, "p/7/")
    again = run_session(pytester, *args)
    again.stdout.fnmatch_lines(["*observer s3 failed*already holds run 7*"])
    assert objects(moto, bucket, "p/7/") == before  # nothing of the first run overwritten


def test_xdist_workers_share_a_prefix(pytester: pytest.Pytester, moto: MotoS3,
                                      bucket: str) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_many=textwrap.dedent("""
        import pytest

        @pytest.mark.experiment("many")
        @pytest.mark.parametrize("i", range(8))
        def test_one(i):
            return i
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--sacred-s3",
                                           f"s3://{bucket}/x", "--sacred-s3-endpoint", moto.url)
    result.assert_outcomes(passed=8)
    runs = {k.split("/")[0] for k in objects(moto, bucket, "x/") if k.endswith("run.json")}
    assert runs == {str(i) for i in range(1, 9)}


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    ("my-bucket/runs", "*is not a s3:// URL; give s3://my-bucket/experiments/runs*"),
    ("gs://my-bucket/runs", "*is not a s3:// URL*"),
    ("s3://", "*'' is not a bucket name*"),
    ("s3://ab/runs", "*'ab' is not a bucket name*"),
    ("s3://My_Bucket/runs", "*'My_Bucket' is not a bucket name*"),
    ("s3://my-bucket/runs?x=1", "*has no query, fragment*"),
    ("s3://my-bucket/a//b", "*has an empty, '.' or '..' part*"),
])
def test_malformed_urls_are_usage_errors(pytester: pytest.Pytester, value: str,
                                         message: str) -> None:
    result = run_session(pytester, "--sacred-s3", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-s3*{message.strip('*')}*"])
    assert not (pytester.path / "runs").exists()


def test_malformed_endpoint_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run_session(pytester, "--sacred-s3", "s3://my-bucket/p",
                         "--sacred-s3-endpoint", "127.0.0.1:9000")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-s3-endpoint '127.0.0.1:9000' is not an endpoint URL*"])


def test_endpoint_options_without_the_store_are_an_error(pytester: pytest.Pytester) -> None:
    result = run_session(pytester, "--sacred-s3-region", "eu-west-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*given without --sacred-s3*"])


def test_unreachable_endpoint_stops_the_session_before_any_run(
        pytester: pytest.Pytester) -> None:
    result = run_session(pytester, "--sacred-s3", "s3://my-bucket/p", "--sacred-s3-endpoint",
                         f"http://127.0.0.1:{free_port()}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-s3 s3://my-bucket at http://127.0.0.1:*: the "
                                 "endpoint cannot be reached*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_missing_credentials_are_named(pytester: pytest.Pytester, moto: MotoS3,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run_session(pytester, "--sacred-s3", "s3://my-bucket/p", "--sacred-s3-endpoint",
                         moto.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-s3 s3://my-bucket*no usable AWS credentials*"])


def test_rejected_credentials_are_named(pytester: pytest.Pytester, tmp_path: Path) -> None:
    server = MotoS3WithAuth(tmp_path / "moto-auth.log")
    try:
        result = run_session(pytester, "--sacred-s3", "s3://my-bucket/p",
                             "--sacred-s3-endpoint", server.url)
    finally:
        server.stop()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-s3 s3://my-bucket*credentials are not accepted*"
                                 "HTTP 403*"])
    assert SECRET not in result.stdout.str() + result.stderr.str()


def test_the_secret_key_is_nowhere(pytester: pytest.Pytester, moto: MotoS3,
                                   bucket: str) -> None:
    result = run_session(pytester, "-k", "train", "--sacred-s3", f"s3://{bucket}/p",
                         "--sacred-s3-endpoint", moto.url)
    result.assert_outcomes(passed=2)
    assert SECRET not in result.stdout.str() + result.stderr.str()
    assert all(SECRET.encode() not in body for body in objects(moto, bucket).values())


def test_parse_bucket_url_parts() -> None:
    url = parse_bucket_url("s3://bkt/a/b/", "s3", "--sacred-s3")
    assert (url.bucket, url.prefix, url.key("1", "run.json"), str(url)) == (
        "bkt", "a/b", "a/b/1/run.json", "s3://bkt/a/b")
    with pytest.raises(StoreError, match="not a bucket name"):
        parse_bucket_url("s3://-bad/x", "s3", "--sacred-s3")


# -- reader ------------------------------------------------------------------------------------


def test_reader_lists_and_reads_runs(pytester: pytest.Pytester, moto: MotoS3, bucket: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run_session(pytester, "--sacred-s3", f"s3://{bucket}/r", "--sacred-s3-endpoint",
                moto.url).assert_outcomes(passed=2, failed=1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    with open_reader(f"s3://{bucket}/r") as reader:
        runs = list(reader.list_runs())
        assert [(r.id, r.status, r.result) for r in runs] == [
            (1, "COMPLETED", 0.1), (2, "COMPLETED", 0.2), (3, "FAILED", None)]
        assert runs[0].config["k"] == 1 and reader.get_run(1).metric_names == ["loss"]
        summaries = reader.metric_summaries(runs)
        assert summaries[2]["loss"] == (0.25, 0.25, 0.5, 3) and summaries[3] == {}
        assert runs[0].experiment["name"] == "cloud" and runs[0].start_time is not None
        assert [r.id for r in reader.list_runs(RunFilter(status="FAILED"))] == [3]
        assert [r.id for r in reader.list_runs(RunFilter(ids=frozenset({2})))] == [2]
        whole = reader.get_run(3)
        assert "before the failure" in whole.captured_out
        assert "intended" in "".join(whole.fail_trace)
        assert reader.get_run(1).info == {"k": 1}
        loss = reader.metric(2, "loss")
        assert loss.steps == [0, 1, 2] and loss.values == [0.5, 1 / 3, 0.25]
        assert reader.artifact(2, "model.txt") == b"weights 2"
        with pytest.raises(NoSuchRun):
            reader.get_run(99)
        with pytest.raises(NoSuchRun):
            reader.metric(1, "nope")
        with pytest.raises(NoSuchRun):
            reader.artifact(1, "nope.bin")


def test_pytest_sacred_ls_and_show_read_the_bucket(pytester: pytest.Pytester, moto: MotoS3,
                                                   bucket: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run_session(pytester, "--sacred-s3", f"s3://{bucket}/cli", "--sacred-s3-endpoint",
                moto.url).assert_outcomes(passed=2, failed=1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    listed = pytester.run(sys.executable, "-m", "pytest_sacred", "ls", f"s3://{bucket}/cli")
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(["*1*cloud*COMPLETED*", "*2*cloud*COMPLETED*",
                                 "*3*cloud*FAILED*"])
    shown = pytester.run(sys.executable, "-m", "pytest_sacred", "show", f"s3://{bucket}/cli", "2")
    assert shown.ret == 0, shown.stderr.str()
    shown.stdout.fnmatch_lines(["*loss*"])
    pytest.importorskip("pandas")
    import pytest_sacred

    frame = pytest_sacred.load_runs(f"s3://{bucket}/cli", status="COMPLETED")
    assert sorted(frame["id"]) == [1, 2]
    run = pytest_sacred.get_run(f"s3://{bucket}/cli", 2)
    assert list(run.metrics["loss"]) == [0.5, 1 / 3, 0.25]


def test_reader_of_a_missing_bucket(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    with pytest.raises(StoreUnreadable, match="no such bucket"):
        open_reader("s3://never-created/x")
    with pytest.raises(StoreUnreadable, match="not a bucket name"):
        open_reader("s3://A/x")


# -- artifact names ------------------------------------------------------------------------------


def test_artifact_names_are_the_other_stores(pytester: pytest.Pytester, moto: MotoS3,
                                             bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_call_errors import check_the_one_name_check, check_tmp_path_names

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)  # for the reader
    options = ["--sacred-s3", f"s3://{bucket}/r", "--sacred-s3-endpoint", moto.url]
    check_the_one_name_check(pytester, {f"s3://{bucket}/r": options}, ["s3"])
    options[1] = f"s3://{bucket}/t"
    check_tmp_path_names(pytester, {f"s3://{bucket}/t": options})


# -- the store out of reach for good: spilled, then replayed whole ----------------------

def test_endpoint_gone_for_good_spills_and_replay_writes_every_run_whole(
        pytester: pytest.Pytester, moto: MotoS3, bucket: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mid-session the endpoint stops answering (connections cut, new ones refused): the
    runs go on without waiting for it, their events are spilled (exit 6) with the bucket,
    prefix and endpoint and no credentials, and the replay writes every run whole."""
    from helpers import outage_session, replay_and_check_whole
    from tcp_proxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", moto.port)
    endpoint = f"http://127.0.0.1:{proxy.port}"
    try:
        out, spill = outage_session(pytester.path, proxy.cut, "s3",
                                    f"--sacred-s3=s3://{bucket}/team", "--sacred-s3-endpoint",
                                    endpoint)
        header = json.loads(spill.read_text().splitlines()[0])
        assert header["store"] == {"kind": "s3", "url": f"s3://{bucket}/team",
                                   "endpoint": endpoint, "region": None}
        assert SECRET not in spill.read_text()
        proxy.restore()
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)  # for the reader
        replay_and_check_whole(spill, f"s3://{bucket}/team")
    finally:
        proxy.cut()
