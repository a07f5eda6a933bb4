"""Store outages, measured: nothing lost, nothing duplicated, the sweep not held up.

For every store pytest-sacred has (MongoDB on ``secantusd-py``, TinyDB, SQLite,
PostgreSQL, MariaDB, S3 on moto, GCS on fake-gcs-server) a 40-variant sweep runs twice a
round, side by side: once with the store cut off for 12 s in the middle, once without.
Each variant logs a few metric points and writes an artifact and lasts about 0.4 s, so
the sweep goes on past the outage. A networked store is reached through the test suite's
``CutProxy`` (its connections closed, new ones refused, then the port open again); for
SQLite and TinyDB another process holds the database's lock (``tests/helpers.py``'s
``hold_lock``) past ``--sacred-lock-timeout``. The file store is not measured: a local
directory has no transient failure mode (every error writing it is a refusal, spilled at
once, never retried), so there is no outage to wait out.

Each store is then read back through ``pytest_sacred.readers.open_reader``: runs lost (a
variant without a COMPLETED run, its artifact and every point), metric points lost, runs
and points stored twice; and the session's exit code and wall time.

"For good": the same sweep with the store cut off for the rest of the session and a short
``--sacred-store-retry``: the session must exit 6 with a spill file, and
``python -m pytest_sacred replay`` of that file, the store reachable again, must complete
every run.

    python benchmarks/bench_outage.py --quick                 # every store, one round
    python benchmarks/bench_outage.py --stores sqlite,mongo   # some stores, three rounds
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloud
import harness
import mongo
import sql_servers
from harness import PYTHON, Stats, pytest_argv
from report import Row, Section, markdown_table, number, section_markdown, times

VARIANTS = 40
#: metric points a variant logs, and the pause after each: ~0.4 s a variant
POINTS, PAUSE = 5, 0.08
#: the variant whose start cuts the store off (both sides wait for the watcher there)
CUT_AT = 4
#: seconds the store stays cut off in the temporary outage
OUTAGE = 12.0
#: the for-good sweep: shorter variants (the cut and the spill are what is measured)
GOOD_PAUSE, GOOD_CUT_AT, GOOD_RETRY = 0.02, 10, 1
#: --sacred-store-retry of the temporary outage: longer than the outage, so it is waited out
RETRY = 60
#: --sacred-lock-timeout for SQLite and TinyDB: a held lock is an outage after it (the
#: default, 30 s, makes a write wait for a lock held 12 s, the run with it)
LOCK_TIMEOUT = 0.5
#: "not slowed": the sweep with the outage within this factor of the one without. The runs
#: never wait for the store; what the outage may add is one failed attempt (the first write
#: or id claim after the cut: a refused connection, or the lock timeout), the queue's
#: back-off before it sees the store back (at most 2 s), and writing the backlog after the
#: last variant if the sweep ends before it is written: about 2-3 s on a ~20 s sweep.
SLOWDOWN_TARGET = 1.15
STORE_FAILED = 6

EXPERIMENT = """
import pathlib
import time

import pytest


@pytest.mark.experiment("outage")
@pytest.mark.parametrize("i", range({variants}))
def test_variant(i, sacred_run, tmp_path):
    if i == {cut_at}:  # the watcher cuts the store off (or, on the clean side, does not)
        pathlib.Path("cut-now").touch()
        deadline = time.monotonic() + 60
        while not pathlib.Path("cut-done").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    for step in range({points}):
        sacred_run.log_scalar("loss", 1.0 / (step + 1 + i), step=step)
        time.sleep({pause})
    sacred_run.info["i"] = i
    (tmp_path / "model.txt").write_text(f"model {{i}}")
    pathlib.Path("done", str(i)).touch()
    return i
