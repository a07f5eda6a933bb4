"""Per-run overhead by store: one 500-variant sweep per store, against Sacred's observer.

pytest side: ``bench_sweep``'s 500-variant sweep (its suite, imported) stored in each store
pytest-sacred has — file, MongoDB (``secantusd-py`` test server), TinyDB, SQLite,
PostgreSQL, MariaDB, S3 (moto in server mode), GCS (fake-gcs-server) — beside the same
suite with ``-p no:sacred``; per-run overhead = (t_store − t_plain) / 500 within a round.

Sacred side (0.8.7): ``bench_sweep``'s in-process ``ex.run`` loop with the observer Sacred
has for the same store (FileStorageObserver, MongoObserver, TinyDbObserver, SqlObserver on
each engine, S3Observer, GoogleCloudStorageObserver), timed inside the process; 200 runs
(500 would add minutes a round: MongoObserver on the test server takes about 80 s for
500), 100 for TinyDbObserver (it rewrites its whole file on every event, so its per-run
cost grows with the runs: fewer runs make Sacred's figure lower, our ratio higher), 50
for S3Observer and GoogleCloudStorageObserver (about 0.5 s a run on moto; they too list
the bucket for each new run).

Every variant of every store runs in the same rounds, interleaved, so the rows of the
table were measured side by side. The warm-up round (for the page cache) runs only the
cheap variants: a full one would cost as much as a timed round. Servers that do not
answer (or extras not installed) drop their store's row with a note.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_sweep
import cloud
import harness
import mongo
import sql_servers
from harness import PYTHON, Stats, Variant, pytest_argv
from report import Section, markdown_table, number, section_markdown

VARIANTS = bench_sweep.VARIANTS
SACRED_RUNS = 200
#: TinyDbObserver rewrites its whole file per event: quadratic in the runs
SACRED_TINYDB_RUNS = 100
#: S3Observer and GoogleCloudStorageObserver list the bucket's run directories for every
#: new run (their cost grows with the runs too) and make several uploads a run: ~0.5 s a
#: run on moto here, so 500 would take 4 minutes a round
SACRED_CLOUD_RUNS = 50
#: the variants of the warm-up round
WARM = ("plain pytest", f"Sacred none {SACRED_RUNS}", "ours file")


@dataclass
class Store:
    """One row of the table: our option for it and Sacred's observer for it."""

    label: str
    #: our command-line options for round ``n``
    ours: Callable[[int], Sequence[str]]
    #: ``sacred_loop.py`` arguments after the kind and count, for round ``n``
    sacred: Callable[[int], Sequence[str]] | None
    sacred_kind: str
    sacred_label: str
    sacred_runs: int = SACRED_RUNS
    env: dict[str, str] = field(default_factory=dict)
    #: untimed, before each run of either side (e.g. a fresh SQL namespace)
    prepare: Callable[[str, int], None] | None = None
    #: runs our side stored in round ``n``
    count: Callable[[int], int] | None = None


def _reader_count(store: str) -> int:
    from pytest_sacred.readers import open_reader

    return len(list(open_reader(store).list_runs()))


def _local_stores(root: Path) -> list[Store]:
    ours_file, sacred_file = harness.fresh_dir(root, "file"), harness.fresh_dir(root, "s-file")
    tiny, sacred_tiny = harness.fresh_dir(root, "tinydb"), harness.fresh_dir(root, "s-tinydb")
    sqlite, sacred_sqlite = harness.fresh_dir(root, "sqlite"), harness.fresh_dir(root, "s-sqlite")
    return [
        Store("file", lambda n: ["--sacred-file-storage", str(ours_file(n))],
              lambda n: [str(sacred_file(n))], "file", "FileStorageObserver",
              count=lambda n: sum(1 for p in ours_file(n).iterdir() if p.name.isdigit())),
        Store("TinyDB", lambda n: ["--sacred-tinydb", str(tiny(n))],
              lambda n: [str(sacred_tiny(n))], "tinydb", "TinyDbObserver",
              sacred_runs=SACRED_TINYDB_RUNS, count=lambda n: _reader_count(str(tiny(n)))),
        Store("SQLite", lambda n: ["--sacred-sql", f"sqlite:///{sqlite(n)}.db"],
              lambda n: [f"sqlite:///{sacred_sqlite(n)}.db"], "sql", "SqlObserver (SQLite)",
              count=lambda n: _reader_count(f"sqlite:///{sqlite(n)}.db")),
    ]


