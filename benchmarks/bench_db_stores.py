"""Per-run overhead of the TinyDB and SQL stores over a 500-variant sweep, against Sacred.

pytest side: ``bench_sweep``'s 500-variant sweep with ``--sacred-tinydb`` (a fresh
directory per round), ``--sacred-sql sqlite:///...`` (a fresh file per round), and, when
the servers answer, ``--sacred-sql`` on PostgreSQL (a fresh schema per round) and MariaDB (a
fresh database per round), beside the same suite with ``-p no:sacred``. Per-run overhead is
the difference of wall times over 500, within each round. A timing plugin
(``-p bench_timing``, in both the plain and the TinyDB session) records each test's
protocol time, for the cost of run 50 against run 500.

Sacred side (0.8.7, in-process ``ex.run`` loop of ``bench_sweep``): 200 runs with a
``TinyDbObserver`` (its cost grows with every run, so 200 keep a round near a minute) and
with an ``SqlObserver`` on SQLite, PostgreSQL and MariaDB.

Targets: TinyDB per-run overhead ≤ 0.1 of Sacred's TinyDbObserver per-run cost, run 500
≤ 1.25 × run 50; SQLite per-run overhead ≤ 0.3 of Sacred's SqlObserver on SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import bench_sweep
import harness
import sql_servers
from harness import PYTHON, Stats, Variant, pytest_argv
from report import Row, Section, section_markdown, times

VARIANTS = bench_sweep.VARIANTS
SACRED_RUNS = 200
TINYDB_TARGET = 0.1
GROWTH_TARGET = 1.25
SQLITE_TARGET = 0.3
#: runs whose median stands for "run 50" and "run 500" (and Sacred's run 50 and run 200)
EARLY = slice(25, 75)
LATE = slice(VARIANTS - 50, VARIANTS)

TIMING_PLUGIN = """\
import json, os, time

import pytest

