"""Slack and Telegram notifications, received by a local HTTP server (cloud_servers.Receiver)
standing in for Slack's webhook and Telegram's Bot API: the real requests, no mocked client.
"""

from __future__ import annotations

import base64
import json
import textwrap
from itertools import pairwise
from pathlib import Path

import pytest
from cloud_servers import Receiver, free_port

from pytest_sacred.notify.base import elapsed_text

TOKEN = "123456:AAHsecretTOKENvalue_xyz"
HOOK_PATH = "/services/T000/B000/XXsecretHOOKxx"

EXPERIMENT = textwrap.dedent("""
    import pytest
    from pytest_sacred import config

    @config
    def lr():
        return 0.5

    @pytest.mark.experiment("notify_me")
    @pytest.mark.parametrize("k", [1, 2])
    def test_train(lr, k):
        return k * lr

    @pytest.mark.experiment("notify_me")
    def test_broken():
        raise ValueError("the loss diverged")
""")


def sweep(n: int, failing_every: int = 0) -> str:
    return textwrap.dedent(f"""
        import pytest

        @pytest.mark.experiment("sweep")
        @pytest.mark.parametrize("i", range({n}))
        def test_variant(i):
            if {failing_every} and i % {failing_every} == 0:
                raise RuntimeError("variant " + str(i) + " failed: " + "x" * 80)
            return i
    """)


@pytest.fixture(scope="module")
def server() -> Receiver:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(autouse=True)
def clean(server: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy",
                 "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def slack_file(pytester: pytest.Pytester, server: Receiver, **extra) -> Path:
    path = pytester.path / "slack.json"
    path.write_text(json.dumps({"webhook_url": server.url + HOOK_PATH, **extra}))
    return path


def telegram_file(pytester: pytest.Pytester, server: Receiver, **extra) -> Path:
    path = pytester.path / "telegram.json"
    path.write_text(json.dumps({"token": TOKEN, "chat_id": 4242, "api_url": server.url,
                                **extra}))
    return path


def messages(server: Receiver, path: str) -> list[dict]:
    return [r.body for r in server.requests if r.path == path]


def assert_no_secrets(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    """Neither the session's output nor any stored file holds the token or webhook."""
    text = result.stdout.str() + result.stderr.str()
    for secret in (TOKEN, HOOK_PATH, "secretTOKEN", "secretHOOK"):
        assert secret not in text
        for path in (pytester.path / "runs").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


# -- Slack ---------------------------------------------------------------------------------------


def test_slack_one_message_per_run_with_the_seeds_templates(pytester: pytest.Pytester,
                                                            server: Receiver) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    config = slack_file(pytester, server, icon=":imp:", bot_name="my-sacred-bot",
                        completed_text="YAY! {ex_info[name]} completed with result=`{result}` "
                                       "after {elapsed_time}",
                        interrupted_text=None,
                        failed_text="Oh noes! {ex_info[name]} failed saying `{error}`")
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-slack", str(config))
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    sent = messages(server, HOOK_PATH)
    assert len(sent) == 3
    assert all(m["username"] == "my-sacred-bot" and m["icon_emoji"] == ":imp:" for m in sent)
    texts = sorted(m["text"] for m in sent)
    assert texts[0] == "Oh noes! notify_me failed saying `ValueError: the loss diverged`"
    assert texts[1].startswith("YAY! notify_me completed with result=`0.5` after ")
    assert texts[2].startswith("YAY! notify_me completed with result=`1.0` after ")
    assert_no_secrets(pytester, result)


def test_slack_defaults(pytester: pytest.Pytester, server: Receiver) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "broken", "--sacred-slack",
                                str(slack_file(pytester, server)))
    result.assert_outcomes(failed=1)
    (message,) = messages(server, HOOK_PATH)
    assert message["username"] == "sacred-bot" and message["icon_emoji"] == ":angel:"
    assert message["text"].startswith(":x: *notify_me* (run 1) failed after ")
    assert message["text"].endswith("`ValueError: the loss diverged`")


def test_a_sweep_of_200_sends_one_summary(pytester: pytest.Pytester, server: Receiver) -> None:
    pytester.makepyfile(test_sweep=sweep(200, failing_every=2))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "--sacred-slack",
                                str(slack_file(pytester, server)))
    result.assert_outcomes(passed=100, failed=100)
    (message,) = messages(server, HOOK_PATH)
    text = message["text"]
    assert text.startswith("pytest-sacred: 200 runs of sweep: 100 COMPLETED, 100 FAILED\n")
    assert "Not completed:" in text and "RuntimeError: variant 0 failed" in text
    assert len(text) <= 4000  # cut to fit, saying how many are left out
    assert "more" in text.splitlines()[-1]
    assert_no_secrets(pytester, result)


def test_notify_runs_paces_the_messages(pytester: pytest.Pytester, server: Receiver) -> None:
    pytester.makepyfile(test_sweep=sweep(3))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-notify=runs",
                                "--sacred-slack", str(slack_file(pytester, server)))
    result.assert_outcomes(passed=3)
    times = [r.time for r in server.requests]
    assert len(times) == 3
    # Slack's webhook limit: about one message a second (a lower bound, never flaky)
    assert all(b - a >= 0.95 for a, b in pairwise(times))