def _mongo_store(server: mongo.Server) -> Store:
    return Store("MongoDB", lambda n: ["--sacred-mongo", server.option(f"ours{n}")],
                 lambda n: [server.url, f"sacred{n}"], "mongo", "MongoObserver",
                 count=lambda n: mongo.count_runs(server, f"ours{n}"))


def _sql_store(kind: str, made: list[str]) -> Store:
    urls: dict[tuple[str, int], str] = {}

    def prepare(side: str, n: int) -> None:
        name = f"bench_stores_{side}_{n}"
        made.append(name)
        urls[(side, n)] = sql_servers.create(kind, name)

    return Store(kind, lambda n: ["--sacred-sql", urls[("ours", n)]],
                 lambda n: [urls[("sacred", n)]], "sql", f"SqlObserver ({kind})",
                 prepare=prepare, count=lambda n: sql_servers.count_runs(urls[("ours", n)]))


def _cloud_stores(s3: Any, gcs: Any) -> list[Store]:
    def s3_bucket(side: str, n: int) -> None:  # Sacred's observers expect the bucket
        if side == "sacred":
            s3.client().create_bucket(Bucket=f"sacred-s3-{n}")

    def gcs_bucket(side: str, n: int) -> None:
        if side == "sacred":
            gcs.client().create_bucket(f"sacred-gcs-{n}")

    def s3_count(n: int) -> int:
        pages = s3.client().get_paginator("list_objects_v2").paginate(
            Bucket="bench-stores", Prefix=f"r{n}/")
        return cloud.count_runs([o["Key"][len(f"r{n}/"):] for page in pages
                                 for o in page.get("Contents", [])])

    def gcs_count(n: int) -> int:
        return cloud.count_runs([b.name[len(f"r{n}/"):] for b in
                                 gcs.client().list_blobs(f"bench-stores-{n}", prefix=f"r{n}/")])

    s3_env = {**cloud.AWS_ENV, "AWS_ENDPOINT_URL_S3": s3.url, "AWS_DEFAULT_REGION": "us-east-1"}
    gcs_env = {"STORAGE_EMULATOR_HOST": gcs.url, "GOOGLE_CLOUD_PROJECT": "test"}
    return [
        Store("S3 (moto server)",
              lambda n: ["--sacred-s3", f"s3://bench-stores/r{n}", "--sacred-s3-endpoint", s3.url],
              lambda n: [f"sacred-s3-{n}", "runs"], "s3", "S3Observer", env=s3_env,
              sacred_runs=SACRED_CLOUD_RUNS,
              prepare=s3_bucket, count=s3_count),
        # a bucket per round, as Sacred's side has: fake-gcs-server's in-memory backend
        # scans every object of the bucket at each upload (three times), so a round in the
        # bucket of the rounds before would pay for their 2,500 objects each
        Store("GCS (fake-gcs-server)",
              lambda n: ["--sacred-gcs", f"gs://bench-stores-{n}/r{n}"],
              lambda n: [f"sacred-gcs-{n}", "runs"], "gcs", "GoogleCloudStorageObserver",
              env=gcs_env, sacred_runs=SACRED_CLOUD_RUNS, prepare=gcs_bucket, count=gcs_count),
    ]


def _variants(root: Path, stores: list[Store]) -> list[Variant]:
    def side(store: Store, name: str) -> Callable[[int], None] | None:
        hook = store.prepare
        return None if hook is None else (lambda n: hook(name, n))

    variants = [Variant("plain pytest", pytest_argv("-p", "no:sacred", "test_sweep.py"), root)]
    for runs in sorted({s.sacred_runs for s in stores}):
        variants.append(Variant(f"Sacred none {runs}",
                                [PYTHON, "sacred_loop.py", "none", str(runs)], root))
    for s in stores:
        variants.append(Variant(f"ours {s.label}",
                                lambda n, s=s: pytest_argv(*s.ours(n), "test_sweep.py"), root,
                                prepare=side(s, "ours"), env=s.env))
        if s.sacred is not None:
            variants.append(Variant(
                f"Sacred {s.label}",
                lambda n, s=s: [PYTHON, "sacred_loop.py", s.sacred_kind, str(s.sacred_runs),
                                *s.sacred(n)], root, prepare=side(s, "sacred"), env=s.env))
    return variants


def _cell(stats: Stats, unit: str = "ms") -> str:
    return (f"{number(stats.median, unit)} ({number(stats.min)}–{number(stats.max)})")


