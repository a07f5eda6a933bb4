"""Generated hostile values (config and parametrize values, info, results, metric names,
values and steps, captured output) against the file, MongoDB, TinyDB and SQLite stores.

Invariants, for every generated run: it ends (never left RUNNING), and each value reads
back through our readers (and Sacred's own readers where one exists: its TinyDbReader, and
the file layout through ``json``) equal to what the one normalisation
(:func:`pytest_sacred.serialize.to_json`) makes of it: JSON data, non-JSON values in
jsonpickle's tagged form.

Each hypothesis example is one pytest session writing a batch of runs, so a subprocess
covers many values. CI runs a few examples with a fixed seed; run it longer with e.g.
``PYTEST_SACRED_PROPERTY_EXAMPLES=200 PYTEST_SACRED_PROPERTY_BATCH=50``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("PYTEST_SACRED_PROPERTY_EXAMPLES", "3"))
BATCH = int(os.environ.get("PYTEST_SACRED_PROPERTY_BATCH", "15"))
_sessions = itertools.count()

#: strings a layout may mistake for its own markers
TAG_LIKE = ["{TinyDate}:2020-01-01T00:00:00", '{TinyFile}:"x"', "{TinyArray}:[1]",
            "py/tuple", "json://1", "$x", "a.b", "@x", "a,b"]


def scalars(layout_safe: bool) -> st.SearchStrategy[Any]:
    """JSON scalars and their edges. ``layout_safe`` leaves out what items of the layouts'
    own encodings (TinyDB tags, MongoDB big ints, SQL NaN/overflow) still get wrong."""
    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
    if layout_safe:
        return (st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
                | st.floats(allow_nan=False, allow_infinity=False))
    return (st.none() | st.booleans() | st.integers() | st.sampled_from(TAG_LIKE) | text
            | st.floats() | st.integers(2**63, 2**80))


#: stands for a value neither JSON nor jsonpickle can store (a lambda, made in the session)
LAMBDA = "\x00lambda\x00"


def deep(levels: int, leaf: Any = 1) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


def unusual(layout_safe: bool, arrays: bool) -> st.SearchStrategy[Any]:
    """What results and info hold besides JSON: numpy scalars (and arrays, whose stored
    form differs by layout, on the file store), values nested deeper than the stores take,
    and values no store can take as they are."""
    np = pytest.importorskip("numpy")
    numbers = (st.floats(allow_nan=not layout_safe, allow_infinity=not layout_safe)
               .map(np.float64)
               | st.integers(-(2**53), 2**53).map(np.int64)
               | st.floats(width=32, allow_nan=False).map(np.float32)
               | st.floats(-1e300, 1e300).map(np.longdouble))
    leaves = numbers | st.integers(60, 120).map(deep) | st.just(LAMBDA)
    if arrays:
        leaves |= st.lists(st.integers(-1000, 1000), max_size=4).map(np.array)
    return leaves


def values(layout_safe: bool, storable: bool = False,
           arrays: bool = False) -> st.SearchStrategy[Any]:
    """JSON-like values with tuples; unless ``storable`` (config values, which are refused
    when they are not), also the values of :func:`unusual`."""
    keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00.$"),
                   max_size=6) if layout_safe else st.text(max_size=6) | st.sampled_from(TAG_LIKE)
    leaves = scalars(layout_safe)
    if not storable:
        leaves |= unusual(layout_safe, arrays)
    return st.recursive(
        leaves,
        lambda kids: (st.lists(kids, max_size=3) | st.tuples(kids, kids)
                      | st.dictionaries(keys, kids, max_size=3)),
        max_leaves=10)


def cases(layout_safe: bool, arrays: bool = False) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A batch of runs' values; ``arrays``: numpy arrays too (their stored form is the
    layout's own: jsonpickle's on the JSON layouts, lists on MongoDB, ``{TinyArray}`` on
    TinyDB)."""
    metric = st.tuples(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
        st.floats(allow_nan=False, allow_infinity=False) if layout_safe
        else st.floats() | st.integers(-(2**70), 2**70),
        st.integers(0, 2**53 if layout_safe else 2**64))
    case = st.fixed_dictionaries({
        "param": values(layout_safe, storable=True), "info": values(layout_safe, arrays=arrays),
        "result": values(layout_safe, arrays=arrays),
        "metrics": st.lists(metric, max_size=3),
        "out": st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    })
    return st.lists(case, min_size=BATCH, max_size=BATCH)


