"""Hostile values through each store's own value encoding: TinyDB's tags, MongoDB's keys
and integers, SQL's columns. Each scenario runs an experiment with pytester, then reads
the store back through our reader and, where Sacred has one, through Sacred's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_sacred.readers import open_reader
from pytest_sacred.readers.api import load_runs


def experiment(body: str, name: str = "values") -> str:
    """A test module with one experiment whose body is ``body``."""
    return textwrap.dedent("""
        import datetime
        import pytest

        @pytest.mark.experiment({name!r})
        def test_values(sacred_run):
        {body}
    """).format(name=name, body=textwrap.indent(textwrap.dedent(body), "    "))


def read_back(store: str):
    """The only run of ``store``, whole, through our reader."""
    with open_reader(store) as reader:
        (listed,) = list(reader.list_runs())
        return reader.get_run(listed.id)


# -- TinyDB ----------------------------------------------------------------------------------

@pytest.fixture
def tiny(pytester: pytest.Pytester):
    pytest.importorskip("tinydb")
    pytest.importorskip("hashfs")

    def run(body: str):
        pytester.makepyfile(test_exp=experiment(body))
        result = pytester.runpytest("--sacred-tinydb", "db")
        result.assert_outcomes(passed=1)
        assert result.ret == 0, result.outlines  # nothing left unstored
        return str(pytester.path / "db")
    return run


TAG_LIKE = ["{TinyDate}:2020-01-01T00:00:00", '{TinyFile}:"x"', "{TinyArray}:oops",
            "{TinyText}:already", "{Anything}:else", "{TinyDate}:"]


def test_tinydb_strings_shaped_like_tags_read_back_as_given(tiny) -> None:
    """A user's text that begins like a tinydb-serialization tag, in info, result, config,
    metric names, captured output and artifact names, neither breaks a reader nor is
    decoded into something else."""
    from sacred.observers import TinyDbReader

    db = tiny(f"""
        values = {TAG_LIKE!r}
        sacred_run.info["tags"] = values
        sacred_run.info[values[0]] = values[1]  # keys are never decoded: kept as they are
        sacred_run.log_scalar(values[0], 1.0)
        print(values[0], end="")
        import pathlib, tempfile
        path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        path.write_text("content")
        sacred_run.add_artifact(path, name=values[1])
        return values[2]
    """)
    run = read_back(db)
    assert run.status == "COMPLETED"
    assert run.info["tags"] == TAG_LIKE
    assert run.info[TAG_LIKE[0]] == TAG_LIKE[1]
    assert run.result == TAG_LIKE[2]
    assert run.captured_out.startswith(TAG_LIKE[0])
    assert run.metric_names == [TAG_LIKE[0]]
    assert run.artifacts == [TAG_LIKE[1]]
    with open_reader(db) as reader:
        assert reader.artifact(run.id, TAG_LIKE[1]) == b"content"
        assert reader.metric(run.id, TAG_LIKE[0]).values == [1.0]
    assert len(load_runs(db)) == 1

    (doc,) = TinyDbReader(db).runs.all()  # Sacred's reader: the text behind {TinyText}:
    assert doc["status"] == "COMPLETED"
    assert doc["info"]["tags"] == ["{TinyText}:" + v for v in TAG_LIKE]
    assert doc["result"] == "{TinyText}:" + TAG_LIKE[2]
    assert isinstance(doc["start_time"], datetime)  # our own tags still decode


def test_tinydb_datetimes_far_back_and_with_zones(tiny) -> None:
    """Year 12 is written with four digits (Sacred's reader parses only those); a zoned
    datetime is stored as the same instant in UTC, without the zone, as MongoDB does."""
    from sacred.observers import TinyDbReader

    db = tiny("""
        zone = datetime.timezone(datetime.timedelta(hours=2))
        sacred_run.info["early"] = datetime.datetime(12, 1, 1)
        sacred_run.info["zoned"] = datetime.datetime(2020, 1, 1, 12, 30, 1, 5, tzinfo=zone)
        sacred_run.info["naive"] = datetime.datetime(2020, 1, 1, 12, 30)
    """)
    expected = {"early": datetime(12, 1, 1), "zoned": datetime(2020, 1, 1, 10, 30, 1, 5),
                "naive": datetime(2020, 1, 1, 12, 30)}
    assert read_back(db).info == expected
    (doc,) = TinyDbReader(db).runs.all()
    assert doc["info"] == expected
    stored = json.loads((Path(db) / "metadata.json").read_text())
    assert stored["runs"]["1"]["info"]["early"] == "{TinyDate}:0012-01-01T00:00:00.000000"


def test_tinydb_numpy_results_that_json_cannot_hold_end_the_run(tiny) -> None:
    """A complex numpy scalar or array result is stored (jsonpickle's form), the run ends."""
    pytest.importorskip("numpy")
    db = tiny("""
        import numpy as np
        sacred_run.info["array"] = np.array([1 + 2j, 3j])
        return np.complex128(1 + 2j)
    """)
    run = read_back(db)
    assert run.status == "COMPLETED"
    assert run.result["py/object"] == "numpy.complex128"
    assert run.info["array"]["py/object"] == "numpy.ndarray"


def test_tinydb_numpy_arrays_read_back_as_lists(tiny) -> None:
    """``{TinyArray}`` (Sacred's serializer: numpy for Sacred's reader) is a list for ours."""
    np = pytest.importorskip("numpy")
    from sacred.observers import TinyDbReader

    db = tiny("""
        import numpy as np
        sacred_run.info["array"] = np.array([[1.5, 2.0], [3.0, float("nan")]])
    """)
    assert read_back(db).info["array"][0] == [1.5, 2.0]
    (doc,) = TinyDbReader(db).runs.all()
    assert isinstance(doc["info"]["array"], np.ndarray) and doc["info"]["array"].shape == (2, 2)


def test_tinydb_huge_integer_metric_keeps_the_store_readable(tiny) -> None:
    """An int metric beyond floats (10**400) next to floats: load_runs and the summaries
    still read the store; the value reads back exactly."""
    db = tiny("""
        sacred_run.log_scalar("m", 0.5)
        sacred_run.log_scalar("m", 10**400)
    """)
    frame = load_runs(db)
    assert frame["metrics.m.max"][0] == 10**400 and frame["metrics.m.min"][0] == 0.5
    with open_reader(db) as reader:
        assert reader.metric(1, "m").values == [0.5, 10**400]


def test_tinydb_keys_are_those_the_json_layouts_store() -> None:
    """jsonpickle escapes a key beginning with ``json://`` in every dict of a value it
    encodes (one that is not plain JSON): the TinyDB document has the same keys as the
    file store's JSON, and plain JSON keeps its keys as they are."""
    import numpy as np

    from pytest_sacred.serialize import to_json
    from pytest_sacred.stores.tinydb.values import decode, tiny_value

    for value in ({"json://1": 1, "t": (1, "{TinyDate}:x")},
                  [{"json://1": {"json://é": [1]}}, np.int64(3)],
                  {"json://1": 1}, {"a": {"json://1": (2,)}}):
        stored = json.loads(json.dumps(tiny_value(value)))
        assert decode(stored) == to_json(value), value
    assert tiny_value({"json://1": 1}) == {"json://1": 1}
    assert tiny_value({"json://1": 1, "t": (1,)}) == {'json://"json://1"': 1,
                                                      "t": {"py/tuple": [1]}}
    # a datetime makes the value one jsonpickle encodes on the JSON layouts
    assert tiny_value({"json://1": 1, "d": datetime(2020, 1, 2)}) == {
        'json://"json://1"': 1, "d": "{TinyDate}:2020-01-02T00:00:00.000000"}


def test_tinydb_encoding_round_trips_every_string() -> None:
    """The encoder and the decoder are inverse on strings, whatever they begin with."""
    pytest.importorskip("tinydb")
    from pytest_sacred.stores.tinydb.values import decode, tiny_value

    values = [*TAG_LIKE, "", "{", "{}", "{}:", "{a}b:", "{{TinyDate}}:x", "plain", "{x}:" * 3]
    assert decode(tiny_value(values)) == values
    assert decode(tiny_value({"k": values})) == {"k": values}
    when = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert decode(tiny_value(when)) == datetime(1, 1, 1, 5)


# -- MongoDB ---------------------------------------------------------------------------------

@pytest.fixture
def mongo(pytester: pytest.Pytester, mongo_server, mongo_db_name):
    """Runs ``body`` into a fresh database; returns its store name and the database."""
    def run(body: str):
        pytester.makepyfile(test_exp=experiment(body))
        store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
        result = pytester.runpytest("--sacred-mongo", store)
        result.assert_outcomes(passed=1)
        assert result.ret == 0, result.outlines  # nothing left unstored
        return store
    return run


def stored_doc(mongo_server, mongo_db_name) -> dict:
    with mongo_server.client() as client:
        (doc,) = list(client[mongo_db_name].runs.find())
        return doc


COLLIDING = {"a.b": 1, "a,b": 2, "$x": 3, "@x": 4, "n\0ul": 5, "back\\slash": 6,
             "\\int": "7", "\\,": 8, ".": 9, ",": 10, "": 11, "x$.@": 12}


def test_mongo_keys_that_sacreds_escaping_would_merge_are_all_kept(mongo, mongo_server,
                                                                  mongo_db_name) -> None:
    """``a.b``/``a,b``, ``$x``/``@x``, NUL, backslashes: each key is stored under a key of
    its own and reads back as given, in config, info and result."""
    store = mongo(f"""
        sacred_run.info["k"] = {COLLIDING!r}
        sacred_run.info["n\\0"] = "a NUL in a top-level key keeps the rest of info"
        return {{"r": {COLLIDING!r}}}
    """)
    run = read_back(store)
    assert run.status == "COMPLETED"
    assert run.info == {"k": COLLIDING, "n\0": "a NUL in a top-level key keeps the rest of info"}
    assert run.result == {"r": COLLIDING}
    doc = stored_doc(mongo_server, mongo_db_name)
    keys = doc["info"]["k"]
    assert len(keys) == len(COLLIDING)
    assert keys["a,b"] == 1 and keys["@x"] == 3  # Sacred's forms where Sacred has one
    assert doc["value_encoding"] == "pytest-sacred/1"


def test_mongo_integers_beyond_64_bits_read_back_as_integers(mongo, mongo_server,
                                                             mongo_db_name) -> None:
    store = mongo("""
        sacred_run.info["big"] = [2**64, -2**63 - 1, 10**40, 2**63 - 1]
        return 2**70
    """)
    run = read_back(store)
    assert run.info == {"big": [2**64, -2**63 - 1, 10**40, 2**63 - 1]}
    assert run.result == 2**70
    doc = stored_doc(mongo_server, mongo_db_name)
    assert doc["result"] == {"\\int": str(2**70)}  # documented form in the run document
    assert doc["info"]["big"][3] == 2**63 - 1  # an int64 stays a BSON integer


def test_mongo_users_own_info_metrics_is_kept_beside_the_metric_list(mongo, mongo_server,
                                                                     mongo_db_name) -> None:
    """``info["metrics"]`` of the user survives; the document's ``info.metrics`` is still
    the list Omniboard follows to the metric documents."""
    store = mongo("""
        sacred_run.info["metrics"] = {"mine": [1, 2]}
        sacred_run.log_scalar("loss", 0.5)
        assert sacred_run.info == {"metrics": {"mine": [1, 2]}}
    """)
    run = read_back(store)
    assert run.info == {"metrics": {"mine": [1, 2]}}
    assert run.metric_names == ["loss"]
    doc = stored_doc(mongo_server, mongo_db_name)
    assert [m["name"] for m in doc["info"]["metrics"]] == ["loss"]
    assert doc["info"]["\\metrics"] == {"mine": [1, 2]}
    from bson import ObjectId

    with mongo_server.client() as client:
        metric = client[mongo_db_name].metrics.find_one(
            {"_id": ObjectId(doc["info"]["metrics"][0]["id"])})
    assert metric["values"] == [0.5]
    shown = subprocess.run([sys.executable, "-m", "pytest_sacred", "show", store, "1"],
                           capture_output=True, text=True, check=True).stdout
    assert "metrics.mine = [1, 2]" in shown  # the user's entry is shown, the store's list not
    assert "'id'" not in shown


def test_mongo_key_escaping_is_injective() -> None:
    """Every key of a small alphabet's strings has its own escaped form, one BSON takes,
    and reads back as itself."""
    pytest.importorskip("bson")
    import itertools

    import bson

    from pytest_sacred.stores.mongo.values import escape_key, unescape_key

    alphabet = ["a", ".", ",", "$", "@", "\\", "\0", "u", "0", "\ud800"]
    escaped: dict[str, str] = {}
    for n in range(5):
        for chars in itertools.product(alphabet, repeat=n):
            key = "".join(chars)
            stored = escape_key(key)
            assert escaped.setdefault(stored, key) == key
            assert unescape_key(stored) == key
    bson.encode(dict.fromkeys(escaped, 1))  # every form is a key BSON and MongoDB take


def test_mongo_text_that_is_not_unicode_is_stored_with_a_replacement(mongo) -> None:
    """BSON holds only valid UTF-8: a lone surrogate in a metric name, a key or a value is
    U+FFFD (as in SQL text columns), and the metric, the info and the run are kept."""
    store = mongo("""
        sacred_run.log_scalar("bad\\ud800", 1.0)
        sacred_run.info["k\\ud800"] = "v\\ud800"
        return "r\\ud800"
    """)
    run = read_back(store)
    assert run.status == "COMPLETED" and run.result == "r\ufffd"
    assert run.info == {"k\ud800": "v\ufffd"}  # keys are escaped exactly
    assert run.metric_names == ["bad\ufffd"]


# -- generated values through each layout's encoding -------------------------------------------
# Fixed seed (derandomize): the same cases on every machine, a few seconds each.

def _hypothesis():
    return pytest.importorskip("hypothesis")


def _plain_values(st):
    """Plain values as the shared normalisation hands them to the layouts: JSON data with
    any text (tag-like, NUL, surrogates, dots and dollars in keys) and any integer."""
    any_char = st.one_of(st.characters(), st.sampled_from(".,$@\\\0{}:"),
                         st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                       exclude_categories=()))  # lone surrogates
    text = st.one_of(st.text(any_char, max_size=12), st.sampled_from(TAG_LIKE + list(COLLIDING)),
                     st.builds(lambda a, b: a + b, st.sampled_from(TAG_LIKE), st.text(any_char)))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        st.integers(min_value=2**62).map(lambda n: n * 4),
                        st.floats(allow_nan=False), text)
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12)