def test_notify_session_for_a_small_session(pytester: pytest.Pytester, server: Receiver) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:cacheprovider", "--sacred-notify", "session",
                       "--sacred-slack", str(slack_file(pytester, server)))
    (message,) = messages(server, HOOK_PATH)
    assert message["text"].splitlines()[0] == \
        "pytest-sacred: 3 runs of notify_me: 2 COMPLETED, 1 FAILED"
    assert "#3 notify_me FAILED: ValueError: the loss diverged" in message["text"]


def test_too_many_requests_is_waited_out(pytester: pytest.Pytester, server: Receiver) -> None:
    server.responses[HOOK_PATH] = [(429, "rate_limited", {"Retry-After": "1"}),
                                   (200, "ok", {})]
    pytester.makepyfile(test_sweep=sweep(1))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-slack",
                                str(slack_file(pytester, server)))
    assert result.ret == pytest.ExitCode.OK
    assert len(messages(server, HOOK_PATH)) == 2  # refused once, then taken
    result.stdout.no_fnmatch_line("*notification errors*")


@pytest.mark.parametrize("status", [404, 500])
def test_a_refused_message_is_reported(pytester: pytest.Pytester, server: Receiver,
                                       status: int) -> None:
    server.responses[HOOK_PATH] = [(status, "no_service", {})]
    pytester.makepyfile(test_sweep=sweep(1))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-slack",
                                str(slack_file(pytester, server)))
    result.stdout.fnmatch_lines([
        "*pytest-sacred notification errors*",
        f"Slack webhook at 127.0.0.1:*: HTTP {status} no_service",
        "*the runs are stored as usual*"])
    assert result.ret == pytest.ExitCode.OK  # the run is stored: documented choice
    assert (pytester.path / "runs" / "1" / "run.json").is_file()
    assert_no_secrets(pytester, result)


def test_an_unreachable_webhook_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sweep=sweep(1))
    config = pytester.path / "slack.json"
    config.write_text(json.dumps({"webhook_url": f"http://127.0.0.1:{free_port()}{HOOK_PATH}"}))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-slack", str(config))
    result.stdout.fnmatch_lines(["*pytest-sacred notification errors*",
                                 "Slack webhook at 127.0.0.1:*: the service cannot be reached*"])
    assert_no_secrets(pytester, result)


# -- Telegram ------------------------------------------------------------------------------------


def test_telegram_checks_the_token_then_sends_per_run(pytester: pytest.Pytester,
                                                      server: Receiver) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    config = telegram_file(pytester, server, silent_completion=True)
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram", str(config))
    result.assert_outcomes(passed=2, failed=1)
    assert server.requests[0].path == f"/bot{TOKEN}/getMe"
    sent = messages(server, f"/bot{TOKEN}/sendMessage")
    assert len(sent) == 3
    assert {m["chat_id"] for m in sent} == {4242}
    assert {m["parse_mode"] for m in sent} == {"Markdown"}
    completed = [m for m in sent if "completed" in m["text"]]
    failed = [m for m in sent if "failed" in m["text"]]
    assert len(completed) == 2 and all(m["disable_notification"] for m in completed)
    assert failed[0]["disable_notification"] is False
    assert failed[0]["text"].endswith("`ValueError: the loss diverged`")
    assert_no_secrets(pytester, result)


def test_telegram_resends_plain_text_when_markdown_does_not_parse(
        pytester: pytest.Pytester, server: Receiver) -> None:
    path = f"/bot{TOKEN}/sendMessage"
    server.responses[path] = [
        (400, {"ok": False, "description": "Bad Request: can't parse entities"}, {}),
        (200, {"ok": True}, {})]
    pytester.makepyfile(test_sweep=sweep(1))
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram",
                                str(telegram_file(pytester, server)))
    result.stdout.no_fnmatch_line("*notification errors*")
    first, second = messages(server, path)
    assert first["parse_mode"] == "Markdown" and "parse_mode" not in second
    assert first["text"] == second["text"]


def test_telegram_through_a_proxy(pytester: pytest.Pytester, server: Receiver) -> None:
    """An HTTP proxy gets the absolute URL and the proxy login; the API URL itself (a closed
    port here) is never contacted."""
    pytester.makepyfile(test_sweep=sweep(1))
    config = telegram_file(pytester, server, api_url=f"http://127.0.0.1:{free_port()}",
                           proxy_url=server.url, username="proxyuser", password="proxy-pw-77")
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram", str(config))
    assert result.ret == pytest.ExitCode.OK
    assert [r.path.rpartition("/")[2] for r in server.requests] == ["getMe", "sendMessage"]
    assert all(r.path.startswith("http://127.0.0.1:") for r in server.requests)
    login = base64.b64encode(b"proxyuser:proxy-pw-77").decode()
    assert all(r.headers.get("Proxy-Authorization") == f"Basic {login}" for r in server.requests)
    assert "proxy-pw-77" not in result.stdout.str() + result.stderr.str()