def thaw(value: Any) -> Any:
    """:data:`LAMBDA` replaced by a lambda (done in the session, and here for the
    expected value: the two reprs differ only in name and address)."""
    if isinstance(value, str) and value == LAMBDA:
        return lambda: 0
    if type(value) is dict:
        return {k: thaw(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(thaw(v) for v in value)
    return value


EXPERIMENT = '''
import pickle
import pytest

CASES = pickle.load(open("cases.pkl", "rb"))


def thaw(value):
    if isinstance(value, str) and value == "\\x00lambda\\x00":
        return lambda: 0
    if type(value) is dict:
        return {k: thaw(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(thaw(v) for v in value)
    return value


@pytest.mark.experiment("prop")
@pytest.mark.parametrize("p", [c["param"] for c in CASES], ids=[str(i) for i in range(len(CASES))])
def test_prop(sacred_run, p, request):
    case = CASES[int(request.node.callspec.id)]
    sacred_run.info["v"] = thaw(case["info"])
    for name, value, step in case["metrics"]:
        sacred_run.log_scalar(name, value, step)
    print(case["out"], end="")
    return thaw(case["result"])
'''


def _kind(value: Any) -> type:
    """bool, int (bson's Int64 too), float, or the value's own type."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    return type(value)


_ADDRESS = re.compile(r"(?<=<lambda> at )0x[0-9a-f]+")


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, and an int never equal to a float."""
    if _kind(a) is not _kind(b):
        return False
    if _kind(a) is float:
        return (math.isnan(a) and math.isnan(b)) or a == b
    if _kind(a) is str and "<lambda> at 0x" in a:  # a repr (or one inside a repr): the
        return _ADDRESS.sub("", a) == _ADDRESS.sub("", b)  # lambda is at another address
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def fold(text: str) -> str:
    from pytest_sacred.output import fold as terminal_fold

    return terminal_fold(text)


def expected(value: Any, kind: str = "file") -> Any:
    """What the store of ``kind`` holds of ``value``: the normalised value in the JSON
    layout's form; MongoDB's keeps numpy values as numbers and lists."""
    import warnings

    from pytest_sacred.serialize import UnstorableValueWarning, normalize, to_json

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnstorableValueWarning)
        if kind == "mongo":
            from pytest_sacred.stores.mongo.values import readable

            return to_json(readable(normalize(thaw(value), "value")[0]))
        return to_json(thaw(value))


def expected_config(value: Any) -> Any:
    from pytest_sacred.serialize import normalize_config_value, to_json

    return to_json(normalize_config_value(value))


def expected_point(step: int, value: Any, kind: str) -> Any:
    """A logged metric value as the store of ``kind`` reads it back. The SQL layout's
    ``value`` column is a DOUBLE (Sacred's): an int it holds exactly reads back as that
    float, unless the point is kept as logged beside the columns (``exact``: a step beyond
    SQLite's 64-bit ``step`` column, or a value the column cannot hold)."""
    if kind == "sqlite" and type(value) is int and -(2**63) <= step < 2**63:
        try:
            return float(value) if float(value) == value else value
        except OverflowError:
            return value
    return value


def expected_metrics(case: dict[str, Any], kind: str = "file"
                     ) -> dict[str, tuple[list[Any], list[Any]]]:
    """name -> (steps, values) in the order logged (each log_scalar with its own step)."""
    points: dict[str, list[tuple[int, Any]]] = {}
    for name, value, step in case["metrics"]:
        points.setdefault(name, []).append((step, expected_point(step, value, kind)))
    return {name: ([s for s, _ in pts], [v for _, v in pts]) for name, pts in points.items()}


def run_batch(pytester: pytest.Pytester, batch: list[dict[str, Any]],
              store_args: list[str]) -> None:
    """One pytest session writing ``batch`` as runs; every run must end."""
    (pytester.path / "cases.pkl").write_bytes(pickle.dumps(batch))
    pytester.makepyfile(test_prop=EXPERIMENT)
    result = pytester.runpytest_subprocess("test_prop.py", "-p", "no:randomly", "-q", "-W",
                                           "ignore::pytest_sacred.serialize.UnstorableValueWarning",
                                           *store_args)
    out = result.stdout.str()
    # a metric's name or step the API refuses is the user's bad input (the test fails)
    assert result.ret in (0, 1), out
    assert "INTERNALERROR" not in out and "RUNNING" not in out, out


def check_runs(runs: list[Any], batch: list[dict[str, Any]], where: str,
               metrics: Any = None, kind: str = "file") -> None:
    """Every run of the batch, read back, holds what the normalisation makes of it."""
    by_case = {int(run.meta["pytest"]["nodeid"].rsplit("[", 1)[1][:-1]): run for run in runs}
    assert sorted(by_case) == list(range(len(batch))), where
    for index, run in by_case.items():
        case = batch[index]
        label = f"{where}: case {index} {case!r:.300}"
        assert run.status in ("COMPLETED", "FAILED"), label
        assert same(run.config["p"], expected_config(case["param"])), (label, run.config["p"])
        if run.status == "FAILED":
            continue  # a refused metric: what was logged before it is checked elsewhere
        # info["v"] is one level down in info: the depth limit counts from info
        assert same(run.info.get("v"), expected({"v": case["info"]}, kind)["v"]), \
            (label, run.info)
        assert same(run.result, expected(case["result"], kind)), (label, run.result)
        # captured output is folded as a terminal shows it (``\r`` and ``\b`` applied)
        assert fold(case["out"]) in (run.captured_out or ""), label
        if metrics is not None:
            stored = metrics(run.id)
            for name, (steps, vals) in expected_metrics(case, kind).items():
                assert name in stored, (label, name, sorted(stored))
                assert list(stored[name].steps) == steps, (label, name)
                assert same(list(stored[name].values), vals), (label, name, stored[name])


def _full_runs(reader: Any) -> list[Any]:
    return [reader.get_run(run.id) for run in reader.list_runs()]


#: no shrinking: each example is a pytest session; the failing batch and the failing
#: case within it are named by the assertion
COMMON = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])