def _table(res: dict[str, harness.Result], stores: list[Store]) -> tuple[str, list[str]]:
    lines, problems = [], []
    plain = res["plain pytest"]
    for s in stores:
        ours = Stats.of(harness.paired(res[f"ours {s.label}"], plain,
                                       lambda o, p: (o.wall - p.wall) / VARIANTS * 1000))
        if s.sacred is None:
            lines.append([s.label, _cell(ours), "—", "—", "—", "—", "—"])
            continue
        sacred_res, none = res[f"Sacred {s.label}"], res[f"Sacred none {s.sacred_runs}"]
        sacred = sacred_res.stats("ms_per_run")
        observer = Stats.of(harness.paired(sacred_res, none, lambda a, b: a.inner["ms_per_run"]
                                           - b.inner["ms_per_run"]))
        lines.append([s.label, _cell(ours), f"{s.sacred_label}, {s.sacred_runs} runs",
                      _cell(sacred), f"**{ours.median / sacred.median:.3f}**", _cell(observer),
                      f"{ours.median / observer.median:.3f}" if observer.median > 0 else "n/a"])
    table = markdown_table(
        ["store", f"ours: per-run overhead, {VARIANTS} variants (median (min–max))",
         "Sacred observer", "Sacred: ms per `ex.run` with it", "ratio ours ÷ Sacred",
         "Sacred: observer's share (with − none)", "ours ÷ that share"], lines)
    return table, problems


def run(repeats: int = 2) -> Section:
    section = Section(
        "Per-run overhead by store",
        f"`bench_sweep`'s {VARIANTS}-variant sweep stored by pytest-sacred in each store vs "
        f"`-p no:sacred`: per-run overhead = (t_store − t_plain) / {VARIANTS} per round. Sacred "
        f"0.8.7: `ex.run` loop ({SACRED_RUNS} runs; TinyDbObserver {SACRED_TINYDB_RUNS}, it "
        f"is quadratic; S3/GCS observers {SACRED_CLOUD_RUNS}, about 0.5 s a run) with the "
        "observer it has for the store, ms per run timed inside the "
        f"process. Every variant interleaved in the same {repeats} rounds after a warm-up of "
        "the cheap variants. "
        "Ratio = our per-run overhead ÷ Sacred's per-run cost with its observer (the "
        "convention of the file-store target); the last columns set ours against the "
        "observer's own share of Sacred's cost (with observer − without, paired per round).")
    root = bench_sweep._project(harness.workdir("stores"))
    stores = _local_stores(root)
    stops: list[Callable[[], None]] = []
    made: dict[str, list[str]] = {}
    try:
        why = mongo.missing()
        if why is None:
            server = mongo.start()
            stops.append(server.stop)
            stores.insert(1, _mongo_store(server))
        else:
            section.notes.append(f"MongoDB row skipped: {why}.")
        for kind in ("postgresql", "mariadb"):
            why = sql_servers.missing(kind)
            if why is None:
                made[kind] = []
                stores.append(_sql_store(kind, made[kind]))
            else:
                section.notes.append(f"{kind} row skipped: {why}.")
        why = cloud.missing()
        if why is None:
            s3, gcs = cloud.start(root)
            stops += [s3.stop, gcs.stop]
            stores += _cloud_stores(s3, gcs)
        else:
            section.notes.append(f"S3/GCS rows skipped: {why}.")
        variants = _variants(root, stores)
        for variant in variants:  # the warm-up: page cache, imports compiled
            if variant.name in WARM:
                harness.run_once(variant, -1)
        res = harness.measure(variants, repeats, warmup=0)
        for s in stores:
            if s.count is not None and (stored := s.count(repeats - 1)) != VARIANTS:
                section.notes.append(f"WARNING: our {s.label} store held {stored} runs, "
                                     f"not {VARIANTS}")
    finally:
        for kind, names in made.items():
            sql_servers.drop(kind, names)
        for stop in stops:
            stop()
        harness.remove(root)
    table, _ = _table(res, stores)
    section.details.append(table)
    section.notes += [
        "The servers (secantusd-py for MongoDB, a Python MongoDB-wire server; moto in a "
        "thread of the benchmark process; fake-gcs-server; the local PostgreSQL and MariaDB) "
        "share the 2 cores with the measured process, so wall time includes their work; "
        "both sides pay it alike.",
        "A fresh directory, database, schema or prefix per run of either side.",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(section_markdown(run(args.repeats)))


if __name__ == "__main__":
    sys.exit(main())