"""


@dataclass
class Store:
    """One store under test: how a session names it, and how it is cut off."""

    label: str
    #: the observer's name (the spill file's prefix)
    kind: str
    #: ``(session directory) -> (pytest options, what open_reader takes)``; a fresh store
    make: Callable[[Path], tuple[list[str], str]]
    #: ``(session directory, store) -> undo``: cuts the store off, returns how to restore it
    cut: Callable[[Path, str], Callable[[], None]]
    env: dict[str, str] = field(default_factory=dict)
    #: the environment the reader (in this process) needs
    reader_env: dict[str, str] = field(default_factory=dict)
    #: ``(store) -> arguments`` of ``pytest_sacred replay`` after the spill file
    replay_args: Callable[[str], list[str]] = lambda store: []


@dataclass
class Tally:
    """One session, read back."""

    exit_code: int
    wall: float
    runs_lost: int = 0
    points_lost: int = 0
    artifacts_lost: int = 0
    runs_duplicated: int = 0
    points_duplicated: int = 0
    #: variants finished once the store was back (the sweep spanned the outage)
    after_restore: int | None = None
    spill: Path | None = None
    note: str = ""

    @property
    def lost(self) -> int:
        return self.runs_lost + self.points_lost + self.artifacts_lost

    @property
    def duplicated(self) -> int:
        return self.runs_duplicated + self.points_duplicated


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def read_back(store: Store, spec: str, variants: int = VARIANTS) -> Tally:
    """What ``spec`` holds of the sweep: every count a :class:`Tally` has but the session's."""
    from pytest_sacred.readers import NoSuchRun, open_reader

    tally = Tally(0, 0.0)
    with _environ(store.reader_env), open_reader(spec) as reader:
        runs = list(reader.list_runs())
        by_variant: dict[Any, list[Any]] = {}
        for listed in runs:
            by_variant.setdefault(listed.config.get("i"), []).append(listed)
        tally.runs_duplicated = len(runs) - len(by_variant)
        points: list[tuple[int, int]] = []
        for i in range(variants):
            found = by_variant.get(i, [])
            if not any(r.status == "COMPLETED" for r in found):
                tally.runs_lost += 1
            if not any("model.txt" in r.artifacts
                       and reader.artifact(r.id, "model.txt") == f"model {i}".encode()
                       for r in found):
                tally.artifacts_lost += 1
            for listed in found:
                try:
                    loss = reader.metric(listed.id, "loss")
                except (NoSuchRun, KeyError, LookupError):
                    continue
                expected = [1.0 / (step + 1 + i) for step in range(POINTS)]
                points += [(i, step) for step, value in zip(loss.steps, loss.values, strict=False)
                           if 0 <= step < POINTS and abs(value - expected[step]) <= 1e-6 * value]
        tally.points_duplicated = len(points) - len(set(points))
        tally.points_lost = variants * POINTS - len(set(points))
    return tally


def _write_project(directory: Path, cut_at: int, pause: float) -> None:
    directory.mkdir(parents=True)
    (directory / "done").mkdir()
    (directory / "test_outage_bench.py").write_text(EXPERIMENT.format(
        variants=VARIANTS, cut_at=cut_at, points=POINTS, pause=pause), encoding="utf-8")