def _store_dir(pytester: pytest.Pytester, kind: str) -> Path:
    return pytester.path / f"{kind}-{next(_sessions)}"


@COMMON
@given(batch=cases(layout_safe=False, arrays=True))
def test_file_store_reads_back_every_value(pytester: pytest.Pytester,
                                           batch: list[dict[str, Any]]) -> None:
    """The file store, with every hostile value (NaN, big ints, tag-like strings)."""
    from pytest_sacred.readers import open_reader

    store = _store_dir(pytester, "file")
    run_batch(pytester, batch, [f"--sacred-file-storage={store}"])
    reader = open_reader(store)
    check_runs(_full_runs(reader), batch, str(store), reader.metrics)
    for run_dir in (p for p in store.iterdir() if p.name.isdigit()):  # Sacred's way: json
        run = json.loads((run_dir / "run.json").read_text())
        info = json.loads((run_dir / "info.json").read_text())
        case = batch[int(run["meta"]["pytest"]["nodeid"].rsplit("[", 1)[1][:-1])]
        if run["status"] == "COMPLETED":
            assert same(run["result"], expected(case["result"]))
            assert same(info.get("v"), expected({"v": case["info"]})["v"])


def _write_and_read(kind: str, pytester: pytest.Pytester, batch: list[dict[str, Any]],
                    mongo_server: Any = None) -> None:
    """Write ``batch`` into a new store of ``kind`` and check it through our reader (and
    Sacred's TinyDbReader for TinyDB)."""
    from pytest_sacred.readers import open_reader

    if kind == "tinydb":
        pytest.importorskip("tinydb")
        store = str(_store_dir(pytester, "tinydb"))
        args = [f"--sacred-tinydb={store}"]
    elif kind == "sqlite":
        pytest.importorskip("sqlalchemy")
        store = f"sqlite:///{_store_dir(pytester, 'sql')}.db"
        args = [f"--sacred-sql={store}"]
    else:
        db = f"prop{os.getpid()}_{next(_sessions)}"
        store = f"{mongo_server.url.rstrip('/')}/{db}"
        args = [f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{db}"]
    try:
        run_batch(pytester, batch, args)
        reader = open_reader(store)
        check_runs(_full_runs(reader), batch, store, reader.metrics, kind)
        if kind == "tinydb":
            _check_sacred_tinydb(Path(store), batch)
    finally:
        if kind == "mongo":
            with mongo_server.client() as client:
                client.drop_database(db)


def as_sacred_reads_tinydb(value: Any) -> Any:
    """What Sacred's TinyDbReader shows of a stored value: a user's string that begins
    like a tag (``{NAME}:``) with the ``{TinyText}:`` prefix it is stored behind (a tag
    Sacred's reader does not know); keys as they are."""
    if type(value) is str:
        return "{TinyText}:" + value if re.match(r"\{[^{}]*\}:", value) else value
    if type(value) is dict:
        return {k: as_sacred_reads_tinydb(v) for k, v in value.items()}
    if type(value) is list:
        return [as_sacred_reads_tinydb(v) for v in value]
    return value


def _check_sacred_tinydb(store: Path, batch: list[dict[str, Any]]) -> None:
    """Sacred's own TinyDbReader reads every run, with the same values (a tag-shaped
    string behind its ``{TinyText}:`` prefix)."""
    sacred_reader = pytest.importorskip("sacred.observers.tinydb_hashfs").TinyDbReader
    documents = sacred_reader(str(store)).fetch_metadata(exp_name="prop")
    assert len(documents) == len(batch)
    for document in documents:
        case = batch[int(document["meta"]["pytest"]["nodeid"].rsplit("[", 1)[1][:-1])]
        if document["status"] == "COMPLETED":
            assert same(document["result"], as_sacred_reads_tinydb(expected(case["result"]))), \
                document["result"]
            assert same(document["info"].get("v"),
                        as_sacred_reads_tinydb(expected({"v": case["info"]})["v"]))


@COMMON
@given(batch=cases(layout_safe=True))
def test_tinydb_store_reads_back_every_value(pytester: pytest.Pytester,
                                             batch: list[dict[str, Any]]) -> None:
    _write_and_read("tinydb", pytester, batch)


@COMMON
@given(batch=cases(layout_safe=True))
def test_sqlite_store_reads_back_every_value(pytester: pytest.Pytester,
                                             batch: list[dict[str, Any]]) -> None:
    _write_and_read("sqlite", pytester, batch)


@COMMON
@given(batch=cases(layout_safe=True))
def test_mongo_store_reads_back_every_value(pytester: pytest.Pytester, mongo_server: Any,
                                            batch: list[dict[str, Any]]) -> None:
    _write_and_read("mongo", pytester, batch, mongo_server)


@pytest.mark.parametrize("kind", ["tinydb", "mongo", "sqlite"])
@COMMON
@given(batch=cases(layout_safe=False))
def test_layouts_read_back_hostile_values(pytester: pytest.Pytester, request: Any,
                                          kind: str, batch: list[dict[str, Any]]) -> None:
    """Every hostile value (tag-shaped strings and keys, ints beyond 64 bits, NaN, NUL)
    on the TinyDB, MongoDB and SQLite layouts."""
    server = request.getfixturevalue("mongo_server") if kind == "mongo" else None
    _write_and_read(kind, pytester, batch, server)
