"""Sacred's ``_log`` logger and its ``captured_out_filter``, as pytest-sacred offers them."""

from __future__ import annotations

import json

from helpers import read_run

LOGGING = '''
import logging
import pytest
from pytest_sacred import capture, config

@config
def C():
    return 1.0

@capture
def helper(C, _log):
    _log.warning("helper sees C=%s", C)
    return _log.name

@pytest.mark.experiment("logs")
def test_logs(C, _log):
    print("printed first")
    _log.info("main C=%s", C)
    _log.debug("not shown at the default level")
    return [_log.name, helper()]

def test_ordinary_after_it():
    # the experiment's logger writes to runs only while one is on
    assert logging.getLogger("logs").handlers == []
    logging.getLogger("logs").warning("outside any run")
'''


def test_log_fixture_and_captured_helpers_write_to_the_run_output(pytester, runs_dir):
    pytester.makepyfile(test_logs=LOGGING)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    run = read_run(runs_dir, 1)
    assert run["result"] == ["logs.test_logs", "logs.helper"]  # named as Sacred names them
    cout = (runs_dir / "1" / "cout.txt").read_text()
    assert cout.splitlines() == ["printed first", "INFO - logs.test_logs - main C=1.0",
                                 "WARNING - logs.helper - helper sees C=1.0"]


def test_a_level_configured_by_the_user_is_kept(pytester, runs_dir):
    pytester.makepyfile(test_logs=LOGGING.replace(
        "@pytest.mark.experiment", "logging.getLogger('logs').setLevel(logging.WARNING)\n\n"
        "@pytest.mark.experiment", 1))
    pytester.runpytest("-k", "not ordinary").assert_outcomes(passed=1)
    cout = (runs_dir / "1" / "cout.txt").read_text()
    assert "main C=1.0" not in cout and "WARNING - logs.helper - helper sees C=1.0" in cout


def test_log_outside_an_experiment_is_a_usage_error(pytester):
    pytester.makepyfile(test_plain='''
        def test_plain(_log):
            pass
        ''')
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*asks for 'sacred_run', which only experiments have*"])


PROGRESS = '''
import sys
import pytest

@pytest.mark.experiment
def test_progress():
    print("noise: downloading")
    for i in range(3):
        sys.stdout.write(f"\\r{i}/3")
    print()
    print("accuracy 0.9")
'''


def test_a_conftest_filter_decides_what_is_stored(pytester, runs_dir):
    pytester.makeconftest('''
        from pytest_sacred.output import fold

        def pytest_sacred_captured_out_filter(text):
            kept = [line for line in fold(text).splitlines() if not line.startswith("noise")]
            return "\\n".join(kept)
        ''')
    pytester.makepyfile(test_progress=PROGRESS)
    pytester.runpytest().assert_outcomes(passed=1)
    assert (runs_dir / "1" / "cout.txt").read_text() == "2/3\naccuracy 0.9"


def test_without_a_filter_or_when_it_returns_none_output_is_folded(pytester, runs_dir):
    pytester.makeconftest('''
        SEEN = []

        def pytest_sacred_captured_out_filter(text):
            SEEN.append(text)
            assert "\\r" in text  # the filter gets the raw text
            return None
        ''')
    pytester.makepyfile(test_progress=PROGRESS)
    pytester.runpytest().assert_outcomes(passed=1)
    assert (runs_dir / "1" / "cout.txt").read_text() == "noise: downloading\n2/3\naccuracy 0.9\n"


def test_a_filter_returning_something_else_is_an_error(pytester, runs_dir):
    pytester.makeconftest('''
        def pytest_sacred_captured_out_filter(text):
            return len(text)
        ''')
    pytester.makepyfile(test_progress=PROGRESS)
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*captured-output filter returned int*must return the text*"])
    # the run still ends, its output stored unfiltered
    run = json.loads((runs_dir / "1" / "run.json").read_text())
    assert run["status"] == "COMPLETED"
    assert (runs_dir / "1" / "cout.txt").read_text().endswith("accuracy 0.9\n")


USER_LOGGER = '''
import logging
import sys
import pytest
from pytest_sacred import capture, config

# as in Sacred's log_example.py: the user's own logger, handler, format and level
logger = logging.getLogger("my_custom_logger")
logger.handlers = []
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("[%(levelname).1s] %(name)s >> %(message)s"))
logger.addHandler(handler)
logger.setLevel(logging.DEBUG)
logger.propagate = False
records = []


class Keep(logging.Handler):
    def emit(self, record):
        records.append((record.name, record.levelname, record.getMessage()))


logger.addHandler(Keep())


@config
def C():
    return 1.0


@capture
def helper(C, _log):
    _log.warning("helper sees C=%s", C)
    return _log.name


@pytest.mark.experiment("logs", logger=logger)
def test_logs(C, _log):
    _log.debug("debug shown: the user's level")
    return [_log.name, helper()]


def test_after():
    assert records == [
        ("my_custom_logger.test_logs", "DEBUG", "debug shown: the user's level"),
        ("my_custom_logger.helper", "WARNING", "helper sees C=1.0")]
    # nothing of the plugin's was added to the user's logger (pytest 9 adds its own
    # capture handlers to a logger that does not propagate), nor to "logs"
    assert handler in logger.handlers and logger.level == logging.DEBUG
    assert not [h for h in logger.handlers if h.__module__.startswith("pytest_sacred")]
    assert logging.getLogger("logs").handlers == []
'''


def test_the_marker_logger_is_the_parent_of_log_and_of_captured_helpers(pytester, runs_dir):
    pytester.makepyfile(test_logs=USER_LOGGER)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    run = read_run(runs_dir, 1)
    assert run["result"] == ["my_custom_logger.test_logs", "my_custom_logger.helper"]
    cout = (runs_dir / "1" / "cout.txt").read_text()
    assert cout.splitlines() == [  # the user's handler and format, captured with the run
        "[D] my_custom_logger.test_logs >> debug shown: the user's level",
        "[W] my_custom_logger.helper >> helper sees C=1.0"]


def test_a_marker_logger_that_is_no_logger_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad='''
        import pytest

        @pytest.mark.experiment("x", logger="my_logger")
        def test_a():
            pass

        def test_plain():
            pass
        ''')
    result = pytester.runpytest()
    assert result.ret == 4
    result.stderr.fnmatch_lines([
        "*test_bad.py::test_a: @pytest.mark.experiment(logger=...) must be a logging.Logger, "
        "got str 'my_logger'; pass one, e.g. logger=logging.getLogger('my_experiment')*"])


def test_an_unknown_marker_keyword_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad='''
        import logging
        import pytest

        @pytest.mark.experiment("x", loger=logging.getLogger("x"))
        def test_a():
            pass
        ''')
    result = pytester.runpytest()
    assert result.ret == 4
    result.stderr.fnmatch_lines([
        "*test_bad.py::test_a: @pytest.mark.experiment got an unknown keyword 'loger'; it takes "
        "name, logger, seeds; did you mean 'logger'?*"])