def session(store: Store, directory: Path, *, outage: float | None, cut_at: int = CUT_AT,
            pause: float = PAUSE, retry: float = RETRY,
            log: Callable[[str], None] | None = None) -> tuple[Tally, str, str]:
    """Run the sweep in ``directory``; ``outage``: seconds the store is cut off from
    variant ``cut_at`` on (``None``: never; ``inf``: for the rest of the session, and
    restored after it). Returns the tally read back, the store, and the session's output."""
    _write_project(directory, cut_at, pause)
    options, spec = store.make(directory)
    restore_at: list[int] = []
    undo: list[Callable[[], None]] = []

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not (directory / "cut-now").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if outage is not None:
            undo.append(store.cut(directory, spec))
        (directory / "cut-done").touch()
        if outage is not None and outage != float("inf"):
            time.sleep(outage)
            undo.pop()()
            restore_at.append(len(list((directory / "done").iterdir())))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    argv = pytest_argv("--sacred-heartbeat=0.5", f"--sacred-store-retry={retry:g}", *options,
                       "test_outage_bench.py")
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=directory, env=harness.clean_env(store.env),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    wall = time.perf_counter() - start
    watcher.join(outage + 5 if outage not in (None, float("inf")) else 5)
    while undo:  # for good: the store comes back after the session, for the replay
        undo.pop()()
    if outage not in (None, float("inf")) and not restore_at:
        raise harness.BenchError(f"{store.label}: the outage had not ended when the session "
                                 f"did ({wall:.1f} s); lengthen the variants")
    tally = read_back(store, spec)
    tally.exit_code, tally.wall = done.returncode, wall
    if restore_at:
        tally.after_restore = VARIANTS - restore_at[0]
    spills = sorted(directory.rglob(f"_spill/{store.kind}-*.jsonl"))
    tally.spill = spills[0] if spills else None
    if log is not None:
        log(f"  {store.label:<12} {'clean' if outage is None else f'cut {outage:g} s':<10} "
            f"exit {done.returncode}  {wall:6.1f} s  lost {tally.lost}  "
            f"duplicated {tally.duplicated}"
            + (f"  {tally.after_restore} variants after the restore"
               if tally.after_restore is not None else ""))
    return tally, spec, done.stdout


def for_good(store: Store, directory: Path,
             log: Callable[[str], None] | None = None) -> tuple[Tally, Tally | None, str]:
    """The store cut off from variant ``GOOD_CUT_AT`` to the end of the session: the
    session's tally, the tally after ``pytest_sacred replay`` (None: nothing to replay),
    and what went wrong, if anything."""
    tally, spec, out = session(store, directory, outage=float("inf"), cut_at=GOOD_CUT_AT,
                               pause=GOOD_PAUSE, retry=GOOD_RETRY)
    problems = []
    if tally.exit_code != STORE_FAILED:
        problems.append(f"exit {tally.exit_code}, not {STORE_FAILED}: {out[-1500:]}")
    if tally.spill is None:
        problems.append("no spill file")
        return tally, None, "; ".join(problems)
    with _environ(store.reader_env):
        replayed = subprocess.run(
            [PYTHON, "-m", "pytest_sacred", "replay", str(tally.spill),
             *store.replay_args(spec)], capture_output=True, text=True, timeout=600,
            env=harness.clean_env({**store.env, **store.reader_env}))
    if replayed.returncode != 0 or "ERROR" in replayed.stdout:
        problems.append(f"replay exited {replayed.returncode}: "
                        f"{(replayed.stdout + replayed.stderr)[-1500:]}")
    after = read_back(store, spec)
    if log is not None:
        log(f"  {store.label:<12} for good   exit {tally.exit_code}  {tally.wall:6.1f} s  "
            f"spill {tally.spill.name}; after replay: lost {after.lost}, "
            f"duplicated {after.duplicated}")
    return tally, after, "; ".join(problems)


# -- the stores ------------------------------------------------------------------------------


def _proxied(port: int) -> tuple[Any, Callable[[Path, str], Callable[[], None]]]:
    """A CutProxy to ``port`` and the cut of a :class:`Store` through it."""
    proxy = cloud.servers().CutProxy(port)

    def cut(directory: Path, spec: str) -> Callable[[], None]:
        proxy.cut()
        return proxy.restore

    return proxy, cut


def _locked(script_name: str, lock_of: Callable[[str], str]
            ) -> Callable[[Path, str], Callable[[], None]]:
    helpers = harness.load_tests_module("helpers.py")

    def cut(directory: Path, spec: str) -> Callable[[], None]:
        holder = helpers.hold_lock(getattr(helpers, script_name), lock_of(spec))

        def restore() -> None:
            holder.kill()
            holder.wait()
        return restore

    return cut


def _local_stores() -> list[Store]:
    lock = [f"--sacred-lock-timeout={LOCK_TIMEOUT:g}"]
    return [
        Store("TinyDB", "tinydb",
              lambda d: ([f"--sacred-tinydb={d / 'tiny'}", *lock], str(d / "tiny")),
              _locked("HOLD_FILE_LOCK", lambda spec: f"{spec}/metadata.json.lock")),
        Store("SQLite", "sql",
              lambda d: ([f"--sacred-sql=sqlite:///{d / 'runs.db'}", *lock],
                         f"sqlite:///{d / 'runs.db'}"),
              _locked("HOLD_SQLITE_LOCK", lambda spec: spec.removeprefix("sqlite:///"))),
    ]