_each = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        _each.append((time.perf_counter() - start) * 1000)


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps({"ms_each": _each}) + "\\n")
"""


def _window(values: list[float], part: slice) -> float:
    return statistics.median(values[part])


def _overhead(res: dict, name: str, plain: str = "plain pytest") -> Stats:
    return Stats.of(harness.paired(res[name], res[plain],
                                   lambda o, p: (o.wall - p.wall) / VARIANTS * 1000))


def _local_rows(root: Path, repeats: int, section: Section) -> None:
    tiny = harness.fresh_dir(root, "tinydb")
    sqlite = harness.fresh_dir(root, "sqlite")
    sacred_tiny = harness.fresh_dir(root, "sacred-tinydb")
    sacred_sqlite = harness.fresh_dir(root, "sacred-sqlite")
    timing = ["-p", "bench_timing"]
    variants = [
        Variant("plain pytest", pytest_argv(*timing, "-p", "no:sacred", "test_sweep.py"), root),
        Variant("pytest-sacred tinydb",
                lambda n: pytest_argv(*timing, "--sacred-tinydb", str(tiny(n)), "test_sweep.py"),
                root),
        Variant("pytest-sacred sqlite",
                lambda n: pytest_argv("--sacred-sql", f"sqlite:///{sqlite(n)}.db",
                                      "test_sweep.py"), root),
        Variant("Sacred none", [PYTHON, "sacred_loop.py", "none", str(SACRED_RUNS)], root),
        Variant("Sacred tinydb", lambda n: [PYTHON, "sacred_loop.py", "tinydb", str(SACRED_RUNS),
                                            str(sacred_tiny(n))], root),
        Variant("Sacred sqlite", lambda n: [PYTHON, "sacred_loop.py", "sql", str(SACRED_RUNS),
                                            f"sqlite:///{sacred_sqlite(n)}.db"], root),
    ]
    res = harness.measure(variants, repeats)
    from pytest_sacred.readers import open_reader

    for store in (tiny(repeats), f"sqlite:///{sqlite(repeats)}.db"):
        stored = len(list(open_reader(store).list_runs()))
        if stored != VARIANTS:
            section.notes.append(f"WARNING: {store} held {stored} runs, not {VARIANTS}")

    tiny_over, sqlite_over = _overhead(res, "pytest-sacred tinydb"), _overhead(
        res, "pytest-sacred sqlite")
    s_none = res["Sacred none"].stats("ms_per_run")
    s_tiny = res["Sacred tinydb"].stats("ms_per_run")
    s_sqlite = res["Sacred sqlite"].stats("ms_per_run")
    r_tiny, r_sqlite = tiny_over.median / s_tiny.median, sqlite_over.median / s_sqlite.median

    def windows(name: str, early: slice, late: slice) -> tuple[Stats, Stats, Stats]:
        samples = res[name].samples
        first = [_window(s.inner["ms_each"], early) for s in samples]
        last = [_window(s.inner["ms_each"], late) for s in samples]
        ratios = [b / a for a, b in zip(first, last, strict=True)]
        return Stats.of(first), Stats.of(last), Stats.of(ratios)

    ours_50, ours_500, growth = windows("pytest-sacred tinydb", EARLY, LATE)
    plain_50, plain_500, _ = windows("plain pytest", EARLY, LATE)
    over_50 = Stats.of([a - b for a, b in zip(
        [_window(s.inner["ms_each"], EARLY) for s in res["pytest-sacred tinydb"].samples],
        [_window(s.inner["ms_each"], EARLY) for s in res["plain pytest"].samples],
        strict=True)])
    over_500 = Stats.of([a - b for a, b in zip(
        [_window(s.inner["ms_each"], LATE) for s in res["pytest-sacred tinydb"].samples],
        [_window(s.inner["ms_each"], LATE) for s in res["plain pytest"].samples],
        strict=True)])
    s_50, s_200, s_growth = windows("Sacred tinydb", slice(40, 60), slice(180, 200))
    section.rows += [
        Row(f"plain pytest (`-p no:sacred`), {VARIANTS} variants", res["plain pytest"].stats(),
            "s"),
        Row("**pytest-sacred per-run overhead, `--sacred-tinydb`**", tiny_over, "ms/run",
            ratio=f"{r_tiny:.4f} of Sacred TinyDbObserver",
            target=f"≤ {TINYDB_TARGET:g}", met=r_tiny <= TINYDB_TARGET),
        Row("`--sacred-tinydb`: a test's protocol time, runs 26-75", ours_50, "ms/run",
            note=f"plain pytest: {plain_50.median:.2f} ms"),
        Row("`--sacred-tinydb`: a test's protocol time, runs 451-500", ours_500, "ms/run",
            note=f"plain pytest: {plain_500.median:.2f} ms"),
        Row("**`--sacred-tinydb`: run 500 / run 50** (protocol time, per round)", growth, "×",
            target=f"≤ {GROWTH_TARGET:g}", met=growth.median <= GROWTH_TARGET),
        Row("`--sacred-tinydb` overhead over plain, runs 26-75 → 451-500", over_500, "ms/run",
            note=f"runs 26-75: {over_50.median:.2f} ms (min {over_50.min:.2f}, max "
                 f"{over_50.max:.2f}); the difference of two window medians, noisy"),
        Row("**pytest-sacred per-run overhead, `--sacred-sql sqlite`**", sqlite_over, "ms/run",
            ratio=f"{r_sqlite:.3f} of Sacred SqlObserver (SQLite)",
            target=f"≤ {SQLITE_TARGET:g}", met=r_sqlite <= SQLITE_TARGET),
        Row(f"Sacred, no observer ({SACRED_RUNS} × `ex.run`)", s_none, "ms/run"),
        Row(f"Sacred, TinyDbObserver ({SACRED_RUNS} × `ex.run`)", s_tiny, "ms/run",
            ratio=times(harness.ratio(s_tiny, s_none)) + " no observer"),
        Row("Sacred TinyDbObserver: runs 41-60 → runs 181-200", s_200, "ms/run",
            ratio=f"{s_growth.median:.1f}× (runs 41-60: {s_50.median:.0f} ms)"),
        Row(f"Sacred, SqlObserver on SQLite ({SACRED_RUNS} × `ex.run`)", s_sqlite, "ms/run",
            ratio=times(harness.ratio(s_sqlite, s_none)) + " no observer"),
    ]


def _server_rows(root: Path, repeats: int, section: Section) -> None:
    for kind in ("postgresql", "mariadb"):
        why = sql_servers.missing(kind)
        if why is not None:
            section.notes.append(f"{kind} rows skipped: {why}")
            continue
        _server_kind_rows(kind, root, repeats, section)


def _server_kind_rows(kind: str, root: Path, repeats: int, section: Section) -> None:
    """The rows of one SQL server, each run into a database of its own, dropped after.

    A function of its own so that the closures below bind this kind's names, not a loop's."""
    made: list[str] = []

    def namespace(tag: str, n: int) -> str:
        name = f"bench_{tag}_{n}"
        made.append(name)
        return sql_servers.create(kind, name)

    urls: dict[tuple[str, int], str] = {}

    def prepare(tag: str):
        return lambda n: urls.__setitem__((tag, n), namespace(tag, n))

    variants = [
        Variant(f"plain pytest {kind}", pytest_argv("-p", "no:sacred", "test_sweep.py"), root),
        Variant(f"pytest-sacred {kind}",
                lambda n: pytest_argv("--sacred-sql", urls[("ours", n)], "test_sweep.py"),
                root, prepare=prepare("ours")),
        Variant(f"Sacred {kind}",
                lambda n: [PYTHON, "sacred_loop.py", "sql", str(SACRED_RUNS),
                           urls[("sacred", n)]], root, prepare=prepare("sacred")),
    ]
    try:
        res = harness.measure(variants, repeats)
        stored = sql_servers.count_runs(urls[("ours", repeats)])
        if stored != VARIANTS:
            section.notes.append(f"WARNING: the {kind} store held {stored} runs")
    finally:
        sql_servers.drop(kind, made)
    over = _overhead(res, f"pytest-sacred {kind}", f"plain pytest {kind}")
    sacred = res[f"Sacred {kind}"].stats("ms_per_run")
    section.rows += [
        Row(f"pytest-sacred per-run overhead, `--sacred-sql` on {kind}", over, "ms/run",
            ratio=f"{over.median / sacred.median:.3f} of Sacred SqlObserver ({kind})",
            note="no target: shown beside SQLite"),
        Row(f"Sacred, SqlObserver on {kind} ({SACRED_RUNS} × `ex.run`)", sacred, "ms/run"),
    ]


def run(repeats: int = 3, server_repeats: int = 3) -> Section:
    section = Section(
        "Per-run overhead: TinyDB and SQL stores",
        f"{VARIANTS}-variant sweep of `bench_sweep` with `--sacred-tinydb` / `--sacred-sql` vs "
        f"`-p no:sacred`, per-run overhead = (t_store − t_plain) / {VARIANTS} per round; "
        f"Sacred 0.8.7: {SACRED_RUNS} × `ex.run` in one process with its TinyDbObserver / "
        f"SqlObserver, timed inside. {repeats} interleaved rounds after a warm-up "
        f"({server_repeats} for the servers, a fresh schema/database per run). Ratio baselines: "
        "Sacred's per-run cost with the same kind of observer.")
    root = bench_sweep._project(harness.workdir("db-stores"))
    harness.write_files(root, {"bench_timing.py": TIMING_PLUGIN})
    try:
        _local_rows(root, repeats, section)
        if server_repeats:
            _server_rows(root, server_repeats, section)
    finally:
        harness.remove(root)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server-repeats", type=int, default=3, help="0 skips the servers")
    args = parser.parse_args()
    print(section_markdown(run(args.repeats, args.server_repeats)))


if __name__ == "__main__":
    sys.exit(main())