def test_telegram_rejected_token_stops_the_session(pytester: pytest.Pytester,
                                                   server: Receiver) -> None:
    server.responses[f"/bot{TOKEN}/getMe"] = [
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, {})]
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram",
                                str(telegram_file(pytester, server)))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-telegram: the Bot API does not accept the token "
                                 "(HTTP 401: Unauthorized); check 'token'*"])
    assert not list((pytester.path / "runs").glob("[0-9]*"))  # nothing ran
    assert_no_secrets(pytester, result)


def test_telegram_unreachable_api_stops_the_session(pytester: pytest.Pytester,
                                                    server: Receiver) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    config = telegram_file(pytester, server, api_url=f"http://127.0.0.1:{free_port()}")
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram", str(config))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-telegram: Telegram chat 4242 via 127.0.0.1:*: "
                                 "the service cannot be reached*"])
    assert_no_secrets(pytester, result)


def test_xdist_sends_from_the_controller_once(pytester: pytest.Pytester,
                                              server: Receiver) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_sweep=sweep(12))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           "--sacred-telegram",
                                           str(telegram_file(pytester, server)))
    result.assert_outcomes(passed=12)
    sent = messages(server, f"/bot{TOKEN}/sendMessage")
    assert [m["text"].splitlines()[0] for m in sent] == [
        "pytest-sacred: 12 runs of sweep: 12 COMPLETED"]
    assert_no_secrets(pytester, result)


# -- bad config files ----------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "content", "message"), [
    ("--sacred-slack", None, "--sacred-slack file '*missing.json' does not exist"),
    ("--sacred-slack", '{"webhook_url": ', "--sacred-slack file * does not parse: "
                                           "JSONDecodeError at line 1"),
    ("--sacred-slack", '["a"]', "* holds a list; it must hold a mapping"),
    ("--sacred-slack", '{"icon": ":x:"}', "--sacred-slack *: 'webhook_url' is missing; "
                                          "it is required"),
    ("--sacred-slack", '{"webhook_url": 5}', "*'webhook_url' must be str, not int"),
    ("--sacred-slack", '{"webhook_url": "hooks.slack.com/x"}',
     "*'webhook_url' is not an http(s) URL*"),
    ("--sacred-slack", '{"webhook_url": "http://h/x", "chanel": "#x"}',
     "*unknown key 'chanel'; the keys are bot_name, completed_text, *"),
    ("--sacred-slack", '{"webhook_url": "http://h/x", "failed_text": "{oops}"}',
     "*'failed_text' does not format (KeyError: 'oops'); its fields are *"),
    ("--sacred-telegram", '{"token": "t"}', "*'chat_id' is missing; it is required"),
    ("--sacred-telegram", '{"token": "t", "chat_id": [1]}',
     "*'chat_id' must be int or str, not list"),
    ("--sacred-telegram", '{"token": "t", "chat_id": 1, "silent_completion": "yes"}',
     "*'silent_completion' must be bool, not str"),
    ("--sacred-telegram", '{"token": "t", "chat_id": 1, "proxy_url": "socks5://h:1"}',
     "*'proxy_url' 'socks5://h:1' is not an http(s) URL (SOCKS proxies are not supported)"),
])
def test_bad_config_files_are_usage_errors(pytester: pytest.Pytester, option: str,
                                           content: str | None, message: str) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    path = pytester.path / "missing.json"
    if content is not None:
        path.write_text(content)
    result = pytester.runpytest("-p", "no:cacheprovider", option, str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert not (pytester.path / "runs").exists()


def test_a_url_instead_of_a_file_is_not_echoed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-slack",
                                f"https://hooks.example.invalid{HOOK_PATH}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-slack takes a .json/.yaml config file, not a URL*"])
    assert "secretHOOK" not in result.stdout.str() + result.stderr.str()


def test_a_yaml_parse_error_does_not_quote_the_token(pytester: pytest.Pytester) -> None:
    pytest.importorskip("yaml")
    path = pytester.path / "telegram.yaml"
    path.write_text(f'token: "{TOKEN}\nchat_id: [1\n')
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest("-p", "no:cacheprovider", "--sacred-telegram", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*telegram.yaml' does not parse: *Error at line*"])
    assert "secretTOKEN" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(("args", "message"), [
    (["--sacred-notify", "always"], "*--sacred-notify 'always': give runs * or session *"),
    (["--sacred-notify", "runs"], "*--sacred-notify runs given without --sacred-slack or "
                                  "--sacred-telegram*"),
])
def test_bad_notify_option(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_elapsed_text() -> None:
    assert elapsed_text(0.2) == "less than a second"
    assert elapsed_text(1) == "1 second"
    assert elapsed_text(125) == "2 minutes, 5 seconds"
    assert elapsed_text(3600 + 120 + 7) == "1 hour, 2 minutes"