def _sql_store(kind: str, made: list[str], proxies: list[Any]) -> Store:
    proxy, cut = _proxied(5432 if kind == "postgresql" else 3306)
    proxies.append(proxy)

    def make(directory: Path) -> tuple[list[str], str]:
        name = f"bench_outage_{len(made)}_{os.getpid()}"
        made.append(name)
        url = sql_servers.create(kind, name).replace("@127.0.0.1/",
                                                     f"@127.0.0.1:{proxy.port}/")
        return [f"--sacred-sql={url}"], url

    return Store(kind, "sql", make, cut)


def _mongo_store(server: mongo.Server, proxies: list[Any]) -> Store:
    proxy, cut = _proxied(server.port)
    proxies.append(proxy)
    count = [0]

    def make(directory: Path) -> tuple[list[str], str]:
        count[0] += 1
        # secantusd answers as a replica-set primary naming its own port: a client given
        # only the seed would find that address and go around the relay
        url = f"mongodb://127.0.0.1:{proxy.port}/outage{count[0]}?directConnection=true"
        return [f"--sacred-mongo={url}"], url

    return Store("MongoDB", "mongo", make, cut)


def _cloud_stores(s3: Any, gcs: Any, proxies: list[Any]) -> list[Store]:
    s3_proxy, s3_cut = _proxied(s3.port)
    gcs_proxy, gcs_cut = _proxied(gcs.port)
    proxies += [s3_proxy, gcs_proxy]
    endpoint = f"http://127.0.0.1:{s3_proxy.port}"
    s3.client().create_bucket(Bucket="bench-outage")
    gcs.client().create_bucket("bench-outage")
    count = [0]

    def prefix() -> str:
        count[0] += 1
        return f"r{count[0]}"

    def s3_make(directory: Path) -> tuple[list[str], str]:
        url = f"s3://bench-outage/{prefix()}"
        return [f"--sacred-s3={url}", "--sacred-s3-endpoint", endpoint], url

    def gcs_make(directory: Path) -> tuple[list[str], str]:
        url = f"gs://bench-outage/{prefix()}"
        return [f"--sacred-gcs={url}"], url

    s3_env = {**cloud.AWS_ENV, "AWS_DEFAULT_REGION": "us-east-1"}
    return [
        Store("S3", "s3", s3_make, s3_cut, env=s3_env,
              reader_env={**s3_env, "AWS_ENDPOINT_URL": s3.url}),
        Store("GCS", "gcs", gcs_make, gcs_cut,
              env={"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_proxy.port}",
                   "GOOGLE_CLOUD_PROJECT": "test"},
              reader_env={"STORAGE_EMULATOR_HOST": gcs.url, "GOOGLE_CLOUD_PROJECT": "test"}),
    ]


ALL = ("mongo", "tinydb", "sqlite", "postgresql", "mariadb", "s3", "gcs")


# -- the benchmark ---------------------------------------------------------------------------


def _cell(tallies: list[Tally], what: Callable[[Tally], float]) -> str:
    values = [what(t) for t in tallies]
    return "/".join(number(v) for v in values)


