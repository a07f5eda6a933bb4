"""The pure functions, called directly: no pytest session, no store, no server."""

from __future__ import annotations

import logging

import pytest

import pytest_sacred
from pytest_sacred import output, serialize
from pytest_sacred.logs import RunLogging, run_logger
from pytest_sacred.redact import redact_strings, redact_url, scrub_password
from pytest_sacred.stores.base import StoreError
from pytest_sacred.stores.mongo.target import parse_target, server_of
from pytest_sacred.stores.mongo.values import escape_key, mongo_safe, readable, safe_text
from pytest_sacred.updates import (
    ConfigError,
    TextValue,
    did_you_mean,
    dotted_keys,
    merge,
    nested,
    parse_assignments,
    parse_value,
    plain_text,
    read_as_text,
    text_note,
)
from pytest_sacred.urls import split_url

# -- command-line updates ------------------------------------------------------------------


@pytest.mark.parametrize("raw, value", [
    ("1e-3", 1e-3), ("[64, 64]", [64, 64]), ("'x'", "x"), ("None", None), ("True", True),
    (" 2 ", 2), ("{'a': 1}", {"a": 1}), ("(1, 2)", (1, 2)),
])
def test_parse_value_reads_python_literals(raw, value):
    parsed = parse_value(raw)
    assert parsed == value and not isinstance(parsed, TextValue)


@pytest.mark.parametrize("raw", ["abc", "1e-3x", "adam", "[1, 2", "os.system('x')"])
def test_parse_value_keeps_other_text_as_a_marked_string(raw):
    parsed = parse_value(raw)
    assert parsed == raw and isinstance(parsed, TextValue)


def test_parse_assignments_nests_dotted_keys_and_merges():
    assert parse_assignments(["C=2", "optimizer.lr=0.01", "optimizer.momentum=0.9",
                              "name=adam"]) == {
        "C": 2, "optimizer": {"lr": 0.01, "momentum": 0.9}, "name": "adam"}
    assert parse_assignments(["a.b=1", "a={'c': 2}"]) == {"a": {"b": 1, "c": 2}}
    assert parse_assignments(["s=a=b"]) == {"s": "a=b"}  # the first "=" splits
    assert parse_assignments([]) == {}


@pytest.mark.parametrize("item", ["C", "=3", "a..b=1", ".a=1", " =1"])
def test_parse_assignments_refuses_what_is_no_key_value(item):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments([item])


def test_a_key_given_a_value_and_sub_entries_is_refused():
    with pytest.raises(ConfigError, match="'a' is given both a value and sub-entries"):
        parse_assignments(["a=1", "a.b=2"])


def test_values_read_as_text_are_found_and_made_plain():
    updates = parse_assignments(["C=abc", "n=3", "opt.name=adam", "opt.lr=0.1", "q='x'"])
    assert read_as_text(updates) == {"C": "abc", "opt.name": "adam"}
    plain = plain_text(updates)
    assert plain == updates
    assert type(plain["C"]) is str and type(plain["opt"]["name"]) is str
    assert read_as_text(plain) == {}


def test_text_note_names_each_value_and_the_fix():
    note = text_note({"C": "abc"})
    assert note.startswith("--sacred-with C='abc' was read as a string")
    assert "give a number" in note
    assert "C='a', D='b' were read" in text_note({"C": "a", "D": "b"})


def test_nested_merge_and_dotted_keys():
    assert nested({"optimizer.lr": 0.1, "x": {"a.b": 1}}) == {"optimizer": {"lr": 0.1},
                                                              "x": {"a": {"b": 1}}}
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge(base, {"a": {"b": 5}, "e": 6}) == {"a": {"b": 5, "c": 2}, "d": 3, "e": 6}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}  # not modified
    assert merge({"a": {"b": 1}}, {"a": 2}) == {"a": 2}
    assert sorted(dotted_keys({"a": {"b": 1, "c": {}}, "d": 2})) == ["a.b", "a.c", "d"]


def test_did_you_mean():
    assert did_you_mean("gama", ["gamma", "C", "kernel"]) == "; did you mean 'gamma'?"
    assert did_you_mean("lr", ["lr_decay", "lr0", "momentum"]).startswith("; did you mean 'lr")
    assert did_you_mean("zzz", ["gamma", "C"]) == ""
    assert did_you_mean("x", []) == ""


# -- captured output -------------------------------------------------------------------------


