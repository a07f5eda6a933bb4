"""The registry of store kinds: which kind a store name is, what each kind needs, how a
spill file's header reopens its store, and readers kept apart from writers."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from pytest_sacred.extras import PACKAGES
from pytest_sacred.readers import StoreUnreadable, open_reader
from pytest_sacred.stores import registry
from pytest_sacred.stores.base import StoreError

REPO = Path(__file__).resolve().parent.parent
STORES = REPO / "pytest_sacred" / "stores"


@pytest.mark.parametrize(("store", "kind"), [
    ("mongodb://127.0.0.1:27017/exp", "mongo"),
    ("mongodb+srv://cluster.example.org/exp", "mongo"),
    ("db.example.org:27017:exp", "mongo"),
    ("s3://bucket/runs", "s3"),
    ("gs://bucket/runs", "gcs"),
    ("sqlite:///runs.db", "sql"),
    ("postgresql+psycopg://user@host/db", "sql"),
    ("mysql+pymysql://root@127.0.0.1/test", "sql"),
])
def test_a_store_url_names_its_kind(store: str, kind: str) -> None:
    assert registry.kind_of(store).name == kind


def test_directories_are_file_stores_or_tinydb(tmp_path: Path) -> None:
    files = tmp_path / "runs"
    files.mkdir()
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "metadata.json").write_text(json.dumps({"runs": {}}))
    # a directory whose name reads as HOST:PORT:DB is still the directory
    odd = tmp_path / "host:27017:db"
    odd.mkdir()
    assert [registry.kind_of(str(p)).name for p in (files, tiny, odd)] == [
        "file", "tinydb", "file"]


def test_a_name_no_kind_claims_is_refused_naming_the_forms(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(StoreUnreadable, match="is not a store: give a run directory"):
        registry.kind_of(missing)
    with pytest.raises(StoreUnreadable, match="mongodb:// URL or HOST:PORT:DB"):
        open_reader(missing)
    # a store to write into may be a directory still to be made
    assert registry.kind_of(missing, writing=True).name == "file"


def test_every_kind_is_listed_once_with_its_extra() -> None:
    kinds = registry.kinds()
    assert [k.name for k in kinds] == list(registry.ORDER)
    assert sorted(p.name for p in STORES.iterdir() if (p / "__init__.py").exists()
                  and p.name != "objects") == sorted(registry.ORDER)
    pyproject = (REPO / "pyproject.toml").read_text()
    optional = pyproject[pyproject.index("[project.optional-dependencies]"):]
    extras = set(re.findall(r"^([\w-]+)\s*=\s*\[", optional, re.M))
    for kind in kinds:
        # the selecting option first, with its value's form: what messages name
        assert kind.options[0].startswith("--sacred-") and "=" in kind.options[0], kind.name
        if kind.client is None:
            assert kind.extra is None
            continue
        assert kind.client.partition(".")[0] in PACKAGES, kind.name
        assert kind.extra in extras, (kind.name, kind.extra)
    assert {k.name for k in registry.queue_kinds()} == {"mongo", "sql"}


def test_a_spill_header_reopens_its_store(tmp_path: Path) -> None:
    observer = registry.reopen({"kind": "file", "directory": str(tmp_path / "runs")})
    assert observer.name == "file"
    assert observer.store_spec() == {"kind": "file", "directory": str(tmp_path / "runs")}
    assert registry.reopen({"kind": "mongo", "url": "mongodb://127.0.0.1:1/", "db": "exp",
                            "collection": "mine"}).store_spec() == {
        "kind": "mongo", "url": "mongodb://127.0.0.1:1/", "db": "exp", "collection": "mine"}
    for spec in (None, {}, {"kind": "nosuch"}):
        with pytest.raises(StoreError, match="does not say how to reach its store"):
            registry.reopen(spec)


def test_a_store_observer_names_its_store_for_the_readers(tmp_path: Path) -> None:
    file_store = registry.kind("file").open_writer(str(tmp_path / "runs"))
    assert registry.reader_store(file_store) == str(tmp_path / "runs")
    mongo = registry.kind("mongo").open_writer("mongodb://u:p@127.0.0.1:1/exp.mine?tls=false")
    assert registry.reader_store(mongo) == "mongodb://u:p@127.0.0.1:1/exp.mine?tls=false"
    assert registry.kind_of(registry.reader_store(mongo) or "").name == "mongo"
    assert registry.reader_store(object()) is None  # a plain plugin is not read back


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("reader", sorted(STORES.glob("*/reader.py")),
                         ids=lambda p: p.parent.name)
def test_a_reader_never_imports_a_writer(reader: Path) -> None:
    """Readers share connection and layout modules with the writers, never a writer's
    module (its observer and private state)."""
    assert not [m for m in _imports(reader) if m.rpartition(".")[2] == "writer"]