def run(repeats: int = 3, stores: tuple[str, ...] = ALL,
        log: Callable[[str], None] | None = None) -> Section:
    """``repeats`` rounds of the clean and the cut sweep per store (their order swapped from
    round to round), then one for-good session per store."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    unknown = set(stores) - set(ALL)
    if unknown:
        raise ValueError(f"unknown stores {sorted(unknown)}: choose among {', '.join(ALL)}")
    section = Section(
        "Store outages",
        f"A {VARIANTS}-variant sweep (each variant: {POINTS} metric points, an artifact, "
        f"~{POINTS * PAUSE:.1f} s) with the store cut off for {OUTAGE:g} s from variant "
        f"{CUT_AT} on, against the same sweep with no outage, side by side in each of "
        f"{repeats} round(s) (`--sacred-store-retry={RETRY}`). Networked stores are cut "
        "through a TCP relay (connections closed, new ones refused); SQLite and TinyDB by "
        "another process holding the database's lock (`--sacred-lock-timeout="
        f"{LOCK_TIMEOUT:g}` on both sides). Read back through `open_reader`. For good: cut "
        f"from variant {GOOD_CUT_AT} to the end (`--sacred-store-retry={GOOD_RETRY}`), "
        "then `python -m pytest_sacred replay` of the spill file.")
    root = harness.workdir("outage")
    chosen: list[Store] = []
    stops: list[Callable[[], None]] = []
    proxies: list[Any] = []
    made: dict[str, list[str]] = {}
    results: dict[str, dict[str, list[Tally]]] = {}
    good: dict[str, tuple[Tally, Tally | None, str]] = {}
    try:
        if "mongo" in stores:
            why = mongo.missing()
            if why is None:
                server = mongo.start()
                stops.append(server.stop)
                chosen.append(_mongo_store(server, proxies))
            else:
                section.notes.append(f"MongoDB skipped: {why}.")
        chosen += [s for s in _local_stores() if s.label.lower() in stores]
        for kind in ("postgresql", "mariadb"):
            if kind in stores:
                why = sql_servers.missing(kind)
                if why is None:
                    made[kind] = []
                    chosen.append(_sql_store(kind, made[kind], proxies))
                else:
                    section.notes.append(f"{kind} skipped: {why}.")
        if {"s3", "gcs"} & set(stores):
            why = cloud.missing()
            if why is None:
                s3, gcs = cloud.start(root)
                stops += [s3.stop, gcs.stop]
                chosen += [s for s in _cloud_stores(s3, gcs, proxies)
                           if s.label.lower() in stores]
            else:
                section.notes.append(f"S3/GCS skipped: {why}.")
        runs = 0
        for round_no in range(repeats):
            for s in chosen:
                sides = [("clean", None), ("cut", OUTAGE)]
                for side, outage in (sides if round_no % 2 == 0 else sides[::-1]):
                    runs += 1
                    tally, _, out = session(s, root / f"{runs}-{s.kind}-{side}", outage=outage,
                                            log=log)
                    if tally.exit_code != 0:
                        tally.note = out[-1500:]
                    results.setdefault(s.label, {}).setdefault(side, []).append(tally)
        for s in chosen:
            runs += 1
            good[s.label] = for_good(s, root / f"{runs}-{s.kind}-good", log=log)
    finally:
        for proxy in proxies:
            try:
                proxy.cut()
            except OSError:
                pass
        for kind, names in made.items():
            sql_servers.drop(kind, names)
        for stop in stops:
            stop()
        harness.remove(root)
    _report(section, chosen, results, good)
    return section


def _report(section: Section, chosen: list[Store], results: dict[str, dict[str, list[Tally]]],
            good: dict[str, tuple[Tally, Tally | None, str]]) -> None:
    lines = []
    for s in chosen:
        clean, cut = results[s.label]["clean"], results[s.label]["cut"]
        ratios = [c.wall / k.wall for c, k in zip(cut, clean, strict=True)]
        lost = [t.lost for t in cut + clean]
        dups = [t.duplicated for t in cut + clean]
        codes = sorted({t.exit_code for t in cut + clean})
        ok = all(x == 0 for x in lost + dups) and codes == [0]
        runs_lost = sum(t.runs_lost for t in cut)
        points_lost = sum(t.points_lost for t in cut)
        section.rows.append(Row(
            f"{s.label}: 0 runs and 0 points lost", Stats.of([t.lost for t in cut]), "",
            ratio=f"{runs_lost} runs, {points_lost} points, "
                  f"{sum(t.artifacts_lost for t in cut)} artifacts lost; "
                  f"{sum(t.duplicated for t in cut)} duplicated; exit {codes}",
            target="0 lost, 0 duplicated, exit 0", met=ok,
            note="over every cut sweep (the clean ones too for `met`)"))
        slow = Stats.of(ratios)
        section.rows.append(Row(
            f"{s.label}: slowdown", slow, "", ratio=times(slow.median),
            target=f"≤ {SLOWDOWN_TARGET:.2f}×", met=slow.median <= SLOWDOWN_TARGET,
            note="sweep wall time with the outage ÷ without, paired per round"))
        tally, after, problems = good[s.label]
        complete = None if after is None else VARIANTS - after.runs_lost
        section.rows.append(Row(
            f"{s.label}: replay completes every run", None, "",
            ratio=f"{complete if complete is not None else 0}/{VARIANTS} complete, "
                  f"exit {tally.exit_code}, spill {'yes' if tally.spill else 'no'}",
            target=f"{VARIANTS}/{VARIANTS}, exit {STORE_FAILED}, a spill file",
            met=(not problems and after is not None and after.lost == 0
                 and after.duplicated == 0),
            note=problems[:300]))
        lines.append([
            s.label,
            f"{_cell(cut, lambda t: t.runs_lost)} / {_cell(cut, lambda t: t.points_lost)}",
            _cell(cut, lambda t: t.artifacts_lost),
            f"{_cell(cut, lambda t: t.runs_duplicated)} / "
            f"{_cell(cut, lambda t: t.points_duplicated)}",
            "/".join(str(t.exit_code) for t in cut) + " (clean: "
            + "/".join(str(t.exit_code) for t in clean) + ")",
            _cell(cut, lambda t: t.wall) + " s", _cell(clean, lambda t: t.wall) + " s",
            "/".join(times(r) for r in ratios),
            _cell(cut, lambda t: t.after_restore or 0),
            f"{tally.exit_code} in {tally.wall:.1f} s, {'spill' if tally.spill else 'NO spill'}, "
            f"{complete if complete is not None else 0}/{VARIANTS}"
            + (f" (lost {after.lost}, duplicated {after.duplicated})" if after else "")])
        for t in cut + clean:
            if t.note:
                section.notes.append(f"{s.label}: a session exited {t.exit_code}: "
                                     f"…{t.note[-600:]}")
    section.details.append(markdown_table(
        ["store", "runs / points lost", "artifacts lost", "runs / points duplicated",
         "exit code", f"wall, cut {OUTAGE:g} s", "wall, no outage", "ratio",
         "variants after the restore", "for good: exit, spill, complete after replay"],
        lines))
    section.notes += [
        "File store: not measured. A local directory has no transient failure mode — every "
        "error writing it is taken as a refusal, reported and spilled at once, never "
        "retried — so there is no outage for the write queue to wait out.",
        f"Slowdown target ≤ {SLOWDOWN_TARGET:.2f}×: the runs never wait for the store, so "
        "what an outage may add is one failed attempt when the first write or id claim "
        "meets it, the queue's back-off before it sees the store back (at most 2 s), and "
        "writing the backlog after the last variant if the sweep ends first: 2-3 s on a "
        "~20 s sweep.",
        "MongoDB is named `mongodb://…?directConnection=true`: secantusd answers as a "
        "replica-set primary naming its own port, and a client given only the seed would "
        "find that address and go around the relay (no outage at all).",
        "Several values in a cell: one per round. The servers and the relay share the "
        "cores with the measured sessions.",
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of clean + cut sweeps")
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--stores", default=",".join(ALL),
                        help=f"comma-separated, among {','.join(ALL)} (default: all)")
    args = parser.parse_args()
    stores = tuple(s.strip().lower() for s in args.stores.split(",") if s.strip())
    unknown = sorted(set(stores) - set(ALL))
    if unknown:
        parser.error(f"--stores: unknown {', '.join(unknown)}; choose among {','.join(ALL)}")
    print(section_markdown(run(1 if args.quick else args.repeats, stores)))


if __name__ == "__main__":
    sys.exit(main())