@pytest.mark.parametrize("text, shown", [
    ("plain\ntext", "plain\ntext"),
    ("10%\r50%\r100%", "100%"),
    ("long line\rshort", "shortline"),
    ("ab\bc", "ac"),
    ("abc\b\b\bxy", "xyc"),
    ("\b\bstart", "start"),
    ("a\rb\nc\rd", "b\nd"),
    ("tail\r", "tail"),
])
def test_fold_shows_what_a_terminal_shows(text, shown):
    assert output.fold(text) == shown


SECTIONS = [("setup", "stdout", "s-out "), ("setup", "stderr", "s-err "),
            ("call", "stdout", "c-out\r1\r2\n"), ("call", "stderr", "c-err "),
            ("teardown", "stdout", "t-out"), ("call", "log", "log line")]


def test_combine_is_stdout_then_stderr_of_setup_and_call_folded():
    assert output.combine(SECTIONS) == "2-out c-out\ns-err c-err "
    assert output.combine(SECTIONS, live=("live-out ", "live-err")) == (
        "2-out c-out\nlive-out s-err c-err live-err")


def test_combine_with_a_filter():
    seen = []

    def upper(text):
        seen.append(text)
        return text.upper()

    assert output.combine(SECTIONS, out_filter=upper) == "S-OUT C-OUT\r1\r2\nS-ERR C-ERR "
    assert seen == ["s-out c-out\r1\r2\ns-err c-err "]  # the raw text
    assert output.combine(SECTIONS, out_filter=lambda text: None) == output.combine(SECTIONS)
    with pytest.raises(TypeError, match="returned bytes"):
        output.combine(SECTIONS, out_filter=lambda text: text.encode())


# -- URLs and passwords ------------------------------------------------------------------------


def test_split_url():
    parts = split_url("mongodb://al:pw@x@h1:1,h2:2/db.runs?authSource=admin")
    assert (parts.scheme, parts.userinfo, parts.hosts, parts.path, parts.query) == (
        "mongodb", "al:pw@x", "h1:1,h2:2", "db.runs", "authSource=admin")
    assert (parts.user, parts.password) == ("al", "pw@x")
    assert parts.server() == "mongodb://al:pw@x@h1:1,h2:2"
    assert parts.unsplit() == "mongodb://al:pw@x@h1:1,h2:2/db.runs?authSource=admin"
    bare = split_url("host:27017")
    assert (bare.scheme, bare.userinfo, bare.hosts, bare.path, bare.query) == (
        None, None, "host:27017", None, None)
    assert split_url("u@h").password is None and split_url("u:@h").password == ""
    for text in ["", "a://", "a://b/", "a://b?", "u:p@h/x?y=1", "s3://k:s@b/p/q"]:
        assert split_url(text).unsplit() == text