def test_generated_values_round_trip_through_tinydb_and_sacreds_reader(tmp_path) -> None:
    """Whatever plain value info holds, our decoding gives it back and Sacred's reader
    (tinydb-serialization with Sacred's serializers) reads the file without failing."""
    hypothesis = _hypothesis()
    st = hypothesis.strategies
    pytest.importorskip("tinydb")
    from sacred.observers import TinyDbReader

    from pytest_sacred.stores.tinydb.values import decode, tiny_value

    @hypothesis.settings(derandomize=True, max_examples=300, deadline=None)
    @hypothesis.given(_plain_values(st))
    def check(value) -> None:
        doc = {"_id": 1, "info": tiny_value({"v": value}), "status": "COMPLETED"}
        text = json.dumps({"runs": {"1": doc}})
        # as JSON gives it back (a surrogate pair written apart comes back joined)
        assert decode(json.loads(text)["runs"]["1"])["info"] == {"v": json.loads(
            json.dumps(value))}
        (tmp_path / "metadata.json").write_text(text)
        TinyDbReader(str(tmp_path)).runs.all()  # raises on a string it takes for a tag

    check()


def test_generated_values_round_trip_through_mongodb(mongo_server, mongo_db_name) -> None:
    """Whatever plain value config/info/result hold, the server takes the encoded form and
    it reads back equal (lone surrogates in text values as U+FFFD, as documented)."""
    hypothesis = _hypothesis()
    st = hypothesis.strategies
    from pytest_sacred.stores.mongo.values import from_document, mongo_safe

    def documented(value):
        if isinstance(value, str):
            return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
        if isinstance(value, list):
            return [documented(v) for v in value]
        if isinstance(value, dict):
            return {k: documented(v) for k, v in value.items()}
        return value

    with mongo_server.client() as client:
        runs = client[mongo_db_name].runs

        @hypothesis.settings(derandomize=True, max_examples=200, deadline=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(_plain_values(st))
        def check(value) -> None:
            runs.delete_many({})
            runs.insert_one({"_id": 1, "info": mongo_safe({"v": value})})
            stored = runs.find_one({"_id": 1})["info"]
            assert from_document(stored) == {"v": documented(value)}

        check()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_generated_metric_points_round_trip_through_the_sql_columns(dialect, tmp_path) -> None:
    """Any step and value: the columns' content (for SQLite, stored and read back by
    SQLite itself) with ``exact`` gives the point back as logged."""
    hypothesis = _hypothesis()
    st = hypothesis.strategies
    sa = pytest.importorskip("sqlalchemy")
    import math

    from pytest_sacred.stores.sql.values import INT32, INT64, metric_point, point_from_columns

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'points.db'}")
    table = sa.Table("metric", sa.MetaData(), sa.Column("step", sa.BigInteger),
                     sa.Column("value", sa.Double), sa.Column("exact", sa.Text))
    table.create(engine)
    numbers = st.one_of(st.integers(), st.floats(), st.integers(min_value=2**52),
                        st.integers(min_value=2**1100))

    @hypothesis.settings(derandomize=True, max_examples=300, deadline=None)
    @hypothesis.given(st.integers(), numbers)
    def check(step, value) -> None:
        steps = INT64 if dialect == "sqlite" else INT32  # an older table's 32-bit step
        stored = metric_point(step, value, steps, dialect)
        assert stored[0] is None or stored[0] in steps
        if dialect == "sqlite":
            with engine.begin() as conn:
                conn.execute(table.delete())
                conn.execute(table.insert(), [dict(zip(("step", "value", "exact"), stored,
                                                       strict=True))])
                stored = tuple(conn.execute(sa.select(table)).one())
        if dialect == "mysql":
            assert stored[1] is None or math.isfinite(stored[1])
        got_step, got_value = point_from_columns(*stored)
        assert got_step == step
        assert got_value == value or (math.isnan(got_value) and math.isnan(value))
        assert type(got_value) is type(value) or stored[2] is None

    try:
        check()
    finally:
        engine.dispose()