@pytest.mark.parametrize("url, shown", [
    ("mongodb://al:hunter2@h/db", "mongodb://al:***@h/db"),
    ("mongodb://al@h/db", "mongodb://al@h/db"),
    ("mongodb://h/db", "mongodb://h/db"),
    ("al:hunter2@h:1:db", "al:***@h:1:db"),
    ("mongodb://al:pa@ss/w@h/db", "mongodb://al:***@h/db"),
    ("mongodb://h/db?password=x&ssl=true", "mongodb://h/db?password=***&ssl=true"),
    ("s3://b?AWS_SESSION_TOKEN=tok", "s3://b?AWS_SESSION_TOKEN=***"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_strings_masks_urls_anywhere_in_a_value():
    value = {"--sacred-mongo": "mongodb://a:pw@h/db", "n": 1,
             "list": ["mongodb://b:pw2@h", "no url @ here"], "t": ("x://c:pw3@h",)}
    assert redact_strings(value) == {"--sacred-mongo": "mongodb://a:***@h/db", "n": 1,
                                     "list": ["mongodb://b:***@h", "no url @ here"],
                                     "t": ["x://c:***@h"]}


def test_scrub_password_removes_it_also_percent_decoded():
    url = "mongodb://al:p%40ss@h/db"
    assert scrub_password("auth failed for p%40ss / p@ss", url) == "auth failed for *** / ***"
    assert scrub_password("nothing to hide", "mongodb://h/db") == "nothing to hide"
    assert scrub_password("al:pw failed", "al:pw@h") == "al:*** failed"


def test_server_of_drops_path_options_and_password():
    assert server_of("mongodb://al:pw@h1,h2/db?authSource=admin") == "mongodb://al:***@h1,h2"
    assert server_of("mongodb://h:1/") == "mongodb://h:1"


@pytest.mark.parametrize("value, expected", [
    ("exp", ("mongodb://localhost:27017/", "exp", None, None)),
    ("h:1:exp.runs2!-3", ("mongodb://h:1/", "exp", "runs2", -3)),
    ("mongodb://h/exp.mine!5", ("mongodb://h/exp.mine", "exp", "mine", 5)),
    ("mongodb://h/my%2Ddb", ("mongodb://h/my%2Ddb", "my-db", None, None)),
    ("mongodb://h", ("mongodb://h", "sacred", None, None)),
])
def test_parse_target(value, expected):
    target = parse_target(value)
    assert (target.url, target.db_name, target.collection, target.priority) == expected


@pytest.mark.parametrize("value, message", [
    ("h:1:db.metrics", "cannot hold runs"),
    ("x" * 64, "not a valid MongoDB database name"),
    ("u:pw@h:1:db", "is not understood"),
    ("ftp://u:pw@h/db", "unknown scheme 'ftp'"),
])
def test_parse_target_errors_name_the_forms_and_hide_the_password(value, message):
    with pytest.raises(StoreError, match=message) as caught:
        parse_target(value)
    assert ":pw@" not in str(caught.value)


# -- stored values -------------------------------------------------------------------------------


def test_plain_values_pass_and_others_are_tagged_as_sacred_tags_them():
    plain = {"a": [1, 2.5, "x", None, True], "b": {"c": {}}}
    assert serialize.is_plain(plain) and serialize.flatten(plain) is plain
    assert not serialize.is_plain({1: "int key"}) and not serialize.is_plain((1, 2))
    assert serialize.flatten((1, 2)) == {"py/tuple": [1, 2]}
    assert serialize.flatten({"t": (1,)}) == {"t": {"py/tuple": [1]}}
    with pytest.raises(serialize.NotSerializableError, match="function"):
        serialize.flatten(lambda: 0)
    assert serialize.dumps({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'


def test_plain_scalar_types_are_one_definition():
    assert serialize.PLAIN_SCALAR_TYPES == frozenset(serialize.PLAIN_SCALARS)
    assert serialize.PLAIN_SCALAR_TYPES == {str, int, float, bool, type(None)}


def test_config_values_are_normalized_to_plain_data():
    assert serialize.normalize_config_value((1, [2, (3,)])) == [1, [2, [3]]]
    assert serialize.normalize_config_value({"a": (1,)}) == {"a": [1]}
    value = object()
    assert serialize.normalize_config_value(value) is value


def test_numpy_values_become_python_numbers_and_lists():
    numpy = pytest.importorskip("numpy")
    assert serialize.is_numpy(numpy.float32(0.5)) and not serialize.is_numpy(0.5)
    assert serialize.from_numpy(numpy.int64(3)) == 3
    assert type(serialize.from_numpy(numpy.int64(3))) is int
    assert serialize.from_numpy(numpy.arange(4).reshape(2, 2)) == [[0, 1], [2, 3]]
    assert serialize.from_numpy(numpy.ma.masked_array([1, 2], mask=[0, 1])) == [1, None]
    assert serialize.normalize_config_value({"w": numpy.ones(2)}) == {"w": [1.0, 1.0]}
    assert readable({"m": numpy.eye(2, dtype=int)}) == {"m": [[1, 0], [0, 1]]}
    keep = "text"
    assert serialize.from_numpy(keep) is keep


def test_metric_values_from_numpy_are_plain_numbers():
    numpy = pytest.importorskip("numpy")
    from pytest_sacred.metrics import MetricsBuffer

    buffer = MetricsBuffer()
    buffer.log("loss", numpy.float32(0.5))
    buffer.log("loss", numpy.int64(2))
    buffer.log("loss", 3)
    values = buffer.drain()["loss"]["values"]
    assert values == [0.5, 2, 3] and [type(v) for v in values] == [float, int, int]


def test_readable_pandas_values():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    assert readable(frame) == {"a": [1, 2], "b": [0.5, 1.5]}
    assert readable(pandas.Series([1, 2], index=["x", "y"])) == {"x": 1, "y": 2}
    assert readable(pandas.Series([3, 4])) == [3, 4]
    assert readable([1, "a", None]) == [1, "a", None]
    assert readable((1, frame["a"])) == (1, [1, 2])


def test_mongo_keys_and_values():
    assert escape_key("$set") == "@set" and escape_key("a.b.c") == "a,b,c"
    assert escape_key(3) == "3" and escape_key("x$y") == "x$y"
    assert mongo_safe({"$a": {"b.c": [1, 2**70]}, "t": "ok"}) == {
        "@a": {"b,c": [1, {"\\int": str(2**70)}]}, "t": "ok"}  # read back as the int
    assert mongo_safe(2**63 - 1) == 2**63 - 1
    # a lone surrogate becomes U+FFFD, as every store writes it
    assert safe_text("fine") == "fine" and safe_text("bad \udcff") == "bad \ufffd"


# -- logging, version ------------------------------------------------------------------------


def test_run_logger_names_and_run_logging_lifetime(capsys):
    assert run_logger("exp", "train").name == "exp.train"
    root_level = logging.root.level
    logging.root.setLevel(logging.WARNING)  # Python's default
    logs = RunLogging("units_exp")
    try:
        logs.start()
        step = logs.logger("step")
        assert step is run_logger("units_exp", "step")
        step.info("seen %d", 1)
        step.debug("not seen")
        logs.stop()
        step.warning("after the run")
    finally:
        logs.stop()
        logging.root.setLevel(root_level)
    err = capsys.readouterr().err
    assert "INFO - units_exp.step - seen 1" in err
    assert "not seen" not in err
    assert "units_exp.step - after the run" not in err  # our handler is gone
    assert logging.getLogger("units_exp").handlers == []
    assert step.level == logging.NOTSET  # the run's INFO level is undone


def test_run_logging_keeps_levels_the_user_set(capsys):
    logging.getLogger("units_quiet").setLevel(logging.ERROR)
    logs = RunLogging("units_quiet")
    logs.start()
    try:
        logs.logger("f").warning("hidden by the user's level")
        logs.logger("f").error("shown")
    finally:
        logs.stop()
        logging.getLogger("units_quiet").setLevel(logging.NOTSET)
    err = capsys.readouterr().err
    assert "hidden" not in err and "ERROR - units_quiet.f - shown" in err


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert pytest_sacred.__version__ == version("pytest-sacred")
    assert pytest_sacred.package_version("no-such-distribution-xyz") == (
        pytest_sacred.UNKNOWN_VERSION)
    with pytest.raises(AttributeError):
        pytest_sacred.no_such_attribute  # noqa: B018


def test_a_resource_entry_of_run_json_reads_as_its_path_and_md5() -> None:
    """Sacred's FileStorage layout keeps [path, where its copy is]; readers give
    [path, md5], the md5 read off the copy's name (``<stem>_<md5><ext>``)."""
    import hashlib

    from pytest_sacred.stores.file.layout import resource_pair, stored_copy_name

    md5 = hashlib.md5(b"data").hexdigest()
    for source in ("/d/res.bin", "/d/res", "/d/a.tar.gz", "/d/x_y.csv"):
        for where in ("/base/_resources", "runs/_resources", "s3://b/runs/_resources"):
            copy = f"{where}/{stored_copy_name(source, md5)}"
            assert resource_pair([source, copy]) == [source, md5], copy
    assert resource_pair(["/d/r", md5]) == ["/d/r", md5]  # an md5 already: kept
    assert resource_pair(["/d/r", "/elsewhere/r.txt"]) == ["/d/r", None]  # none to read
    assert resource_pair("odd") == "odd"


def test_a_value_too_large_for_one_statement_is_cut_in_parts_with_a_short_form() -> None:
    import json

    from pytest_sacred.stores.sql.values import PARTS_MARK, short_form, split_text

    text = "é" * 1000 + "x" * 999
    parts = split_text(text, 400)
    assert "".join(parts) == text and all(len(p.encode()) <= 400 for p in parts)
    assert split_text("", 400) == [""]
    note = f"[{PARTS_MARK}]"
    info = json.dumps({"huge": "x" * 10**6, "small": 1})
    assert json.loads(short_form("run.info", info, note)) == {"huge": note, "small": 1}
    out = short_form("run.captured_out", "a" * 10**6, note)
    assert note in out and len(out) < 10**5
    assert json.loads(short_form("run_details.result", '"x"', note)) == note


def test_thread_safe_trace_is_the_traceback_without_its_markers() -> None:
    """What store and heartbeat threads print: the standard traceback (chained causes
    included), less the ``^^^`` lines whose making parses source with ``ast``."""
    import traceback

    from pytest_sacred.events import thread_safe_trace

    def fail() -> None:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("while handling") from exc

    try:
        fail()
    except ValueError as exc:
        caught = exc
    standard = "".join(traceback.format_exception(caught)).splitlines()
    without_markers = [line for line in standard
                       if not line.strip() or set(line.strip()) - set("^~")]
    assert thread_safe_trace(caught).splitlines() == without_markers
    assert "KeyError" in thread_safe_trace(caught)
